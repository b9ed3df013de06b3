// Proves the test S3 server is real: it stores objects and it rejects bad SigV4 signatures.
// Signs with curl (--aws-sigv4) because the project's own signer is tested elsewhere.
import { execFile } from "node:child_process";
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { s3TestServer, uniqueBucket, type S3TestServer } from "./support/s3server.ts";

let srv: S3TestServer;
before(async () => {
  srv = await s3TestServer();
});
after(() => srv?.stop());

// The credentials go to curl on stdin (a --config file), never on the command line, so a failing
// command's message or `ps` never shows the secret.
function curl(path: string, options: { secret?: string; method?: string; body?: string; signed?: boolean } = {}) {
  const args = ["-sS", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}", "--config", "-"];
  if (options.method) args.push("-X", options.method);
  if (options.body !== undefined) args.push("--data-binary", options.body, "-H", "Content-Type: text/plain");
  const quote = (text: string) => '"' + text.replace(/[\\"]/g, "\\$&") + '"';
  const user = `${srv.accessKeyId}:${options.secret ?? srv.secretAccessKey}`;
  const config =
    options.signed === false
      ? ""
      : `aws-sigv4 = ${quote(`aws:amz:${srv.region}:s3`)}\nuser = ${quote(user)}\n` +
        // curl 7.88 hashes the payload but does not send the hash; S3 (RGW) then assumes UNSIGNED-PAYLOAD.
        `header = "x-amz-content-sha256: UNSIGNED-PAYLOAD"\n`;
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const child = execFile("curl", [...args, srv.endpoint + path], { encoding: "utf8" }, (error, out, errorOut) => {
      if (error)
        return reject(new Error(`curl ${options.method ?? "GET"} ${path} failed: ${errorOut.trim() || error.code}`));
      const statusAt = out.lastIndexOf("\n");
      resolve({ status: Number(out.slice(statusAt + 1)), body: out.slice(0, statusAt) });
    });
    child.stdin!.end(config);
  });
}

test("RGW stores and lists objects, and verifies SigV4", async () => {
  const bucket = uniqueBucket("smoke");
  assert.match(bucket, /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/);
  // Already percent-encoded the AWS way, query keys in sorted order: curl 7.88 signs the path and
  // query exactly as given, so anything else gets a (correct) SignatureDoesNotMatch from RGW.
  const key = "dir/hello%20world%2B1.txt";

  let response = await curl(`/${bucket}`, { method: "PUT" });
  assert.equal(response.status, 200, response.body);
  response = await curl(`/${bucket}/${key}`, { method: "PUT", body: "hi from s3-edge" });
  assert.equal(response.status, 200, response.body);

  response = await curl(`/${bucket}/${key}`);
  assert.equal(response.status, 200, response.body);
  assert.equal(response.body, "hi from s3-edge");

  response = await curl(`/${bucket}?list-type=2&prefix=dir%2F`);
  assert.equal(response.status, 200, response.body);
  assert.match(response.body, /<Key>dir\/hello world\+1\.txt<\/Key>/);
  assert.match(response.body, /<KeyCount>1<\/KeyCount>/);

  response = await curl(`/${bucket}/${key}`, { secret: srv.secretAccessKey + "x" });
  assert.equal(response.status, 403);
  assert.match(response.body, /<Code>SignatureDoesNotMatch<\/Code>/);

  response = await curl(`/${bucket}/${key}`, { signed: false });
  assert.equal(response.status, 403);
  assert.match(response.body, /<Code>AccessDenied<\/Code>/);

  response = await curl(`/${bucket}/no-such-key`);
  assert.equal(response.status, 404);
  assert.match(response.body, /<Code>NoSuchKey<\/Code>/);
});

test("uniqueBucket makes distinct DNS-valid names from any prefix", () => {
  const names = ["Smoke Test!", "", "xn--abc", "a".repeat(80), "--x--"].map(uniqueBucket);
  for (const n of names) assert.match(n, /^(?!xn--|sthree-)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, n);
  assert.notEqual(uniqueBucket("x"), uniqueBucket("x"));
});
