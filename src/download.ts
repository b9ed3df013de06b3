// Download action: stream an object with constant memory, resume broken connections without ever
// splicing two versions, and verify length and S3 checksums. Never a silent short or wrong body.
import { b64, crc32, crc32c, crcBytes } from "./checksum.ts";
import type { RequestOptions, S3Client, SseCustomerKey } from "./client.ts";
import { DownloadError, isTransient } from "./errors.ts";
import { sha256Digest, sha256Init, sha256Update } from "./hash.ts";

export interface DownloadOptions extends RequestOptions, SseCustomerKey {
  bucket: string;
  key: string;
  /** A specific version (versioned buckets). */
  versionId?: string;
  /** Only download this version (sent as If-Match); a different current version fails with S3Error PreconditionFailed. */
  etag?: string;
  /** "bytes=start-end" (or "bytes=start-") */
  range?: string;
  onProgress?: (p: { loaded: number; total: number }) => void;
  /** Reconnects after a broken body (default 5). */
  maxResumes?: number;
  /** A body that delivers no byte for this long counts as broken and is resumed (default 30000). */
  idleTimeoutMs?: number;
}

export interface Download {
  body: ReadableStream<Uint8Array>;
  /** Bytes the body delivers (the range's length for a ranged download). */
  size: number;
  etag: string;
  contentType?: string;
  lastModified: Date;
}

// Checksums we can recompute, cheapest first: [S3 name, update(state, bytes) -> state, digest bytes,
// initial state]. A CRC state may start undefined (see checksum.ts).
type Sum = [string, (s: any, b: Uint8Array) => any, (s: any) => Uint8Array | number[], () => any];
const SUMS = [
  ["crc32c", crc32c, crcBytes],
  ["crc32", crc32, crcBytes],
  ["sha256", sha256Update, sha256Digest, sha256Init],
] as Sum[];

/**
 * Stream an object: `body` delivers exactly the stored bytes (a stored Content-Encoding is not
 * decoded), resumed across broken connections, and errors with a DownloadError instead of closing
 * when the bytes are short, long, from another version, or fail S3's checksum.
 */
export async function downloadFile(client: Pick<S3Client, "getObject">, o: DownloadOptions): Promise<Download> {
  // fetch transparently decodes a stored Content-Encoding (gzip, br...), which would break the byte
  // count, the checksum and resume offsets: ask S3 to label the body identity and get the stored bytes.
  // (getObject picks the fields it knows from the options.)
  const p = { ...o, responseContentEncoding: "identity" };
  const res = await client.getObject({ ...p, ifMatch: o.etag, checksumMode: true });
  const { etag, contentLength: total, checksums, contentType, lastModified } = res, start = res.contentRange?.start ?? 0;
  // A checksum verifies only a full-object body. A multipart COMPOSITE one ("xxx-N") is a checksum
  // of part checksums, not computable from the bytes: like the AWS SDKs, skip values with a "-N".
  const [name, update, digest, init] = SUMS.find(([n]) => total == res.size && checksums[n as "crc32"]?.includes("-") === false) ?? [];
  let state = init?.(), reader = res.body.getReader(), received = 0, budget = o.maxResumes ?? 5;
  const fail = (code: DownloadError["code"]) => {
    throw new DownloadError(code, `${o.bucket}/${o.key}: ${code} after ${received} of ${total} bytes`, received, total);
  };
  const body = new ReadableStream<Uint8Array>(
    {
      // Pull-based: the network is read only when the consumer asks for bytes (backpressure).
      async pull(ctrl) {
        try {
          for (;;) {
            o.signal?.throwIfAborted();
            // A read error, or a body stalled for idleTimeoutMs (the request timeout only covers
            // the headers), is handled like an early end: resume.
            let t: any;
            const v = (
              await Promise.race([reader.read(), new Promise<void>((r) => (t = setTimeout(r, o.idleTimeoutMs ?? 3e4)))])
                .catch(() => {})
                .finally(() => clearTimeout(t))
            )?.value;
            if (v) {
              if ((received += v.length) > total) fail("LengthMismatch");
              state = update?.(state, v);
              o.onProgress?.({ loaded: received, total });
              return ctrl.enqueue(v);
            }
            if (received == total) {
              // Without a checksum both sides are undefined.
              if ((digest && b64(digest(state))) != checksums[name as "crc32"]) fail("ChecksumMismatch");
              return ctrl.close();
            }
            // A broken body, or one that ended early (a truncation too): resume the same version.
            if (budget-- < 1) fail("Truncated");
            reader.cancel().catch(() => {}); // frees a stalled connection (a no-op on an ended one)
            let next;
            try {
              next = await client.getObject({ ...p, ifMatch: etag, range: `bytes=${start + received}-${start + total - 1}` });
            } catch (e: any) {
              if (!isTransient(e)) {
                if (e?.status == 412) fail("ObjectChanged");
                if (e?.status == 416) fail("LengthMismatch");
                throw e;
              }
              continue; // a transient failure after the client's retries: spend one resume
            }
            reader = next.body.getReader();
            // Guards servers that ignore If-Match or Range: splicing would corrupt silently.
            if (next.etag != etag || next.contentRange?.start != start + received) fail("ObjectChanged");
          }
        } catch (e) {
          reader.cancel(e).catch(() => {}); // a failed stream must not keep a connection open
          throw e;
        }
      },
      cancel: (why) => reader.cancel(why),
    },
    { highWaterMark: 0 },
  );
  return { body, size: total, etag, contentType, lastModified };
}
