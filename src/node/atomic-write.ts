// Atomic file writes: a reader never sees a partial file under the final name.
import { open, rename, rm, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { require } from "./lazy-require.ts";

/**
 * Write `path` atomically: `write` fills a temp file beside it (`.<name>.<random>.part`, same
 * directory so the rename cannot cross file systems), which is fsynced and renamed over `path`.
 * On any failure the temp file is removed and `path` is left as it was: a reader never sees a
 * partial file under the final name.
 */
export async function writeFileAtomic(path: string, write: (fh: FileHandle) => Promise<void>): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${(require("node:crypto") as typeof import("node:crypto")).randomBytes(6).toString("hex")}.part`);
  try {
    const fh = await open(tmp, "wx");
    try {
      await write(fh);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
