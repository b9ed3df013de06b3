// SHA-256 and HMAC-SHA256 in plain TypeScript (FIPS 180-4, RFC 2104).
// Synchronous on purpose: signing hashes a few hundred bytes, and the async hop of
// crypto.subtle costs more than the hashing itself. It also runs where crypto.subtle
// does not exist (Node 18 without flags, embedded engines).

/** Incremental SHA-256 state (sha256Init, sha256Update, sha256Digest). */
export interface Sha256 {
  /** The chaining value H(i) of FIPS 180-4. */
  state: Int32Array;
  /** The bytes of a block not yet complete. */
  pending: Uint8Array;
  /** How many bytes of `pending` are filled. */
  pendingLength: number;
  /** Bytes already compressed into `state`. */
  compressedLength: number;
}

const encoder = /* @__PURE__ */ new TextEncoder();
const BLOCK = 64; // bytes per SHA-256 block
const TWO_POW_32 = 2 ** 32;
const schedule = /* @__PURE__ */ new Int32Array(64); // the message schedule W of FIPS 180-4 §6.2.2
// Round constants and initial state are the fractional bits of the cube / square roots of the
// first primes (FIPS 180-4 §4.2.2, §5.3.3); computing them keeps 288 bytes of literals out of the bundle.
const primeRootFractions = (root: (x: number) => number, count: number): Int32Array => {
  const out = new Int32Array(count);
  for (let candidate = 2, found = 0; found < count; candidate++) {
    let divisor = 2;
    while (candidate % divisor) divisor++;
    if (divisor == candidate) out[found++] = ((root(candidate) - Math.floor(root(candidate))) * TWO_POW_32) | 0;
  }
  return out;
};
// Pure calls: a bundle that uses only utf8 (the XML parser) drops them.
const ROUND_CONSTANTS = /* @__PURE__ */ primeRootFractions(Math.cbrt, 64);
const INITIAL_STATE = /* @__PURE__ */ primeRootFractions(Math.sqrt, 8);

/**
 * One block of `bytes` at `offset` into `state` (FIPS 180-4 §6.2.2). a..h and the rotations are
 * the standard's own names and formulas.
 */
