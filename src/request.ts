// THE one signed-fetch path: sign -> fetch -> status check -> error decoding, with retries
// (isTransient decides), per-attempt timeouts, caller abort, clock-skew correction and bounded
// reads. Service-neutral: the S3 client and the SQS consumer both send through signedFetch, each
// with its own signer and its own error decoder.
import { encodeRfc3986, type SignableRequest, type SignedRequest, type SignOptions } from "./sigv4.ts";
import { NetworkError, TimeoutError, isTransient } from "./errors.ts";
import { anySignal, sleep } from "./abort.ts";

/** Anything that signs like SigV4Signer (any service, any region). */
export interface RequestSigner {
  sign(request: SignableRequest, options?: SignOptions): Promise<SignedRequest>;
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
   * Give it `status` and `code` (S3Error does): isTransient() decides on a retry, and a
   * RequestTimeTooSkewed code or a 403 with a far-off Date corrects the clock.
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
// Request headers whose values are secrets: a server or proxy may echo them (in an error body, a
// header, its canonical request), and an error message must not carry them on into logs.
const SECRET_HEADER = /^(authorization|x-amz-security-token|x-amz-(copy-source-)?server-side-encryption-customer-key)$/;

/**
 * The error with every secret value of the request (session token, SSE-C key, Authorization and
 * signature; as sent and percent-encoded) replaced by "<redacted>" in its message, stack and
 * string fields. By value, not by header-name pattern: an echo can sit anywhere.
 */
export function redactSecrets<E extends Error>(error: E, signed: SignedRequest): E {
  const secrets = [signed.signature];
  for (const name in signed.headers)
    if (SECRET_HEADER.test(name)) secrets.push(signed.headers[name], encodeRfc3986(signed.headers[name]));
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
export async function signedFetch(options: SignedFetchOptions): Promise<SignedFetchResult> {
  const { method, url, headers = {}, body, signal, stream, toError } = options;
  const maxAttempts = options.maxAttempts ?? 3,
    timeoutMs = options.timeoutMs ?? 30_000;
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
      responseBody = NO_BODY;
    timedOut = 0;
    try {
      response = await (options.fetch ?? fetch)(url, {
        method,
        headers: sentHeaders,
        body: body as BodyInit,
        signal: signal ? anySignal(signal, attemptAbort.signal) : attemptAbort.signal,
      });
      if (!(response.ok && stream))
        responseBody =
          method == "HEAD" || response.status == 304
            ? (response.body?.cancel().catch(() => {}), NO_BODY)
            : new Uint8Array(await response.arrayBuffer());
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      failure = error;
      fromResponse = response = undefined;
    } finally {
      clearTimeout(timer);
    }
    if (response) {
      const serverTime = Date.parse(response.headers.get("date")!);
      const farOff = Math.abs(serverTime - Date.now() - clock.skewMs) > 300_000;
      if (farOff) clock.skewMs = serverTime - Date.now();
      if (response.ok) return { response, body: responseBody, signed };
      const error = redactSecrets(toError(response, responseBody, signed), signed);
      // Once: a request signed with our wrong clock, now corrected from the server's Date.
      if (
        !skewRetried &&
        ((error as { code?: string }).code == "RequestTimeTooSkewed" || (farOff && response.status == 403))
      ) {
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
