// parseS3Events against real-shaped notifications (fixtures/events: AWS's, R2's and MinIO's
// documented messages, and bodies Ceph RGW 16 pushed here), then the rules that make key
// decoding hard, then bad input: every malformed message is an InputError, never a crash.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseS3Events, parseS3Notification, type S3Notification } from "../src/events.ts";
import { InputError } from "../src/errors.ts";
import { repoRoot, seededRandom } from "./support/util.ts";

interface Fixture {
  source: string;
  message: unknown;
  expected: { created: any[]; removed: any[] };
}
const FIXTURES = join(repoRoot, "fixtures/events");
const fixtures = readdirSync(FIXTURES)
  .filter((file) => file.endsWith(".json"))
  .map((file) => ({ file, ...(JSON.parse(readFileSync(join(FIXTURES, file), "utf8")) as Fixture) }));
const fixture = (file: string) => fixtures.find((f) => f.file == file)!;

/** Dates as ISO strings, and the derived fields checked separately, so a fixture states only facts. */
function comparable(result: S3Notification) {
  for (const event of result.created) {
    assert.equal(event.name, event.key.slice(event.key.lastIndexOf("/") + 1), `name of ${JSON.stringify(event.key)}`);
    assert.equal(+event.lastModified, +event.eventTime!, "a pushed event's lastModified is its eventTime");
  }
  return {
    created: result.created.map(({ name, lastModified, eventTime, ...rest }) => ({
      ...rest,
      eventTime: eventTime!.toISOString(),
    })),
    removed: result.removed.map(({ eventTime, ...rest }) => ({ ...rest, eventTime: eventTime.toISOString() })),
  };
}

const reorder = (events: any[]) =>
  events.map(({ bucket, key, size, etag, eventName, eventTime, sequencer, versionId }) =>
    Object.fromEntries(
      Object.entries({ bucket, key, size, etag, eventName, eventTime, sequencer, versionId }).filter(
        ([, v]) => v !== undefined,
      ),
    ),
  );

test("every fixture (AWS, SNS, Lambda, EventBridge, R2, MinIO, Ceph RGW 16) parses to its documented objects", () => {
  assert.ok(fixtures.length >= 15, `fixtures found: ${fixtures.length}`);
  for (const { file, message, expected } of fixtures) {
    const fromObject = comparable(parseS3Notification(message as object));
    assert.deepEqual({ created: reorder(fromObject.created), removed: reorder(fromObject.removed) }, expected, file);
    // The raw string (an SQS body, a webhook request body) gives the same.
    assert.deepEqual(comparable(parseS3Notification(JSON.stringify(message))), fromObject, `${file} as a string`);
    assert.deepEqual(parseS3Events(message as object), parseS3Notification(message as object).created, file);
  }
});

test("AWS keys are form-decoded once: 'a+b%2Bc.txt' is 'a b+c.txt', '%2520' is '%20', never ' '", () => {
  const message = (key: string, eventSource = "aws:s3") => ({
    Records: [
      {
        eventSource,
        eventName: "ObjectCreated:Put",
        eventTime: "2024-05-01T10:00:00.000Z",
        s3: { bucket: { name: "b" }, object: { key, size: 1, eTag: "e" } },
      },
    ],
  });
  const keyOf = (key: string, eventSource?: string) => parseS3Events(message(key, eventSource))[0].key;
  assert.equal(keyOf("a+b%2Bc.txt"), "a b+c.txt");
  assert.equal(keyOf("a%2520b"), "a%20b");
  assert.equal(keyOf("dir%2Fsub/%E2%82%AC%0D%0A"), "dir/sub/€\r\n");
  // MinIO encodes the same way (Go's url.QueryEscape).
  assert.equal(keyOf("photos%2Fa+b%2B.jpg", "minio:s3"), "photos/a b+.jpg");
  // Ceph RGW sends keys raw: nothing is decoded, even what looks encoded.
  assert.equal(keyOf("dir/a b+c%20d.txt", "ceph:s3"), "dir/a b+c%20d.txt");
  assert.equal(keyOf("a+b%2Bc.txt", "ceph:s3"), "a+b%2Bc.txt");
  // Through an SNS envelope inside an SQS body: the key is still decoded exactly once.
  const envelope = JSON.stringify({ Type: "Notification", Message: JSON.stringify(message("a%2520b")) });
  assert.equal(parseS3Events({ MessageId: "m", ReceiptHandle: "r", Body: envelope })[0].key, "a%20b");
});

