// One byte range of one object version, read exactly: resumed when its connection breaks, ends
// early or stalls (idle, or under the low-speed limit), and checked against what the server says it
// sent. The sequential download reads one range (the whole object); a parallel one reads many.
import type { S3Client } from "./client.ts";
import type { DownloadOptions } from "./download.ts";
import { DownloadError, isTransient } from "./errors.ts";
import type { GetObjectParams, GetObjectResult } from "./types.ts";

/** What every request of one download shares. */
export interface DownloadContext {
  client: Pick<S3Client, "getObject">;
  options: DownloadOptions;
  /** The options as getObject params, asking for the stored bytes (no Content-Encoding decoding). */
  request: GetObjectParams;
  /** The pinned version: every response must carry it (If-Match is sent, and checked). */
  etag: string;
  /** The object's size. */
  objectSize: number;
  /** The first byte the caller's download starts at (error messages count from it). */
  downloadStart: number;
  /** The bytes the caller's download delivers. */
  downloadSize: number;
}

/** Reads one byte range of the pinned version: each call returns the next bytes, undefined at the end. */
export interface RangeReader {
  read(): Promise<Uint8Array | undefined>;
  cancel(reason?: unknown): void;
}

const STALLED = Symbol("stalled");

/**
 * The one DownloadError message: the object, `where` in it, the code and why, and how far the
 * download got ("b/k (bytes 0-99): Truncated after 40 of 100 bytes").
 */
export const downloadError = (
  context: DownloadContext,
  code: DownloadError["code"],
  received: number,
  why = "",
  where = "",
) =>
  new DownloadError(
    code,
    `${context.options.bucket}/${context.options.key}${where}: ${code}${why} ` +
      `after ${received} of ${context.downloadSize} bytes`,
    received,
    context.downloadSize,
  );

/**
 * Bytes `start`..`end` (inclusive, object offsets) of the pinned version, exactly: a connection
 * that breaks, ends early or stalls is resumed from the first byte not yet received (Range +
 * If-Match), up to maxResumes times. Every response is checked before its bytes are used: the
 * pinned ETag (a server that ignores If-Match), a 206's Content-Range (it must be the range asked),
 * and a 200 to a ranged request (a server that ignores Range) is read from the asked offset only.
 * `first` is an already open response for this range (the first request of the download).
 */
