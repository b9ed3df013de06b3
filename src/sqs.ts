// SQS consumer for S3 event notifications, on the project's own signer and its one signed-fetch
// path (request.ts: retries as isTransient decides, per-attempt timeouts, abort, clock skew).
// ReceiveMessage long-polls up to 10 messages; each body goes through parseS3Notification; the
// caller handles the batch and calls ack(), which deletes exactly the batch's messages
// (DeleteMessageBatch). A batch not acked becomes visible again after the visibility timeout:
// delivery is at least once, and trigger.accept() on a persisted state makes it once per state.
// Protocol: AWS JSON 1.0 (POST /, X-Amz-Target: AmazonSQS.<Action>), SigV4 with service "sqs".
import type { Credentials } from "./sigv4.ts";
import { signedFetch, signersFor, type Clock } from "./request.ts";
import { InputError, S3Error, isTransient } from "./errors.ts";
import { sleep } from "./abort.ts";
import { parseS3Notification, type RemovedObject } from "./events.ts";
import type { FileEvent } from "./trigger.ts";

// ReceiveMessage: up to 10 messages of up to 1 MiB each (SQS's limit since 2025), JSON-escaped in
// the response (a quote or control character grows to 2-6 bytes): over the client's 8 MiB cap.
const RECEIVE_BODY_LIMIT = 64 * 1024 * 1024;

export interface SqsS3EventsOptions {
  /** The queue's URL, as SQS gives it: https://sqs.<region>.amazonaws.com/<account>/<name> */
  queueUrl: string;
  region: string;
  /** An object, or an async provider asked before every request (rotating STS credentials). */
  credentials: Credentials | (() => Promise<Credentials>);
  /** Where requests go (default: the queue URL's origin); for emulators whose queue URLs do not resolve. */
  endpoint?: string;
  fetch?: typeof fetch;
  /** Long polling: seconds a ReceiveMessage waits for a first message (0-20, default 20). */
  waitTimeSeconds?: number;
  /** Messages per batch (1-10, default 10). */
  maxMessages?: number;
  /** Seconds a received batch stays hidden from other consumers (0-43200; default the queue's). Ack within it. */
  visibilityTimeout?: number;
  /** Ends the iteration: an in-flight ReceiveMessage is cancelled (its messages come again); ack() still works. */
  signal?: AbortSignal;
  /** Sees transient failures (network, 5xx, throttling) past the retry budget; polling goes on after a pause. */
  onError?: (error: unknown) => void;
  /** Attempts per request, retries included (default 3). */
  maxAttempts?: number;
  /** Per-attempt budget in ms beyond the long-poll wait (default 30000). */
  timeoutMs?: number;
  /** Backoff base in ms (default 100). */
  retryBaseMs?: number;
}

/** A message whose body is not an S3 notification: reported, kept out of `events`. */
export interface SkippedMessage {
  messageId: string;
  body: string;
  error: InputError;
}

export interface SqsBatch {
  /** New files, in message order (a message may carry several records). */
  events: FileEvent[];
  removed: RemovedObject[];
  /**
   * Messages that are no notification (not JSON, an unknown shape). ack() deletes them with the
   * rest: a body that does not parse now never will, and left in the queue it would come back
   * forever. Log or store `body` here if you need it.
   */
  skipped: SkippedMessage[];
  /** Every message of the batch: id and how often SQS delivered it (ApproximateReceiveCount). */
  messages: { messageId: string; receiveCount: number }[];
  /** Deletes exactly this batch's messages. Call it after handling the events; a second call does nothing. */
  ack(): Promise<void>;
}

/** An error answer of SQS. An S3Error by type, so isTransient() and `catch (e instanceof S3Error)` treat it alike. */
export class SqsError extends S3Error {
  override name = "SqsError";
}

const CONTENT_TYPE = "application/x-amz-json-1.0";
// The longest pause between receive attempts after failures (doubling from 1 s).
const MAX_PAUSE_MS = 30_000;
const json = JSON.stringify;
const decoder = new TextDecoder();

