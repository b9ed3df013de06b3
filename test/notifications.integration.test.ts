// Real push notifications: Ceph RGW 16 pushes each upload to a local HTTP endpoint (a topic made
// through its SNS-compatible API, a bucket notification configuration for s3:ObjectCreated:*).
// Every pushed body goes through parseS3Events; the keys are the ones that broke other libraries.
// Then push and poll together: a notification lost on the way is found by the backfill poll on the
// state trigger.accept() produced, and nothing comes out twice.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { S3Client } from "../src/client.ts";
import { downloadFile } from "../src/download.ts";
import { parseS3Events } from "../src/events.ts";
import { newFileTrigger, type FileEvent } from "../src/trigger.ts";
import { s3TestServer, uniqueBucket, type S3TestServer } from "./support/s3server.ts";
import { pushReceiver, rgwNotifications, type PushReceiver } from "./support/rgw-notifications.ts";
import { readAll, seededRandom } from "./support/util.ts";

// The keys of the client's integration tests (the ones that broke other libraries), plus a CR/LF
// key and one that looks URL-encoded but is not.
const AWKWARD_KEYS = [
  "plain.txt",
  "with space.txt",
  "plus+sign",
  "dir/a b+c%20d.txt",
  "percent%sign",
  "percent%25encoded",
  "caf\u00e9", // NFC
  "cafe\u0301", // NFD: same word, a distinct key
  "emoji-😀🎉",
  `xml&<>"'chars`,
  "question?hash#",
  "semi;comma,equals=",
  "cr\rlf\nkey",
  "tilde~",
  "dir/sub/deep",
  "double//slash",
  "trailing/",
  "*()!$@[]{}^|`\\",
  "00123",
  "k".repeat(690) + "-long-key",
];

let server: S3TestServer, client: S3Client, notifications: ReturnType<typeof rgwNotifications>;
const topics: string[] = [];
const receivers: PushReceiver[] = [];

before(async () => {
  server = await s3TestServer();
  client = new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    credentials: server,
    forcePathStyle: true,
  });
  notifications = rgwNotifications({ endpoint: server.endpoint, region: server.region, credentials: server });
});

after(async () => {
  for (const arn of topics) await notifications.deleteTopic(arn).catch(() => {});
  for (const receiver of receivers) await receiver.close();
  await server?.stop();
});

/** A bucket whose uploads RGW pushes to a fresh receiver (topics are per user: one per test, unique). */
async function notifiedBucket(prefix: string) {
  const bucket = uniqueBucket(prefix);
  await client.createBucket({ bucket });
  const receiver = await pushReceiver();
  receivers.push(receiver);
  const topic = await notifications.createTopic(bucket, receiver.url);
  topics.push(topic);
  await notifications.notifyTopic(bucket, topic);
  return { bucket, receiver };
}

test("an awkward key uploaded to RGW is pushed, parsed to its key, size and ETag, downloads byte-exact", async () => {
  const { bucket, receiver } = await notifiedBucket("push-keys");
  const random = seededRandom(11);
  const uploaded = new Map<string, { etag: string; body: Uint8Array }>();
  for (const key of AWKWARD_KEYS) {
    const body = random.bytes(random.int(3000));
    const { etag } = await client.putObject({ bucket, key, body });
    uploaded.set(key, { etag, body });
  }
  await receiver.waitFor(AWKWARD_KEYS.length);

  const events = receiver.bodies.flatMap((body) => parseS3Events(body));
  assert.deepEqual(events.map((event) => event.key).sort(), [...AWKWARD_KEYS].sort());
  for (const event of events) {
    const expected = uploaded.get(event.key)!;
    assert.equal(event.bucket, bucket);
    assert.equal(event.etag, expected.etag, event.key);
    assert.equal(event.size, expected.body.length, event.key);
    assert.equal(event.name, event.key.slice(event.key.lastIndexOf("/") + 1));
    assert.match(event.eventName!, /^ObjectCreated:Put$/);
    // The event is all a consumer needs: its key and ETag fetch exactly the uploaded bytes.
    const download = await downloadFile(client, { bucket: event.bucket, key: event.key, etag: event.etag });
    assert.deepEqual(await readAll(download.body), expected.body, event.key);
  }
});

// trigger.accept (issue 11 section 2) is built beside this; until it lands the test runs as a todo.
const hasAccept =
  typeof (newFileTrigger({ listObjectsV2: async () => ({}) as never }, { bucket: "b" }) as any).accept == "function";

test(
  "a lost notification is found by the backfill poll on the state accept() produced; nothing is emitted twice",
  {
    todo: !hasAccept && "needs trigger.accept (issue 11 section 2)",
  },
  async () => {
    const { bucket, receiver } = await notifiedBucket("push-backfill");
    const trigger = newFileTrigger(client, { bucket, folder: "in" });
    const accept = (trigger as any).accept as (
      state: unknown,
      events: FileEvent[],
    ) => { events: FileEvent[]; state: unknown };

    const first = await trigger.poll();
    assert.deepEqual(first.events, []);
    let state: unknown = JSON.parse(JSON.stringify(first.state));
    await new Promise((resolve) => setTimeout(resolve, 1100)); // LastModified has 1 s resolution

    const keys = Array.from({ length: 8 }, (_, index) => `in/file-${index} ${randomBytes(2).toString("hex")}+.txt`);
    const lost = 3;
    receiver.drop = (index) => index == lost;
    for (const key of keys) await client.putObject({ bucket, key, body: "body of " + key });
    // Noise outside the trigger's folder is pushed too, and accept() must not emit it.
    await client.putObject({ bucket, key: "elsewhere/x.txt", body: "x" });
    await receiver.waitFor(keys.length); // keys.length - 1 in the folder + 1 outside

    const emitted: string[] = [];
    const pushed = receiver.bodies.flatMap((body) => parseS3Events(body));
    let result = accept(state, pushed);
    emitted.push(...result.events.map((event) => event.key));
    state = JSON.parse(JSON.stringify(result.state));
    assert.deepEqual(emitted.sort(), keys.filter((_, index) => index != lost).sort());

    // At-least-once delivery: the same notifications again change nothing.
    result = accept(state, pushed);
    assert.deepEqual(result.events, [], "a redelivered notification is emitted again");

    // The backfill poll emits exactly what the notifications missed, and then nothing.
    const backfill = await trigger.poll(state as any);
    assert.deepEqual(
      backfill.events.map((event) => event.key),
      [keys[lost]],
    );
    emitted.push(keys[lost]);
    const again = await trigger.poll(JSON.parse(JSON.stringify(backfill.state)));
    assert.deepEqual(again.events, []);
    assert.deepEqual(emitted.sort(), [...keys].sort());
  },
);