export function openRange(context: DownloadContext, start: number, end: number, first?: GetObjectResult): RangeReader {
  const { client, options, request, etag, objectSize } = context;
  const length = end - start + 1;
  const idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
  const minBytesPerSecond = options.minBytesPerSecond ?? 1024;
  let resumesLeft = options.maxResumes ?? 5;
  let received = 0;
  let lastBreak: "Truncated" | "Stalled" = "Truncated";
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let pending: Promise<Uint8Array | null | undefined> | undefined;
  // Bytes to drop before the range: a server that ignored Range sends the object from byte 0.
  let skip = 0;
  // A 200 to a ranged request also runs past the range's end: those bytes are not wanted.
  let trimTail = false;
  // The low-speed window: milliseconds spent waiting for the network, and the bytes that came.
  let waitedMs = 0,
    windowBytes = 0,
    slowWindow = false;
  let finished = false;
  let cancelled: { reason: unknown } | undefined;

  const fail = (code: DownloadError["code"], why?: string): never => {
    const where = length === objectSize ? "" : ` (bytes ${start}-${end})`;
    throw downloadError(context, code, start - context.downloadStart + received, why, where);
  };

  const accept = (response: GetObjectResult) => {
    const at = start + received;
    if (response.etag !== etag) fail("ObjectChanged", ` (ETag ${response.etag}, not ${etag})`);
    if (response.status === 206) {
      const range = response.contentRange;
      // Another total than the first response declared: the object's length was a lie (or it
      // changed under the same ETag). Where a runtime drops queued bytes at a break (Bun), this
      // resume is where a lying Content-Length shows.
      if (range && range.size !== objectSize)
        fail("LengthMismatch", `: the server now says ${range.size} bytes, first ${objectSize}`);
      if (!range || range.start !== at || range.end !== end)
        fail("InvalidResponse", `: asked bytes ${at}-${end}, got ${range?.start}-${range?.end}/${range?.size}`);
      skip = 0;
      trimTail = false;
    } else if (response.status === 200) {
      skip = at;
      trimTail = end < objectSize - 1;
    } else fail("InvalidResponse", `: status ${response.status}`);
    reader = response.body.getReader();
    waitedMs = windowBytes = 0;
    slowWindow = false;
  };

  // The next chunk, null at the body's end, undefined for a broken body, STALLED below the speed limit.
  const windowIsSlow = () => {
    const slow = windowBytes < Math.max(1, (minBytesPerSecond * waitedMs) / 1000);
    waitedMs = windowBytes = 0;
    return slow;
  };
  const next = async (): Promise<Uint8Array | null | undefined | typeof STALLED> => {
    if (slowWindow) return ((slowWindow = false), STALLED);
    pending ??= reader!.read().then(
      (result) => (result.done ? null : result.value),
      () => undefined,
    );
    for (;;) {
      const began = Date.now();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const outcome = await Promise.race([
        pending,
        new Promise<typeof STALLED>((resolve) => (timer = setTimeout(resolve, idleTimeoutMs - waitedMs, STALLED))),
      ]);
      clearTimeout(timer);
      waitedMs += Date.now() - began;
      if (outcome !== STALLED) {
        pending = undefined;
        if (outcome) windowBytes += outcome.length;
        // A window is judged when it is over; a chunk in hand is still delivered, and the slow
        // connection is dropped at the next read.
        if (waitedMs >= idleTimeoutMs) slowWindow = windowIsSlow();
        return outcome;
      }
      // The window is over with the read still pending: too slow (or silent) counts as stalled.
      if (windowIsSlow()) return STALLED;
    }
  };

  const resume = async () => {
    reader?.cancel().catch(() => {}); // frees a stalled connection (a no-op on an ended one)
    reader = pending = undefined;
    for (;;) {
      if (cancelled) throw cancelled.reason;
      if (resumesLeft-- < 1) fail(lastBreak);
      options.signal?.throwIfAborted();
      let response: GetObjectResult;
      try {
        response = await client.getObject({ ...request, ifMatch: etag, range: `bytes=${start + received}-${end}` });
      } catch (error: any) {
        if (!isTransient(error)) {
          if (error?.status === 412) fail("ObjectChanged");
          if (error?.status === 416) fail("LengthMismatch");
          throw error;
        }
        continue; // a transient failure after the client's retries: spend one resume
      }
      if (cancelled)
        response.body.cancel().catch(() => {}); // cancelled while the request was on its way
      else return accept(response);
    }
  };

  return {
    async read() {
      try {
        for (;;) {
          options.signal?.throwIfAborted();
          if (cancelled) throw cancelled.reason;
          if (finished) return undefined;
          if (!reader) await (first ? accept(first) : resume());
          first = undefined;
          let chunk = await next();
          if (chunk instanceof Uint8Array) {
            if (skip) {
              if (chunk.length <= skip) {
                skip -= chunk.length;
                continue;
              }
              chunk = chunk.subarray(skip);
              skip = 0;
            }
            if (received + chunk.length > length) {
              if (!trimTail) fail("LengthMismatch", `: more bytes than ${length}`);
              chunk = chunk.subarray(0, length - received);
            }
            if (!chunk.length) continue;
            received += chunk.length;
            if (received === length) {
              if (trimTail) reader!.cancel().catch(() => {});
              else {
                // Read the end of the body: a server that sends more than it declared is caught,
                // and the connection is returned to its pool whole.
                const after = await next();
                if (after instanceof Uint8Array && after.length) fail("LengthMismatch", `: more bytes than ${length}`);
                if (after === STALLED || after === undefined) reader!.cancel().catch(() => {});
              }
              finished = true;
            }
            return chunk;
          }
          if (chunk === null && received === length) return ((finished = true), undefined);
          // A broken body, one that ended early (a truncation too), or one too slow: resume the same version.
          if (chunk === STALLED) lastBreak = "Stalled";
          else lastBreak = "Truncated";
          await resume();
        }
      } catch (error) {
        reader?.cancel(error).catch(() => {}); // a failed range must not keep a connection open
        throw cancelled ? cancelled.reason : error;
      }
    },
    cancel(reason) {
      cancelled = { reason };
      // A read pending on the network ends at once (as done, then the reason is thrown).
      (reader ?? first?.body.getReader())?.cancel(reason).catch(() => {});
    },
  };
}

/**
 * The Range forms S3 uses: "bytes=start-end", "bytes=start-" or "bytes=-suffixLength" (groups:
 * start, end, suffixLength). S3 ignores any other value and sends the whole object.
 */
export const RANGE_FORM = /^bytes=(?:(\d+)-(\d*)|-(\d*[1-9]\d*))$/;

/** The inclusive byte bounds a Range header (checked against RANGE_FORM) asks of an object of `objectSize` bytes. */
export function rangeBounds(range: string | undefined, objectSize: number): { start: number; end: number } {
  const asked = range === undefined ? undefined : RANGE_FORM.exec(range);
  if (!asked) return { start: 0, end: objectSize - 1 };
  const [, start, end, suffixLength] = asked;
  if (suffixLength) return { start: Math.max(0, objectSize - +suffixLength), end: objectSize - 1 };
  return { start: +start, end: Math.min(end ? +end : Infinity, objectSize - 1) };
}
