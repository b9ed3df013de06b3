// The S3 client against a real, SigV4-verifying S3 server: a throwaway Ceph RADOS Gateway
// (or S3_TEST_ENDPOINT). Keys are the ones that broke other libraries.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { S3Client } from "../src/client.ts";
import { downloadFile } from "../src/download.ts";
import { InputError, S3Error } from "../src/errors.ts";
import { SigV4Signer, type Credentials } from "../src/sigv4.ts";
import { parseXml, child, childText } from "../src/xml.ts";
import { s3TestServer, uniqueBucket, type S3TestServer } from "./support/s3server.ts";

const KEYS = [
  "plain.txt",
  "with space.txt",
  "plus+sign",
  "percent%sign",
  "percent%25encoded",
  "caf\u00e9", // NFC
  "cafe\u0301", // NFD: same word, a distinct key
  "emoji-😀🎉",
  `xml&<>"'chars`,
  "question?hash#",
  "semi;comma,equals=",
  "tilde~",
  "dir/a",
  "dir/b",
  "dir/sub/c",
  "double//slash",
  "trailing/",
  "*()!$@[]{}^|`\\",
  "00123",
  "k".repeat(690) + "-long-key",
];
const DOT_KEYS = ["a/../b", "./x", "a/./b", ".."];

const utf8Sort = (a: string[]) => [...a].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));

let srv: S3TestServer,
  c: S3Client,
  bucket: string,
  requests = 0;

before(async () => {
  srv = await s3TestServer();
  const counting = ((u: string, i: RequestInit) => (requests++, fetch(u, i))) as typeof fetch;
  c = new S3Client({ endpoint: srv.endpoint, region: srv.region, credentials: srv, fetch: counting });
  bucket = uniqueBucket("client");
  await c.createBucket({ bucket });
  await Promise.all(
    KEYS.map((key) => c.putObject({ bucket, key, body: "body of " + key, contentType: "text/plain; charset=utf-8" })),
  );
});

after(async () => {
  await srv?.stop();
});

