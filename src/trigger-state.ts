// The new-file trigger's persisted state: its JSON format (version 2), the upgrade of version 1
// states, validation, and the compact encoding of the versions already emitted.
//
// Size: a Durable Object value holds at most 128 KiB, and a KV value or a database row should stay
// small. Version 1 kept the key of every remembered version (5000 x 1 KB keys = ~5 MB). Version 2
// keeps 10 base64 characters per version, a digest of the key (36 bits) and of the ETag (24 bits),
// and its LastModified second as a small difference to the one before. Whole keys are kept only
// where a cursor needs one (floor, the listing positions): at maxSeen 5000 the JSON is ~62 KB
// whatever the key lengths. The digests are SHA-256 (the signer's own), so the odds below hold even for keys chosen
// by someone who can write to the bucket and wants to hide a file:
// - a new version is taken for an emitted one (and missed) only if both digests collide with one of
//   the 5000 remembered (5000 / 2^60 = 4e-15) and its LastModified second is equal (or the
//   remembered one came from a notification);
// - a new key that shares a remembered key's 36-bit digest (5000 / 2^36 = 7e-8) is reported with
//   isUpdate true.
// One entry per (key, content): a redelivered notification of an older version of a key is still
// recognized after a newer version was handled.
import { base64, sha256 } from "./hash.ts";
import { InputError } from "./errors.ts";

/**
 * Plain JSON; persist it after handling the events of a poll (or of accept). Treat as opaque.
 * Positions are strings `ISO-8601 LastModified + key` ("2024-05-01T10:00:00.000Zdir/a.txt"): they
 * sort by (lastModified, key), as events are emitted.
 */
export interface TriggerState {
  version: 2;
  /** bucket + "/" + prefix: a trigger refuses a state of another bucket or folder */
  source: string;
  /** versions at or below this position are never emitted; null until the first poll */
  floor: string | null;
  /** ISO time of the newest LastModified a poll emitted; null before the first */
  newest: string | null;
  /** versions emitted above the floor: versionKey()s of 10 base64 characters, oldest second first */
  seen: string;
  /** the LastModified second of each entry of seen, as the difference to the entry before (the first: to 0) */
  seenSeconds: number[];
  /** a full listing in progress resumes after this key ("" = from the start); absent when none is */
  after?: string;
  /** incremental listing: every key up to this one was listed and handled */
  highWater?: string;
  /** incremental listing: polls since the last full listing started */
  incrementalPolls?: number;
  /** ISO LastModified of the oldest file the last full listing passed while younger than minAgeMs: the floor waits */
  waiting?: string;
}

/** The state in memory: the LastModified second of each remembered version, by versionKey. */
export interface LoadedState {
  floor: string | null;
  newest: string | null;
  seen: Map<string, number>;
  after?: string;
  highWater?: string;
  incrementalPolls: number;
  waiting?: string;
}

const ENTRY_CHARS = 10;
const KEY_DIGEST_CHARS = 6; // 36 bits
const ETAG_DIGEST_CHARS = 4; // 24 bits
const ENTRIES = /^([A-Za-z0-9+/]{10})*$/;
const ISO_LENGTH = 24; // "2024-05-01T10:00:00.000Z"

/** The ISO time part of a position, as milliseconds. */
export const positionTime = (position: string) => Date.parse(position.slice(0, ISO_LENGTH));
/** The whole UTC second of a time in milliseconds: the precision of seen entries. */
export const secondOf = (time: number) => Math.floor(time / 1000);
/** `ISO + key`; a bare ISO time sorts below every position of its millisecond (S3 keys are never empty). */
export const toPosition = (time: number, key = "") => new Date(time).toISOString() + key;

/** The first `chars` base64 characters (6 bits each) of a SHA-256: `chars` bytes are more than enough. */
const digestChars = (text: string, chars: number) => base64(sha256(text).subarray(0, chars)).slice(0, chars);

/** 36-bit digest of a key, 6 base64 characters: the start of its versionKeys. */
export const keyDigest = (key: string) => digestChars("k" + key, KEY_DIGEST_CHARS);

