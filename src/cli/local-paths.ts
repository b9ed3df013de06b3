// `watch --download-to DIR`: where each key is stored, and the keys that cannot be.
//
// The mapping is injective by refusal: the path of a key is its part below the watched folder,
// split at "/", each segment one directory or file name. A key is refused (reported as skipped,
// never written) when two different keys could land on one file that way, or when it could leave
// DIR: an empty segment ("in//x", a leading or trailing "/"), a "." or ".." segment ("in/./y",
// "in/z/."), a NUL byte, and on Windows "\" or ":". What is left is one path per key: the segments
// are the key's own. (A case-insensitive file system, as macOS and Windows use by default, still
// folds "A.txt" and "a.txt" into one file; see the README.)
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { lstat, mkdir } from "node:fs/promises";
import { isTempFileName } from "../node/atomic-write.ts";

export type LocalPath = { path: string } | { refused: string };

export interface PathMapping {
  /** The download directory. */
  directory: string;
  /** The watched folder with its trailing "/" ("" for the whole bucket). */
  prefix: string;
  /** Paths no key may take (the state file and its lock). */
  reserved: string[];
}

const WINDOWS = sep === "\\";

/** The local path of `key`, or why it is refused. Pure: touches no file. */
export function localPathOf(mapping: PathMapping, key: string): LocalPath {
  if (!key.startsWith(mapping.prefix)) return { refused: "key is outside the watched folder" };
  const below = key.slice(mapping.prefix.length);
  if (!below || below.endsWith("/")) return { refused: "key names a folder, not a file" };
  if (below.includes("\0")) return { refused: "key contains a NUL byte, which no file name can hold" };
  const segments = below.split("/");
  if (segments.includes("..")) return { refused: `key would escape ${mapping.directory} (".." segment)` };
  // "in//x" and "in/x", "in/./y" and "in/y" would share a file: neither form is stored.
  if (segments.some((segment) => segment === "" || segment === "."))
    return { refused: 'key has an empty or "." path segment, so it would share a local file with another key' };
  if (WINDOWS && /[\\:]/.test(below)) return { refused: "key contains \\ or :, which name no plain file on Windows" };
  if (segments.some(isTempFileName)) return { refused: "key uses the name pattern of s3-edge's temp files" };
  const path = resolve(mapping.directory, ...segments);
  const inside = relative(resolve(mapping.directory), path);
  if (!inside || inside.startsWith("..") || isAbsolute(inside))
    return { refused: `key would escape ${mapping.directory}` };
  if (mapping.reserved.some((reserved) => resolve(reserved) === path))
    return { refused: "key would overwrite the watcher's state or lock file" };
  return { path };
}

/**
 * Create the folders of `path` below `directory`, one at a time, never through a symbolic link: a
 * link planted inside the download directory (or by a key "a" and later "a/b") must not send files
 * elsewhere. Returns why the path cannot be used, or undefined when its parent folder is ready.
 * (A link swapped in between this check and the write is out of scope: whoever can do that can
 * write to the directory anyway.)
 */
export async function prepareFolders(directory: string, path: string): Promise<string | undefined> {
  const segments = relative(directory, path).split(sep);
  let current = directory;
  for (const segment of segments.slice(0, -1)) {
    current = join(current, segment);
    try {
      await mkdir(current);
      continue;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const existing = await lstat(current);
    if (existing.isSymbolicLink())
      return `${current} is a symbolic link; s3-edge does not follow links in ${directory}`;
    if (!existing.isDirectory()) return `${current} is a file, so it cannot be a folder too (keys "a" and "a/b")`;
  }
  return undefined;
}

// Errors of the local file system that mean "this key cannot be stored here", whatever happens
// later: the watcher reports the key as skipped and goes on.
const UNSTORABLE: Record<string, string> = {
  ENAMETOOLONG: "the file name or path is too long for the local file system",
  EISDIR: 'a folder of that name exists (keys "a/b" and then "a")',
  ENOTDIR: 'a file of that name is in the way of a folder (keys "a" and then "a/b")',
  EEXIST: 'a file of that name is in the way of a folder (keys "a" and then "a/b")',
  EINVAL: "the local file system refuses this file name",
  EILSEQ: "the local file system refuses this file name (its encoding)",
};

/** Why the file system cannot store this key, or undefined for any other error. */
export function unstorableReason(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code && Object.hasOwn(UNSTORABLE, code) ? `${UNSTORABLE[code]} (${code})` : undefined;
}