function checkOptions(options: SqsS3EventsOptions) {
  const { queueUrl, region, waitTimeSeconds = 20, maxMessages = 10, visibilityTimeout } = options;
  const requireValid = (valid: boolean, field: string, what: string) => {
    if (!valid) throw new InputError(`sqsS3Events: ${field} must be ${what}`, field);
  };
  let origin = "";
  try {
    origin = new URL(options.endpoint ?? queueUrl).origin;
  } catch {}
  requireValid(
    /^https?:\/\//.test(queueUrl ?? "") && !!origin,
    "queueUrl",
    `an http(s) URL like "https://sqs.us-east-1.amazonaws.com/123456789012/uploads", not ${json(queueUrl)}`,
  );
  requireValid(
    /^https?:\/\//.test(options.endpoint ?? "http://"),
    "endpoint",
    `an http(s) URL, not ${json(options.endpoint)}`,
  );
  requireValid(
    typeof region == "string" && /^[a-z0-9-]+$/.test(region),
    "region",
    `a region like "us-east-1", not ${json(region)}`,
  );
  requireValid(
    Number.isInteger(waitTimeSeconds) && waitTimeSeconds >= 0 && waitTimeSeconds <= 20,
    "waitTimeSeconds",
    "an integer 0-20",
  );
  requireValid(
    Number.isInteger(maxMessages) && maxMessages >= 1 && maxMessages <= 10,
    "maxMessages",
    "an integer 1-10",
  );
  requireValid(
    visibilityTimeout == null ||
      (Number.isInteger(visibilityTimeout) && visibilityTimeout >= 0 && visibilityTimeout <= 43_200),
    "visibilityTimeout",
    "an integer 0-43200 (seconds)",
  );
  return { waitTimeSeconds, maxMessages, url: origin + "/" };
}

/**
 * The S3 notifications of an SQS queue, batch by batch: ReceiveMessage with long polling, the
 * events parsed from every body, ack() to delete the batch. Ends when `signal` aborts; throws what
 * waiting cannot fix (AccessDenied, QueueDoesNotExist, bad options).
 */
export function sqsS3Events(options: SqsS3EventsOptions): AsyncGenerator<SqsBatch, void, undefined> {
  // Checked now, not at the first next(): a bad option fails where it is written.
  return consume(options, checkOptions(options));
}

