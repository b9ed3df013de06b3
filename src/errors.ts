// Typed errors of s3-edge. Messages never contain a secret key, a session token or an Authorization header.

/** A bad argument or option: `field` names it, the message says what to fix. */
export class InputError extends Error {
  override name = "InputError";
  constructor(message: string, public field: string) {
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
  constructor(message: string, public attempts: number, cause?: unknown) {
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
    public code: "Truncated" | "LengthMismatch" | "ChecksumMismatch" | "ObjectChanged",
    message: string,
    public received: number,
    public expected?: number,
  ) {
    super(message);
  }
}
