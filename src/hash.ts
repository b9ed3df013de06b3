// SHA-256 and HMAC-SHA256 in plain TypeScript (FIPS 180-4, RFC 2104).
// Synchronous on purpose: signing hashes a few hundred bytes, and the async hop of
// crypto.subtle costs more than the hashing itself. It also runs where crypto.subtle
// does not exist (Node 18 without flags, embedded engines).

/** Incremental SHA-256 state: h = chaining value, b = partial block, n = bytes in b, l = total length. */
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

export const sha256Init = (h: Int32Array = IV, l = 0): Sha256 => ({ h: h.slice(), b: new Uint8Array(64), n: 0, l });

export function sha256Update(s: Sha256, d: Uint8Array): Sha256 {
  const len = d.length;
  let i = 0;
  s.l += len;
  if (s.n) {
    i = Math.min(64 - s.n, len);
    s.b.set(d.subarray(0, i), s.n);
    if ((s.n += i) < 64) return s;
    block(s.h, s.b, 0);
    s.n = 0;
  }
  for (; i + 64 <= len; i += 64) block(s.h, d, i);
  if (i < len) { s.b.set(d.subarray(i)); s.n = len - i; }
  return s;
}

export function sha256Digest(s: Sha256): Uint8Array {
  const b = s.b, h = s.h, bits = s.l * 8;
  let n = s.n;
  b[n++] = 0x80;
  if (n > 56) { b.fill(0, n); block(h, b, 0); n = 0; }
  b.fill(0, n, 56);
  const v = new DataView(b.buffer);
  v.setUint32(56, bits / 4294967296);
  v.setUint32(60, bits >>> 0);
  block(h, b, 0);
  for (let i = 0; i < 8; i++) v.setInt32(i * 4, h[i]);
  return b.slice(0, 32);
}

export const sha256 = (d: string | Uint8Array | ArrayBuffer): Uint8Array => sha256Digest(sha256Update(sha256Init(), utf8(d)));

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
  return hex(u.length > 65536 && subtle ? new Uint8Array(await subtle.digest("SHA-256", u)) : sha256(u));
}

/**
 * An HMAC key with its inner and outer pad blocks already compressed (RFC 2104), so each
 * MAC under a cached key costs only the message blocks plus one outer block.
 */
export interface HmacKey { i: Int32Array; o: Int32Array }

export function hmacKey(key: Uint8Array): HmacKey {
  const k = new Uint8Array(64);
  k.set(key.length > 64 ? sha256(key) : key);
  const pad = (x: number) => {
    const h = IV.slice();
    block(h, k.map((c) => c ^ x), 0);
    return h;
  };
  return { i: pad(0x36), o: pad(0x5c) };
}

export const hmac = (k: HmacKey, d: string | Uint8Array): Uint8Array =>
  sha256Digest(sha256Update(sha256Init(k.o, 64), sha256Digest(sha256Update(sha256Init(k.i, 64), utf8(d)))));
