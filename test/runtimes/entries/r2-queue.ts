// The R2 -> Queue -> Worker example (examples/r2-queue-worker.ts) as workerd runs it, with Ceph RGW
// standing in for R2's S3 API. Miniflare does not emit R2 event notifications, so /produce does
// what R2 would: it uploads files through the S3 API and sends R2's documented message for each
// (developers.cloudflare.com/r2/buckets/event-notifications/, "Message format") to a real Miniflare
// queue, plus what a consumer must survive: a redelivered message, a file outside the folder and
// a body that is no notification. The example's own queue() handler and Durable Object consume them.
import example, { FolderTrigger, type Env } from "../../../examples/r2-queue-worker.ts";
import { S3Client } from "../../../src/index.ts";

export { FolderTrigger };

interface TestEnv extends Env {
  QUEUE: { sendBatch(messages: { body: unknown }[]): Promise<void> };
  S3_REGION: string;
}

// Deterministic bytes (no crypto.getRandomValues needed).
function bytes(length: number, seed: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  let state = seed | 1;
  for (let index = 0; index < length; index++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[index] = state & 255;
  }
  return out;
}

const hex = (buffer: ArrayBuffer) =>
  [...new Uint8Array(buffer)].map((byte) => byte.toString(16).padStart(2, "0")).join("");

export default {
  queue: example.queue,

  async fetch(request: Request, env: TestEnv): Promise<Response> {
    const folder = env.FOLDER ?? "";
    if (new URL(request.url).pathname == "/log")
      return env.TRIGGER.get(env.TRIGGER.idFromName(folder)).fetch("https://trigger/log");

    // /produce
    const client = new S3Client({
      endpoint: env.R2_ENDPOINT,
      region: env.S3_REGION,
      forcePathStyle: true,
      credentials: { accessKeyId: env.R2_ACCESS_KEY_ID, secretAccessKey: env.R2_SECRET_ACCESS_KEY },
    });
    await client.createBucket({ bucket: env.BUCKET });
    // R2 keys arrive raw in its messages: "+", "%" and spaces must survive as they are.
    const names = ["a b+c.txt", "100%25 done.bin", "ünï/cödé.json", "plain.txt", "big.bin"];
    const uploaded: { key: string; size: number; sha256: string; etag: string }[] = [];
    for (const [index, name] of names.entries()) {
      const body = bytes(index == 4 ? 300_000 : 1 + index * 777, index + 1);
      const key = `${folder}/${name}`;
      const { etag } = await client.putObject({ bucket: env.BUCKET, key, body });
      uploaded.push({ key, size: body.length, sha256: hex(await crypto.subtle.digest("SHA-256", body)), etag });
    }
    const outside = await client.putObject({ bucket: env.BUCKET, key: "elsewhere/x.txt", body: "x" });
    // An overwrite whose notifications arrive in reverse order: the old version is gone by then.
    const overwritten = `${folder}/overwritten.txt`;
    const first = await client.putObject({ bucket: env.BUCKET, key: overwritten, body: "version 1" });
    const second = bytes(5_000, 99);
    const latest = await client.putObject({ bucket: env.BUCKET, key: overwritten, body: second });
    uploaded.push({
      key: overwritten,
      size: second.length,
      sha256: hex(await crypto.subtle.digest("SHA-256", second)),
      etag: latest.etag,
    });
    const message = (key: string, size: number, eTag: string) => ({
      body: {
        account: "3f4b7e3dcab231cbfdaa90a6a28bd548",
        action: "PutObject",
        bucket: env.BUCKET,
        object: { key, size, eTag },
        eventTime: new Date().toISOString(),
      },
    });
    const messages = uploaded.map((file) => message(file.key, file.size, file.etag));
    await env.QUEUE.sendBatch([
      ...messages.slice(0, 3),
      { body: "this is not a notification" },
      message("elsewhere/x.txt", 1, outside.etag),
      messages[0], // delivered again: queues are at-least-once
      messages[3],
      message(overwritten, second.length, latest.etag),
      // The older version's notification, late, in the same batch (of 3) as two handled files:
      // were it retried, they would be handled twice.
      message(overwritten, 9, first.etag),
      messages[4],
    ]);
    return Response.json(uploaded);
  },
};
