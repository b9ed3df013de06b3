// The SQS consumer against fauxqs (a third-party SQS emulator speaking the AWS JSON 1.0 protocol;
// it verifies no signatures, so this proves the protocol, not the signing), then against a tiny
// scripted fault server for what a real queue will not do on demand: throttling, 5xx, broken
// answers, partial batch deletes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { buildApp } from "fauxqs";
import { sqsS3Events, SqsError, type SqsBatch, type SqsS3EventsOptions } from "../src/sqs.ts";
import { InputError, isTransient } from "../src/errors.ts";
import { repoRoot } from "./support/util.ts";

const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" };
/** The options that point sqsS3Events at a queue of the local fauxqs. */
const onFauxqs = (queueUrl: string) => ({ queueUrl, endpoint, region: "us-east-1", credentials });
const fixtureMessage = (file: string) =>
  JSON.stringify(JSON.parse(readFileSync(join(repoRoot, "fixtures/events", file), "utf8")).message);

let fauxqs: ReturnType<typeof buildApp>, endpoint: string;
let queueCount = 0;

before(async () => {
  // Queue URLs in AWS's form (sqs.<region>.localhost), which do not resolve here: the consumer is
  // pointed at the listening address with `endpoint`, as an SDK is.
  fauxqs = buildApp({ logger: false, host: "localhost" });
  endpoint = await fauxqs.listen({ port: 0, host: "127.0.0.1" });
});

after(async () => {
  await fauxqs?.close();
});

