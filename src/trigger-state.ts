// The new-file trigger's persisted state: its JSON format (version 2), the upgrade of version 1
// states, validation, and the compact encoding of the versions already emitted.
//
// Size: a Durable Object value holds at most 128 KiB, and a KV value or a database row should stay
// small. Version 1 kept the key of every remembered version (5000 x 1 KB keys = ~5 MB). Version 2
// keeps 11 characters per version: a digest of the key (42 bits) and of the ETag (23 bits), plus a
// flag for versions that came from a notification, and ~1 character for its LastModified second.
// Whole keys are kept only where a cursor needs one (floor, the listing positions): at maxSeen 5000
// the JSON is ~62 KB whatever the key lengths. The digests are SHA-256 (the signer's own), so the odds below hold even for keys chosen
// by someone who can write to the bucket and wants to hide a file:
// - a new version is taken for an emitted one (and missed) only if both digests collide with one of
//   the 5000 remembered (5000 / 2^65 = 1e-16) and its LastModified second is equal (or the
//   remembered one came from a notification);
// - a new key that shares a remembered key's 42-bit digest (5000 / 2^42 = 1e-9) is reported with
//   isUpdate true.
// One entry per (key, content): a redelivered notification of an older version of a key is still
// recognized after a newer version was handled.
import { sha256 } from "./hash.ts";
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
  /** versions emitted above the floor, 11 base64url characters each, in ascending LastModified second */
  seen: string;
  /** the LastModified second of each entry of seen: deltas from the previous one, base64url varints */
  seenSeconds: string;
  /** a full listing in progress resumes after this key ("" = from the start); absent when none is */
  after?: string;
  /** incremental listing: every key up to this one was listed and handled */
  highWater?: string;
  /** incremental listing: polls since the last full listing started */
  incrementalPolls?: number;
  /** ISO LastModified of the oldest object the last full listing passed while it was younger than minAgeMs: the floor waits for it */
  waiting?: string;
}

/** One remembered version: its LastModified second and whether a notification brought it. */
export interface SeenVersion {
  second: number;
  /** from accept(): the notification's time is not LastModified, so the version is matched by ETag alone */
  pushed: boolean;
}

