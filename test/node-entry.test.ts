// The Node entry of "s3-edge" (src/index.node.ts, package.json's "node" condition): an S3Client
// made without a `fetch` option sends through nodeFetch; an explicit `fetch` still wins. Observed
// on the wire: only nodeFetch can send a key with a ".." segment as written (fetch's URL parser
// collapses it, so the client refuses such a key on any other transport), and only nodeFetch
// leaves out the user-agent header undici adds.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as edge from "../src/index.ts";
import * as onNode from "../src/index.node.ts";
import { recordingServer, type RecordingServer } from "./support/http-servers.ts";
import { readAll } from "./support/util.ts";

let server: RecordingServer;
before(async () => {
  server = await recordingServer();
  server.handler = (_request, response) =>
    response
      .writeHead(200, { "content-length": "2", etag: '"e"', "last-modified": new Date().toUTCString() })
      .end("ok");
});
after(() => server.close());

const options = () => ({
  endpoint: server.url,
  region: "us-east-1",
  forcePathStyle: true,
  credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
});

describe("s3-edge on Node", () => {
  test("exports the same names as the edge entry", () => {
    assert.deepEqual(Object.keys(onNode).sort(), Object.keys(edge).sort());
    for (const name of Object.keys(edge))
      if (name != "S3Client" && name != "sqsS3Events") assert.equal((onNode as any)[name], (edge as any)[name], name);
  });

  test("an S3Client without a fetch option (or with fetch: undefined) sends through nodeFetch", async () => {
    for (const client of [new onNode.S3Client(options()), new onNode.S3Client({ ...options(), fetch: undefined })]) {
      const object = await client.getObject({ bucket: "b", key: "a/../k" });
      assert.equal(new TextDecoder().decode(await readAll(object.body)), "ok");
      assert.equal(server.seen.at(-1)!.url.split("?")[0], "/b/a/../k", "the path as written: nodeFetch");
      assert.equal(server.seen.at(-1)!.headers["user-agent"], undefined, "no undici user-agent");
    }
  });

  test("an explicit fetch option wins", async () => {
    const client = new onNode.S3Client({ ...options(), fetch: globalThis.fetch });
    await assert.rejects(client.getObject({ bucket: "b", key: "a/../k" }), edge.InputError);
    await (await client.getObject({ bucket: "b", key: "plain" })).body.cancel();
    assert.ok(server.seen.at(-1)!.headers["user-agent"], "global fetch (undici) sends a user-agent");
  });

  test("sqsS3Events without a fetch option sends through nodeFetch; an explicit fetch wins", async () => {
    server.handler = (_request, response) =>
      response
        .writeHead(400, { "content-type": "application/x-amz-json-1.0" })
        .end(JSON.stringify({ __type: "com.amazonaws.sqs#QueueDoesNotExist", message: "no such queue" }));
    const sqsOptions = {
      queueUrl: "https://sqs.us-east-1.amazonaws.com/123456789012/uploads",
      endpoint: server.url,
      region: "us-east-1",
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
      maxAttempts: 1,
    };
    for (const [fetchOption, userAgentSent] of [
      [{}, false],
      [{ fetch: undefined }, false],
      [{ fetch: globalThis.fetch }, true],
    ] as const) {
      const batches = onNode.sqsS3Events({ ...sqsOptions, ...fetchOption });
      await assert.rejects(batches.next(), /QueueDoesNotExist|no such queue/);
      assert.equal(server.seen.at(-1)!.headers["x-amz-target"], "AmazonSQS.ReceiveMessage");
      assert.equal(server.seen.at(-1)!.headers["user-agent"] != null, userAgentSent, JSON.stringify(fetchOption));
    }
  });

  test("instanceof: a Node client is an instance of both S3Client classes; the edge class is its parent", () => {
    const client = new onNode.S3Client(options());
    assert.ok(client instanceof onNode.S3Client);
    assert.ok(client instanceof edge.S3Client);
    assert.equal(Object.getPrototypeOf(onNode.S3Client), edge.S3Client);
    assert.equal(onNode.S3Client.name, "S3Client");
  });
});