test("EventBridge and R2 keys are raw: '+' and '%' stay", () => {
  const eventBridge = structuredClone(fixture("eventbridge-object-created.json").message) as any;
  eventBridge.detail.object.key = "dir/a+b%2Bc d.txt";
  assert.equal(parseS3Events(eventBridge)[0].key, "dir/a+b%2Bc d.txt");
  const r2 = structuredClone(fixture("r2-copy-object.json").message) as any;
  r2.object.key = "dir/a+b%2Bc d.txt";
  assert.equal(parseS3Events(r2)[0].key, "dir/a+b%2Bc d.txt");
});

test("TestEvents, removals and other event types are no new files; removals come separately", () => {
  const record = (eventName: string) => ({
    eventSource: "aws:s3",
    eventName,
    eventTime: "2024-05-01T10:00:00.000Z",
    s3: { bucket: { name: "b" }, object: { key: eventName.replace(/:/g, "-"), size: 1, eTag: "e", sequencer: "0A" } },
  });
  const names = [
    "ObjectCreated:Put",
    "ObjectCreated:CompleteMultipartUpload",
    "ObjectRemoved:Delete",
    "ObjectRemoved:DeleteMarkerCreated",
    "LifecycleExpiration:Delete",
    "LifecycleExpiration:DeleteMarkerCreated",
    "ObjectRestore:Completed",
    "ObjectTagging:Put",
    "ObjectAcl:Put",
    "LifecycleTransition",
    "s3:ObjectAccessed:Get",
    "s3:ObjectCreated:Copy",
    "s3:ObjectRemoved:Delete",
  ];
  const result = parseS3Notification({ Records: names.map(record) });
  assert.deepEqual(
    result.created.map((e) => e.eventName),
    ["ObjectCreated:Put", "ObjectCreated:CompleteMultipartUpload", "ObjectCreated:Copy"],
  );
  assert.deepEqual(
    result.removed.map((e) => e.eventName),
    [
      "ObjectRemoved:Delete",
      "ObjectRemoved:DeleteMarkerCreated",
      "LifecycleExpiration:Delete",
      "LifecycleExpiration:DeleteMarkerCreated",
      "ObjectRemoved:Delete",
    ],
  );
  assert.deepEqual(parseS3Events(fixture("aws-test-event.json").message as object), []);
  // Ceph's ObjectCreated:Post for Initiate Multipart Upload: no ETag, no object yet.
  const initiate = structuredClone(fixture("ceph-rgw16-put.json").message) as any;
  Object.assign(initiate.Records[0], { eventName: "ObjectCreated:Post" });
  Object.assign(initiate.Records[0].s3.object, { size: 0, eTag: "" });
  assert.deepEqual(parseS3Events(initiate), []);
  const r2 = { ...(fixture("r2-copy-object.json").message as object), action: "SomeFutureAction" };
  assert.deepEqual(parseS3Notification(r2), { created: [], removed: [] });
});

test("envelopes: Lambda's SNS event, an SQS message as ReceiveMessage returns it, an array of messages", () => {
  const s3Message = fixture("aws-put.json").message;
  const lambdaSns = {
    Records: [{ EventSource: "aws:sns", Sns: { Type: "Notification", Message: JSON.stringify(s3Message) } }],
  };
  assert.equal(parseS3Events(lambdaSns)[0].key, "HappyFace.jpg");
  const sqsMessage = { MessageId: "1", ReceiptHandle: "h", MD5OfBody: "x", Body: JSON.stringify(s3Message) };
  assert.equal(parseS3Events(sqsMessage)[0].key, "HappyFace.jpg");
  const batch = [fixture("r2-copy-object.json").message, fixture("aws-put.json").message];
  assert.deepEqual(
    parseS3Events(batch).map((e) => e.key),
    ["my-new-object", "HappyFace.jpg"],
  );
});