describe("client on Ceph RGW", () => {
  test("every key round-trips: get returns the body put under that exact key", async () => {
    for (const key of KEYS) {
      const r = await c.getObject({ bucket, key });
      assert.equal(await new Response(r.body).text(), "body of " + key, key);
      assert.equal(r.size, Buffer.byteLength("body of " + key));
    }
  });

  test("listAll with maxKeys 2 pages through every key, exact and in UTF-8 order", async () => {
    const before = requests,
      got: string[] = [];
    for await (const o of c.listAll({ bucket, maxKeys: 2 })) {
      got.push(o.key);
      assert.equal(typeof o.size, "number");
      assert.ok(o.lastModified instanceof Date && !isNaN(+o.lastModified));
      assert.match(o.etag, /^[0-9a-f]{32}$/);
    }
    assert.deepEqual(got, utf8Sort(KEYS));
    assert.equal(requests - before, Math.ceil(KEYS.length / 2));
    assert.ok(got.includes("caf\u00e9") && got.includes("cafe\u0301"), "NFC and NFD are distinct keys");
  });

  test("etag and size match the content", async () => {
    const { contents } = await c.listObjectsV2({ bucket, prefix: "plain" });
    assert.equal(contents.length, 1);
    assert.equal(contents[0].etag, createHash("md5").update("body of plain.txt").digest("hex"));
    assert.equal(contents[0].size, 17);
  });

  test("delimiter and common prefixes", async () => {
    const top = await c.listObjectsV2({ bucket, delimiter: "/" });
    assert.deepEqual(top.commonPrefixes, ["dir/", "double/", "trailing/"]);
    assert.deepEqual(
      top.contents.map((o) => o.key),
      utf8Sort(KEYS.filter((k) => !k.includes("/"))),
    );
    assert.equal(top.delimiter, "/");
    const dir = await c.listObjectsV2({ bucket, prefix: "dir/", delimiter: "/" });
    assert.deepEqual(
      dir.contents.map((o) => o.key),
      ["dir/a", "dir/b"],
    );
    assert.deepEqual(dir.commonPrefixes, ["dir/sub/"]);
    assert.equal(dir.prefix, "dir/");
    assert.ok(dir.date instanceof Date && Math.abs(+dir.date - Date.now()) < 600_000, "server Date returned");
  });

  test("startAfter", async () => {
    const r = await c.listObjectsV2({ bucket, prefix: "dir/", startAfter: "dir/a" });
    assert.deepEqual(
      r.contents.map((o) => o.key),
      ["dir/b", "dir/sub/c"],
    );
    const all = await c.listObjectsV2({ bucket, startAfter: "tilde~" });
    assert.deepEqual(
      all.contents.map((o) => o.key),
      utf8Sort(KEYS).filter((k) => Buffer.compare(Buffer.from(k), Buffer.from("tilde~")) > 0),
    );
  });

  test("encodingType url gives the same keys and prefixes", async () => {
    const plain = await c.listObjectsV2({ bucket, delimiter: "/" });
    const enc = await c.listObjectsV2({ bucket, delimiter: "/", encodingType: "url" });
    assert.deepEqual(
      enc.contents.map((o) => o.key),
      plain.contents.map((o) => o.key),
    );
    assert.deepEqual(enc.commonPrefixes, plain.commonPrefixes);
    const got: string[] = [];
    for await (const o of c.listAll({ bucket, encodingType: "url", maxKeys: 3 })) got.push(o.key);
    assert.deepEqual(got, utf8Sort(KEYS));
  });

  test('encodingType url on RGW: prefix "a%" (echoed unencoded), keys with CR, LF, TAB, % exact', async () => {
    // RGW echoes Prefix, Delimiter and StartAfter unencoded even with EncodingType url, and XML
    // turns a raw CR into LF: only the encoded fields are decoded, so both come back exact.
    const b = uniqueBucket("enc");
    await c.createBucket({ bucket: b });
    const keys = ["a%", "a%b", "a%25", "cr\rkey", "lf\nkey", "crlf\r\nkey", "tab\tkey", "plus+ key"].map(
      (k) => "enc/" + k,
    );
    await Promise.all(keys.map((key) => c.putObject({ bucket: b, key, body: "x" })));
    const percent = await c.listObjectsV2({ bucket: b, prefix: "enc/a%", encodingType: "url" });
    assert.equal(percent.prefix, "enc/a%");
    assert.deepEqual(
      percent.contents.map((o) => o.key),
      ["enc/a%", "enc/a%25", "enc/a%b"],
    );
    const got: string[] = [];
    for await (const o of c.listAll({ bucket: b, prefix: "enc/", encodingType: "url", maxKeys: 2 })) got.push(o.key);
    assert.deepEqual(got, utf8Sort(keys));
    const grouped = await c.listObjectsV2({ bucket: b, prefix: "enc/", delimiter: "%", encodingType: "url" });
    assert.equal(grouped.delimiter, "%");
    assert.deepEqual(grouped.commonPrefixes, ["enc/a%"]);
    assert.deepEqual(
      grouped.contents.map((o) => o.key),
      utf8Sort(keys.filter((k) => !k.includes("%"))),
    );
    const after = await c.listObjectsV2({ bucket: b, prefix: "enc/", startAfter: "enc/a%b", encodingType: "url" });
    assert.equal(after.startAfter, "enc/a%b");
    assert.deepEqual(
      after.contents.map((o) => o.key),
      utf8Sort(keys).filter((k) => Buffer.compare(Buffer.from(k), Buffer.from("enc/a%b")) > 0),
    );
  });

  test("bucket names: a name that could change the URL is refused before any request, path style or not", async () => {
    const n = requests;
    for (const name of [bucket + "/..", bucket + "?x", "127.0.0.1:1/#", bucket + " x"]) {
      await assert.rejects(
        c.listObjectsV2({ bucket: name }),
        (e: InputError) => e instanceof InputError && e.field == "bucket",
      );
      await assert.rejects(
        new S3Client({ endpoint: srv.endpoint, credentials: srv, forcePathStyle: false }).getObject({
          bucket: name,
          key: "k",
        }),
        InputError,
      );
    }
    assert.equal(requests, n);
  });

  test("'.' and '..' segments: a clear InputError before any request", async () => {
    const n = requests;
    for (const key of DOT_KEYS) {
      await assert.rejects(
        c.putObject({ bucket, key, body: "x" }),
        (e: InputError) => e instanceof InputError && e.field == "key",
      );
      await assert.rejects(c.getObject({ bucket, key }), InputError);
    }
    assert.equal(requests, n);
  });

  test("range and conditionals (304, 412)", async () => {
    const key = "with space.txt";
    const r = await c.getObject({ bucket, key, range: "bytes=0-3" });
    assert.equal(r.status, 206);
    assert.equal(await new Response(r.body).text(), "body");
    assert.deepEqual(r.contentRange, { start: 0, end: 3, size: 22 });
    assert.equal(r.size, 22);
    assert.equal(r.contentLength, 4);

    const etag = r.etag;
    assert.match(etag, /^[0-9a-f]{32}$/);
    const nm = await c.getObject({ bucket, key, ifNoneMatch: etag }).catch((e) => e);
    assert.ok(nm instanceof S3Error, String(nm));
    assert.equal(nm.code, "NotModified");
    assert.equal(nm.status, 304);
    const pf = await c.getObject({ bucket, key, ifMatch: "0123456789abcdef0123456789abcdef" }).catch((e) => e);
    assert.equal(pf.code, "PreconditionFailed");
    assert.equal(pf.status, 412);
    assert.match(pf.message, /If-Match/);
    const ok = await c.getObject({ bucket, key, ifMatch: `"${etag}"` });
    assert.equal(await new Response(ok.body).text(), "body of " + key);
    const past = new Date(Date.now() - 86400_000),
      future = new Date(Date.now() + 86400_000);
    assert.equal((await c.getObject({ bucket, key, ifModifiedSince: future }).catch((e) => e)).code, "NotModified");
    assert.equal(
      (await c.getObject({ bucket, key, ifUnmodifiedSince: past }).catch((e) => e)).code,
      "PreconditionFailed",
    );
    const m = await c.getObject({ bucket, key, ifModifiedSince: past });
    await m.body.cancel();
    assert.equal(m.status, 200);
  });

  test("headObject: size, etag, content type, user metadata", async () => {
    const key = "meta/ünïcode key+1.bin";
    const body = new Uint8Array([0, 1, 2, 255, 254, 10, 13]);
    const put = await c.putObject({
      bucket,
      key,
      body,
      contentType: "application/x-test",
      metadata: { Color: "blue", "a-b": "x y" },
      cacheControl: "max-age=60",
    });
    assert.equal(put.etag, createHash("md5").update(body).digest("hex"));
    const h = await c.headObject({ bucket, key });
    assert.equal(h.size, 7);
    assert.equal(h.etag, put.etag);
    assert.equal(h.contentType, "application/x-test");
    assert.equal(h.cacheControl, "max-age=60");
    assert.deepEqual(h.metadata, { color: "blue", "a-b": "x y" });
    assert.ok(h.lastModified instanceof Date && Math.abs(+h.lastModified - Date.now()) < 600_000);
    const g = await c.getObject({
      bucket,
      key,
      responseContentType: "image/x-override",
      responseContentDisposition: 'attachment; filename="x.bin"',
    });
    assert.deepEqual(new Uint8Array(await new Response(g.body).arrayBuffer()), body);
    assert.equal(g.contentType, "image/x-override");
    assert.equal(g.contentDisposition, 'attachment; filename="x.bin"');
    await c.deleteObject({ bucket, key });
    assert.equal((await c.headObject({ bucket, key }).catch((e) => e)).code, "NoSuchKey");
  });

  test("presigned GET works with plain fetch, for awkward keys too", async () => {
    for (const key of [
      "with space.txt",
      "plus+sign",
      "caf\u00e9",
      "emoji-😀🎉",
      `xml&<>"'chars`,
      "question?hash#",
      "double//slash",
    ]) {
      const url = await c.presignGetObject({ bucket, key, expiresIn: 300 });
      const r = await fetch(url);
      assert.equal(r.status, 200, `${key}: ${await r.clone().text()}`);
      assert.equal(await r.text(), "body of " + key);
    }
    const url = await c.presignGetObject({
      bucket,
      key: "plain.txt",
      expiresIn: 60,
      responseContentDisposition: "attachment",
    });
    const r = await fetch(url);
    assert.equal(r.headers.get("content-disposition"), "attachment");
    await r.body?.cancel();
  });

  test("wrong secret: SignatureDoesNotMatch with our canonical request (and the server's if sent)", async () => {
    const bad = new S3Client({
      endpoint: srv.endpoint,
      region: srv.region,
      credentials: { accessKeyId: srv.accessKeyId, secretAccessKey: "wrong-secret-key-0000" },
    });
    const e = await bad.getObject({ bucket, key: "with space.txt" }).catch((e) => e);
    assert.ok(e instanceof S3Error, String(e));
    assert.equal(e.code, "SignatureDoesNotMatch");
    assert.equal(e.status, 403);
    assert.match(e.canonicalRequest!, /^GET\n\/[^\n]*\/with%20space.txt\n/);
    assert.match(e.stringToSign!, /^AWS4-HMAC-SHA256\n/);
    if (e.serverCanonicalRequest) {
      // Same canonical request, different key: the message says so.
      assert.equal(e.serverCanonicalRequest, e.canonicalRequest);
      assert.match(e.message, /none: the secret key/);
    } else assert.match(e.message, /sent no canonical request/);
    assert.ok(!e.message.includes("wrong-secret-key") && !e.message.includes(srv.secretAccessKey));
  });

  test("SSE-C: an object written with a customer key reads back only with that key", async () => {
    const b = uniqueBucket("ssec");
    await c.createBucket({ bucket: b });
    const key = createHash("sha256").update("s3-edge test key").digest();
    const ssec = {
      sseCustomerAlgorithm: "AES256" as const,
      sseCustomerKey: key.toString("base64"),
      sseCustomerKeyMD5: createHash("md5").update(key).digest("base64"),
    };
    const body = new Uint8Array(100_000).map((_, i) => (i * 31) & 255);
    await c.putObject({ bucket: b, key: "secret.bin", body, ...ssec });
    // Without the key the server refuses; the message never shows the key.
    const e = await c.getObject({ bucket: b, key: "secret.bin" }).catch((e) => e);
    assert.ok(e instanceof S3Error && e.status == 400, String(e));
    const got = await c.getObject({ bucket: b, key: "secret.bin", ...ssec });
    assert.deepEqual(new Uint8Array(await new Response(got.body).arrayBuffer()), body);
    assert.equal((await c.headObject({ bucket: b, key: "secret.bin", ...ssec })).size, body.length);
    const d = await downloadFile(c, { bucket: b, key: "secret.bin", range: "bytes=10-19", ...ssec });
    assert.deepEqual(new Uint8Array(await new Response(d.body).arrayBuffer()), body.subarray(10, 20));
    const wrong = await c
      .headObject({
        bucket: b,
        key: "secret.bin",
        ...ssec,
        sseCustomerKey: Buffer.alloc(32, 1).toString("base64"),
        sseCustomerKeyMD5: createHash("md5").update(Buffer.alloc(32, 1)).digest("base64"),
      })
      .catch((e) => e);
    assert.ok(wrong instanceof S3Error && wrong.status >= 400, String(wrong));
    assert.ok(!String(wrong.message).includes(ssec.sseCustomerKey));
    await c.deleteObject({ bucket: b, key: "secret.bin" });
  });

  test("missing key and bucket: NoSuchKey / NoSuchBucket with the exact-names hint", async () => {
    const e = await c.getObject({ bucket, key: "Plain.txt" }).catch((e) => e);
    assert.ok(e instanceof S3Error, String(e));
    assert.equal(e.code, "NoSuchKey");
    assert.equal(e.status, 404);
    assert.match(e.message, /key "Plain.txt"/);
    assert.match(e.message, /case-sensitive/);
    assert.ok(e.requestId, "request id");
    const h = await c.headObject({ bucket, key: "cafe" }).catch((e) => e);
    assert.equal(h.code, "NoSuchKey");
    const b = await c.listObjectsV2({ bucket: bucket + "-missing" }).catch((e) => e);
    assert.equal(b.code, "NoSuchBucket");
    assert.match(b.message, /case-sensitive/);
  });

  test("session token (STS AssumeRole): header, provider and presigned; refused without the token", async (t) => {
    if (!srv.roleArn) return t.skip("no S3_TEST_ROLE_ARN: this S3 server has no role to assume via STS");
    const tmp = await assumeRole(srv, srv.roleArn);
    assert.notEqual(tmp.accessKeyId, srv.accessKeyId);
    const sent: Headers[] = [];
    const spy = ((u: string, i: RequestInit) => (sent.push(new Headers(i.headers)), fetch(u, i))) as typeof fetch;
    const sc = new S3Client({
      endpoint: srv.endpoint,
      region: srv.region,
      forcePathStyle: true,
      credentials: tmp,
      fetch: spy,
    });
    const key = "sts/ünï key+1.bin";
    const body = new Uint8Array([0, 1, 2, 255, 254, 10, 13, 37, 43]);
    const put = await sc.putObject({ bucket, key, body, contentType: "application/x-sts" });
    assert.equal(put.etag, createHash("md5").update(body).digest("hex"));
    // The token went out as a header AND was part of the signature (unsigned, it proves nothing).
    const h = sent[0];
    assert.equal(h.get("x-amz-security-token"), tmp.sessionToken);
    assert.match(h.get("authorization")!, /SignedHeaders=[^,]*\bx-amz-security-token\b/);
    assert.deepEqual(
      (await sc.listObjectsV2({ bucket, prefix: "sts/" })).contents.map((o) => o.key),
      [key],
    );
    const g = await sc.getObject({ bucket, key });
    assert.deepEqual(new Uint8Array(await new Response(g.body).arrayBuffer()), body);
    const hd = await sc.headObject({ bucket, key });
    assert.equal(hd.size, body.length);
    assert.equal(hd.etag, put.etag);
    assert.equal(hd.contentType, "application/x-sts");

    // Presigned: the token rides in the query, encoded so that its "+" and "/" survive.
    const url = await sc.presignGetObject({ bucket, key, expiresIn: 120 });
    assert.equal(new URL(url).searchParams.get("X-Amz-Security-Token"), tmp.sessionToken);
    assert.match(url, /[?&]X-Amz-Security-Token=[^&]+/);
    const r = await fetch(url);
    assert.equal(r.status, 200, await r.clone().text());
    assert.deepEqual(new Uint8Array(await r.arrayBuffer()), body);

    // The provider form, called before every request.
    let calls = 0;
    const pc = new S3Client({
      endpoint: srv.endpoint,
      region: srv.region,
      forcePathStyle: true,
      credentials: async () => (calls++, { ...tmp }),
    });
    await pc.putObject({ bucket, key: "sts/provider", body: "via provider" });
    assert.equal(await new Response((await pc.getObject({ bucket, key: "sts/provider" })).body).text(), "via provider");
    const pr = await fetch(await pc.presignGetObject({ bucket, key: "sts/provider", expiresIn: 60 }));
    assert.equal(await pr.text(), "via provider");
    assert.equal(calls, 3);

    // The same temporary keys without the token are not a valid identity: header and presigned.
    const bare = new S3Client({
      endpoint: srv.endpoint,
      region: srv.region,
      forcePathStyle: true,
      credentials: { accessKeyId: tmp.accessKeyId, secretAccessKey: tmp.secretAccessKey },
    });
    const e = await bare.getObject({ bucket, key }).catch((e) => e);
    assert.ok(e instanceof S3Error, String(e));
    assert.equal(e.status, 403, e.message);
    assert.ok(!e.message.includes(tmp.secretAccessKey) && !e.message.includes(tmp.sessionToken!));
    const bp = await fetch(await bare.presignGetObject({ bucket, key, expiresIn: 60 }));
    assert.equal(bp.status, 403);
    await bp.body?.cancel();
    // A token that is not the one issued with these keys: refused too (RGW decrypts and checks it).
    const wrong = new S3Client({
      endpoint: srv.endpoint,
      region: srv.region,
      forcePathStyle: true,
      credentials: { ...tmp, sessionToken: (await assumeRole(srv, srv.roleArn)).sessionToken },
    });
    assert.equal((await wrong.headObject({ bucket, key }).catch((e) => e)).status, 403);

    await sc.deleteObject({ bucket, key });
    await pc.deleteObject({ bucket, key: "sts/provider" });
  });
});

