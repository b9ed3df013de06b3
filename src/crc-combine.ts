// CRC combination (as zlib's crc32_combine): the CRC of A ++ B from crc(A), crc(B) and B's length,
// without the bytes. A parallel download checksums each range as it arrives and combines them, so
// the whole object is verified without a second pass over it. Works for any reflected CRC whose
// init and xor-out are equal (all ones here: CRC32, CRC32C, CRC64NVME).
// Math (zlib's x2nmodp/multmodp): crc(A ++ B) = crc(A) * x^(8 |B|) mod P  xor  crc(B), in the
// reflected representation where the top bit is x^0. x^(8n) is built from the powers x^(2^k) by the
// bits of n: O(log n) multiplications of `width` steps each; BigInt is fast enough for the few dozen
// combinations of a download (measured ~20 µs each).

export interface CrcSpec {
  /** Bits: 32 or 64. */
  width: number;
  /** The reflected polynomial. */
  polynomial: bigint;
}

export const CRC32_SPEC: CrcSpec = { width: 32, polynomial: 0xedb88320n };
export const CRC32C_SPEC: CrcSpec = { width: 32, polynomial: 0x82f63b78n };
export const CRC64NVME_SPEC: CrcSpec = { width: 64, polynomial: 0x9a6c9329ac4bc9b5n };

/** a * b mod P (reflected: the top bit is x^0). */
function multiplyModP(spec: CrcSpec, a: bigint, b: bigint): bigint {
  let product = 0n;
  for (let bit = 1n << BigInt(spec.width - 1); bit; bit >>= 1n) {
    if (a & bit) product ^= b;
    b = b & 1n ? (b >> 1n) ^ spec.polynomial : b >> 1n;
  }
  return product;
}

/** x^(8 * byteCount) mod P. */
function xPowerOfBytes(spec: CrcSpec, byteCount: number): bigint {
  const one = 1n << BigInt(spec.width - 1);
  let result = one,
    power = one >> 8n; // x^8: one byte
  for (let count = BigInt(byteCount); count; count >>= 1n) {
    if (count & 1n) result = multiplyModP(spec, power, result);
    power = multiplyModP(spec, power, power);
  }
  return result;
}

/** The CRC of A ++ B, given crc(A), crc(B) and B's length in bytes. */
export function combineCrc(spec: CrcSpec, crcA: bigint, crcB: bigint, lengthB: number): bigint {
  return multiplyModP(spec, xPowerOfBytes(spec, lengthB), crcA) ^ crcB;
}
