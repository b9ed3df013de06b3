// The CLI's own error types: each maps to an exit code (exit-codes.ts), so a script can branch on
// what went wrong.

/** Bad arguments, a bad s3:// URL, a bad state file: exit 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** No credentials in the environment: exit 3. */
export class CredentialsError extends Error {
  override name = "CredentialsError";
}

/** Another watcher holds the state file's lock: exit 5. */
export class LockedError extends Error {
  override name = "LockedError";
}

export const usage = (message: string): never => {
  throw new UsageError(message);
};
