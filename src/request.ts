// THE one signed-fetch path: sign -> fetch -> status check -> error decoding, with retries
// (isTransient decides), per-attempt timeouts, caller abort, clock-skew correction and bounded
// reads. Service-neutral: the S3 client and the SQS consumer both send through signedFetch, each
// with its own signer and its own error decoder.
import {
  SigV4Signer,
  encodeRfc3986,
  type Credentials,
  type SignableRequest,
  type SignedRequest,
  type SignOptions,
} from "./sigv4.ts";
import { NetworkError, S3Error, TimeoutError, isTransient } from "./errors.ts";
import { anySignal, sleep } from "./abort.ts";

/** Anything that signs like SigV4Signer (any service, any region). */
export interface RequestSigner {
  sign(request: SignableRequest, options?: SignOptions): Promise<SignedRequest>;
}

/** Credentials, or an async provider of them (rotating STS credentials). */
export type CredentialsSource = Credentials | (() => Promise<Credentials>);

/**
 * signerOf(region): the signer of that region for the current credentials, for signedFetch's
 * `signer`. A provider is asked before every request, so rotated credentials are used at once; a
 * region's signer is rebuilt only when they change. Shared by the S3 client and the SQS consumer.
 */
export function signersFor(source: CredentialsSource, service: string) {
  const signers = new Map<string, { identity: string; signer: SigV4Signer }>();
  return async (region: string): Promise<SigV4Signer> => {
    const credentials = typeof source == "function" ? await source() : source;
    // Any change of the credentials (keys, token, a provider's expiry field) makes a new signer.
    const identity = JSON.stringify(credentials);
    let current = signers.get(region);
    if (current?.identity != identity)
      signers.set(region, (current = { identity, signer: new SigV4Signer({ ...credentials, region, service }) }));
    return current.signer;
  };
}

/** Server clock minus local clock, in ms; one per client, shared by its requests. */
export interface Clock {
  skewMs: number;
}

export interface SignedFetchOptions {
  /**
   * The signer, asked once per attempt (so a credentials provider may rotate keys between
   * attempts). Return a cached signer when nothing changed: its signing-key cache stays warm.
   */
  signer: () => RequestSigner | Promise<RequestSigner>;
  method: string;
  /** Path and query already encoded, as they go on the wire (see DESIGN "URLs given to the signer"). */
  url: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** The signed payload hash; default: the signer's (SHA-256 of the body). S3 GETs pass "UNSIGNED-PAYLOAD". */
  payloadHash?: string;
  /** The caller's abort: rejects at once with signal.reason, in fetch, in a body read or in a backoff. */
  signal?: AbortSignal;
  /** Leave a success's body unread for the caller (the per-attempt timeout then covers only the headers). */
  stream?: boolean;
  /**
   * Most bytes of a success's body to buffer when not `stream` (default 8 MiB, see BODY_LIMIT);
   * a longer body is not read on: S3Error "ResponseTooLarge", not retried.
   */
  maxBodyBytes?: number;
  /** Attempts, retries included (default 3). */
  maxAttempts?: number;
  /** Per-attempt budget in ms for the headers and a buffered body (default 30_000). */
  timeoutMs?: number;
  /** Backoff base in ms: attempt n waits random() * base * 2^(n-1) (default 100). */
  retryBaseMs?: number;
  /** Transport (default: the global fetch). */
  fetch?: typeof fetch;
  /**
   * A response that is not 2xx, with the first bytes of its body, as the error to retry or throw.
   * The body is cut at ERROR_BODY_LIMIT (64 KiB) and the rest never read. Give the error `status`
   * and `code` (S3Error does): isTransient() decides on a retry, and a clock-skew code (SKEW_CODE)
   * or a 403, with a Date over 5 minutes off, corrects the clock and retries once. Redirects are
   * not followed (redirect: "manual"): a 3xx comes here too.
   */
  toError: (response: Response, body: Uint8Array, signed: SignedRequest) => Error;
  /** Where the learned clock skew is kept (default: a fresh one, forgotten after this request). */
  clock?: Clock;
}

export interface SignedFetchResult {
  response: Response;
  /** A success's body (empty for HEAD, a 304, or `stream`). */
  body: Uint8Array;
  /** The signed request of the attempt that succeeded. */
  signed: SignedRequest;
}

const NO_BODY = new Uint8Array();
// A ListObjectsV2 page of 1000 keys of 1024 bytes is under 2 MiB; XML escapes (&amp; is 5 bytes,
// &#13; too) or EncodingType url (3 bytes a byte) can multiply a key, so 8 MiB, and no more: a
// proxy's endless body must not take the process's memory.
const BODY_LIMIT = 8 << 20;
// An S3 error document is a few hundred bytes (a SignatureDoesNotMatch with both canonical
// requests in hex a few KiB): 64 KiB is enough to read it; a 400 MiB 404 page is not read on.
const ERROR_BODY_LIMIT = 1 << 16;
// Codes that say our clock is off: S3's, and SQS's (JSON protocol: "Signature expired"). Only
// these and 403s teach the clock, and only when their Date is far off: a 2xx's Date may come from
// a proxy or a cache, and must never re-base every signature.
const SKEW_CODE = /^(RequestTimeTooSkewed|InvalidSignatureException)$/;
// Request headers whose values are secrets: a server or proxy may echo them (in an error body, a
// header, its canonical request), and an error message must not carry them on into logs.
// (authorization, x-amz-security-token, x-amz-[copy-source-]server-side-encryption-customer-key)
const SECRET_HEADER = /^authorization$|-token$|-customer-key$/;

