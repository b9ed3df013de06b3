// New-file trigger (the Workato S3 "new file" model): poll a bucket/folder, emit each new object
// version once. No server-side cursor: every poll lists the whole folder, because S3 lists in key
// order, not time order, and continuation tokens expire.
// Guarantee: a version is emitted exactly once (per persisted state) when it is in scope, at least
// minAgeMs old by server time, at/after `since`, and its LastModified is at most lookbackMs older
// than the newest LastModified emitted before it appeared (and maxSeen was not exceeded). The 1 h
// default look-back covers multipart uploads, whose LastModified is their start time, of many GB on
// slow links; the maxSeen cap (5000 entries, ~100 B each) bounds the state whatever the bucket size.
// A null/undefined state means "first poll".
import type { S3Client, S3Object } from "./client.ts";
import { InputError } from "./errors.ts";

/** Metadata of one new (or overwritten) object; fetch the bytes with downloadFile. */
export interface FileEvent {
  bucket: string; key: string; name: string; size: number; etag: string; lastModified: Date;
  storageClass?: string;
  /** true when this key was emitted before (within the look-back window) and now has a new ETag or LastModified */
  isUpdate?: boolean;
}

type Seen = [at: string, etag: string];

/**
 * Plain JSON; persist it after handling the events of a poll. Treat as opaque.
 * Positions are strings `ISO-8601 LastModified + key` ("2024-05-01T10:00:00.000Zdir/a.txt"): they
 * sort by (lastModified, key), as events are emitted. Objects at or below `floor` are never
 * emitted; `seen` holds [position, etag] of every emitted version above the floor (at most maxSeen),
 * so same-second siblings and late arrivals (multipart uploads carry their start time) that land
 * above the floor are told apart from what was already emitted.
 */
export interface TriggerState { version: 1; source: string; floor: string; seen: Seen[] }

export interface TriggerOptions {
  bucket: string;
  /** folder = key prefix; "a/b" means "a/b/" (a folder, not a name prefix); "" = whole bucket */
  folder?: string;
  /** default false: only direct children of the folder (listed with delimiter "/") */
  includeSubfolders?: boolean;
  /** first poll without state: emit objects with LastModified >= since; default the server time of that poll */
  since?: Date;
  /** hold back objects younger than (server time - minAgeMs); default 0 */
  minAgeMs?: number;
  /** max events per poll; hasMore=true means poll again at once; default 100 */
  batchSize?: number;
  /** late arrivals are emitted when their LastModified is at most this much older than the newest emitted one; default 1 h */
  lookbackMs?: number;
  /** cap on remembered versions (state size); beyond it the oldest are forgotten and the floor moves up to them; default 5000 */
  maxSeen?: number;
}

export interface WatchOptions {
  intervalMs: number; state?: TriggerState; signal?: AbortSignal;
  /** called with the state after all events of a poll were consumed (only when it changed): persist it here */
  onState?: (s: TriggerState) => void | Promise<void>;
  /** transient failures (network, 5xx, 429) are retried at the next interval; this sees them */
  onError?: (e: unknown) => void;
}

// A bare ISO time sorts below every position of that millisecond (S3 keys are never empty).
const at = (t: number | Date) => new Date(t).toISOString();
const by0 = (a: readonly any[], b: readonly any[]) => (a[0] < b[0] ? -1 : 1);
const strs = (a: any): boolean => Array.isArray(a) && a.every((v) => typeof v == "string");

