// Typed errors of s3-edge. Messages never contain a secret key, a session token or an Authorization header.

/** A bad argument or option: `field` names it, the message says what to fix. */
export class InputError extends Error {
  override name = "InputError";
  constructor(
    message: string,
    public field: string,
  ) {
    super(message);
  }
}

/** The server answered with an error (HTTP status + S3 error code). */
export class S3Error extends Error {
  override name = "S3Error";
  code: string;
  status: number;
  declare requestId?: string;
  declare hostId?: string;
  declare bucket?: string;
  declare key?: string;
  declare resource?: string;
  /** The bucket's region when the server named it (x-amz-bucket-region on a redirect or 400). */
  declare region?: string;
  /** SignatureDoesNotMatch only: ours and the server's (secrets redacted). */
  declare canonicalRequest?: string;
  declare serverCanonicalRequest?: string;
  declare stringToSign?: string;
  declare serverStringToSign?: string;
  constructor(code: string, status: number, message: string, fields?: Partial<S3Error>) {
    super(message);
    this.code = code;
    this.status = status;
    Object.assign(this, fields);
  }
}

/** The transport failed (connection reset, DNS, ...) after the retry budget. */
export class NetworkError extends Error {
  override name = "NetworkError";
  constructor(
    message: string,
    public attempts: number,
    cause?: unknown,
  ) {
    super(message, { cause });
  }
}

/** Every attempt ran out of its per-attempt time budget (timeoutMs). */
export class TimeoutError extends NetworkError {
  override name = "TimeoutError";
}

/** A download could not deliver the exact object bytes. */
export class DownloadError extends Error {
  override name = "DownloadError";
  constructor(
    public code: "Truncated" | "Stalled" | "LengthMismatch" | "ChecksumMismatch" | "ObjectChanged" | "InvalidResponse",
    message: string,
    public received: number,
    public expected?: number,
  ) {
    super(message);
  }
}

/**
 * The one transient-error policy: what is worth another try. The client's retries, the trigger's
 * watch(), download resumes, the SQS consumer and the CLI all ask isTransient(); nothing else
 * decides "transient". Data, with the reason for each entry beside it (comments, not strings: the
 * edge bundle pays for every string).
 */
export const TRANSIENT = {
  /** HTTP statuses; any 5xx is transient too (a server fault, not a fault of the request). */
  statuses: [
    408, // Request Timeout: the server gave up waiting for the request; a new connection usually succeeds
    429, // Too Many Requests: throttled; back off and try again
  ],
  /** Error codes, whatever status they come with (some proxies send them with a 400 or 200). */
  codes: [
    "SlowDown", // S3 asks to reduce the request rate (503)
    "RequestTimeout", // S3: the socket was not read or written in time (400); a fresh attempt succeeds
    "InternalError", // a server fault; AWS's guidance is to retry
    "ServiceUnavailable", // a server fault (503)
    "Throttling", // throttled (STS and other AWS query services)
    "ThrottlingException", // throttled (AWS JSON 1.0 services such as SQS)
    "RequestThrottled", // throttled (SQS query protocol)
    "InvalidResponse", // a broken or truncated response (a proxy, a cut connection) may be whole next time
  ],
  /** DownloadError codes: the resume budget ran out on a flaky connection; waiting may heal it. */
  downloadCodes: [
    "Truncated", // the connection kept breaking: the object was intact, the network was not
    "Stalled", // the body kept delivering under minBytesPerSecond
  ],
};

/**
 * True when waiting and trying again may succeed: network failures and timeouts, 5xx, 408, 429,
 * the codes in TRANSIENT.codes, and downloads that ran out of resumes. False for what waiting
 * cannot fix (NoSuchBucket, AccessDenied, a bad argument, a checksum mismatch, a changed object).
 */
export function isTransient(error: unknown): boolean {
  if (error instanceof NetworkError) return true;
  if (error instanceof S3Error)
    return error.status >= 500 || TRANSIENT.statuses.includes(error.status) || TRANSIENT.codes.includes(error.code);
  if (error instanceof DownloadError) return TRANSIENT.downloadCodes.includes(error.code);
  return false;
}
