// Parsing the CLI's own argument forms: s3:// URLs and numeric options.
import { usage } from "./usage-error.ts";

export interface S3Url {
  bucket: string;
  /** The key (get, presign) or prefix (ls, watch); "" when the URL names only the bucket. */
  key: string;
}

/** s3://bucket[/key] -> { bucket, key } */
export function parseS3Url(url: string | undefined, needsKey: boolean): S3Url {
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/s.exec(url ?? "");
  const expected = needsKey ? "s3://bucket/key" : "s3://bucket[/prefix]";
  if (!match) {
    if (!url) return usage(`missing ${expected}`);
    const hint = /^https?:/.test(url) ? " (give the endpoint with --endpoint and the object as s3://bucket/key)" : "";
    return usage(`expected ${expected}, got ${JSON.stringify(url)}${hint}`);
  }
  if (needsKey && !match[2]) usage(`${JSON.stringify(url)} names no key: expected ${expected}`);
  return { bucket: match[1], key: match[2] ?? "" };
}

const MiB = 1024 * 1024;

/**
 * --concurrency N and --part-size MiB (get, watch --download-to): ranges fetched in parallel, as
 * downloadFile's `concurrency` and `partSize` (defaults 1 and 8 MiB).
 */
export function downloadTuning(options: Record<string, string | undefined>): { concurrency: number; partSize: number } {
  const concurrency = wholeNumberOption("concurrency", options.concurrency, 1, 1, 1024);
  const partSizeMiB = numberOption("part-size", options["part-size"], 8, 1 / 1024, 5 * 1024);
  return { concurrency, partSize: Math.round(partSizeMiB * MiB) };
}

export const DOWNLOAD_TUNING_OPTIONS = {
  concurrency: { type: "string" },
  "part-size": { type: "string" },
} as const;

/** The number given as --name, or `fallback` when absent; a usage error outside [min, max]. */
export function numberOption(
  name: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max = Infinity,
): number {
  if (value == null) return fallback;
  const number = Number(value);
  if (!value.trim() || !(number >= min && number <= max))
    usage(`--${name} must be a number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return number;
}

/** numberOption for counts: a usage error unless the number is whole. */
export function wholeNumberOption(
  name: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max = Infinity,
): number {
  const number = numberOption(name, value, fallback, min, max);
  if (!Number.isInteger(number)) usage(`--${name} must be a whole number, got ${JSON.stringify(value)}`);
  return number;
}