/**
 * The error with every secret value of the request (session token, SSE-C key, Authorization and
 * signature; as sent and percent-encoded) replaced by "<redacted>" in its message, stack and
 * string fields. By value, not by header-name pattern: an echo can sit anywhere.
 */
export function redactSecrets<E extends Error>(error: E, signed: SignedRequest): E {
  const secrets: string[] = [];
  for (const name in signed.headers)
    if (SECRET_HEADER.test(name)) secrets.push(signed.headers[name], encodeRfc3986(signed.headers[name]));
  secrets.push(signed.signature);
  const fields = error as unknown as Record<string, unknown>;
  for (const name of ["message", "stack", ...Object.keys(error)]) {
    const text = fields[name];
    if (typeof text == "string")
      fields[name] = secrets.reduce(
        (redacted, secret) => (secret ? redacted.split(secret).join("<redacted>") : redacted),
        text,
      );
  }
  return error;
}

/**
 * Sends a signed request and returns a 2xx response, or throws: the caller's `signal.reason`; the
 * error `toError` made (at once when not transient, else after `maxAttempts`); a TimeoutError when
 * every attempt ran out of `timeoutMs`; a NetworkError (with `attempts` and `cause`) when the
 * transport kept failing. Secrets of the request are never in the error it throws.
 */
/**
 * At most `limit` bytes of a body, and one chunk more when it is longer (so a length over `limit`
 * says so); the rest is cancelled, never read.
 */
async function readCapped(response: Response, limit: number): Promise<Uint8Array> {
  const reader = response.body?.getReader(),
    parts: Uint8Array[] = [];
  let length = 0;
  for (let chunk; reader && length <= limit && !(chunk = await reader.read()).done; length += chunk.value.length)
    parts.push(chunk.value);
  if (length > limit) reader!.cancel().catch(() => {});
  return parts.length == 1 ? parts[0] : new Uint8Array(await new Blob(parts as BlobPart[]).arrayBuffer());
}

export async function signedFetch(options: SignedFetchOptions): Promise<SignedFetchResult> {
  const { method, url, headers = {}, body, signal, stream, toError } = options;
  const maxAttempts = options.maxAttempts ?? 3,
    timeoutMs = options.timeoutMs ?? 30_000,
    maxBodyBytes = options.maxBodyBytes ?? BODY_LIMIT;
  const clock = options.clock ?? { skewMs: 0 };
  // failure: the last attempt's transport error, or the error toError made of its response.
  let failure: unknown, fromResponse, timedOut, skewRetried;
  for (let attempt = 1; ; attempt++) {
    const signer = await options.signer();
    const signed = await signer.sign(
      { method, url, headers, body },
      { date: new Date(Date.now() + clock.skewMs), payloadHash: options.payloadHash },
    );
    signal?.throwIfAborted();
    const attemptAbort = new AbortController();
    const timer = setTimeout(() => ((timedOut = 1), attemptAbort.abort()), timeoutMs);
    // fetch sets Host itself from the URL.
    const { host, ...sentHeaders } = signed.headers;
    let response: Response | undefined,
      responseBody: Uint8Array = NO_BODY;
    timedOut = 0;
    try {
      response = await (options.fetch ?? fetch)(url, {
        method,
        headers: sentHeaders,
        body: body as BodyInit,
        // Never follow: a cross-origin redirect would carry the session token and SSE-C key
        // elsewhere (fetch strips only Authorization), and its body would pass for the object.
        redirect: "manual",
        signal: signal ? anySignal(signal, attemptAbort.signal) : attemptAbort.signal,
      });
      if (!(response.ok && stream))
        responseBody =
          method == "HEAD" || response.status == 304
            ? (response.body?.cancel().catch(() => {}), NO_BODY)
            : await readCapped(response, response.ok ? maxBodyBytes : ERROR_BODY_LIMIT);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      failure = error;
      fromResponse = response = undefined;
    } finally {
      clearTimeout(timer);
    }
    if (response) {
      const status = response.status;
      if (response.ok) {
        if (responseBody.length > maxBodyBytes)
          throw new S3Error(
            "ResponseTooLarge",
            status,
            `${method} ${url}: body over maxBodyBytes=${maxBodyBytes}, not read on`,
          );
        return { response, body: responseBody, signed };
      }
      const error = redactSecrets(toError(response, responseBody.subarray(0, ERROR_BODY_LIMIT), signed), signed);
      const serverTime = Date.parse(response.headers.get("date")!);
      // Once: a request signed with our wrong clock, corrected from the Date of the answer that said so.
      if (
        !skewRetried &&
        (status == 403 || SKEW_CODE.test((error as { code?: string }).code!)) &&
        Math.abs(serverTime - Date.now() - clock.skewMs) > 300_000
      ) {
        clock.skewMs = serverTime - Date.now();
        skewRetried = 1;
        attempt--;
        continue;
      }
      if (!isTransient(error)) throw error;
      failure = error;
      fromResponse = 1;
    }
    if (attempt >= maxAttempts) break;
    await sleep(Math.random() * (options.retryBaseMs ?? 100) * 2 ** (attempt - 1), signal);
  }
  if (fromResponse) throw failure;
  const reason = timedOut ? `no response within timeoutMs=${timeoutMs}` : ((failure as Error)?.message ?? failure);
  throw new (timedOut ? TimeoutError : NetworkError)(
    `${method} ${url} failed after ${maxAttempts} attempts: ${reason}`,
    maxAttempts,
    failure,
  );
}
