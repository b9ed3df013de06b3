// `watch --state FILE`: the trigger's cursor on disk, and the lock that keeps a second watcher off it.
import { createHash } from "node:crypto";
import { link, open, readFile, rm, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import type { FileEvent, TriggerState } from "../trigger.ts";
import { writeFileAtomic } from "../node/atomic-write.ts";
import { LockedError, usage } from "./usage-error.ts";

export async function loadState(file: string): Promise<TriggerState | undefined> {
  let text;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    return usage(`state file ${file} is not valid JSON (${(error as Error).message}); delete it to start over`);
  }
}

/** A crash leaves the old or the new state, never half of one (writeFileAtomic). */
export const saveState = (file: string, text: string) => writeFileAtomic(file, (handle) => handle.writeFile(text));

interface LockOwner {
  pid: number;
  host: string;
}

/** True unless the process is known to be gone (EPERM: it exists, owned by someone else). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

/**
 * Take `<state>.lock`, created exclusively with this process's pid and host, or throw a
 * LockedError naming the watcher that holds it. Two watchers on one state file would each download
 * every file and overwrite each other's state. A lock whose process is gone (kill -9, a crash, a
 * reboot) is stale and taken over; one from another host cannot be checked and is left alone.
 * Returns the function that releases the lock.
 */
export async function lockStateFile(stateFile: string): Promise<() => Promise<void>> {
  const lockFile = stateFile + ".lock";
  const self: LockOwner = { pid: process.pid, host: hostname() };
  // The lock appears complete or not at all: written under a name of our own, then hard-linked
  // to the lock's name (link fails with EEXIST when the name is taken, like O_EXCL).
  const staging = `${lockFile}.${process.pid}`;
  await writeFile(staging, JSON.stringify(self) + "\n");
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(staging, lockFile);
        return () => rm(lockFile, { force: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      const owner = await readOwner(lockFile);
      if (attempt > 0 || (owner && (owner.host !== self.host || isAlive(owner.pid))))
        throw new LockedError(
          `${stateFile} is in use by another watcher (${owner ? `pid ${owner.pid} on ${owner.host}` : "unknown"}, ` +
            `lock file ${lockFile}); stop that one first, or delete the lock file if that process is gone`,
        );
      // Stale: its process is gone (kill -9, a crash, a reboot). Take it over, once. (Two watchers
      // that find one stale lock in the same millisecond could both take it: a window of one rm.)
      await rm(lockFile, { force: true });
    }
  } finally {
    await rm(staging, { force: true });
  }
}

async function readOwner(lockFile: string): Promise<LockOwner | undefined> {
  try {
    const owner = JSON.parse(await readFile(lockFile, "utf8"));
    return Number.isInteger(owner?.pid) && typeof owner.host === "string" ? owner : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The files of the batch in hand that are already handled, in `<state>.progress`: one JSON line
 * per file, appended and flushed as each finishes, below a first line naming the state the batch
 * started from. A restart skips them, so a batch interrupted midway is not handled twice. Lines of
 * another state (the batch was finished and saved before a crash removed the file) are ignored;
 * so is a torn last line.
 */
export class BatchProgress {
  static files = (stateFile: string) => [stateFile + ".progress"];

  private constructor(
    private readonly file: string,
    private base: string,
    private readonly handled: Set<string>,
    /** The file holds this batch's header (appends go below it). */
    private started: boolean,
  ) {}

  static async open(stateFile: string, stateText: string | undefined): Promise<BatchProgress> {
    const file = BatchProgress.files(stateFile)[0];
    const base = digest(stateText);
    const handled = new Set<string>();
    const text = await readFile(file, "utf8").catch((error) => {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return "";
      throw error;
    });
    const [header, ...lines] = text.split("\n");
    const sameBatch = parseLine(header)?.base === base;
    if (sameBatch) for (const line of lines) if (parseLine(line)) handled.add(line);
    return new BatchProgress(file, base, handled, sameBatch);
  }

  has(event: FileEvent): boolean {
    return this.handled.has(identity(event));
  }

  async record(event: FileEvent): Promise<void> {
    const line = identity(event);
    const handle = await open(this.file, this.started ? "a" : "w");
    try {
      // Each line starts with its newline: one appended after a torn line still stands alone.
      await handle.writeFile((this.started ? "" : JSON.stringify({ base: this.base })) + "\n" + line);
      await handle.datasync();
    } finally {
      await handle.close();
    }
    this.started = true;
    this.handled.add(line);
  }

  /** The state was saved: what the old batch handled is in it now. */
  async startBatch(stateText: string): Promise<void> {
    this.base = digest(stateText);
    this.handled.clear();
    this.started = false;
    await rm(this.file, { force: true });
  }
}

const digest = (stateText: string | undefined) =>
  stateText == null ? "none" : createHash("sha256").update(stateText).digest("hex");

const identity = (event: FileEvent) => JSON.stringify({ key: event.key, etag: event.etag });

function parseLine(line: string | undefined) {
  try {
    return line ? JSON.parse(line) : undefined;
  } catch {
    return undefined;
  }
}