async function* consume(
  options: SqsS3EventsOptions,
  checked: ReturnType<typeof checkOptions>,
): AsyncGenerator<SqsBatch, void, undefined> {
  const { queueUrl, region, credentials, signal, onError, visibilityTimeout } = options;
  const { waitTimeSeconds, maxMessages, url } = checked;
  const timeoutMs = options.timeoutMs ?? 30_000,
    clock: Clock = { skewMs: 0 };
  const signerOf = signersFor(credentials, "sqs"),
    signer = () => signerOf(region);

  // Only receiving listens to `signal`: a consumer that stops still acks the batch in its hands.
  const call = async (action: string, payload: object, waitMs = 0): Promise<Record<string, any>> => {
    const { response, body } = await signedFetch({
      signer,
      method: "POST",
      url,
      body: json({ QueueUrl: queueUrl, ...payload }),
      signal: action == "ReceiveMessage" ? signal : undefined,
      clock,
      headers: { "content-type": CONTENT_TYPE, "x-amz-target": "AmazonSQS." + action },
      fetch: options.fetch,
      maxAttempts: options.maxAttempts,
      retryBaseMs: options.retryBaseMs,
      // A long poll legitimately holds the response for up to waitTimeSeconds.
      timeoutMs: timeoutMs + waitMs,
      maxBodyBytes: RECEIVE_BODY_LIMIT,
      toError: (failed, errorBody) => sqsError(action, failed.status, errorBody, failed.headers),
    });
    let parsed: unknown;
    try {
      parsed = JSON.parse(decoder.decode(body) || "{}");
    } catch {}
    if (typeof parsed != "object" || parsed === null)
      throw sqsError(action, response.status, body, response.headers, "InvalidResponse");
    return parsed as Record<string, any>;
  };

  const receive = async () => {
    const answer = await call(
      "ReceiveMessage",
      {
        MaxNumberOfMessages: maxMessages,
        WaitTimeSeconds: waitTimeSeconds,
        VisibilityTimeout: visibilityTimeout,
        MessageSystemAttributeNames: ["ApproximateReceiveCount"],
      },
      waitTimeSeconds * 1000,
    );
    const messages = answer.Messages ?? [];
    if (
      !Array.isArray(messages) ||
      !messages.every((m) => typeof m?.ReceiptHandle == "string" && typeof m.Body == "string")
    )
      throw sqsError("ReceiveMessage", 200, new TextEncoder().encode(json(answer)), undefined, "InvalidResponse");
    return messages as {
      MessageId: string;
      ReceiptHandle: string;
      Body: string;
      Attributes?: Record<string, string>;
    }[];
  };

  const batchOf = (messages: Awaited<ReturnType<typeof receive>>): SqsBatch => {
    const batch: SqsBatch = { events: [], removed: [], skipped: [], messages: [], ack: undefined! };
    for (const message of messages) {
      const messageId = String(message.MessageId);
      batch.messages.push({ messageId, receiveCount: +(message.Attributes?.ApproximateReceiveCount ?? 1) });
      try {
        const notification = parseS3Notification(message.Body);
        batch.events.push(...notification.created);
        batch.removed.push(...notification.removed);
      } catch (error) {
        if (!(error instanceof InputError)) throw error;
        batch.skipped.push({ messageId, body: message.Body, error });
      }
    }
    let acking: Promise<void> | undefined;
    batch.ack = () => (acking ??= deleteAll(messages.map((message) => message.ReceiptHandle)));
    return batch;
  };

  // DeleteMessageBatch reports per entry; entries the server failed on (not our fault) are sent again.
  const deleteAll = async (receiptHandles: string[]) => {
    let entries = receiptHandles.map((handle, index) => ({ Id: String(index), ReceiptHandle: handle }));
    for (let attempt = 1; entries.length; attempt++) {
      const answer = await call("DeleteMessageBatch", { Entries: entries });
      const failed: { Id: string; Code?: string; Message?: string; SenderFault?: boolean }[] = Array.isArray(
        answer.Failed,
      )
        ? answer.Failed
        : [];
      const retry = failed.filter((entry) => !entry.SenderFault);
      if (failed.length && (retry.length < failed.length || attempt >= (options.maxAttempts ?? 3))) {
        const first = failed[0];
        throw new SqsError(
          first.Code || "DeleteFailed",
          200,
          `DeleteMessageBatch on ${queueUrl}: ${failed.length} of ${entries.length} messages not deleted (${failed
            .map((entry) => `${entry.Code}: ${entry.Message}`)
            .join("; ")
            .slice(0, 300)}); they will be delivered again`,
        );
      }
      entries = entries.filter((entry) => retry.some((failure) => failure.Id == entry.Id));
    }
  };

  let pauseMs = 0;
  while (!signal?.aborted) {
    let messages;
    try {
      messages = await receive();
      pauseMs = 0;
    } catch (error) {
      if (signal?.aborted) return;
      if (!isTransient(error)) throw error;
      onError?.(error);
      // The request path already retried; a queue that keeps failing is asked less and less often.
      pauseMs = Math.min(Math.max(pauseMs * 2, 1_000), MAX_PAUSE_MS);
      await sleep(pauseMs, signal).catch(() => {});
      continue;
    }
    if (messages.length) yield batchOf(messages);
  }
}

/** SQS's JSON error answer ({"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": ...}) as an SqsError. */
function sqsError(action: string, status: number, body: Uint8Array, headers?: Headers, code?: string): SqsError {
  const text = decoder.decode(body.subarray(0, 2_000));
  let parsed: { __type?: unknown; message?: unknown; Message?: unknown } = {};
  try {
    parsed = JSON.parse(text) ?? {};
  } catch {}
  const type = typeof parsed.__type == "string" ? parsed.__type : "";
  code ??= type.slice(type.lastIndexOf("#") + 1) || (status == 429 ? "ThrottlingException" : "HTTP" + status);
  const detail =
    parsed.message ??
    parsed.Message ??
    (text ? "unexpected response body: " + text.replace(/\s+/g, " ").slice(0, 100) : "no response body.");
  return new SqsError(code, status, `${code} (HTTP ${status}) on SQS ${action}: ${detail}`, {
    requestId: headers?.get("x-amzn-requestid") ?? undefined,
  });
}