/** The state in memory: seen by versionKey(key, etag). */
export interface LoadedState {
  floor: string | null;
  newest: string | null;
  seen: Map<string, SeenVersion>;
  after?: string;
  highWater?: string;
  incrementalPolls: number;
  waiting?: string;
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const ALPHABET_INDEX = new Map([...ALPHABET].map((char, index) => [char, index]));
const ENTRY_CHARS = 11; // 7 for the key digest (42 bits), 4 for the ETag digest (23 bits) and the pushed flag
const KEY_DIGEST_CHARS = 7;
const ETAG_DIGEST_BITS = 23;
const VARINT_MORE = 32; // a varint character with this bit set is followed by another one
const ISO_LENGTH = 24; // "2024-05-01T10:00:00.000Z"

/** The ISO time part of a position, as milliseconds. */
export const positionTime = (position: string) => Date.parse(position.slice(0, ISO_LENGTH));
/** `ISO + key`; a bare ISO time sorts below every position of its millisecond (S3 keys are never empty). */
export const toPosition = (time: number, key = "") => new Date(time).toISOString() + key;

const sixBits = (value: number) => ALPHABET[value & 63];
const charsOf = (bytes: Uint8Array, count: number) => {
  // base64url of the leading bits, 6 per character
  let out = "";
  for (let bit = 0; bit < count * 6; bit += 6) {
    const byte = bit >> 3, shift = bit & 7;
    const word = (bytes[byte] << 8) | bytes[byte + 1];
    out += sixBits(word >> (10 - shift));
  }
  return out;
};

/** 42-bit digest of a key, as 7 base64url characters: the first characters of its versionKeys. */
export const keyDigest = (key: string) => charsOf(sha256("k" + key), KEY_DIGEST_CHARS);

/**
 * The map key of a seen entry: the key digest, then 4 characters holding the ETag's 23-bit digest
 * and a zero bit (set in the state for pushed versions). ETags are compared without their quotes.
 */
export const versionKey = (keyDigestChars: string, etag: string) => {
  const bytes = sha256("e" + etag.replace(/"/g, ""));
  const low = (((bytes[0] << 16) | (bytes[1] << 8) | bytes[2]) >>> (24 - ETAG_DIGEST_BITS)) << 1;
  return keyDigestChars + sixBits(low >> 18) + sixBits(low >> 12) + sixBits(low >> 6) + sixBits(low);
};
const PUSHED_BIT = 1; // in the last character of an entry

const encodeVarint = (value: number) => {
  let out = "";
  for (; value >= VARINT_MORE; value = Math.floor(value / VARINT_MORE)) out += ALPHABET[VARINT_MORE | value % VARINT_MORE];
  return out + ALPHABET[value];
};

/** The state as JSON-ready data: seen entries sorted by second, oldest first. */
export function encodeState(source: string, state: LoadedState): TriggerState {
  const entries = [...state.seen].sort((a, b) => a[1].second - b[1].second);
  let seen = "", seenSeconds = "", previous = 0;
  for (const [key, version] of entries) {
    seen += version.pushed ? key.slice(0, -1) + ALPHABET[ALPHABET_INDEX.get(key.at(-1)!)! | PUSHED_BIT] : key;
    seenSeconds += encodeVarint(version.second - previous);
    previous = version.second;
  }
  const out: TriggerState = { version: 2, source, floor: state.floor, newest: state.newest, seen, seenSeconds };
  if (state.after !== undefined) out.after = state.after;
  if (state.highWater !== undefined) out.highWater = state.highWater;
  if (state.incrementalPolls) out.incrementalPolls = state.incrementalPolls;
  if (state.waiting !== undefined) out.waiting = state.waiting;
  return out;
}

const isString = (value: unknown): value is string => typeof value == "string";
const isPosition = (value: unknown) => isString(value) && value.length >= ISO_LENGTH && Number.isFinite(positionTime(value));

/**
 * A state given back by the caller (parsed JSON may hold anything): version 2 as written by
 * encodeState, or version 1 (upgraded). Anything else is an InputError naming "state".
 */
export function decodeState(input: unknown, source: string): LoadedState {
  const state = input as Record<string, any> | null | undefined;
  const refuse = (): never => {
    throw new InputError(`state must be a state this trigger returned (s3://${source})`, "state");
  };
  if (typeof state != "object" || state === null || state.source !== source) refuse();
  if (state!.version === 1) return upgradeVersion1(state!, refuse);
  const { floor, newest, seen, seenSeconds, after, highWater, incrementalPolls = 0, waiting } = state!;
  if (
    state!.version !== 2 ||
    !(floor === null || isPosition(floor)) ||
    !(newest === null || isPosition(newest)) ||
    !isString(seen) ||
    !isString(seenSeconds) ||
    seen.length % ENTRY_CHARS ||
    !(after === undefined || isString(after)) ||
    !(highWater === undefined || isString(highWater)) ||
    !(Number.isInteger(incrementalPolls) && incrementalPolls >= 0) ||
    !(waiting === undefined || isPosition(waiting))
  )
    refuse();
  const digits = (text: string) => [...text].map((char) => ALPHABET_INDEX.get(char) ?? refuse());
  const secondDigits = digits(seenSeconds), entryDigits = digits(seen);
  const loaded: LoadedState = { floor, newest, seen: new Map(), after, highWater, incrementalPolls, waiting };
  let second = 0, read = 0;
  for (let entry = 0; entry < entryDigits.length; entry += ENTRY_CHARS) {
    let delta = 0;
    for (let scale = 1; ; scale *= VARINT_MORE) {
      if (read >= secondDigits.length) refuse();
      const digit = secondDigits[read++];
      delta += (digit % VARINT_MORE) * scale;
      if (digit < VARINT_MORE) break;
    }
    second += delta;
    const last = entryDigits[entry + ENTRY_CHARS - 1];
    const key = seen.slice(entry, entry + ENTRY_CHARS - 1) + ALPHABET[last & ~PUSHED_BIT];
    loaded.seen.set(key, { second, pushed: (last & PUSHED_BIT) == PUSHED_BIT });
  }
  if (read != secondDigits.length || !Number.isSafeInteger(second)) refuse();
  return loaded;
}

/** Version 1 (seen: [position, etag] pairs, whole keys) to the same versions as digests. */
function upgradeVersion1(state: Record<string, any>, refuse: () => never): LoadedState {
  const { floor, seen } = state;
  if (!isPosition(floor) || !Array.isArray(seen)) refuse();
  const loaded: LoadedState = { floor, newest: null, seen: new Map(), incrementalPolls: 0 };
  for (const entry of seen) {
    if (!Array.isArray(entry) || entry.length != 2 || !isPosition(entry[0]) || !isString(entry[1])) refuse();
    const [position, etag] = entry as [string, string];
    const second = Math.floor(positionTime(position) / 1000);
    loaded.seen.set(versionKey(keyDigest(position.slice(ISO_LENGTH)), etag), { second, pushed: false });
    const newest = loaded.newest === null ? -Infinity : positionTime(loaded.newest);
    if (positionTime(position) > newest) loaded.newest = toPosition(positionTime(position));
  }
  return loaded;
}
