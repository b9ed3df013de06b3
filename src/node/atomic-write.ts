// Atomic file writes: a reader never sees a partial file under the final name. And the temp files
// a killed process leaves behind are recognised and removed on the next start.
import { open, readdir, rename, rm, stat, type FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import { require } from "./lazy-require.ts";

// ".s3edge-<pid: 8 hex>-<random: 8 hex>.part", 30 bytes whatever the final name: a name that fits
// the file system's NAME_MAX (255 bytes) always has a temp name that fits too. (The former
// ".<name>.<random>.part" added 19 bytes, so names of 237-255 bytes could never be written.) The
// pid tells a leftover of a dead process from the temp file of a live writer.
const TEMP_NAME = /^\.s3edge-([0-9a-f]{8})-[0-9a-f]{8}\.part$/;

/** True for the names writeFileAtomic gives its temp files. */
export const isTempFileName = (name: string) => TEMP_NAME.test(name);

function tempName(): string {
  const random = (require("node:crypto") as typeof import("node:crypto")).randomBytes(4).toString("hex");
  return `.s3edge-${process.pid.toString(16).padStart(8, "0")}-${random}.part`;
}

/**
 * Write `path` atomically: `write` fills a temp file beside it (same directory, so the rename
 * cannot cross file systems), which is fsynced and renamed over `path`. On any failure the temp
 * file is removed and `path` is left as it was: a reader never sees a partial file under the final
 * name. A replaced file keeps its permission bits (a 0600 file stays private, a 0755 script stays
 * executable); a new one gets the usual 0666 less the umask.
 */
export async function writeFileAtomic(path: string, write: (fh: FileHandle) => Promise<void>): Promise<void> {
  const tmp = join(dirname(path), tempName());
  const replacedMode = await stat(path).then(
    (existing) => (existing.isFile() ? existing.mode & 0o7777 : undefined),
    () => undefined,
  );
  try {
    const fh = await open(tmp, "wx");
    try {
      if (replacedMode !== undefined) await fh.chmod(replacedMode);
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

/** False only when the process is known to be gone (EPERM: it exists, owned by another user). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

/**
 * Remove the temp files of writeFileAtomic that a dead process left in `directory` (and below it,
 * with `recursive`; symbolic links are not followed). A temp file of a live process is kept.
 * Returns how many were removed.
 */
export async function removeStaleTempFiles(directory: string, options: { recursive?: boolean } = {}): Promise<number> {
  let removed = 0;
  const entries = await readdir(directory, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT" || error.code === "ENOTDIR") return [];
    throw error;
  });
  for (const entry of entries) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) {
      if (options.recursive) removed += await removeStaleTempFiles(path, options);
      continue;
    }
    const match = entry.isFile() ? TEMP_NAME.exec(entry.name) : null;
    if (match && !processAlive(parseInt(match[1], 16))) {
      await rm(path, { force: true });
      removed++;
    }
  }
  return removed;
}
