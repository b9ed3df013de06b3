// Download action: stream an object with constant memory, resume broken connections without ever
// splicing two versions, and verify length and S3 checksums. Never a silent short or wrong body.
import { b64, crc32, crc32c, crcBase64 } from "./checksum.ts";
import type { S3Client } from "./client.ts";
import { DownloadError, S3Error } from "./errors.ts";
import { sha256Digest, sha256Init, sha256Update } from "./hash.ts";

export interface DownloadOptions {
  bucket: string;
  key: string;
  /** Only download this version (sent as If-Match); a different current version fails with S3Error PreconditionFailed. */
  etag?: string;
  /** "bytes=start-end" (or "bytes=start-") */
  range?: string;
  signal?: AbortSignal;
  onProgress?: (p: { loaded: number; total: number }) => void;
  /** Reconnects after a broken body (default 5). */
  maxResumes?: number;
}

export interface Download {
  body: ReadableStream<Uint8Array>;
  /** Bytes the body delivers (the range's length for a ranged download). */
  size: number;
  etag: string;
  contentType?: string;
  lastModified: Date;
}

// Checksums we can recompute, cheapest first: [S3 name, init, update(state, bytes) -> state, digest].
type Sum = [string, () => any, (s: any, b: Uint8Array) => any, (s: any) => string];
const SUMS: Sum[] = [
  ["crc32c", () => 0, crc32c, crcBase64],
  ["crc32", () => 0, crc32, crcBase64],
  ["sha256", sha256Init, sha256Update, (s) => b64(sha256Digest(s))],
];

/**
 * Stream an object: `body` delivers exactly the stored bytes (a stored Content-Encoding is not
 * decoded), resumed across broken connections, and errors with a DownloadError instead of closing
 * when the bytes are short, long, from another version, or fail S3's checksum.
 */
export async function downloadFile(client: Pick<S3Client, "getObject">, o: DownloadOptions): Promise<Download> {
  const { bucket, key, signal } = o;
  // fetch transparently decodes a stored Content-Encoding (gzip, br...), which would break the byte
  // count, the checksum and resume offsets: ask S3 to label the body identity and get the stored bytes.
  const p = { bucket, key, signal, responseContentEncoding: "identity" };
  const res = await client.getObject({ ...p, range: o.range, ifMatch: o.etag, checksumMode: true });
  const { etag, contentLength: total, checksums } = res, start = res.contentRange?.start ?? 0;
  // A full-object checksum verifies only a full-object body; a COMPOSITE one (multipart, "xxx-N")
  // is a checksum of part checksums, not computable from the bytes.
  const sum = total == res.size && res.checksumType != "COMPOSITE" ? SUMS.find(([n]) => checksums[n as "crc32"]?.includes("-") === false) : undefined;
  let state = sum?.[1](), reader = res.body.getReader(), received = 0, budget = o.maxResumes ?? 5;
  const fail = (code: DownloadError["code"], why: string) => {
    throw new DownloadError(code, `${bucket}/${key}: ${why} (received ${received} of ${total} bytes)`, received, total);
  };
  const changed = () => fail("ObjectChanged", "the object changed during the download");
  const badLength = () => fail("LengthMismatch", "the body length differs from Content-Length");
  const body = new ReadableStream<Uint8Array>(
    {
      // Pull-based: the network is read only when the consumer asks for bytes (backpressure).
      async pull(ctrl) {
        try {
          for (;;) {
            signal?.throwIfAborted();
            let r;
            try {
              r = await reader.read();
            } catch {}
            if (r && !r.done) {
              const v = r.value;
              if ((received += v.length) > total) badLength();
              if (sum) state = sum[2](state, v);
              o.onProgress?.({ loaded: received, total });
              return ctrl.enqueue(v);
            }
            if (received == total) {
              const got = sum?.[3](state), want = sum && checksums[sum[0] as "crc32"];
              if (got != want) fail("ChecksumMismatch", `${sum![0]} of the bytes is ${got}, S3 says ${want}`);
              return ctrl.close();
            }
            // A broken body, or one that ended early (a truncation too): resume the same version.
            if (budget-- < 1) fail("Truncated", "connection kept breaking");
            let next;
            try {
              next = await client.getObject({ ...p, ifMatch: etag, range: `bytes=${start + received}-${start + total - 1}` });
            } catch (e) {
              signal?.throwIfAborted();
              if (e instanceof S3Error && e.status < 500) {
                if (e.status == 412) changed();
                if (e.status == 416) badLength();
                throw e;
              }
              continue; // transport failure or 5xx after the client's retries: spend one resume
            }
            reader = next.body.getReader();
            // Guards servers that ignore If-Match or Range: splicing would corrupt silently.
            if (next.etag != etag || next.contentRange?.start != start + received) changed();
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
  return { body, size: total, etag, contentType: res.contentType, lastModified: res.lastModified };
}
