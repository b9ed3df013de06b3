// New-file trigger (the Workato S3 "new file" model): poll a bucket/folder, emit each new object
// version once; accept() dedups pushed notifications against the same state. No server-side cursor
// between polls: continuation tokens expire, so a listing that does not fit one poll resumes from a
// key (ListObjectsV2 start-after) kept in the state.
//
// Guarantee: a version is emitted exactly once (per persisted state) when it is in scope, at least
// minAgeMs old by server time, at/after `since`, and its LastModified is at most lookbackMs older
// than the newest LastModified emitted before the listing that finds it began (and maxSeen was not
// exceeded). The 1 h default look-back covers multipart uploads, whose LastModified is their start
// time, of many GB on slow links.
//
// Listings ("segments") a poll runs, each bounded by what is left of maxRequestsPerPoll:
// - full: the whole folder from `after` ("" when a new full listing starts);
// - incremental: first the keys after `highWater` (ascending producers write only there), then,
//   every fullListingEvery polls, a full listing of the keys up to highWater for out-of-order ones.
// A segment's position only moves past keys that are handled: emitted, or never to be emitted
// (filtered out, placeholders, older than the floor, seen). A full listing also passes files
// younger than minAgeMs (they must not hold it up): the floor then waits for the oldest of them
// (`waiting`) until the next full listing. And the floor only moves when a poll finished every
// listing (hasMore false): a floor raised by events on page 1 would otherwise hide an older object
// on page 7 that was simply not listed yet.
//
// maxRequestsPerPoll counts listObjectsV2 calls. The client's own retries of one call (up to its
// maxAttempts, after 5xx, 429 or a broken connection) are part of that call and not counted, so a
// poll makes at most maxRequestsPerPoll x maxAttempts HTTP requests (a Worker's subrequest budget).
import { listPages, type S3Client, type S3Object, type ListObjectsV2Result } from "./client.ts";
import { InputError, isTransient } from "./errors.ts";
import { invalidListing } from "./responses.ts";
import { sleep } from "./abort.ts";
import {
  decodeState,
  encodeState,
  keyDigest,
  versionKey,
  positionTime,
  secondOf,
  toPosition,
  type LoadedState,
  type TriggerState,
} from "./trigger-state.ts";

export type { TriggerState } from "./trigger-state.ts";

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
  // Set only on events parsed from notifications (parseS3Events), where the format carries them.
  // Such an event's lastModified is its eventTime: on AWS the time S3 finished the request (later
  // than LastModified for a multipart upload), on RGW equal to it. Match by key and ETag, not time.
  /** the notification's own name for the change ("ObjectCreated:Put", "Object Created", "PutObject") */
  eventName?: string;
  eventTime?: Date;
  /** per key, a later change has a greater sequencer (compare after right-padding with "0") */
  sequencer?: string;
  versionId?: string;
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
  /** late arrivals are emitted when their LastModified is at most this much older than the newest; default 1 h */
  lookbackMs?: number;
  /** cap on remembered versions (state size); beyond it the oldest are forgotten, the floor moves up; default 5000 */
  maxSeen?: number;
  /** "full" (default): every poll lists the folder; "incremental": keys ascend, list after the highest one handled */
  listing?: "full" | "incremental";
  /** incremental: every Nth poll also lists the keys below the high-water key (out-of-order writers); default 10 */
  fullListingEvery?: number;
  /** list requests per poll at most (retries aside, see above); an unfinished listing goes on next poll */
  maxRequestsPerPoll?: number;
  /** only keys for which this is true are events; the others never enter the state's seen versions */
  filter?: (key: string) => boolean;
}

export interface PollResult {
  events: FileEvent[];
  state: TriggerState;
  /** poll again at once: a listing is unfinished or more events are waiting than batchSize */
  hasMore: boolean;
  /** incremental: events of this poll whose key was below the high-water key (the producer does not write in order) */
  outOfOrder: number;
  /** listObjectsV2 calls this poll made */
  requests: number;
}

export interface WatchOptions {
  intervalMs: number;
  state?: TriggerState;
  signal?: AbortSignal;
  /** called with the state after all events of a poll were consumed (only when it changed): persist it here */
  onState?: (state: TriggerState) => void | Promise<void>;
  /** transient failures (network, 5xx, 429, a broken response) are retried at the next interval; this sees them */
  onError?: (error: unknown) => void;
}