function compress(state: Int32Array, bytes: Uint8Array, offset: number): void {
  const w = schedule;
  for (let i = 0; i < 16; i++, offset += 4)
    w[i] = (bytes[offset] << 24) | (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) | bytes[offset + 3];
  for (let i = 16; i < 64; i++) {
    const x = w[i - 15],
      y = w[i - 2];
    const sigma0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const sigma1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[i] = (sigma0 + sigma1 + w[i - 7] + w[i - 16]) | 0;
  }
  let a = state[0],
    b = state[1],
    c = state[2],
    d = state[3],
    e = state[4],
    f = state[5],
    g = state[6],
    h = state[7];
  for (let i = 0; i < 64; i++) {
    const sum1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + sum1 + (g ^ (e & (f ^ g))) + ROUND_CONSTANTS[i] + w[i]) | 0;
    const sum0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (sum0 + ((a & b) | (c & (a | b)))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  const working = [a, b, c, d, e, f, g, h];
  for (let i = 0; i < 8; i++) state[i] = (state[i] + working[i]) | 0;
}

export const utf8 = (data: string | Uint8Array | ArrayBuffer): Uint8Array =>
  typeof data === "string" ? encoder.encode(data) : data instanceof Uint8Array ? data : new Uint8Array(data);

// UTF-8 of strings being hashed; grows, never shared across awaits.
let scratch = /* @__PURE__ */ new Uint8Array(1024);
// The padded tail: one block, or two when the length won't fit after the last bytes.
const finalBlocks = /* @__PURE__ */ new Uint8Array(2 * BLOCK);

/**
 * One-shot SHA-256 continuing from chaining value `initialState` after `priorLength` bytes (HMAC's
 * pads, the incremental API's buffered tail). Strings go through TextEncoder.encodeInto, which is
 * several times faster than encode() for the few hundred bytes of a canonical request.
 */
function digest(message: string | Uint8Array, initialState: Int32Array = INITIAL_STATE, priorLength = 0): Uint8Array {
  let bytes = message as Uint8Array,
    length = bytes.length;
  if (typeof message === "string") {
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    if (scratch.length < message.length * 3) scratch = new Uint8Array(message.length * 3);
    length = encoder.encodeInto(message, (bytes = scratch)).written!;
  }
  const state = initialState.slice(),
    whole = length - (length % BLOCK),
    tail = length - whole,
    // The 0x80 marker and the 8-byte bit length must fit after the tail, else a second block.
    end = tail < BLOCK - 8 ? BLOCK : 2 * BLOCK,
    bits = (length + priorLength) * 8;
  for (let offset = 0; offset < whole; offset += BLOCK) compress(state, bytes, offset);
  finalBlocks.fill(0).set(bytes.subarray(whole, length));
  finalBlocks[tail] = 0x80;
  // The message length in bits, big-endian, in the last 8 bytes.
  for (let i = 0; i < 4; i++) {
    finalBlocks[end - 8 + i] = (bits / TWO_POW_32) >>> (24 - 8 * i);
    finalBlocks[end - 4 + i] = bits >>> (24 - 8 * i);
  }
  compress(state, finalBlocks, 0);
  if (end > BLOCK) compress(state, finalBlocks, BLOCK);
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = state[i >> 2] >>> (24 - (i & 3) * 8);
  return out;
}

export const sha256 = (data: string | Uint8Array | ArrayBuffer): Uint8Array =>
  digest(typeof data === "string" ? data : utf8(data));

/** Incremental SHA-256 (for checksumming a stream): init, update with each chunk, digest once. */
export const sha256Init = (): Sha256 => ({
  state: INITIAL_STATE.slice(),
  pending: new Uint8Array(BLOCK),
  pendingLength: 0,
  compressedLength: 0,
});

export function sha256Update(hash: Sha256, chunk: Uint8Array): Sha256 {
  // Whole blocks straight from the chunk; only a partial block's bytes go through `pending`.
  for (let i = 0; i < chunk.length;) {
    if (!hash.pendingLength && i + BLOCK <= chunk.length) {
      compress(hash.state, chunk, i);
      hash.compressedLength += BLOCK;
      i += BLOCK;
    } else {
      hash.pending[hash.pendingLength++] = chunk[i++];
      if (hash.pendingLength === BLOCK) {
        compress(hash.state, hash.pending, 0);
        hash.compressedLength += BLOCK;
        hash.pendingLength = 0;
      }
    }
  }
  return hash;
}

export const sha256Digest = (hash: Sha256): Uint8Array =>
  digest(hash.pending.subarray(0, hash.pendingLength), hash.state, hash.compressedLength);

/** Base64 of digest bytes, as S3 carries checksums in headers (and the trigger state its digests). */
export const base64 = (bytes: Uint8Array | number[]) => btoa(String.fromCharCode(...bytes));

export const hex = (bytes: Uint8Array): string => {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += bytes[i].toString(16).padStart(2, "0");
  return out;
};

/**
 * SHA-256 hex of a payload. Large payloads go to crypto.subtle where it exists (native speed
 * outweighs the async hop from ~64 KiB up); everything else is hashed inline.
 */
export async function sha256Hex(data: string | Uint8Array | ArrayBuffer): Promise<string> {
  const bytes = utf8(data);
  const subtle = (globalThis as { crypto?: Crypto }).crypto?.subtle;
  return hex(
    bytes.length > 64 * 1024 && subtle
      ? new Uint8Array(await subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>))
      : digest(bytes),
  );
}

/**
 * An HMAC key with its inner and outer pad blocks already compressed (RFC 2104), so each
 * MAC under a cached key costs only the message blocks plus one outer block.
 */
export interface HmacKey {
  inner: Int32Array;
  outer: Int32Array;
}

export function hmacKey(key: Uint8Array): HmacKey {
  const block = new Uint8Array(BLOCK);
  block.set(key.length > BLOCK ? digest(key) : key);
  const padded = (pad: number) => {
    const state = INITIAL_STATE.slice();
    compress(
      state,
      block.map((byte) => byte ^ pad),
      0,
    );
    return state;
  };
  return { inner: padded(0x36), outer: padded(0x5c) }; // RFC 2104 ipad, opad
}

export const hmac = (key: HmacKey, data: string | Uint8Array): Uint8Array =>
  digest(digest(data, key.inner, BLOCK), key.outer, BLOCK);
