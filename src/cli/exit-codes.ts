// Exit codes are part of the interface: scripts branch on them (documented in HELP and the README).
import { InputError, S3Error } from "../errors.ts";
import { CredentialsError, LockedError, UsageError } from "./usage-error.ts";

export const EXIT = {
  ok: 0,
  /** Runtime or S3 error: network, timeout, server error, failed verification. */
  failure: 1,
  /** Bad arguments, not an s3:// URL, bad endpoint/region, bad state file. */
  usage: 2,
  /** Credentials missing or refused. */
  credentials: 3,
  /** NoSuchBucket, NoSuchKey, 404. */
  notFound: 4,
  /** Another watcher holds the state file's lock. */
  locked: 5,
  /** Ctrl-C (128 + SIGINT). */
  interrupted: 130,
  /** SIGTERM (128 + 15). */
  terminated: 143,
} as const;

const CREDENTIAL_CODES =
  /^(AccessDenied|SignatureDoesNotMatch|InvalidAccessKeyId|InvalidToken|ExpiredToken|AuthorizationHeaderMalformed)$/;
const NOT_FOUND_CODES = /^(NoSuchBucket|NoSuchKey|NotFound)$/;

export const isUsageError = (error: unknown) =>
  error instanceof UsageError || /^ERR_PARSE_ARGS/.test((error as { code?: string } | undefined)?.code ?? "");

/** The exit code of an error (of anything, once the signal has aborted). */
export function exitCodeOf(error: unknown, signal: AbortSignal): number {
  if (signal.aborted) return signal.reason === "SIGTERM" ? EXIT.terminated : EXIT.interrupted;
  if (isUsageError(error) || error instanceof InputError) return EXIT.usage;
  if (error instanceof CredentialsError) return EXIT.credentials;
  if (error instanceof LockedError) return EXIT.locked;
  if (error instanceof S3Error) {
    if (error.status === 403 || CREDENTIAL_CODES.test(error.code)) return EXIT.credentials;
    if (error.status === 404 || NOT_FOUND_CODES.test(error.code)) return EXIT.notFound;
  }
  return EXIT.failure;
}