const HOUR_MS = 3_600_000;
// A common prefix as a start-after key: past every key under it ("\u{10FFFF}" is the greatest code point).
const PAST_PREFIX = "\u{10FFFF}";
// S3 Express One Zone directory buckets list in no particular order and refuse start-after.
const DIRECTORY_BUCKET = /--x-s3$/;
const FOR_DIRECTORY_BUCKETS = "for S3 Express directory buckets: their listings cannot resume from a key";

const SURROGATE_LOW = 0xd800,
  SURROGATE_HIGH = 0xdfff;
// Moves surrogates (0xD800..0xDFFF) to 0x10000..0x107FF: above every other UTF-16 unit, in their own order.
const SURROGATE_SHIFT = 0x2800;
const codePointRank = (unit: number) =>
  unit >= SURROGATE_LOW && unit <= SURROGATE_HIGH ? unit + SURROGATE_SHIFT : unit;
/**
 * S3 lists keys in UTF-8 byte order, which is code point order. JS compares UTF-16 units, which
 * differs when one side is a surrogate (a code point >= U+10000): that side is the greater one.
 */
export function compareKeys(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let index = 0; index < length; index++) {
    const unitA = a.charCodeAt(index),
      unitB = b.charCodeAt(index);
    if (unitA != unitB) return codePointRank(unitA) - codePointRank(unitB);
  }
  return a.length - b.length;
}

/** The last entry of a page in listing order: a key, or a common prefix made a start-after key. */
function lastEntryOf(page: ListObjectsV2Result): string | undefined {
  const key = page.contents.at(-1)?.key;
  const prefix = page.commonPrefixes.at(-1);
  if (prefix === undefined) return key;
  const pastPrefix = prefix + PAST_PREFIX;
  return key === undefined || compareKeys(pastPrefix, key) > 0 ? pastPrefix : key;
}

/** One listing run of a poll: from `start` (a start-after key) on, every key in listing order. */
interface Segment {
  start: string;
  keys: string[];
  /** the last entry listed (start when none) */
  end: string;
  /** reached the end of the folder (or, for the full listing of incremental mode, the high-water key) */
  finished: boolean;
  /** index in keys of the first key the segment's position must not pass */
  firstPending: number;
}

interface Candidate {
  object: S3Object;
  position: string;
  digest: string;
  segment: Segment;
  index: number;
}

// One throw for every bad option: { field: true when valid, else what it must be }.
const requireValid = (checks: Record<string, unknown>) => {
  for (const field in checks)
    if (checks[field] !== true) throw new InputError(`${field} must be ${checks[field]}`, field);
};
// an integer >= 1
const isCount = (value: number) => Number.isInteger(value) && value >= 1;
const AN_INTEGER = "an integer >= 1";

