// The signer against a real SigV4-verifying server (Ceph RGW, or S3_TEST_ENDPOINT): header values
// are sent as the caller gave them and signed in canonical form, so the server accepts the
// signature and stores the value unchanged.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { S3Client } from "../src/client.ts";
import { s3TestServer, uniqueBucket } from "./support/s3server.ts";

let client: S3Client, bucket: string;

before(async () => {
  const server = await s3TestServer();
  client = new S3Client({ endpoint: server.endpoint, region: server.region, credentials: server });
  bucket = uniqueBucket("sigv4");
  await client.createBucket({ bucket });
});

test("metadata and Content-Disposition with runs of spaces are stored unchanged (signed collapsed)", async () => {
  const metadata = { spaced: "a  b", runs: "x   y    z" };
  const contentDisposition = 'attachment;  filename="two  spaces.txt"';
  await client.putObject({ bucket, key: "spaced", body: "body", metadata, contentDisposition });
  const head = await client.headObject({ bucket, key: "spaced" });
  assert.deepEqual(head.metadata, metadata);
  assert.equal(head.contentDisposition, contentDisposition);
});
