// Node-only helpers (not part of the edge bundle).
import { randomBytes } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { S3Client } from "./client.ts";
import { downloadFile, type Download, type DownloadOptions } from "./download.ts";

/**
 * Download an object to `path` atomically: the bytes go to a temp file beside it
 * (`.<name>.<random>.part`, same directory so the rename cannot cross file systems), are fsynced,
 * then renamed over `path`. On any failure or abort the temp file is removed and `path` is left as
 * it was: a reader never sees a partial or unverified file under the final name.
 */
export async function downloadToFile(
  client: Pick<S3Client, "getObject">,
  o: DownloadOptions & { path: string },
): Promise<Omit<Download, "body"> & { path: string }> {
  const { body, ...d } = await downloadFile(client, o);
  const tmp = join(dirname(o.path), `.${basename(o.path)}.${randomBytes(6).toString("hex")}.part`);
  try {
    const fh = await open(tmp, "wx");
    try {
      // Each chunk is written before the next is pulled: backpressure end to end, the network is
      // read only as fast as the disk writes. (pipeline into fh.createWriteStream({autoClose:false})
      // never settles on Node 20: it waits for a 'close' that never comes.)
      for await (const c of body as unknown as AsyncIterable<Uint8Array>) for (let n = 0; n < c.length; ) n += (await fh.write(c, n)).bytesWritten;
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, o.path);
  } catch (e) {
    await body.cancel(e).catch(() => {}); // releases the connection if the body was never read
    await rm(tmp, { force: true });
    throw e;
  }
  return { ...d, path: o.path };
}
