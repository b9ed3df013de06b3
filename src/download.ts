// Download action: stream an object with constant memory, resume broken or stalled connections
// without ever splicing two versions, and verify length and S3 checksums. Never a silent short or
// wrong body. With concurrency > 1, ranges are fetched in parallel (download-parallel.ts).
import type { S3Client } from "./client.ts";
import { partsInOrder } from "./download-parallel.ts";
import { InputError } from "./errors.ts";
import { openRange, RANGE_FORM, rangeBounds, type DownloadContext } from "./range-reader.ts";
import type { GetObjectParams, GetObjectResult, RequestOptions, SseCustomerKey } from "./types.ts";
import { checkDigest, chooseChecksum, type ChecksumAlgorithm, type ChecksumChoice } from "./verify.ts";

export interface DownloadOptions extends RequestOptions, SseCustomerKey {
  bucket: string;
  key: string;
  /** A specific version (versioned buckets). */
  versionId?: string;
  /**
   * Only download this version (sent as If-Match); a different current version fails with S3Error
   * PreconditionFailed.
   */
  etag?: string;
  /** "bytes=start-end", "bytes=start-" or "bytes=-suffixLength" */
  range?: string;
  /** Bytes received so far, of the total; `loaded` only grows. */
  onProgress?: (progress: { loaded: number; total: number }) => void;
  /** Reconnects after a broken or stalled body, per range (default 5). */
  maxResumes?: number;
  /** A body that delivers no byte for this long counts as stalled and is resumed (default 30_000). */
  idleTimeoutMs?: number;
  /**
   * Low-speed limit (curl's --speed-limit over --speed-time = idleTimeoutMs): a body that delivers
   * fewer bytes per second than this, measured over idleTimeoutMs of waiting for the network, is
   * stalled and resumed like a broken connection (default 1024). Time spent waiting for a slow
   * consumer does not count.
   */
  minBytesPerSecond?: number;
  /** Ranges fetched in parallel (default 1: one connection). Objects of one part use one request. */
  concurrency?: number;
  /**
   * Bytes per range when concurrency > 1 (default 8 MiB); the body's first `concurrency` ranges are
   * graded smaller (partSize × 1/c … c/c). The body holds at most (concurrency + 1) / 2 × partSize.
   */
  partSize?: number;
}

export interface Download {
  body: ReadableStream<Uint8Array>;
  /** Bytes the body delivers (the range's length for a ranged download). */
  size: number;
  etag: string;
  contentType?: string;
  lastModified: Date;
  /**
   * The checksum the body is checked against ("crc64nvme", "crc32c", "crc32", "sha256", or
   * "crc32c per part" for a multipart COMPOSITE checksum): a mismatch errors the body with
   * DownloadError ChecksumMismatch instead of closing it. Undefined when nothing can be checked;
   * then `unverifiedReason` says why.
   */
  verified?: string;
  unverifiedReason?: string;
}

/** A download after its first request: what it shares, and how it will run. */
export interface OpenedDownload {
  context: DownloadContext;
  /** The first response: the whole object (or the caller's range), with checksum mode. */
  first: GetObjectResult;
  /** The checksum the first response offers (chooseChecksum). */
  choice: ChecksumChoice;
  /** Ranges in parallel: concurrency > 1, no caller range, and more than one part (or a multipart COMPOSITE). */
  parallel?: { concurrency: number; partSize: number };
}

const GiB = 1024 * 1024 * 1024;
// What each numeric option must be: a check and the words for the error. Bad values are refused
// before any request: a NaN partSize would otherwise bound nothing, and a range S3 cannot parse is
// ignored by S3 (the whole object would come back as if it were the range).
const OPTION_RULES: Record<string, { valid: (value: number) => boolean; what: string }> = {
  concurrency: {
    valid: (value) => Number.isInteger(value) && value >= 1 && value <= 1024,
    what: "a whole number from 1 to 1024",
  },
  partSize: {
    valid: (value) => Number.isInteger(value) && value >= 1024 && value <= 5 * GiB,
    what: "a whole number of bytes from 1 KiB to 5 GiB",
  },
  maxResumes: { valid: (value) => Number.isInteger(value) && value >= 0, what: "a whole number >= 0" },
  idleTimeoutMs: { valid: (value) => Number.isFinite(value) && value > 0, what: "a number of milliseconds > 0" },
  minBytesPerSecond: { valid: (value) => Number.isFinite(value) && value >= 0, what: "a number >= 0" },
};

/** Throws InputError for the first option that cannot be used. */
function checkOptions(options: DownloadOptions): void {
  for (const [field, { valid, what }] of Object.entries(OPTION_RULES)) {
    const value = options[field as keyof DownloadOptions];
    if (value !== undefined && !(typeof value === "number" && valid(value)))
      throw new InputError(
        `download: ${field} must be ${what}, not ${typeof value === "string" ? JSON.stringify(value) : String(value)}`,
        field,
      );
  }
  const range = options.range === undefined ? undefined : RANGE_FORM.exec(String(options.range));
  if (options.range !== undefined && (!range || (range[2] && +range[2] < +range[1])))
    throw new InputError(
      `download: range must be "bytes=start-end" (start <= end), "bytes=start-" or "bytes=-length", not ${JSON.stringify(options.range)}`,
      "range",
    );
}