export function newFileTrigger(client: Pick<S3Client, "listObjectsV2">, options: TriggerOptions) {
  const {
    bucket,
    folder = "",
    includeSubfolders,
    since,
    minAgeMs = 0,
    batchSize = 100,
    lookbackMs = HOUR_MS,
    maxSeen = 5_000,
    listing = "full",
    fullListingEvery = 10,
    maxRequestsPerPoll = Infinity,
    filter,
  } = options;
  const prefix = folder && !folder.endsWith("/") ? folder + "/" : folder;
  const source = bucket + "/" + prefix;
  const incremental = listing == "incremental";
  // A directory bucket's listing cannot resume from a key: every poll lists it from the start.
  const resumable = !DIRECTORY_BUCKET.test(bucket);
  requireValid({
    bucket: (bucket && typeof bucket == "string") || "a bucket name",
    since: !since || +since == +since || "a valid Date",
    batchSize: batchSize >= 1 || ">= 1",
    minAgeMs: minAgeMs >= 0 || ">= 0",
    lookbackMs: lookbackMs >= 0 || ">= 0",
    maxSeen: maxSeen >= 1 || ">= 1",
    listing:
      listing == "full" || (incremental && resumable) || `"full" or "incremental" ("full" ${FOR_DIRECTORY_BUCKETS})`,
    fullListingEvery: isCount(fullListingEvery) || AN_INTEGER,
    maxRequestsPerPoll:
      maxRequestsPerPoll == Infinity ||
      (isCount(maxRequestsPerPoll) && resumable) ||
      `${AN_INTEGER} (no limit ${FOR_DIRECTORY_BUCKETS})`,
    filter: !filter || typeof filter == "function" || "a function",
  });
  const delimiter = includeSubfolders ? undefined : "/";
  // A zero-byte key ending in "/" is a console-made folder placeholder, not a file.
  const isFile = (key: string, size: number) => !(key.endsWith("/") && !size) && (!filter || filter(key));
  const inScope = (key: string) =>
    key.startsWith(prefix) && (includeSubfolders || !key.slice(prefix.length).includes("/"));
  // Keys (digests) with a remembered version: a new version of one of them is an update.
  const keysOf = (state: LoadedState) => new Set([...state.seen.keys()].map((entry) => entry.slice(0, -4)));
  const nameOf = (key: string) => key.split("/").pop()!;
  const toEvent = ({ owner, ...object }: S3Object, isUpdate: boolean): FileEvent => ({
    bucket,
    ...object,
    name: nameOf(object.key),
    isUpdate,
  });

  /**
   * Forget what the floor covers, then the oldest versions beyond maxSeen, moving the floor up to
   * them: forgetting is only safe once the floor covers what is forgotten. Late arrivals below the
   * new floor are then skipped: the window shrinks for very busy folders.
   */
  function prune(state: LoadedState, emitted: Candidate[] = []) {
    const forgetThrough = (lastSecond: number) => {
      for (const [digest, second] of state.seen) if (second <= lastSecond) state.seen.delete(digest);
    };
    // Seconds wholly below the floor.
    if (state.floor !== null) forgetThrough(secondOf(positionTime(state.floor)) - 1);
    const raiseFloor = (position: string) => {
      if (!(state.floor! >= position)) state.floor = position;
    };
    // Whole seconds below the newest emitted one (digests hold no key to cut inside a second).
    const newestSecond = state.newest === null ? Infinity : secondOf(positionTime(state.newest));
    const older = [...state.seen.values()].filter((second) => second < newestSecond);
    let excess = state.seen.size - maxSeen;
    if (excess > 0 && older.length) {
      const cutSecond = older.sort((a, b) => a - b)[Math.min(excess, older.length) - 1];
      raiseFloor(toPosition((cutSecond + 1) * 1000));
      forgetThrough(cutSecond);
      excess = state.seen.size - maxSeen;
    }
    // Still too many: all in the newest second. This poll's own events there are cut lowest position
    // first (their keys are known here), so unemitted siblings above them in that second stay above
    // the floor, and versions of that second emitted earlier stay remembered (they are at most maxSeen).
    if (excess > 0) {
      const own = emitted.filter((candidate) => secondOf(+candidate.object.lastModified) == newestSecond);
      for (const candidate of own.slice(0, excess)) {
        raiseFloor(candidate.position);
        state.seen.delete(candidate.digest);
      }
    }
  }

  async function poll(input?: TriggerState | null, pollOptions: { signal?: AbortSignal } = {}): Promise<PollResult> {
    const state = decodeState(input, source);
    const highWaterAtStart = state.highWater;
    let requests = 0,
      serverNow = 0;
    const candidates = new Map<string, Candidate>();

    const consider = (object: S3Object, segment: Segment, index: number) => {
      const { key, lastModified, etag, size } = object;
      if (!isFile(key, size) || candidates.has(key)) return;
      const time = +lastModified;
      // The client's decoder checks this too; a caller's own listObjectsV2 may not.
      if (Number.isNaN(time)) throw invalidListing(bucket, key, "LastModified", String(lastModified));
      const position = toPosition(time, key);
      if (!(position > state.floor!)) return;
      const keyDigestChars = keyDigest(key),
        digest = versionKey(keyDigestChars, etag),
        second = secondOf(time);
      if (state.seen.get(digest) == second) return; // emitted before
      const pushed = versionKey(keyDigestChars, etag, true);
      // A notification brought it: now known by its LastModified.
      if (state.seen.delete(pushed)) return void state.seen.set(digest, second);
      // Younger than minAgeMs: comes in a later poll. The incremental position stops before it; a
      // full listing goes on (a young file must not hold it up for minAgeMs), and the floor waits
      // for the file until the next full listing finds it.
      if (time > serverNow - minAgeMs) {
        if (segment != full) segment.firstPending = Math.min(segment.firstPending, index);
        else if (!(state.waiting! <= toPosition(time))) state.waiting = toPosition(time);
        return;
      }
      candidates.set(key, { object, position, digest, segment, index });
    };

    // requestLimit: the poll's listObjectsV2 calls after which this segment stops.
    const listSegment = async (
      start: string,
      requestLimit: number,
      stopAt?: string,
      isFull = true,
    ): Promise<Segment> => {
      const segment: Segment = { start, keys: [], end: start, finished: false, firstPending: Infinity };
      if (isFull) full = segment;
      if (requests >= requestLimit) return segment;
      const params = {
        ...pollOptions,
        bucket,
        prefix,
        delimiter,
        startAfter: start || undefined,
        encodingType: "url" as const,
      };
      for await (const page of listPages(client, params)) {
        requests++;
        if (!serverNow) {
          // Server time (Date header) of the first page: the local clock may be off by minutes. The
          // header counts whole seconds while LastModified may carry milliseconds (RGW, MinIO): the
          // server clock is somewhere in [Date, Date + 1 s), so objects of that second are not "future".
          // No Date header, or an unreadable one: NaN, so the local clock.
          serverNow = +page.date! + 999 || Date.now();
          // First poll: since, or the earlier of the server's and the local clock. A proxy's far-off
          // Date saved as the floor would hide every later file for good; the local clock bounds it.
          state.floor ??= toPosition(since ? +since : Math.min(serverNow - 999, Date.now()));
        }
        for (const object of page.contents) consider(object, segment, segment.keys.push(object.key) - 1);
        const last = lastEntryOf(page);
        if (last !== undefined) segment.end = last;
        if (!page.isTruncated || (stopAt !== undefined && last !== undefined && compareKeys(last, stopAt) >= 0)) {
          segment.finished = true;
          break;
        }
        if (requests >= requestLimit) break;
      }
      return segment;
    };

    // ---- list: the incremental segment first (new files' latency), then the full listing
    let fullStart = state.after;
    if (fullStart === undefined) {
      // Incremental: a full listing every fullListingEvery polls after the first (which lists every key).
      if (!incremental) fullStart = "";
      else if (highWaterAtStart !== undefined && ++state.incrementalPolls >= fullListingEvery) {
        fullStart = "";
        state.incrementalPolls = 0;
      }
      // A full listing starts: it finds again whatever the last one passed while it was young.
      if (fullStart === "") state.waiting = undefined;
    }
    let increment: Segment | undefined, full: Segment | undefined;
    if (incremental) {
      // While a full listing is in progress, the new keys get at most half the budget (none when it
      // is 1): a steady stream of new files must not starve it. The rest goes to the full listing.
      const share = fullStart === undefined ? maxRequestsPerPoll : Math.floor(maxRequestsPerPoll / 2);
      if (share > 0) increment = await listSegment(highWaterAtStart ?? "", share, undefined, false);
      // The full listing stops at the high-water key, unless the new keys were not listed this poll.
      const stopAt = increment ? highWaterAtStart : undefined;
      if (fullStart !== undefined) await listSegment(fullStart, maxRequestsPerPoll, stopAt);
    } else await listSegment(fullStart!, maxRequestsPerPoll);

    // ---- emit the oldest candidates
    const sorted = [...candidates.values()].sort((a, b) => (a.position < b.position ? -1 : 1));
    const emitted = sorted.slice(0, batchSize);
    const events: FileEvent[] = [];
    const emittedKeys = keysOf(state);
    let outOfOrder = 0;
    for (const { object, digest } of emitted) {
      const keyDigestChars = digest.slice(0, -4),
        time = +object.lastModified;
      events.push(toEvent(object, emittedKeys.has(keyDigestChars)));
      emittedKeys.add(keyDigestChars);
      state.seen.set(digest, secondOf(time));
      if (!(state.newest! >= toPosition(time))) state.newest = toPosition(time);
      if (incremental && highWaterAtStart !== undefined && compareKeys(object.key, highWaterAtStart) <= 0) outOfOrder++;
    }
    // Candidates left for the next poll: no segment position may pass them.
    const leftovers = sorted.slice(batchSize);
    for (const { segment, index } of leftovers) segment.firstPending = Math.min(segment.firstPending, index);
    // Before the first key that must wait: the one before it, or the start when it is the first.
    const positionOf = (segment: Segment) =>
      segment.firstPending == Infinity ? segment.end : (segment.keys[segment.firstPending - 1] ?? segment.start);

    if (increment) state.highWater = positionOf(increment);
    if (full)
      state.after = full.finished && full.firstPending == Infinity ? undefined : resumable ? positionOf(full) : "";
    const hasMore = !!(leftovers.length || (increment && !increment.finished) || state.after !== undefined);
    if (!hasMore && state.newest !== null) {
      let newFloor = toPosition(positionTime(state.newest) - lookbackMs);
      if (newFloor > state.waiting!) newFloor = state.waiting!; // false while nothing waits
      if (newFloor > state.floor!) state.floor = newFloor;
    }
    prune(state, emitted);
    return { events, state: encodeState(source, state), hasMore, outOfOrder, requests };
  }

  /**
   * Pushed events (parseS3Events) deduped against the same state: a redelivered notification, or a
   * file a poll already reported, is not emitted again; the folder, includeSubfolders and filter
   * apply. Versions are matched by key and ETag (a notification's time is not LastModified), so a
   * later poll on the returned state does not report them again either.
   */
  function accept(
    input: TriggerState | null | undefined,
    pushed: FileEvent[],
  ): { events: FileEvent[]; state: TriggerState } {
    const state = decodeState(input, source);
    requireValid({ events: Array.isArray(pushed) || "an array of FileEvents (parseS3Events)" });
    const events: FileEvent[] = [];
    const emittedKeys = keysOf(state);
    for (const event of pushed) {
      const { key, etag, size } = event ?? {};
      requireValid({
        events:
          (typeof key == "string" && typeof etag == "string") ||
          `FileEvents with a key and an etag, got ${JSON.stringify(event)?.slice(0, 80)}`,
      });
      if (event.bucket !== bucket || !inScope(key) || !isFile(key, size)) continue;
      // The newest time the event carries stands in for its LastModified (a notification comes after
      // the write): it only decides when the entry is forgotten, never whether a version is new.
      const times = [event.lastModified, event.eventTime].map(Number).filter((time) => !Number.isNaN(time));
      const time = times.length ? Math.max(...times) : Date.now();
      // At or below the floor, a version may have been emitted and forgotten. A notification comes
      // after LastModified (RGW: within its second), so one less than a second above the floor is
      // left to the polls too, which compare the exact LastModified with the floor.
      if (state.floor !== null && time - 999 <= positionTime(state.floor)) continue;
      const keyDigestChars = keyDigest(key),
        digest = versionKey(keyDigestChars, etag, true);
      // this content of this key was emitted: a redelivery, or listed by a poll
      if (state.seen.has(digest) || state.seen.has(versionKey(keyDigestChars, etag))) continue;
      state.seen.set(digest, secondOf(time));
      events.push({ ...event, name: event.name ?? nameOf(key), isUpdate: emittedKeys.has(keyDigestChars) });
      emittedKeys.add(keyDigestChars);
    }
    prune(state);
    return { events, state: encodeState(source, state) };
  }

  async function* watch({
    intervalMs,
    state,
    signal,
    onState,
    onError,
  }: WatchOptions): AsyncGenerator<FileEvent, void, undefined> {
    requireValid({ intervalMs: intervalMs >= 0 || ">= 0" });
    let saved = JSON.stringify(state); // undefined for no state
    while (!signal?.aborted) {
      let result: PollResult | undefined;
      try {
        result = await poll(state, { signal });
      } catch (error) {
        if (signal?.aborted) return;
        // The client already spent its retry budget; a transient failure (a broken response
        // included) is worth another try next interval (the state did not move, so nothing is
        // lost). Anything else (NoSuchBucket, AccessDenied, bad state) will not heal by waiting.
        if (!isTransient(error)) throw error;
        onError?.(error);
      }
      if (result) {
        for (const event of result.events) {
          yield event;
          if (signal?.aborted) return;
        }
        // Listing positions move without events too: report every change (and the first state).
        const json = JSON.stringify(result.state);
        if (json !== saved) await onState?.(result.state);
        saved = json;
        state = result.state;
      }
      if (!result?.hasMore) await sleep(intervalMs, signal).catch(() => {}); // an abort ends the loop above
    }
  }

  return { poll, accept, watch };
}
