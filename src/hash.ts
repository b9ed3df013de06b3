// SHA-256 and HMAC-SHA256 in plain TypeScript (FIPS 180-4, RFC 2104).
// Synchronous on purpose: signing hashes a few hundred bytes, and the async hop of
// crypto.subtle costs more than the hashing itself. It also runs where crypto.subtle
// does not exist (Node 18 without flags, embedded engines).

/** Incremental SHA-256 state: h = chaining value, b = partial block, n = bytes in b, l = bytes already compressed. */
export interface Sha256 { h: Int32Array; b: Uint8Array; n: number; l: number }

const enc = /* @__PURE__ */ new TextEncoder();
const W = /* @__PURE__ */ new Int32Array(64);
// Round constants and IV are the fractional bits of the cube / square roots of the first
// primes (FIPS 180-4 §4.2.2, §5.3.3); computing them keeps 288 bytes of literals out of the bundle.
const [K, IV] = /* @__PURE__ */ (() => {
  const k = new Int32Array(64), iv = new Int32Array(8);
  const frac = (x: number) => ((x - Math.floor(x)) * 4294967296) | 0;
  for (let n = 2, i = 0; i < 64; n++) {
    let d = 2;
    while (n % d) d++;
    if (d < n) continue;
    if (i < 8) iv[i] = frac(Math.sqrt(n));
    k[i++] = frac(Math.cbrt(n));
  }
  return [k, iv];
})();

function block(h: Int32Array, m: Uint8Array, o: number): void {
  const w = W;
  for (let i = 0; i < 16; i++, o += 4) w[i] = (m[o] << 24) | (m[o + 1] << 16) | (m[o + 2] << 8) | m[o + 3];
  for (let i = 16; i < 64; i++) {
    const x = w[i - 15], y = w[i - 2];
    w[i] = (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) +
      (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + w[i - 7] + w[i - 16] | 0;
  }
  let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
  for (let i = 0; i < 64; i++) {
    const t = k + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
      (g ^ (e & (f ^ g))) + K[i] + w[i] | 0;
    const u = (((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) +
      ((a & b) | (c & (a | b))) | 0;
    k = g; g = f; f = e; e = d + t | 0; d = c; c = b; b = a; a = t + u | 0;
  }
  h[0] = h[0] + a | 0; h[1] = h[1] + b | 0; h[2] = h[2] + c | 0; h[3] = h[3] + d | 0;
  h[4] = h[4] + e | 0; h[5] = h[5] + f | 0; h[6] = h[6] + g | 0; h[7] = h[7] + k | 0;
}

export const utf8 = (s: string | Uint8Array | ArrayBuffer): Uint8Array =>
  typeof s === "string" ? enc.encode(s) : s instanceof Uint8Array ? s : new Uint8Array(s);

let S = new Uint8Array(1024); // scratch for UTF-8 of strings; grows, never shared across awaits
const PAD = new Uint8Array(128);
const PV = /* @__PURE__ */ new DataView(PAD.buffer);

/**
 * One-shot SHA-256 continuing from chaining value `h0` after `l0` bytes (HMAC's pads, the
 * incremental API's buffered tail). Strings go through TextEncoder.encodeInto, which is
 * several times faster than encode() for the few hundred bytes of a canonical request.
 */
function digest(m: string | Uint8Array, h0: Int32Array = IV, l0 = 0): Uint8Array {
  let src = m as Uint8Array, n = src.length;
  if (typeof m === "string") {
    if (S.length < m.length * 3) S = new Uint8Array(m.length * 3);
    n = enc.encodeInto(m, (src = S)).written!;
  }
  const h = h0.slice(), full = n - (n % 64), t = n - full, end = t < 56 ? 64 : 128, bits = (n + l0) * 8;
  for (let o = 0; o < full; o += 64) block(h, src, o);
  PAD.fill(0).set(src.subarray(full, n));
  PAD[t] = 0x80;
  PV.setUint32(end - 8, bits / 4294967296);
  PV.setUint32(end - 4, bits >>> 0);
  block(h, PAD, 0);
  if (end > 64) block(h, PAD, 64);
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = h[i >> 2] >>> (24 - (i & 3) * 8);
  return out;
}

export const sha256 = (d: string | Uint8Array | ArrayBuffer): Uint8Array => digest(typeof d === "string" ? d : utf8(d));

/** Incremental SHA-256 (for checksumming a stream): init, update with each chunk, digest once. */
export const sha256Init = (): Sha256 => ({ h: IV.slice(), b: new Uint8Array(64), n: 0, l: 0 });

export function sha256Update(s: Sha256, d: Uint8Array): Sha256 {
  // Whole blocks straight from the chunk; only a partial block's bytes go through s.b.
  for (let i = 0; i < d.length; )
    if (!s.n && i + 64 <= d.length) block(s.h, d, i), (s.l += 64), (i += 64);
    else if (((s.b[s.n++] = d[i++]), s.n > 63)) block(s.h, s.b, 0), (s.l += 64), (s.n = 0);
  return s;
}

export const sha256Digest = (s: Sha256): Uint8Array => digest(s.b.subarray(0, s.n), s.h, s.l);

export const hex = (b: Uint8Array): string => {
  let s = "";
  for (let i = 0; i < b.length; i++) s += (b[i] < 16 ? "0" : "") + b[i].toString(16);
  return s;
};

/**
 * SHA-256 hex of a payload. Large payloads go to crypto.subtle where it exists (native
 * speed outweighs the async hop from ~64 KiB up); everything else is hashed inline.
 */
export async function sha256Hex(d: string | Uint8Array | ArrayBuffer): Promise<string> {
  const u = utf8(d);
  const subtle = (globalThis as { crypto?: Crypto }).crypto?.subtle;
  return hex(u.length > 65536 && subtle ? new Uint8Array(await subtle.digest("SHA-256", u as Uint8Array<ArrayBuffer>)) : digest(u));
}

/**
 * An HMAC key with its inner and outer pad blocks already compressed (RFC 2104), so each
 * MAC under a cached key costs only the message blocks plus one outer block.
 */
export interface HmacKey { i: Int32Array; o: Int32Array }

export function hmacKey(key: Uint8Array): HmacKey {
  const k = new Uint8Array(64);
  k.set(key.length > 64 ? digest(key) : key);
  const pad = (x: number) => {
    const h = IV.slice();
    block(h, k.map((c) => c ^ x), 0);
    return h;
  };
  return { i: pad(0x36), o: pad(0x5c) };
}

export const hmac = (k: HmacKey, d: string | Uint8Array): Uint8Array => digest(digest(d, k.i, 64), k.o, 64);