/** Temporary credentials from STS AssumeRole on the test server, signed with our own signer. */
async function assumeRole(s: S3TestServer, roleArn: string): Promise<Credentials> {
  const url = s.endpoint + "/";
  const body =
    `Action=AssumeRole&RoleArn=${encodeURIComponent(roleArn)}` +
    "&RoleSessionName=s3edge-test&Version=2011-06-15&DurationSeconds=900";
  const signer = new SigV4Signer({
    accessKeyId: s.accessKeyId,
    secretAccessKey: s.secretAccessKey,
    region: s.region,
    service: "sts",
  });
  const { host, ...headers } = (
    await signer.sign({ method: "POST", url, headers: { "content-type": "application/x-www-form-urlencoded" }, body })
  ).headers;
  const res = await fetch(url, { method: "POST", headers, body });
  const text = await res.text();
  assert.equal(res.status, 200, `AssumeRole: HTTP ${res.status} ${text.slice(0, 300)}`);
  const cr = child(child(parseXml(text), "AssumeRoleResult")!, "Credentials")!;
  const [accessKeyId, secretAccessKey, sessionToken] = ["AccessKeyId", "SecretAccessKey", "SessionToken"].map((n) =>
    childText(cr, n)!,
  );
  assert.ok(accessKeyId && secretAccessKey && sessionToken, "AssumeRole returned no credentials");
  return { accessKeyId, secretAccessKey, sessionToken };
}
