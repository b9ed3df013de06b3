// Cloudflare: R2 event notifications -> a Queue -> this Worker's queue() consumer.
//
//   npx wrangler r2 bucket notification create uploads --event-type object-create --queue upload-events
//
// Each message body is R2's notification ({ action, bucket, object: { key, size, eTag }, ... });
// parseS3Events turns it into the trigger's FileEvents. One Durable Object per folder holds the
// trigger state of this consumer group and handles its messages one batch at a time: accept()
// drops what was already handled (queues deliver at least once), downloadFile fetches each new
// file through R2's S3 API, and the state is saved only after the files were handled, so a crash
// means "again", never "lost". A poll() on the same state (a cron trigger, say hourly) would be
// the backfill for notifications that never came.
//
// wrangler.toml:
//   [[queues.consumers]]  queue = "upload-events"  max_batch_size = 10
//   [[durable_objects.bindings]]  name = "TRIGGER"  class_name = "FolderTrigger"
//   [[migrations]]  tag = "v1"  new_sqlite_classes = ["FolderTrigger"]
//   [vars]  R2_ENDPOINT = "https://<account id>.r2.cloudflarestorage.com"  BUCKET = "uploads"  FOLDER = "incoming"
//   secrets: R2_ACCESS_KEY_ID, R2_SECRET_ACCESS_KEY (an R2 API token with read access)
//
// The runtime matrix runs this file in workerd (Miniflare queues and Durable Objects) against
// Ceph RGW standing in for R2's S3 API: test/runtimes/entries/r2-queue.ts.
// In your project: from "s3-edge".
import { InputError, S3Client, S3Error, downloadFile, newFileTrigger, parseS3Events } from "../src/index.ts";
import type { FileEvent, TriggerState } from "../src/index.ts";

export interface Env {
  R2_ENDPOINT: string;
  R2_ACCESS_KEY_ID: string;
  R2_SECRET_ACCESS_KEY: string;
  BUCKET: string;
  FOLDER?: string;
  TRIGGER: DurableObjectNamespaceLike;
}

// The few Workers types this file uses (from @cloudflare/workers-types in a real project).
export interface MessageBatchLike {
  messages: readonly { id: string; body: unknown; attempts: number }[];
  ackAll(): void;
  retryAll(): void;
}
export interface DurableObjectNamespaceLike {
  idFromName(name: string): unknown;
  get(id: unknown): { fetch(url: string, init?: RequestInit): Promise<Response> };
}
export interface DurableObjectStateLike {
  storage: { get<T>(key: string): Promise<T | undefined>; put(key: string, value: unknown): Promise<void> };
}

/** What a batch did, as the Durable Object answers it. */
export interface BatchOutcome {
  handled: string[];
  duplicates: number;
  /** Versions overwritten or deleted since their notification (a newer one has its own). */
  stale: string[];
  skipped: { body: string; error: string }[];
}

/** Your processing of one new file: here, its size and SHA-256 are written to a log in the object's storage. */
async function handleFile(file: FileEvent, bytes: ArrayBuffer, storage: DurableObjectStateLike["storage"]) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const sha256 = [...digest].map((byte) => byte.toString(16).padStart(2, "0")).join("");
  const log = (await storage.get<{ key: string; size: number; sha256: string }[]>("log")) ?? [];
  log.push({ key: file.key, size: bytes.byteLength, sha256 });
  await storage.put("log", log);
}

export default {
  async queue(batch: MessageBatchLike, env: Env): Promise<void> {
    // One object per folder: the consumer group's state lives there, and its batches run one at a time.
    const trigger = env.TRIGGER.get(env.TRIGGER.idFromName(env.FOLDER ?? ""));
    const response = await trigger.fetch("https://trigger/batch", {
      method: "POST",
      body: JSON.stringify(batch.messages.map((message) => message.body)),
    });
    // A failure leaves the state unsaved: the whole batch comes again, and files handled before the
    // failure are handled again (at-least-once; make the handling idempotent, e.g. keyed by ETag).
    if (!response.ok) return batch.retryAll();
    batch.ackAll();
  },
};

export class FolderTrigger {
  constructor(
    private state: DurableObjectStateLike,
    private env: Env,
  ) {}

  async fetch(request: Request): Promise<Response> {
    const { env } = this,
      storage = this.state.storage;
    if (new URL(request.url).pathname == "/log") return Response.json((await storage.get("log")) ?? []);
    const client = new S3Client({
      endpoint: env.R2_ENDPOINT,
      region: "auto",
      forcePathStyle: true,
      credentials: { accessKeyId: env.R2_ACCESS_KEY_ID, secretAccessKey: env.R2_SECRET_ACCESS_KEY },
    });
    const trigger = newFileTrigger(client, { bucket: env.BUCKET, folder: env.FOLDER ?? "", includeSubfolders: true });
    const outcome: BatchOutcome = { handled: [], duplicates: 0, stale: [], skipped: [] };
    const pushed: FileEvent[] = [];
    for (const body of (await request.json()) as unknown[]) {
      try {
        pushed.push(...parseS3Events(body as object));
      } catch (error) {
        // Not a notification: it will not become one on a retry, so report it and let it be acked.
        if (!(error instanceof InputError)) throw error;
        outcome.skipped.push({ body: JSON.stringify(body).slice(0, 200), error: error.message });
      }
    }
    const accepted = trigger.accept((await storage.get<TriggerState>("state")) ?? undefined, pushed);
    outcome.duplicates = pushed.length - accepted.events.length;
    for (const file of accepted.events) {
      // The ETag pins the version the notification announced. Notifications come in any order: a
      // version overwritten (PreconditionFailed) or deleted (NoSuchKey) since is skipped, not
      // retried forever; the newer version has a notification of its own.
      let bytes: ArrayBuffer;
      try {
        const download = await downloadFile(client, { bucket: file.bucket, key: file.key, etag: file.etag });
        bytes = await new Response(download.body).arrayBuffer();
      } catch (error) {
        if (!(error instanceof S3Error && (error.code == "PreconditionFailed" || error.code == "NoSuchKey")))
          throw error;
        outcome.stale.push(file.key);
        continue;
      }
      await handleFile(file, bytes, storage);
      outcome.handled.push(file.key);
    }
    await storage.put("state", accepted.state);
    return Response.json(outcome);
  }
}
