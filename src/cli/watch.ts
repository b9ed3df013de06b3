// `s3-edge watch`: report (and with --download-to, download) each new file once, by polling the
// folder or, with --sqs, from S3 event notifications in an SQS queue. Both feed one loop: a batch
// of events is handled file by file, each file recorded as soon as it is done, and the trigger's
// state saved after the batch. What the bucket holds never stops the watcher: a key the local file
// system cannot store is reported as skipped; a failure that waiting can heal (isTransient: 5xx,
// SlowDown, a network error, a download out of resumes) retries the batch at the next interval.
// Only what waiting cannot fix (AccessDenied, NoSuchBucket, a bad state file) ends it.
import { dirname, resolve } from "node:path";
import { mkdir } from "node:fs/promises";
import { sleep } from "../abort.ts";
import type { S3Client } from "../client.ts";
import { DownloadError, isTransient, S3Error } from "../errors.ts";
import { removeStaleTempFiles } from "../node/atomic-write.ts";
import { downloadToFile } from "../node/download-to-file.ts";
import { nodeFetch } from "../node/fetch.ts";
import { newFileTrigger, type FileEvent, type TriggerState } from "../trigger.ts";
import type { Credentials } from "../sigv4.ts";
import { globMatcher } from "./glob.ts";
import { localPathOf, prepareFolders, unstorableReason, type PathMapping } from "./local-paths.ts";
import { escapeControl, padStart } from "./output.ts";
import { BatchProgress, loadState, lockStateFile, saveState } from "./state-file.ts";
import { downloadTuning, numberOption, parseS3Url, wholeNumberOption } from "./arguments.ts";
import { usage } from "./usage-error.ts";

export interface WatchIo {
  signal: AbortSignal;
  /** One line on stdout. */
  output: (line: string) => void;
  /** One message on stderr (escaped and redacted by the caller). */
  report: (message: string) => void;
  /** For --sqs: the same credentials and region the S3 client uses. */
  credentials: Credentials;
  /** --region or AWS_REGION: the queue's region when its URL names none. */
  region?: string;
  /** AWS_ENDPOINT_URL_SQS: where SQS requests go, when not to the queue URL's host (an emulator). */
  sqsEndpoint?: string;
}

/** What happened to one event's file. */
interface Outcome {
  path?: string;
  skipped?: string;
}

// Local file system errors that free space or a closed file may heal: retried like a 503.
const LOCAL_TRANSIENT = new Set(["ENOSPC", "EDQUOT", "EMFILE", "ENFILE", "EBUSY"]);

const retryable = (error: unknown) =>
  isTransient(error) || LOCAL_TRANSIENT.has((error as NodeJS.ErrnoException | undefined)?.code ?? "");

