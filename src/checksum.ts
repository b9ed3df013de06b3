// CRC32 (IEEE) and CRC32C (Castagnoli) for S3's x-amz-checksum-crc32 / -crc32c, slicing-by-4.
// Tables are built on first use (4 KiB each) instead of shipped as literals: bundle size matters.
// Slicing-by-4 runs at about two thirds of slicing-by-8 (still several hundred MiB/s, faster than
// the networks a download streams from) for half the table and less code.

/**
 * An incremental CRC over a reflected polynomial. The state IS the CRC of the bytes so far (0 or
 * undefined for none, as ~undefined == ~0), so `f(f(0, a), b) === f(0, a ++ b)`.
 */
const crcOf = (poly: number, t?: Int32Array) => (state: number | undefined, b: Uint8Array): number => {
  // t[256k + i] = CRC of byte i followed by k zero bytes, i.e. 8 (k + 1) shifts of i: lets the loop
  // fold 4 bytes per step.
  if (!t) {
    t = new Int32Array(1024);
    for (let i = 0, c, k; i < 1024; t[i++] = c) for (c = i & 255, k = (i >> 5) | 7; k-- >= 0; ) c = c & 1 ? (c >>> 1) ^ poly : c >>> 1;
  }
  let c = ~state!, i = 0, n = b.length;
  // Operands evaluate left to right: each b[i++] takes the next byte while c is still the old CRC.
  for (; i < n - 3; )
    c = t[768 | b[i++] ^ (c & 255)] ^ t[512 | b[i++] ^ ((c >>> 8) & 255)] ^ t[256 | b[i++] ^ ((c >>> 16) & 255)] ^ t[b[i++] ^ (c >>> 24)];
  while (i < n) c = t[b[i++] ^ (c & 255)] ^ (c >>> 8);
  return ~c >>> 0;
};

/** crc32(state, bytes) -> state; start from 0. */
export const crc32 = crcOf(0xedb88320);
/** crc32c(state, bytes) -> state; start from 0. */
export const crc32c = crcOf(0x82f63b78);

/** A CRC's 4 big-endian bytes: S3 sends their base64. */
export const crcBytes = (c: number) => [24, 16, 8, 0].map((s) => (c >>> s) & 255);

/** Base64 of digest bytes, as S3 carries checksums in headers. */
export const b64 = (b: Uint8Array | number[]) => btoa(String.fromCharCode(...b));