/**
 * A remembered version: the key digest and 4 characters of the ETag's digest (24 bits; quotes
 * ignored). A version a notification brought (`pushed`) is digested apart: its LastModified is not
 * known, so a listing matches it by ETag alone and then records it as listed.
 */
export const versionKey = (keyDigestChars: string, etag: string, pushed = false) =>
  keyDigestChars + digestChars((pushed ? "p" : "e") + etag.replace(/"/g, ""), ETAG_DIGEST_CHARS);

/** The state as JSON-ready data: seen entries sorted by second, oldest first. */
export function encodeState(source: string, state: LoadedState): TriggerState {
  const entries = [...state.seen].sort((a, b) => a[1] - b[1]);
  const seenSeconds: number[] = [];
  let previous = 0;
  for (const [, second] of entries) (seenSeconds.push(second - previous), (previous = second));
  const out: TriggerState = {
    version: 2,
    source,
    floor: state.floor,
    newest: state.newest,
    seen: entries.map(([key]) => key).join(""),
    seenSeconds,
    after: state.after,
    highWater: state.highWater,
    incrementalPolls: state.incrementalPolls || undefined,
    waiting: state.waiting,
  };
  // Optional fields are absent, not undefined: the same object as its JSON parsed back.
  for (const field in out) if (out[field as keyof TriggerState] === undefined) delete out[field as keyof TriggerState];
  return out;
}

const isString = (value: unknown): value is string => typeof value == "string";
const isPosition = (value: unknown) =>
  isString(value) && value.length >= ISO_LENGTH && Number.isFinite(positionTime(value));
const isCount = (value: unknown) => Number.isSafeInteger(value) && (value as number) >= 0;

/**
 * A state given back by the caller (parsed JSON may hold anything): none (null or undefined: the
 * empty state), version 2 as written by encodeState, or version 1 (upgraded). Anything else is an
 * InputError naming "state".
 */
export function decodeState(input: unknown, source: string): LoadedState {
  if (input == null) return { floor: null, newest: null, seen: new Map(), incrementalPolls: 0 };
  const state = input as Record<string, any>;
  const refuse = (): never => {
    throw new InputError(`state must be a state this trigger returned (s3://${source})`, "state");
  };
  // A string, number or array has no source of this trigger either.
  if (state.source !== source) refuse();
  if (state.version === 1) return upgradeVersion1(state, refuse);
  const { floor, newest, seen, seenSeconds, after, highWater, incrementalPolls = 0, waiting } = state;
  if (
    state.version !== 2 ||
    !(floor === null || isPosition(floor)) ||
    !(newest === null || isPosition(newest)) ||
    !isString(seen) ||
    !ENTRIES.test(seen) ||
    !Array.isArray(seenSeconds) ||
    seenSeconds.length * ENTRY_CHARS != seen.length ||
    !seenSeconds.every(isCount) ||
    !(after === undefined || isString(after)) ||
    !(highWater === undefined || isString(highWater)) ||
    !isCount(incrementalPolls) ||
    !(waiting === undefined || isPosition(waiting))
  )
    refuse();
  const loaded: LoadedState = { floor, newest, seen: new Map(), after, highWater, incrementalPolls, waiting };
  let second = 0;
  seenSeconds.forEach((delta: number, index: number) =>
    loaded.seen.set(seen.slice(index * ENTRY_CHARS, (index + 1) * ENTRY_CHARS), (second += delta)),
  );
  return loaded;
}

/** Version 1 (seen: [position, etag] pairs, whole keys) to the same versions as digests. */
function upgradeVersion1(state: Record<string, any>, refuse: () => never): LoadedState {
  const { floor, seen } = state;
  if (!isPosition(floor) || !Array.isArray(seen)) refuse();
  const loaded: LoadedState = { floor, newest: null, seen: new Map(), incrementalPolls: 0 };
  for (const entry of seen) {
    if (!Array.isArray(entry) || entry.length != 2 || !isPosition(entry[0]) || !isString(entry[1])) refuse();
    const time = positionTime(entry[0]);
    loaded.seen.set(versionKey(keyDigest(entry[0].slice(ISO_LENGTH)), entry[1]), secondOf(time));
    if (!(loaded.newest! >= toPosition(time))) loaded.newest = toPosition(time); // null >= anything: false
  }
  return loaded;
}
