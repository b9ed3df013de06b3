// The trigger as released with state version 1 (s3-edge 0.1, src/trigger.ts at 82aa571), kept only
// to produce real version-1 states for the upgrade tests. Not library code.
// New-file trigger (the Workato S3 "new file" model): poll a bucket/folder, emit each new object
// version once. No server-side cursor: every poll lists the whole folder, because S3 lists in key
// order, not time order, and continuation tokens expire.
// Guarantee: a version is emitted exactly once (per persisted state) when it is in scope, at least
// minAgeMs old by server time, at/after `since`, and its LastModified is at most lookbackMs older
// than the newest LastModified emitted before it appeared (and maxSeen was not exceeded). The 1 h
// default look-back covers multipart uploads, whose LastModified is their start time, of many GB on
// slow links; the maxSeen cap (5000 entries, ~100 B each) bounds the state whatever the bucket size.
// A null/undefined state means "first poll".
import { listPages, type S3Client, type S3Object } from "../../src/client.ts";
import { InputError, isTransient } from "../../src/errors.ts";
import { sleep } from "../../src/abort.ts";

/** Metadata of one new (or overwritten) object; fetch the bytes with downloadFile. */
export interface FileEvent {
  bucket: string;
  key: string;
  name: string;
  size: number;
  etag: string;
  lastModified: Date;
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
export interface TriggerStateV1 {
  version: 1;
  source: string;
  floor: string;
  seen: Seen[];
}

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
  intervalMs: number;
  state?: TriggerStateV1;
  signal?: AbortSignal;
  /** called with the state after all events of a poll were consumed (only when it changed): persist it here */
  onState?: (s: TriggerStateV1) => void | Promise<void>;
  /** transient failures (network, 5xx, 429) are retried at the next interval; this sees them */
  onError?: (e: unknown) => void;
}

// A bare ISO time sorts below every position of that millisecond (S3 keys are never empty).
const at = (t: number | Date) => new Date(t).toISOString();
const by0 = (a: readonly any[], b: readonly any[]) => (a[0] < b[0] ? -1 : 1);
const str = (v: unknown) => typeof v == "string";
// One throw for every bad option/state: { field: true when valid, else what it must be }.
const need = (o: Record<string, unknown>) => {
  for (const f in o) if (o[f] !== true) throw new InputError(`${f} must be ${o[f]}`, f);
};

export function newFileTriggerV1(client: Pick<S3Client, "listObjectsV2">, options: TriggerOptions) {
  const {
    bucket,
    folder = "",
    includeSubfolders,
    since,
    minAgeMs = 0,
    batchSize = 100,
    lookbackMs = 36e5,
    maxSeen = 5e3,
  } = options;
  const prefix = folder && !folder.endsWith("/") ? folder + "/" : folder;
  const source = bucket + "/" + prefix;
  const pos = ">= 0",
    one = ">= 1";
  need({
    bucket: (bucket && str(bucket)) || "a bucket name",
    since: !since || +since == +since || "a valid Date",
    batchSize: batchSize >= 1 || one,
    minAgeMs: minAgeMs >= 0 || pos,
    lookbackMs: lookbackMs >= 0 || pos,
    maxSeen: maxSeen >= 1 || one,
  });

  const poll = async (s?: TriggerStateV1, o?: { signal?: AbortSignal }) => {
    // `?.` everywhere: parsed JSON may hold anything (seen {}, entries that are not 2 strings).
    need({
      state:
        !s ||
        (s.version === 1 &&
          s.source === source &&
          str(s.floor) &&
          s.seen?.every?.((e: any) => e?.length == 2 && e.every?.(str))) ||
        `a state this trigger returned (s3://${source})`,
    });
    let floor = s?.floor!,
      now: number | undefined;
    const seen = new Map<string, Seen>(s?.seen.map((e: Seen) => [e[0].slice(24), e]));
    const cands: [string, S3Object][] = [];
    for await (const r of listPages(client, { ...o, bucket, prefix, delimiter: includeSubfolders ? undefined : "/" })) {
      // Server time (Date header) of the first page: the local clock may be off by minutes. The
      // header counts whole seconds while LastModified may carry milliseconds (RGW, MinIO): the
      // server clock is somewhere in [Date, Date + 1 s), so objects of that second are not "future".
      now ??= r.date ? +r.date + 999 : Date.now();
      floor ??= at(since ?? now - 999);
      for (const o of r.contents) {
        const z = at(o.lastModified) + o.key;
        // A zero-byte key ending in "/" is a console-made folder placeholder, not a file. An entry
        // of seen is the same version when its "position,etag" matches (same key: same length prefix).
        if (
          z > floor &&
          +o.lastModified <= now - minAgeMs &&
          !(o.key.endsWith("/") && !o.size) &&
          seen.get(o.key) + "" != z + "," + o.etag
        )
          cands.push([z, o]);
      }
    }
    cands.sort(by0);
    const events: FileEvent[] = cands.slice(0, batchSize).map(([z, { owner, ...o }]) => {
      // owner (fetchOwner) is not part of a FileEvent; the other S3Object fields are.
      const isUpdate = seen.has(o.key);
      seen.set(o.key, [z, o.etag]);
      // Only returned events move the state.
      if ((z = at(+o.lastModified - lookbackMs)) > floor) floor = z;
      return { bucket, ...o, name: o.key.split("/").pop()!, isUpdate };
    });
    const kept = [...seen.values()].filter((e) => e[0] > floor).sort(by0);
    // Forgetting a version is only safe once the floor covers it: no duplicates, but late
    // arrivals below the new floor are then skipped (the window shrinks for very busy folders).
    for (const e of kept.splice(0, kept.length - maxSeen)) floor = e[0];
    return {
      events,
      state: { version: 1, source, floor, seen: kept } as TriggerStateV1,
      hasMore: cands.length > batchSize,
    };
  };

  async function* watch({
    intervalMs,
    state,
    signal,
    onState,
    onError,
  }: WatchOptions): AsyncGenerator<FileEvent, void, undefined> {
    need({ intervalMs: intervalMs >= 0 || ">= 0" });
    while (!signal?.aborted) {
      let r;
      try {
        r = await poll(state, { signal });
      } catch (e: any) {
        if (signal?.aborted) return;
        // The client already spent its retry budget; a transient failure is worth another try
        // next interval (the state did not move, so nothing is lost). Anything else
        // (NoSuchBucket, AccessDenied, bad state) will not heal by waiting: throw it.
        if (!isTransient(e)) throw e;
        onError?.(e);
      }
      if (r) {
        for (const e of r.events) {
          yield e;
          if (signal?.aborted) return;
        }
        // The state changes exactly when events were emitted (or on the very first poll).
        if (r.events.length || !state) await onState?.(r.state);
        state = r.state;
      }
      if (!r?.hasMore) await sleep(intervalMs, signal).catch(() => {}); // an abort ends the loop above
    }
  }

  return { poll, watch };
}
