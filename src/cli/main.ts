#!/usr/bin/env node
/// <reference types="node" />
// s3-edge command line (Node only, not part of the edge bundle): ls, get, presign, watch.
// This file reads the arguments, builds the client, runs one command and turns its outcome into
// an exit code (exit-codes.ts); each command lives in its own file.
import { readFileSync } from "node:fs";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { S3Client } from "../client.ts";
import { NetworkError, S3Error } from "../errors.ts";
import { nodeFetch } from "../node/fetch.ts";
import type { Credentials } from "../sigv4.ts";
import { DOWNLOAD_TUNING_OPTIONS, parseS3Url } from "./arguments.ts";
import { getCommand, listCommand, presignCommand, type CommandIo } from "./commands.ts";
import { EXIT, exitCodeOf, isUsageError } from "./exit-codes.ts";
import { escapeLines } from "./output.ts";
import { CredentialsError, usage } from "./usage-error.ts";
import { watchCommand } from "./watch.ts";

const HELP = `s3-edge — S3 from the command line (ls, get, presign, watch for new files)

Usage:
  s3-edge ls s3://bucket[/prefix] [--recursive] [--json]
      One level (delimiter "/"): "PRE dir/" lines, then "date size name" (UTC).
      --recursive lists every key under the prefix. --json: one JSON object per line.
  s3-edge get s3://bucket/key [FILE|DIR/|-] [--concurrency N] [--part-size MIB]
      Download to FILE (default: the key's name in the current directory) atomically:
      a temp file beside it is renamed into place only after the bytes were verified.
      "-" writes to stdout. Progress bar on stderr when stderr is a terminal.
      --concurrency  fetch byte ranges over N connections at once (default 1; one S3
                     connection is far slower than the network), --part-size MiB each (default 8).
  s3-edge presign s3://bucket/key [--expires SECONDS]
      Print a presigned GET URL (default 3600 s, at most 604800).
  s3-edge watch s3://bucket/folder [--download-to DIR] [--state FILE] [--interval SECONDS]
                [--include-subfolders] [--since ISO-DATE] [--min-age SECONDS] [--once] [--json]
                [--incremental] [--max-requests N] [--filter GLOB] [--sqs QUEUE-URL]
                [--concurrency N] [--part-size MIB]
      Report each new (or overwritten) file once, oldest first, one line per file
      ("new|updated  lastModified  size  key  etag [-> path] [SKIPPED: reason]"; --json: JSON lines).
      --download-to  download each file into DIR, keeping its path below the folder. A key that
                     cannot be stored there is reported as SKIPPED with the reason, and the
                     watcher goes on: ".." / "." / empty path segments (they would escape DIR or
                     share a file with another key), names too long for the file system, a file
                     in the way of a folder (keys "a" and "a/b"), a symbolic link in the path.
      --state FILE   the cursor, saved after each batch; each finished file of a batch is recorded
                     at once in FILE.progress, so a restart neither misses nor repeats a file.
                     One watcher per state file: a second one exits with code 5.
      --since        without a state: report files modified at or after this time
                     (default: only files that appear after the first poll).
      --interval     seconds between polls (default 10). --once: poll until caught up, exit.
      --min-age      hold back files younger than this (server time), for slow writers.
      --incremental  list only after the highest key seen (keys that grow: dates, sequence
                     numbers, ULIDs), with a full listing every 10 polls as the safety net.
      --max-requests at most N list requests per poll; a longer listing goes on next poll.
      --filter GLOB  only keys matching GLOB below the folder (* ? ** [a-z]; without "/" the
                     file name is matched: --filter '*.csv').
      --sqs URL      take S3 event notifications from this SQS queue instead of polling
                     (AWS_ENDPOINT_URL_SQS: another endpoint for it, e.g. an emulator).
      --concurrency, --part-size  parallel ranges for each download, as for get.
      A failure that waiting can heal (5xx, SlowDown, network) is retried at the next interval.
      Ctrl-C stops cleanly.

Connection (flags override the environment):
  --endpoint URL   AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or S3_ENDPOINT (default: AWS)
  --region NAME    AWS_REGION or AWS_DEFAULT_REGION (default us-east-1; "auto" for R2)
  --path-style     force path-style URLs (default: path style off AWS)
  Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (optional).

Exit codes:
  0  ok
  1  runtime or S3 error (network, timeout, server error, failed verification)
  2  usage error (bad arguments, not an s3:// URL, bad endpoint/region, bad state file)
  3  credentials missing or refused (AccessDenied, SignatureDoesNotMatch, InvalidAccessKeyId)
  4  not found (NoSuchBucket, NoSuchKey, 404)
  5  watch: another watcher holds the state file's lock
  130 interrupted (Ctrl-C; 143 for SIGTERM)
`;

const env = process.env;

type Command = (
  client: S3Client,
  positionals: string[],
  options: Record<string, any>,
  io: CommandIo,
) => Promise<unknown>;