test("sizes as decimal strings (Ceph's documented example), quoted ETags, microsecond times", () => {
  const message = {
    Records: [
      {
        eventSource: "ceph:s3",
        eventName: "ObjectCreated:Put",
        eventTime: "2019-11-22T13:47:35.124724Z",
        s3: {
          bucket: { name: "mybucket1" },
          object: { key: "myimage1.jpg", size: "1024", eTag: '"37b51d194a7513e45b56f6524f2d51f2"', versionId: "" },
        },
      },
    ],
  };
  const [event] = parseS3Events(message);
  assert.equal(event.size, 1024);
  assert.equal(event.etag, "37b51d194a7513e45b56f6524f2d51f2");
  assert.equal(event.eventTime!.toISOString(), "2019-11-22T13:47:35.124Z");
  assert.equal("versionId" in event, false, "an empty versionId is absent");
});

test("event times: every fraction length, offsets, day 29-31 through Date; impossible times are errors", () => {
  const timeOf = (eventTime: string) =>
    parseS3Events({
      Records: [
        {
          eventSource: "aws:s3",
          eventName: "ObjectCreated:Put",
          eventTime,
          s3: { bucket: { name: "b" }, object: { key: "k", size: 1, eTag: "e" } },
        },
      ],
    })[0].eventTime!.toISOString();
  const cases: [string, string][] = [
    ["2024-05-01T10:00:00Z", "2024-05-01T10:00:00.000Z"],
    ["2024-05-01T10:00:00.1Z", "2024-05-01T10:00:00.100Z"],
    ["2024-05-01T10:00:00.12Z", "2024-05-01T10:00:00.120Z"],
    ["2024-05-01T10:00:00.123456789Z", "2024-05-01T10:00:00.123Z"],
    ["2024-02-29T23:59:59.999999Z", "2024-02-29T23:59:59.999Z"],
    ["2024-05-31T00:00:00Z", "2024-05-31T00:00:00.000Z"],
    ["2024-05-01T10:00:00.5+02:00", "2024-05-01T08:00:00.500Z"],
  ];
  for (const [eventTime, iso] of cases) assert.equal(timeOf(eventTime), iso, eventTime);
  for (const eventTime of [
    "2024-13-01T00:00:00Z",
    "2024-05-01T24:30:00Z",
    "2024-05-01T10:00:00.Z",
    "2024-05-01T10:00:00.1a3Z",
    "2024-05-01T10:00:60Z",
  ])
    assert.throws(() => timeOf(eventTime), /event time must be an ISO-8601 date-time/, eventTime);
});