export function newFileTrigger(client: Pick<S3Client, "listObjectsV2">, options: TriggerOptions) {
  const { bucket, includeSubfolders, since, minAgeMs = 0, batchSize = 100, lookbackMs = 36e5, maxSeen = 5e3 } = options;
  const folder = options.folder ?? "";
  const prefix = folder && !folder.endsWith("/") ? folder + "/" : folder;
  const source = bucket + "/" + prefix;
  const bad = (field: string, m: string): never => {
    throw new InputError(field + " " + m, field);
  };
  if (!bucket || typeof bucket != "string") bad("bucket", "is required");
  if (since && isNaN(+since)) bad("since", "is not a valid Date");
  for (const [f, v, min] of [["batchSize", batchSize, 1], ["minAgeMs", minAgeMs, 0], ["lookbackMs", lookbackMs, 0], ["maxSeen", maxSeen, 1]] as const)
    if (!(v >= min)) bad(f, "must be >= " + min);

  async function poll(state?: TriggerState, { signal }: { signal?: AbortSignal } = {}) {
    const s = state as any;
    if (s && !(s.version === 1 && s.source === source && strs([s.floor]) && Array.isArray(s.seen) && s.seen.every((e: any) => strs(e) && e.length == 2)))
      bad("state", "is not one this trigger returned (version 1, s3://" + source + ")");
    const all: S3Object[] = [];
    let now: number | undefined, continuationToken: string | undefined;
    do {
      const r = await client.listObjectsV2({ bucket, prefix, delimiter: includeSubfolders ? undefined : "/", continuationToken, signal });
      // Server time (Date header) of the first page: the local clock may be off by minutes.
      now ??= +(r.date ?? new Date());
      all.push(...r.contents);
      continuationToken = r.isTruncated ? r.nextContinuationToken : undefined;
    } while (continuationToken);

    let floor = state ? state.floor : at(since ?? now);
    const seen = new Map((state ? state.seen : []).map((e) => [e[0].slice(24), e]));
    const cands = all
      .map((o) => [at(o.lastModified) + o.key, o] as const)
      .filter(([z, o]) => {
        const e = seen.get(o.key);
        // A zero-byte key ending in "/" is a console-made folder placeholder, not a file.
        return z > floor && +o.lastModified <= now! - minAgeMs && !(o.key.endsWith("/") && !o.size) && !(e && e[0] == z && e[1] == o.etag);
      })
      .sort(by0);
    const events: FileEvent[] = cands.slice(0, batchSize).map(([z, { key, size, etag, lastModified, storageClass }]) => {
      const isUpdate = seen.has(key);
      seen.set(key, [z, etag]);
      return { bucket, key, name: key.slice(key.lastIndexOf("/") + 1), size, etag, lastModified, storageClass, isUpdate };
    });
    // Only returned events move the state. Sorted, so the last event has the newest LastModified.
    const top = events.length ? at(+events[events.length - 1].lastModified - lookbackMs) : "";
    if (top > floor) floor = top;
    let kept = [...seen.values()].filter((e) => e[0] > floor).sort(by0);
    if (kept.length > maxSeen) {
      // Forgetting a version is only safe once the floor covers it: no duplicates, but late
      // arrivals below the new floor are then skipped (the window shrinks for very busy folders).
      floor = kept[kept.length - maxSeen - 1][0];
      kept = kept.slice(-maxSeen);
    }
    return { events, state: { version: 1, source, floor, seen: kept } as TriggerState, hasMore: cands.length > events.length };
  }

  async function* watch({ intervalMs, state, signal, onState, onError }: WatchOptions): AsyncGenerator<FileEvent, void, undefined> {
    if (!(intervalMs >= 0)) bad("intervalMs", "must be >= 0");
    let last = JSON.stringify(state);
    while (!signal?.aborted) {
      let r;
      try {
        r = await poll(state, { signal });
      } catch (e: any) {
        if (signal?.aborted) return;
        // The client already spent its retry budget; a 5xx/429/network failure is worth another
        // try next interval (the state did not move, so nothing is lost). Anything else
        // (NoSuchBucket, AccessDenied, bad state) will not heal by waiting: throw it.
        // (NetworkError and TimeoutError carry `attempts`.)
        if (!(e?.attempts || e?.status >= 500 || e?.status == 429)) throw e;
        onError?.(e);
      }
      if (r) {
        for (const e of r.events) {
          yield e;
          if (signal?.aborted) return;
        }
        state = r.state;
        const j = JSON.stringify(state);
        if (j != last) await onState?.(state), (last = j);
        if (r.hasMore) continue;
      }
      await new Promise<void>((res) => {
        const done = () => (clearTimeout(t), signal?.removeEventListener("abort", done), res());
        const t = setTimeout(done, intervalMs);
        signal?.addEventListener("abort", done);
      });
    }
  }

  return { poll, watch };
}
