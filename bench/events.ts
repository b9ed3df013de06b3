// Push events (issue 11). 1) parseS3Events on a 10-record AWS notification (an SQS body as a
// string) against JSON.parse alone, the floor any parser pays, and against the glue users write by
// hand (JSON.parse, then decodeURIComponent of each key, no checks). 2) When an S3 test server is
// set (S3_TEST_ENDPOINT, Ceph RGW), latency from the start of an upload to its event: RGW's push
// to an HTTP endpoint against the trigger's watch() polling every second, measured in one run.
import { runBench, check, type Contender } from "./harness.ts";
import { importSubject } from "./subject.ts";

const RECORDS = 10;
// Keys of a log layout, some needing decoding (S3 sends "+" for a space, %3A for ":").
const message = JSON.stringify({
  Records: Array.from({ length: RECORDS }, (_, index) => ({
    eventVersion: "2.1",
    eventSource: "aws:s3",
    awsRegion: "us-west-2",
    eventTime: `2024-05-01T10:00:0${index}.000Z`,
    eventName: "ObjectCreated:Put",
    userIdentity: { principalId: "AIDAJDPLRKLG7UEXAMPLE" },
    requestParameters: { sourceIPAddress: "127.0.0.1" },
    responseElements: {
      "x-amz-request-id": "C3D13FE58DE4C810",
      "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
    },
    s3: {
      s3SchemaVersion: "1.0",
      configurationId: "uploads",
      bucket: { name: "mybucket", ownerIdentity: { principalId: "A3NL1KOZZKExample" }, arn: "arn:aws:s3:::mybucket" },
      object: {
        key: index % 2 ? `logs/2024/05/01/app+server%3A${index}.json.gz` : `logs/2024/05/01/part-0000${index}.json.gz`,
        size: 1024 * (index + 1),
        eTag: "d41d8cd98f00b204e9800998ecf8427e",
        sequencer: `0055AED6DCD90281E${index}`,
      },
    },
  })),
});

const events = await importSubject<typeof import("../src/events.ts")>("../src/events.ts");
const handWritten = (body: string) =>
  JSON.parse(body).Records.map((record: any) => ({
    bucket: record.s3.bucket.name,
    key: decodeURIComponent(record.s3.object.key.replace(/\+/g, " ")),
    size: record.s3.object.size,
    etag: record.s3.object.eTag,
  }));

check(handWritten(message).length == RECORDS, "hand-written glue: 10 records");
const contenders: Contender[] = [
  { name: "JSON.parse alone", run: () => JSON.parse(message) },
  { name: "JSON.parse + hand-written glue", run: () => handWritten(message) },
];
if (events) {
  const parsed = events.parseS3Events(message);
  check(parsed.length == RECORDS, "s3-edge: 10 events");
  check(parsed[1].key == "logs/2024/05/01/app server:1.json.gz", `s3-edge decodes keys, got ${parsed[1].key}`);
  contenders.unshift({ name: "s3-edge", run: () => events.parseS3Events(message) });
}
await runBench(
  "events",
  [
    // The parser should cost little beyond JSON.parse itself: at least 0.7 of its rate.
    { name: `parse ${RECORDS}-record message`, contenders, targets: { "JSON.parse alone": 0.7 } },
  ],
  { rounds: 15, sliceMs: 150, warmupMs: 300, meta: { messageBytes: message.length, records: RECORDS } },
);

if (process.env.S3_TEST_ENDPOINT && events) await latency();
else
  console.log(
    "\nlatency: set S3_TEST_ENDPOINT (source /tmp/shared-rgw.env, or scripts/rgw.sh up) to measure push vs poll",
  );

async function latency() {
  const { S3Client } = await import("../src/client.ts");
  const { newFileTrigger } = await import("../src/trigger.ts");
  const { pushReceiver, rgwNotifications } = await import("../test/support/rgw-notifications.ts");
  const { uniqueBucket } = await import("../test/support/s3server.ts");
  const env = process.env;
  const credentials = { accessKeyId: env.S3_TEST_ACCESS_KEY_ID!, secretAccessKey: env.S3_TEST_SECRET_ACCESS_KEY! };
  const endpoint = env.S3_TEST_ENDPOINT!,
    region = env.S3_TEST_REGION || "us-east-1";
  const client = new S3Client({ endpoint, region, credentials, forcePathStyle: true });
  const bucket = uniqueBucket("bench-events");
  await client.createBucket({ bucket });
  const receiver = await pushReceiver();
  const notifications = rgwNotifications({ endpoint, region, credentials });
  const topic = await notifications.createTopic(bucket, receiver.url);
  await notifications.notifyTopic(bucket, topic);

  const uploads = 12,
    started = new Map<string, number>(),
    pushedAt = new Map<string, number>(),
    polledAt = new Map<string, number>();
  const controller = new AbortController();
  const trigger = newFileTrigger(client, { bucket, folder: "in" });
  const first = await trigger.poll();
  const watching = (async () => {
    for await (const event of trigger.watch({ intervalMs: 1_000, state: first.state, signal: controller.signal }))
      polledAt.set(event.key, performance.now());
  })();
  for (let index = 0; index < uploads; index++) {
    // Uploads at random moments of the poll cycle.
    await new Promise((resolve) => setTimeout(resolve, 150 + Math.random() * 1_100));
    const key = `in/file-${index}.txt`;
    started.set(key, performance.now());
    await client.putObject({ bucket, key, body: "x".repeat(1000) });
  }
  const deadline = performance.now() + 10_000;
  while ((polledAt.size < uploads || receiver.bodies.length < uploads) && performance.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 50));
  controller.abort();
  await watching;
  // The receiver noted each body's arrival time; what it announces is read afterwards.
  receiver.bodies.forEach((body, index) => {
    for (const event of events!.parseS3Events(body)) pushedAt.set(event.key, receiver.arrivals[index]);
  });
  await notifications.deleteTopic(topic).catch(() => {});
  await receiver.close();

  const stats = (arrived: Map<string, number>) => {
    const delays = [...started]
      .filter(([key]) => arrived.has(key))
      .map(([key, at]) => arrived.get(key)! - at)
      .sort((a, b) => a - b);
    const quantile = (fraction: number) => delays[Math.min(delays.length - 1, Math.floor(fraction * delays.length))];
    return { received: delays.length, median: quantile(0.5), p90: quantile(0.9), max: delays.at(-1)! };
  };
  const push = stats(pushedAt),
    poll = stats(polledAt);
  const cell = (ms: number) => ms.toFixed(1).padStart(8);
  const row = (name: string, latency: typeof push) =>
    `${name.padEnd(24)} ${String(latency.received).padStart(4)}/${uploads}  ` +
    `${cell(latency.median)}  ${cell(latency.p90)}  ${cell(latency.max)}`;
  console.log(`\n# latency from upload start to event (ms), ${uploads} uploads at random moments, one run`);
  console.log(`${"source".padEnd(24)} received    median       p90       max`);
  console.log(row("RGW push (HTTP)", push));
  console.log(row("watch() poll, 1 s", poll));
  console.log(`push is ${(poll.median / push.median).toFixed(1)}× faster at the median`);
}
