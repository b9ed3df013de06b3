// CRC32 (IEEE) and CRC32C (Castagnoli) for S3's x-amz-checksum-crc32 / -crc32c, slicing-by-8.
// Tables are built on first use (8 KiB each) instead of shipped as literals: bundle size matters.

/**
 * An incremental CRC over a reflected polynomial. The state IS the CRC of the bytes so far (0 for
 * none), so `f(f(0, a), b) === f(0, a ++ b)`.
 */
const crcOf = (poly: number) => {
  let t: Uint32Array;
  return (state: number, b: Uint8Array): number => {
    if (!t) {
      t = new Uint32Array(2048);
      for (let i = 0, c, k; i < 256; t[i++] = c) for (c = i, k = 8; k--; ) c = c & 1 ? (c >>> 1) ^ poly : c >>> 1;
      // t[256k + i] = CRC of byte i followed by k zero bytes: lets the loop fold 8 bytes per step.
      for (let i = 256; i < 2048; i++) t[i] = (t[i - 256] >>> 8) ^ t[t[i - 256] & 255];
    }
    const n = b.length, o = b.byteOffset;
    let c = ~state, i = 0, d = 0, j = 0;
    while (i < n && (o + i) & 3) c = t[(c ^ b[i++]) & 255] ^ (c >>> 8);
    // Whole aligned 32-bit words, 8 bytes per step (little-endian host, as every JS runtime in
    // practice): about twice as fast as assembling words from bytes. The offset is rounded down
    // because a short input can run out before alignment (the view is empty then).
    const w = new Uint32Array(b.buffer, o + i - ((o + i) & 3), ((n - i) >>> 3) * 2);
    while (j < w.length) {
      c ^= w[j++];
      d = w[j++];
      c = t[1792 + (c & 255)] ^ t[1536 + ((c >>> 8) & 255)] ^ t[1280 + ((c >>> 16) & 255)] ^ t[1024 + (c >>> 24)] ^
        t[768 + (d & 255)] ^ t[512 + ((d >>> 8) & 255)] ^ t[256 + ((d >>> 16) & 255)] ^ t[d >>> 24];
    }
    for (i += j * 4; i < n; ) c = t[(c ^ b[i++]) & 255] ^ (c >>> 8);
    return ~c >>> 0;
  };
};

/** crc32(state, bytes) -> state; start from 0. */
export const crc32 = crcOf(0xedb88320);
/** crc32c(state, bytes) -> state; start from 0. */
export const crc32c = crcOf(0x82f63b78);

/** Base64 of bytes (small inputs: digests). */
export const b64 = (b: Uint8Array | number[]) => btoa(String.fromCharCode(...b));

/** A CRC as S3 carries it in headers: base64 of the 4 big-endian bytes. */
export const crcBase64 = (c: number) => b64([c >>> 24, (c >>> 16) & 255, (c >>> 8) & 255, c & 255]);