export async function watchCommand(
  client: S3Client,
  [url, extra]: string[],
  options: Record<string, any>,
  io: WatchIo,
): Promise<string> {
  const { bucket, key: folder } = parseS3Url(url, false);
  if (extra) usage(`watch takes one s3:// URL, got also ${JSON.stringify(extra)}`);
  const since = options.since != null ? new Date(options.since) : undefined;
  if (since && isNaN(+since))
    usage(`--since must be an ISO date such as 2024-05-01T00:00:00Z, got ${JSON.stringify(options.since)}`);
  if (options.sqs && options.once)
    usage("--once polls the folder until caught up; with --sqs the watcher runs until stopped");
  const intervalMs = numberOption("interval", options.interval, 10, 0) * 1000;
  const maxRequestsPerPoll =
    options["max-requests"] == null ? undefined : wholeNumberOption("max-requests", options["max-requests"], 0, 1);
  const tuning = downloadTuning(options);
  const { signal, output, report } = io;
  const prefix = folder && !folder.endsWith("/") ? folder + "/" : folder;
  const directory: string | undefined = options["download-to"] && resolve(options["download-to"]);
  const stateFile: string | undefined = options.state && resolve(options.state);
  const matches = options.filter != null ? globMatcher(options.filter) : undefined;

  // Options of issue 10 (listing, maxRequestsPerPoll, filter); passed as a variable so that a
  // trigger without them still type-checks.
  const triggerOptions = {
    bucket,
    folder,
    includeSubfolders: options["include-subfolders"],
    since,
    minAgeMs: numberOption("min-age", options["min-age"], 0, 0) * 1000,
    listing: options.incremental ? ("incremental" as const) : undefined,
    maxRequestsPerPoll,
    filter: matches && ((key: string) => matches(key.slice(prefix.length))),
  };
  const trigger = newFileTrigger(client, triggerOptions);
  const reserved = stateFile ? [stateFile, stateFile + ".lock", ...BatchProgress.files(stateFile)] : [];
  const mapping: PathMapping | undefined = directory ? { directory, prefix, reserved } : undefined;

  if (stateFile) await mkdir(dirname(stateFile), { recursive: true });
  const releaseLock = stateFile ? await lockStateFile(stateFile) : undefined;
  try {
    let state = stateFile ? await loadState(stateFile) : undefined;
    // Whatever a killed process left half-written (its temp files) goes before anything else.
    if (directory) {
      await mkdir(directory, { recursive: true });
      await removeStaleTempFiles(directory, { recursive: true });
    }
    if (stateFile) await removeStaleTempFiles(dirname(stateFile));
    const stateExisted = state != null;
    let savedText = state ? JSON.stringify(state) : undefined;
    let wroteState = false;
    const progress = stateFile ? await BatchProgress.open(stateFile, savedText) : undefined;

    const save = async (next: TriggerState) => {
      state = next;
      const text = JSON.stringify(next);
      if (!stateFile || text === savedText) return;
      await saveState(stateFile, text);
      savedText = text;
      wroteState = true;
      await progress!.startBatch(text);
    };

    const deliver = async (event: FileEvent): Promise<Outcome> => {
      if (event.bucket !== bucket) return { skipped: `event for another bucket (${event.bucket})` };
      if (!mapping) return {};
      const local = localPathOf(mapping, event.key);
      if ("refused" in local) return { skipped: local.refused };
      try {
        const blocked = await prepareFolders(directory!, local.path);
        if (blocked) return { skipped: blocked };
        // Pinned to the listed ETag: a newer version is never written under this event.
        await downloadToFile(client, { bucket, key: event.key, etag: event.etag, path: local.path, signal, ...tuning });
        return { path: local.path };
      } catch (error) {
        if (signal.aborted) throw error;
        const reason = unstorableReason(error) ?? vanishedReason(error);
        if (reason) return { skipped: reason };
        throw error;
      }
    };

    const print = (event: FileEvent, outcome: Outcome) => {
      const kind = event.isUpdate ? "updated" : "new";
      const when = isNaN(+event.lastModified) ? "-" : event.lastModified.toISOString();
      if (options.json) output(JSON.stringify({ event: kind, ...event, ...outcome }));
      else
        output(
          `${kind.padEnd(7)} ${when} ${padStart(event.size ?? "-", 12)} ` +
            `${escapeControl(event.key)} ${escapeControl(event.etag)}` +
            (outcome.path ? " -> " + escapeControl(outcome.path) : "") +
            (outcome.skipped ? "  SKIPPED: " + escapeControl(outcome.skipped) : ""),
        );
      if (outcome.skipped && !options.json) report(`skipped s3://${bucket}/${event.key}: ${outcome.skipped}`);
    };

    /**
     * Handle a batch in order. Each finished file is printed, then recorded in the batch's progress
     * file, so a restart skips it. Returns the error that stopped the batch (transient), if any.
     */
    const handleBatch = async (events: FileEvent[]): Promise<unknown> => {
      for (const event of events) {
        if (progress?.has(event)) continue;
        let outcome;
        try {
          outcome = await deliver(event);
        } catch (error) {
          if (signal.aborted || !retryable(error)) throw error;
          return error;
        }
        print(event, outcome);
        await progress?.record(event);
        wroteState ||= !!progress;
      }
      return undefined;
    };

    const retryLater = async (what: string, error: unknown) => {
      report(`${what} failed, retrying in ${intervalMs / 1000} s: ${messageOf(error)}`);
      await sleep(intervalMs, signal).catch(() => {});
    };

    const describeStop = () => {
      if (!stateFile) return "interrupted";
      if (wroteState)
        return `interrupted; state saved in ${stateFile} (a restart goes on after the last file reported)`;
      if (stateExisted) return `interrupted; state in ${stateFile} unchanged (nothing was handled)`;
      const restartFrom = since ? "--since" : "its own first poll";
      return `interrupted before any state was saved (a restart starts again from ${restartFrom})`;
    };

    const pollLoop = async () => {
      if (!options.once)
        report(
          `watching s3://${bucket}/${prefix}${options["include-subfolders"] ? " and its subfolders" : ""} every ` +
            `${intervalMs / 1000} s${stateFile ? `, state in ${stateFile}` : ""} (Ctrl-C to stop)`,
        );
      while (!signal.aborted) {
        let result;
        try {
          result = await trigger.poll(state, { signal });
        } catch (error) {
          if (signal.aborted) return;
          // A cron-style --once run reports and exits; the next run tries again.
          if (options.once || !isTransient(error)) throw error;
          await retryLater("poll", error);
          continue;
        }
        const failure = await handleBatch(result.events);
        if (signal.aborted) return;
        if (failure) {
          if (options.once) throw failure;
          await retryLater("download", failure);
          continue;
        }
        await save(result.state);
        if (!result.hasMore) {
          if (options.once) return;
          await sleep(intervalMs, signal).catch(() => {});
        }
      }
    };

    try {
      if (options.sqs) {
        report(
          `watching s3://${bucket}/${prefix} through ${options.sqs}${stateFile ? `, state in ${stateFile}` : ""} ` +
            "(Ctrl-C to stop)",
        );
        await consumeQueue({
          ...io,
          queueUrl: options.sqs,
          trigger,
          handleBatch,
          save,
          retryLater,
          state: () => state,
        });
      } else await pollLoop();
    } catch (error) {
      // Ctrl-C surfaces as the abort reason thrown from wherever the watcher was waiting.
      if (!signal.aborted) throw error;
    }
    return signal.aborted ? describeStop() : "";
  } finally {
    await releaseLock?.();
  }
}