test("bad input is an InputError that says what was expected", () => {
  const record = (object: unknown, extra: object = {}) => ({
    Records: [
      {
        eventSource: "aws:s3",
        eventName: "ObjectCreated:Put",
        eventTime: "2024-05-01T10:00:00Z",
        s3: { bucket: { name: "b" }, object },
        ...extra,
      },
    ],
  });
  const cases: [unknown, RegExp][] = [
    ["not json {", /expected JSON/],
    ["", /expected JSON/],
    [42, /expected a JSON object, got 42/],
    [null, /expected a JSON object, got null/],
    ["null", /expected a JSON object/],
    [{ hello: "world" }, /expected an S3 event notification .*got \{"hello":"world"\}/],
    [{ Records: [null] }, /Records\[0\]: expected an object/],
    [{ Records: [{ eventName: "ObjectCreated:Put" }] }, /Records\[0\]: expected an S3 record with s3.object/],
    [record({ size: 1, eTag: "e" }), /s3.object.key must be a non-empty string, got undefined/],
    [record({ key: "", size: 1, eTag: "e" }), /s3.object.key must be a non-empty string/],
    [record({ key: 7, size: 1, eTag: "e" }), /s3.object.key must be a non-empty string, got 7/],
    [record({ key: "k", size: "ten", eTag: "e" }), /size must be a byte count, got "ten"/],
    [record({ key: "k", size: -1, eTag: "e" }), /size must be a byte count/],
    [record({ key: "k", size: 1 }), /eTag must be a string/],
    [record({ key: "a%zz", size: 1, eTag: "e" }), /bad %-escape/],
    [record({ key: "k", size: 1, eTag: "e" }, { eventTime: "yesterday" }), /event time must be an ISO-8601/],
    [record({ key: "k", size: 1, eTag: "e" }, { eventName: 5 }), /eventName must be a string/],
    [
      {
        Records: [
          {
            eventSource: "aws:s3",
            eventName: "ObjectCreated:Put",
            eventTime: "2024-05-01T10:00:00Z",
            s3: { object: { key: "k", size: 1, eTag: "e" } },
          },
        ],
      },
      /bucket name must be a non-empty string/,
    ],
    [
      { Type: "SubscriptionConfirmation", SubscribeURL: "https://sns/confirm" },
      /SubscriptionConfirmation.*SubscribeURL/,
    ],
    [
      { source: "aws.s3", "detail-type": "Object Created", detail: { bucket: { name: "b" }, object: {} } },
      /detail.object.key must be/,
    ],
    [
      { action: "PutObject", bucket: "b", object: { key: "k", eTag: "e" }, eventTime: "2024-05-24T19:36:44.379Z" },
      /size must be a byte count, got undefined/,
    ],
    [{ Records: [{ eventSource: "aws:sqs", body: "{broken" }] }, /expected JSON/],
  ];
  for (const [input, pattern] of cases)
    assert.throws(
      () => parseS3Events(input as object),
      (error: unknown) => {
        assert.ok(error instanceof InputError, `${JSON.stringify(input)}: ${error}`);
        assert.match(error.message, pattern, JSON.stringify(input));
        assert.match(error.message, /^parseS3Events: /);
        assert.equal(error.field, "message");
        return true;
      },
    );
});

test("envelopes nested without end are refused, not recursed into", () => {
  let message: unknown = fixture("aws-put.json").message;
  for (let depth = 0; depth < 8; depth++) message = { Type: "Notification", Message: JSON.stringify(message) };
  assert.throws(() => parseS3Events(message as object), /nested more than 4 deep/);
});

test("seeded mutations of every fixture: a result or an InputError, never another exception", () => {
  const seed = 20_241_111;
  const random = seededRandom(seed);
  const junk = [null, 0, -1, 1.5, "", "x", "%", "+", [], {}, true, "2024-99-99", "1e3", { key: "k" }];
  // Every path to a value inside the message (strings inside are parsed as JSON when they are).
  const paths = (value: unknown, prefix: (string | number)[] = []): (string | number)[][] =>
    typeof value == "object" && value !== null
      ? [
          prefix,
          ...Object.entries(value).flatMap(([name, child]) =>
            paths(child, [...prefix, Array.isArray(value) ? +name : name]),
          ),
        ]
      : [prefix];
  let results = 0,
    errors = 0;
  for (const { file, message } of fixtures)
    for (let round = 0; round < 200; round++) {
      const mutated = structuredClone(message) as any;
      const all = paths(mutated).filter((path) => path.length);
      const path = all[random.int(all.length)];
      const parent = path.slice(0, -1).reduce((node: any, name) => node[name], mutated);
      if (random.random() < 0.3) delete parent[path.at(-1)!];
      else parent[path.at(-1)!] = junk[random.int(junk.length)];
      try {
        parseS3Notification(mutated);
        results++;
      } catch (error) {
        if (!(error instanceof InputError))
          assert.fail(`seed ${seed}, ${file}, ${path.join(".")}: ${(error as Error).stack}`);
        errors++;
      }
    }
  assert.ok(results > 100 && errors > 100, `both outcomes happen (results ${results}, errors ${errors})`);
});