/** An unsigned call to fauxqs (it does not check signatures) for the test's own setup. */
async function sqs(action: string, body: object) {
  const response = await fetch(endpoint + "/", {
    method: "POST",
    headers: { "content-type": "application/x-amz-json-1.0", "x-amz-target": "AmazonSQS." + action },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(`${action}: ${JSON.stringify(answer)}`);
  return answer as Record<string, any>;
}

async function newQueue(attributes: Record<string, string> = {}) {
  const { QueueUrl } = await sqs("CreateQueue", {
    QueueName: `q${++queueCount}-${Date.now()}`,
    Attributes: attributes,
  });
  return QueueUrl as string;
}

const send = (queueUrl: string, body: string) => sqs("SendMessage", { QueueUrl: queueUrl, MessageBody: body });
const visibleCount = async (queueUrl: string) =>
  +(await sqs("GetQueueAttributes", { QueueUrl: queueUrl, AttributeNames: ["All"] })).Attributes
    .ApproximateNumberOfMessages;

/** The first batch, then the iteration is ended (the generator's return runs). */
async function firstBatch(options: SqsS3EventsOptions): Promise<SqsBatch> {
  for await (const batch of sqsS3Events(options)) return batch;
  throw new Error("the iteration ended without a batch");
}

test("fauxqs: AWS, SNS-wrapped and R2 notifications parsed, a bad body reported, ack() empties the queue", async () => {
  const queueUrl = await newQueue();
  assert.match(queueUrl, /^http:\/\/sqs\.us-east-1\.localhost:\d+\//);
  await send(queueUrl, fixtureMessage("aws-put.json"));
  await send(queueUrl, fixtureMessage("sns-envelope.json"));
  await send(queueUrl, fixtureMessage("aws-test-event.json"));
  await send(queueUrl, "this is not a notification");
  await send(queueUrl, fixtureMessage("r2-copy-object.json"));

  const requests: { url: string; headers: Headers; body: any }[] = [];
  const recording: typeof fetch = async (url, init) => {
    requests.push({ url: String(url), headers: new Headers(init!.headers), body: JSON.parse(String(init!.body)) });
    return fetch(url, init);
  };
  const batch = await firstBatch({
    ...onFauxqs(queueUrl),
    fetch: recording,
    waitTimeSeconds: 1,
  });
  assert.deepEqual(batch.events.map((event) => event.key).sort(), [
    "HappyFace.jpg",
    "my-new-object",
    "photos/red flower+1 % ü:.jpg",
  ]);
  assert.equal(batch.messages.length, 5);
  assert.ok(batch.messages.every((message) => message.receiveCount == 1 && message.messageId));
  assert.equal(batch.skipped.length, 1);
  assert.equal(batch.skipped[0].body, "this is not a notification");
  assert.ok(batch.skipped[0].error instanceof InputError);
  assert.match(batch.skipped[0].error.message, /expected JSON/);

  // The protocol: AWS JSON 1.0 to the endpoint's root, the action in X-Amz-Target, SigV4 for "sqs".
  const receive = requests[0];
  assert.equal(receive.url, endpoint + "/");
  assert.equal(receive.headers.get("x-amz-target"), "AmazonSQS.ReceiveMessage");
  assert.equal(receive.headers.get("content-type"), "application/x-amz-json-1.0");
  assert.match(
    receive.headers.get("authorization")!,
    /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/us-east-1\/sqs\/aws4_request, SignedHeaders=[^,]*x-amz-target/,
  );
  assert.deepEqual(receive.body, {
    QueueUrl: queueUrl,
    MaxNumberOfMessages: 10,
    WaitTimeSeconds: 1,
    MessageSystemAttributeNames: ["ApproximateReceiveCount"],
  });

  assert.equal(await visibleCount(queueUrl), 0, "received messages are in flight");
  await batch.ack();
  await batch.ack(); // a second ack does nothing
  const deletes = requests.filter((request) => request.headers.get("x-amz-target") == "AmazonSQS.DeleteMessageBatch");
  assert.equal(deletes.length, 1);
  assert.equal(deletes[0].body.Entries.length, 5, "exactly the batch's messages, the skipped one included");
  const after = await sqs("GetQueueAttributes", { QueueUrl: queueUrl, AttributeNames: ["All"] });
  assert.equal(
    +after.Attributes.ApproximateNumberOfMessages + +after.Attributes.ApproximateNumberOfMessagesNotVisible,
    0,
  );
});

test("a batch not acked comes again after the visibility timeout, with its receive count", async () => {
  const queueUrl = await newQueue();
  await send(queueUrl, fixtureMessage("aws-put.json"));
  const options = { queueUrl, endpoint, region: "us-east-1", credentials, waitTimeSeconds: 2, visibilityTimeout: 1 };
  const first = await firstBatch(options);
  assert.deepEqual(
    first.events.map((event) => event.key),
    ["HappyFace.jpg"],
  );
  // The consumer "crashed" before ack(): the same message is delivered again.
  const again = await firstBatch(options);
  assert.deepEqual(again.events, first.events);
  assert.equal(again.messages[0].messageId, first.messages[0].messageId);
  assert.equal(again.messages[0].receiveCount, 2);
  await again.ack();
  assert.equal(await visibleCount(queueUrl), 0);
});

test("long polling delivers a message sent during the wait; abort ends a waiting iteration at once", async () => {
  const queueUrl = await newQueue();
  const controller = new AbortController();
  const started = performance.now();
  setTimeout(() => send(queueUrl, fixtureMessage("aws-put.json")), 300);
  const batches: SqsBatch[] = [];
  const consuming = (async () => {
    for await (const batch of sqsS3Events({
      ...onFauxqs(queueUrl),
      signal: controller.signal,
    })) {
      batches.push(batch);
      await batch.ack();
    }
  })();
  while (!batches.length && performance.now() - started < 5_000)
    await new Promise((resolve) => setTimeout(resolve, 20));
  const latency = performance.now() - started;
  assert.equal(batches.length, 1);
  assert.ok(latency < 2_000, `delivered ${latency.toFixed(0)} ms after the receive began, within one 20 s long poll`);
  // Now the consumer sits in a 20 s long poll: abort must end it at once, without an error.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const abortAt = performance.now();
  controller.abort();
  await consuming;
  assert.ok(performance.now() - abortAt < 1_000, "the iteration ended promptly on abort");
});

test("a queue that does not exist is an SqsError that is not transient, thrown at once", async () => {
  let attempts = 0;
  const counting: typeof fetch = (url, init) => (attempts++, fetch(url, init));
  const queueUrl = "http://sqs.us-east-1.localhost:1/000000000000/no-such-queue";
  await assert.rejects(
    firstBatch({ queueUrl, endpoint, region: "us-east-1", credentials, fetch: counting, waitTimeSeconds: 0 }),
    (error: unknown) => {
      assert.ok(error instanceof SqsError);
      assert.equal(error.code, "QueueDoesNotExist");
      assert.equal(error.status, 400);
      assert.match(error.message, /QueueDoesNotExist \(HTTP 400\) on SQS ReceiveMessage/);
      assert.equal(isTransient(error), false);
      return true;
    },
  );
  assert.equal(attempts, 1);
});

test("bad options are InputErrors naming the option", () => {
  const base = { queueUrl: "https://sqs.us-east-1.amazonaws.com/1/q", region: "us-east-1", credentials };
  const cases: [Partial<SqsS3EventsOptions>, string][] = [
    [{ queueUrl: "sqs.us-east-1.amazonaws.com/1/q" }, "queueUrl"],
    [{ queueUrl: undefined as any }, "queueUrl"],
    [{ region: "US East" }, "region"],
    [{ waitTimeSeconds: 21 }, "waitTimeSeconds"],
    [{ maxMessages: 0 }, "maxMessages"],
    [{ maxMessages: 11 }, "maxMessages"],
    [{ visibilityTimeout: -1 }, "visibilityTimeout"],
    [{ endpoint: "ftp://x" }, "endpoint"],
  ];
  for (const [change, field] of cases)
    assert.throws(
      () => sqsS3Events({ ...base, ...change }),
      (error: unknown) => error instanceof InputError && error.field == field,
      field,
    );
});

// ---------------------------------------------------------------------------------------------
// A scripted SQS for faults: each request is answered by the next script entry for its action.

type Reply = { status: number; body: string; headers?: Record<string, string> };
interface FaultServer {
  endpoint: string;
  requests: { action: string; body: any }[];
  close(): Promise<void>;
}

async function faultServer(script: Record<string, (Reply | ((body: any) => Reply))[]>): Promise<FaultServer> {
  const requests: { action: string; body: any }[] = [];
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let text = "";
    request.on("data", (chunk) => (text += chunk));
    request.on("end", () => {
      const action = String(request.headers["x-amz-target"]).replace("AmazonSQS.", "");
      const body = JSON.parse(text);
      requests.push({ action, body });
      const next = script[action]?.shift() ?? { status: 200, body: "{}" };
      const reply = typeof next == "function" ? next(body) : next;
      response.writeHead(reply.status, { "content-type": "application/x-amz-json-1.0", ...reply.headers });
      response.end(reply.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const ok = (body: object): Reply => ({ status: 200, body: JSON.stringify(body) });
const throttled: Reply = {
  status: 400,
  body: JSON.stringify({ __type: "com.amazonaws.sqs#ThrottlingException", message: "Rate exceeded" }),
};
const unavailable: Reply = {
  status: 503,
  body: JSON.stringify({ __type: "com.amazonaws.sqs#ServiceUnavailable", message: "try later" }),
};
const oneMessage = ok({
  Messages: [{ MessageId: "m1", ReceiptHandle: "rh-1", MD5OfBody: "x", Body: fixtureMessage("aws-put.json") }],
});

test("throttling and 5xx retried by the request path; past its budget onError sees them, polling goes on", async () => {
  const server = await faultServer({
    // Attempts 1-3 of the first receive fail (the budget), then 1 more: the consumer pauses and goes on.
    ReceiveMessage: [throttled, unavailable, throttled, unavailable, oneMessage],
    DeleteMessageBatch: [unavailable, ok({ Successful: [{ Id: "0" }], Failed: [] })],
  });
  const errors: unknown[] = [];
  try {
    const batch = await firstBatch({
      queueUrl: server.endpoint + "/1/q",
      region: "us-east-1",
      credentials,
      retryBaseMs: 1,
      onError: (error) => errors.push(error),
    });
    assert.deepEqual(
      batch.events.map((event) => event.key),
      ["HappyFace.jpg"],
    );
    assert.equal(errors.length, 1, "one failure past the retry budget");
    assert.ok(errors[0] instanceof SqsError && errors[0].code == "ThrottlingException" && errors[0].status == 400);
    assert.deepEqual(server.requests.map((request) => request.action).slice(0, 5), Array(5).fill("ReceiveMessage"));
    await batch.ack(); // a 503 first: retried
    const deletes = server.requests.filter((request) => request.action == "DeleteMessageBatch");
    assert.equal(deletes.length, 2);
    assert.deepEqual(deletes[1].body.Entries, [{ Id: "0", ReceiptHandle: "rh-1" }]);
  } finally {
    await server.close();
  }
});

test("a broken ReceiveMessage answer is a transient InvalidResponse, not a crash", async () => {
  const server = await faultServer({
    ReceiveMessage: [
      { status: 200, body: "<html>proxy error</html>" },
      ok({ Messages: [{ MessageId: "m1" }] }), // no ReceiptHandle, no Body
      oneMessage,
    ],
  });
  const errors: unknown[] = [];
  try {
    const batch = await firstBatch({
      queueUrl: server.endpoint + "/1/q",
      region: "us-east-1",
      credentials,
      onError: (error) => errors.push(error),
    });
    assert.equal(batch.events.length, 1);
    assert.equal(errors.length, 2);
    for (const error of errors) {
      assert.ok(error instanceof SqsError && error.code == "InvalidResponse", String(error));
      assert.equal(isTransient(error), true);
    }
  } finally {
    await server.close();
  }
});

test("DeleteMessageBatch: server-failed entries sent again; an entry failed by our fault is an SqsError", async () => {
  const failedEntry = (code: string, senderFault: boolean) =>
    ok({ Successful: [{ Id: "1" }], Failed: [{ Id: "0", Code: code, Message: "m", SenderFault: senderFault }] });
  const twoMessages = ok({
    Messages: ["rh-a", "rh-b"].map((handle, index) => ({
      MessageId: "m" + index,
      ReceiptHandle: handle,
      Body: fixtureMessage("aws-put.json"),
    })),
  });
  const server = await faultServer({
    ReceiveMessage: [twoMessages, twoMessages],
    DeleteMessageBatch: [
      failedEntry("InternalError", false),
      ok({ Successful: [{ Id: "0" }], Failed: [] }),
      failedEntry("ReceiptHandleIsInvalid", true),
    ],
  });
  try {
    const options = { queueUrl: server.endpoint + "/1/q", region: "us-east-1", credentials };
    await (await firstBatch(options)).ack();
    const deletes = server.requests.filter((request) => request.action == "DeleteMessageBatch");
    assert.deepEqual(deletes[1].body.Entries, [{ Id: "0", ReceiptHandle: "rh-a" }], "only the failed entry again");
    await assert.rejects((await firstBatch(options)).ack(), (error: unknown) => {
      assert.ok(error instanceof SqsError);
      assert.equal(error.code, "ReceiptHandleIsInvalid");
      assert.match(error.message, /1 of 2 messages not deleted .*delivered again/);
      return true;
    });
  } finally {
    await server.close();
  }
});

test("credentials from a provider are asked per request: rotated keys sign the next request", async () => {
  const server = await faultServer({ ReceiveMessage: [oneMessage] });
  let asked = 0;
  const authorizations: string[] = [];
  const recording: typeof fetch = (url, init) => (
    authorizations.push(new Headers(init!.headers).get("authorization")!),
    fetch(url, init)
  );
  try {
    const batch = await firstBatch({
      queueUrl: server.endpoint + "/1/q",
      region: "eu-west-1",
      fetch: recording,
      credentials: async () => (
        asked++,
        { ...credentials, accessKeyId: asked > 1 ? "ROTATED" : "FIRST", sessionToken: "token" }
      ),
    });
    await batch.ack();
    assert.equal(asked, 2);
    assert.match(authorizations[0], /Credential=FIRST\/\d{8}\/eu-west-1\/sqs\/aws4_request/);
    assert.match(authorizations[1], /Credential=ROTATED\//);
  } finally {
    await server.close();
  }
});

test("a consumer that stops (abort) still acks the batch in its hands", async () => {
  const queueUrl = await newQueue();
  await send(queueUrl, fixtureMessage("aws-put.json"));
  const controller = new AbortController();
  let held: SqsBatch | undefined;
  for await (const batch of sqsS3Events({
    ...onFauxqs(queueUrl),
    signal: controller.signal,
  })) {
    held = batch;
    controller.abort(); // shutdown requested while handling
  }
  await held!.ack();
  const after = await sqs("GetQueueAttributes", { QueueUrl: queueUrl, AttributeNames: ["All"] });
  assert.equal(
    +after.Attributes.ApproximateNumberOfMessages + +after.Attributes.ApproximateNumberOfMessagesNotVisible,
    0,
  );
});