/**
 * The first request of a download: a GET of the whole object (or the caller's range) with checksum
 * mode, since S3 sends a full-object checksum only on a whole-object GET or HEAD. A small object is
 * then done in this one request; a parallel download reads its first part from it.
 */
export async function openDownload(
  client: Pick<S3Client, "getObject">,
  options: DownloadOptions,
): Promise<OpenedDownload> {
  // fetch transparently decodes a stored Content-Encoding (gzip, br...), which would break the byte
  // count, the checksum and resume offsets: ask S3 to label the body identity and get the stored bytes.
  // (getObject picks the fields it knows from the options.)
  checkOptions(options);
  const request: GetObjectParams = { ...options, responseContentEncoding: "identity" };
  const first = await client.getObject({ ...request, ifMatch: options.etag, checksumMode: true });
  const { start, end } = rangeBounds(options.range, first.size);
  const context: DownloadContext = {
    client,
    options,
    request,
    etag: first.etag,
    objectSize: first.size,
    downloadStart: start,
    downloadSize: end - start + 1,
  };
  const concurrency = options.concurrency ?? 1;
  const partSize = options.partSize ?? 8 * 1024 * 1024;
  const choice = chooseChecksum(first);
  // A multipart COMPOSITE checksum is checkable only part by part: with concurrency > 1 such an
  // object is fetched by its parts even when it is smaller than partSize.
  const parallel = concurrency > 1 && !options.range && (first.size > partSize || !!choice.parts);
  return { context, first, choice, parallel: parallel ? { concurrency, partSize } : undefined };
}

/**
 * Stream an object: `body` delivers exactly the stored bytes (a stored Content-Encoding is not
 * decoded), resumed across broken or stalled connections, and errors with a DownloadError instead
 * of closing when the bytes are short, long, from another version, or fail S3's checksum.
 * With concurrency > 1, parts are fetched in parallel and delivered in order.
 */
export async function downloadFile(client: Pick<S3Client, "getObject">, options: DownloadOptions): Promise<Download> {
  const opened = await openDownload(client, options);
  return opened.parallel ? inOrderDownload(opened, partsInOrder(opened)) : downloadSequential(opened);
}

/** What an in-order body delivers from: one range (sequential) or parts put in order (parallel). */
export interface InOrderSource extends Pick<Download, "verified" | "unverifiedReason"> {
  /** The next bytes in order, undefined at the end (after every check but the digest's). */
  read(): Promise<Uint8Array | undefined>;
  cancel(reason: unknown): void;
  /** The whole download's digest, computed over the bytes as they are delivered. */
  algorithm?: ChecksumAlgorithm;
  expected?: string;
}

/**
 * The body of an in-order download (sequential or parallel): pull-based, so the network is read
 * only when the consumer asks for bytes (backpressure); at the end a digest that differs from S3's
 * errors the body with DownloadError ChecksumMismatch instead of closing it.
 */
function inOrderDownload({ context, first }: OpenedDownload, source: InOrderSource): Download {
  const { algorithm } = source;
  let state = algorithm?.init();
  let delivered = 0;
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const chunk = await source.read();
        if (!chunk) {
          if (algorithm) checkDigest(context, algorithm, state, source.expected, delivered);
          return controller.close();
        }
        delivered += chunk.length;
        if (algorithm) state = algorithm.update(state, chunk);
        controller.enqueue(chunk);
      },
      cancel: (reason) => source.cancel(reason),
    },
    { highWaterMark: 0 },
  );
  return {
    body,
    size: context.downloadSize,
    etag: context.etag,
    contentType: first.contentType,
    lastModified: first.lastModified,
    verified: source.verified,
    unverifiedReason: source.unverifiedReason,
  };
}

/** One connection (resumed as needed) delivering the whole download in order. */
export function downloadSequential(opened: OpenedDownload): Download {
  const { context, first, choice } = opened;
  const { options, downloadStart: start, downloadSize: total, objectSize } = context;
  const range = openRange(context, start, start + total - 1, first);
  let received = 0;
  const source: InOrderSource = {
    async read() {
      const chunk = await range.read();
      if (chunk) options.onProgress?.({ loaded: (received += chunk.length), total });
      return chunk;
    },
    cancel: (reason) => range.cancel(reason),
  };
  // S3 sends a checksum only for the whole object (never for a range).
  if (start || total !== objectSize) source.unverifiedReason = "a range (S3 sends checksums of whole objects only)";
  else if (choice.parts) source.unverifiedReason = "a COMPOSITE checksum is checked per part only: set concurrency > 1";
  else if (choice.algorithm) {
    source.algorithm = choice.algorithm;
    source.expected = choice.expected;
    source.verified = choice.algorithm.name;
  } else source.unverifiedReason = choice.unverifiedReason;
  return inOrderDownload(opened, source);
}
