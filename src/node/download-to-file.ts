// Download an object into a file, atomically (Node only).
import type { S3Client } from "../client.ts";
import { downloadPartsTo } from "../download-parallel.ts";
import { downloadSequential, openDownload, type Download, type DownloadOptions } from "../download.ts";
import { writeFileAtomic } from "./atomic-write.ts";

const WRITE_BATCH = 256 * 1024;

/**
 * Download an object to `path` atomically (writeFileAtomic): a failed or aborted download, or one
 * that fails verification, leaves nothing under the final name. With concurrency > 1 the ranges are
 * written at their offsets into the temp file as they arrive (no reordering buffer: one chunk per
 * connection is held) and the file is renamed when every byte is in and verified.
 */
export async function downloadToFile(
  client: Pick<S3Client, "getObject">,
  options: DownloadOptions & { path: string },
): Promise<Omit<Download, "body"> & { path: string }> {
  const opened = await openDownload(client, options);
  if (opened.parallel) {
    const { context, first } = opened;
    let verification: Pick<Download, "verified" | "unverifiedReason"> = {};
    try {
      await writeFileAtomic(options.path, async (file) => {
        verification = await downloadPartsTo(opened, async (chunk, offset) => {
          // A short positional write (rare: a full disk reports ENOSPC instead) writes the rest.
          for (let done = 0; done < chunk.length;)
            done += (await file.write(chunk, done, chunk.length - done, offset + done)).bytesWritten;
        });
      });
    } catch (error) {
      await first.body.cancel(error).catch(() => {}); // releases the first connection if it was never read
      throw error;
    }
    const { etag, objectSize: size } = context;
    return {
      size,
      etag,
      contentType: first.contentType,
      lastModified: first.lastModified,
      ...verification,
      path: options.path,
    };
  }
  const { body, ...download } = downloadSequential(opened);
  try {
    // Chunks are gathered up to WRITE_BATCH bytes and written together (one writev) before more
    // are pulled: backpressure end to end, the network is read only as fast as the disk writes,
    // with few system calls for small chunks. (pipeline into fh.createWriteStream({autoClose:false})
    // never settles on Node 20: it waits for a 'close' that never comes.)
    await writeFileAtomic(options.path, async (file) => {
      const batch: Uint8Array[] = [];
      let batchBytes = 0;
      const flush = async () => {
        while (batch.length) {
          let written = (await file.writev(batch)).bytesWritten;
          while (batch.length && written >= batch[0].length) written -= batch.shift()!.length;
          if (written) batch[0] = batch[0].subarray(written); // a short write: the rest again
        }
        batchBytes = 0;
      };
      for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
        batch.push(chunk);
        if ((batchBytes += chunk.length) >= WRITE_BATCH) await flush();
      }
      await flush();
    });
  } catch (error) {
    await body.cancel(error).catch(() => {}); // releases the connection if the body was never read
    throw error;
  }
  return { ...download, path: options.path };
}