const COMMANDS: Record<string, { run: Command; options: ParseArgsConfig["options"] }> = {
  ls: { run: listCommand, options: { recursive: { type: "boolean" }, json: { type: "boolean" } } },
  get: { run: getCommand, options: { ...DOWNLOAD_TUNING_OPTIONS } },
  presign: { run: presignCommand, options: { expires: { type: "string" } } },
  watch: {
    run: (client, positionals, options, io) =>
      watchCommand(client, positionals, options, {
        ...io,
        credentials: credentialsFromEnv(),
        region: options.region ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined),
        sqsEndpoint: env.AWS_ENDPOINT_URL_SQS || undefined,
      }),
    options: {
      "download-to": { type: "string" },
      state: { type: "string" },
      interval: { type: "string" },
      "include-subfolders": { type: "boolean" },
      since: { type: "string" },
      "min-age": { type: "string" },
      once: { type: "boolean" },
      json: { type: "boolean" },
      incremental: { type: "boolean" },
      "max-requests": { type: "string" },
      filter: { type: "string" },
      sqs: { type: "string" },
      ...DOWNLOAD_TUNING_OPTIONS,
    },
  },
};

const CONNECTION_OPTIONS: ParseArgsConfig["options"] = {
  endpoint: { type: "string" },
  region: { type: "string" },
  "path-style": { type: "boolean" },
  help: { type: "boolean", short: "h" },
};

function credentialsFromEnv(): Credentials {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) {
    const missing = [!accessKeyId && "AWS_ACCESS_KEY_ID", !secretAccessKey && "AWS_SECRET_ACCESS_KEY"]
      .filter(Boolean)
      .join(" and ");
    const profileHint = env.AWS_PROFILE ? "; AWS_PROFILE is set, but s3-edge does not read ~/.aws profiles" : "";
    throw new CredentialsError(
      `no credentials: set ${missing} (and AWS_SESSION_TOKEN for temporary credentials)${profileHint}`,
    );
  }
  return { accessKeyId, secretAccessKey, sessionToken: env.AWS_SESSION_TOKEN || undefined };
}

function clientFromOptions(options: Record<string, any>): S3Client {
  return new S3Client({
    endpoint: options.endpoint ?? (env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || env.S3_ENDPOINT || undefined),
    region: options.region ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined),
    forcePathStyle: options["path-style"] || undefined,
    // Node's own transport: keys with "." / ".." segments work, and big downloads stream faster in
    // less memory than through Node's fetch.
    fetch: nodeFetch,
    credentials: credentialsFromEnv(),
  });
}

/** Secrets of the environment, never printed (a server or proxy may echo them in an error). */
const secrets = [env.AWS_SECRET_ACCESS_KEY, env.AWS_SESSION_TOKEN].filter(
  (secret): secret is string => !!secret && secret.length > 3,
);

const redact = (text: string) => secrets.reduce((redacted, secret) => redacted.split(secret).join("<redacted>"), text);

/** A message on stderr: control characters escaped (keys and server text reach it), secrets redacted. */
const report = (message: string) => void process.stderr.write(`s3-edge: ${escapeLines(redact(message))}\n`);

function errorMessage(error: unknown, code: number): string {
  let message = code > 128 ? "interrupted" : error instanceof Error ? error.message : String(error);
  if (isUsageError(error)) message += "\nRun `s3-edge --help` for usage.";
  if (error instanceof NetworkError) {
    const cause = ((error.cause as any)?.cause ?? error.cause) as { code?: string; message?: string } | undefined;
    if (cause?.code || cause?.message) message += ` (${cause.code ?? cause.message})`;
  }
  if (code === EXIT.credentials && error instanceof S3Error)
    message +=
      "\nCheck AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, the region (--region, AWS_REGION) " +
      "and the bucket policy.";
  if (env.S3_EDGE_DEBUG && error instanceof Error && code < 128) message += "\n" + error.stack;
  return message;
}

async function main(argv: string[]): Promise<number> {
  const controller = new AbortController();
  let signalsSeen = 0;
  const onSignal = (signal: string) => {
    // A second Ctrl-C does not wait for the clean stop.
    if (signalsSeen++) process.exit(signal === "SIGTERM" ? EXIT.terminated : EXIT.interrupted);
    controller.abort(signal);
  };
  process.on("SIGINT", onSignal).on("SIGTERM", onSignal);
  // stdout closed by the reader (`| head`): stop quietly.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => error.code === "EPIPE" && process.exit(0));
  const output = (line: string) => void process.stdout.write(line + "\n");
  try {
    const [name, ...rest] = argv;
    if (!name || name === "--help" || name === "-h" || name === "help") {
      (name ? process.stdout : process.stderr).write(HELP);
      return name ? EXIT.ok : EXIT.usage;
    }
    if (name === "--version" || name === "-v") {
      output(JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")).version);
      return EXIT.ok;
    }
    const command =
      COMMANDS[name] ?? usage(`unknown command ${JSON.stringify(name)}: expected ls, get, presign or watch`);
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: { ...command.options, ...CONNECTION_OPTIONS },
    }) as { values: Record<string, any>; positionals: string[] };
    if (values.help) return (process.stdout.write(HELP), EXIT.ok);
    // Validate the URL before asking for credentials: a typo is the more useful message.
    parseS3Url(positionals[0], name === "get" || name === "presign");
    const io = { signal: controller.signal, output, report };
    const stopNote = await command.run(clientFromOptions(values), positionals, values, io);
    if (!controller.signal.aborted) return EXIT.ok;
    report(typeof stopNote === "string" && stopNote ? stopNote : "interrupted");
    return exitCodeOf(undefined, controller.signal);
  } catch (error) {
    const code = exitCodeOf(error, controller.signal);
    report(errorMessage(error, code));
    return code;
  } finally {
    process.off("SIGINT", onSignal).off("SIGTERM", onSignal);
  }
}

// exitCode, not exit(): stdout may still be flushing a download.
main(process.argv.slice(2)).then((code) => (process.exitCode = code));
