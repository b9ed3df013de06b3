// CRC64NVME for S3's x-amz-checksum-crc64nvme: since 2025 S3 stores one for every object uploaded
// without a checksum of its own, so it is the checksum most AWS objects carry. The NVMe polynomial
// 0xAD93D23594C93659, reflected (0x9A6C9329AC4BC9B5), init and xor-out all ones; the check value of
// "123456789" is 0xAE8B14860A799888. The bytes go through checksum.ts's two-half engine; a BigInt
// appears only at the edges.
import { crcBytes, reflectedCrc } from "./checksum.ts";

export const advanceCrc64nvme = /* @__PURE__ */ reflectedCrc(0x9a6c9329 | 0, 0xac4bc9b5 | 0);

/** crc64nvme(state, bytes) -> state; start from 0n (or undefined). Incremental: the state is the CRC so far. */
export function crc64nvme(state: bigint | undefined, bytes: Uint8Array): bigint {
  const inverted = ~(state ?? 0n);
  const { high, low } = advanceCrc64nvme(
    { high: Number((inverted >> 32n) & 0xffffffffn), low: Number(inverted & 0xffffffffn) },
    bytes,
  );
  return (BigInt(~high >>> 0) << 32n) | BigInt(~low >>> 0);
}

/** A CRC64's 8 big-endian bytes: S3 sends their base64. */
export const crc64Bytes = (crc: bigint) => [...crcBytes(Number(crc >> 32n)), ...crcBytes(Number(crc & 0xffffffffn))];