/** A file that is gone or replaced since it was listed: nothing to fetch for THIS event. */
function vanishedReason(error: unknown): string | undefined {
  if (error instanceof S3Error && error.code === "NoSuchKey") return "deleted before it could be downloaded";
  if (
    (error instanceof S3Error && error.code === "PreconditionFailed") ||
    (error instanceof DownloadError && error.code === "ObjectChanged")
  )
    return "replaced before it could be downloaded (reported again as an update)";
  // An archived object (Glacier, Deep Archive) answers 403 InvalidObjectState until restored.
  if (error instanceof S3Error && error.code === "InvalidObjectState")
    return "archived in a cold storage class: restore it, then fetch it with `s3-edge get`";
  return undefined;
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

interface QueueConsumer extends WatchIo {
  queueUrl: string;
  trigger: ReturnType<typeof newFileTrigger>;
  handleBatch: (events: FileEvent[]) => Promise<unknown>;
  save: (state: TriggerState) => Promise<void>;
  retryLater: (what: string, error: unknown) => Promise<void>;
  state: () => TriggerState | undefined;
}

/**
 * --sqs: batches of S3 event notifications (sqsS3Events), deduplicated against the same state as
 * polling (trigger.accept), handled like a poll's batch, then acknowledged. A batch that fails is
 * not acknowledged: SQS shows it again after its visibility timeout (at-least-once), and the
 * progress file and accept() keep the files already handled from repeating.
 */
async function consumeQueue(consumer: QueueConsumer): Promise<void> {
  const { signal, report } = consumer;
  // Loaded only here: a CLI run that never reads a queue never loads the SQS code.
  const { sqsS3Events } = await import("../sqs.ts");
  const batches = sqsS3Events({
    queueUrl: consumer.queueUrl,
    region: regionOfQueue(consumer.queueUrl) ?? consumer.region ?? "us-east-1",
    endpoint: consumer.sqsEndpoint,
    credentials: consumer.credentials,
    fetch: nodeFetch,
    signal,
    // Receive failures that waiting can heal: the consumer pauses and goes on by itself.
    onError: (error) => report(`receive failed, retrying: ${messageOf(error)}`),
  });
  for await (const batch of batches) {
    for (const message of batch.skipped)
      report(`message ${message.messageId} is not an S3 notification (${message.error.message}); deleted`);
    const accepted = consumer.trigger.accept(consumer.state(), batch.events);
    const failure = await consumer.handleBatch(accepted.events);
    if (signal.aborted) return;
    if (failure) {
      // Not acknowledged: SQS shows the batch again after its visibility timeout.
      await consumer.retryLater("download", failure);
      continue;
    }
    await consumer.save(accepted.state);
    await batch.ack();
  }
}

/** "https://sqs.eu-west-1.amazonaws.com/123/q" -> "eu-west-1": the region a queue URL names, if any. */
function regionOfQueue(queueUrl: string): string | undefined {
  return /^https?:\/\/sqs\.([a-z]{2}(?:-[a-z]+)+-\d+)\./.exec(queueUrl)?.[1];
}
