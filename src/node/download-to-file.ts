// Download an object into a file, atomically (Node only).
import type { S3Client } from "../client.ts";
import { downloadFile, type Download, type DownloadOptions } from "../download.ts";
import { writeFileAtomic } from "./atomic-write.ts";

const WRITE_BATCH = 256 * 1024;

/**
 * Download an object to `path` atomically (writeFileAtomic): a failed or aborted download, or one
 * that fails verification, leaves nothing under the final name.
 */
export async function downloadToFile(
  client: Pick<S3Client, "getObject">,
  o: DownloadOptions & { path: string },
): Promise<Omit<Download, "body"> & { path: string }> {
  const { body, ...d } = await downloadFile(client, o);
  try {
    // Chunks are gathered up to WRITE_BATCH bytes and written together (one writev) before more
    // are pulled: backpressure end to end, the network is read only as fast as the disk writes,
    // with few system calls for small chunks. (pipeline into fh.createWriteStream({autoClose:false})
    // never settles on Node 20: it waits for a 'close' that never comes.)
    await writeFileAtomic(o.path, async (fh) => {
      const batch: Uint8Array[] = [];
      let size = 0;
      const flush = async () => {
        for (let w; batch.length; ) {
          w = (await fh.writev(batch)).bytesWritten;
          while (batch.length && w >= batch[0].length) w -= batch.shift()!.length;
          if (w) batch[0] = batch[0].subarray(w); // a short write: the rest again
        }
        size = 0;
      };
      for await (const c of body as unknown as AsyncIterable<Uint8Array>) {
        batch.push(c);
        if ((size += c.length) >= WRITE_BATCH) await flush();
      }
      await flush();
    });
  } catch (e) {
    await body.cancel(e).catch(() => {}); // releases the connection if the body was never read
    throw e;
  }
  return { ...d, path: o.path };
}
