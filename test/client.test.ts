// Unit tests of the S3 client: the transport is a stubbed fetch (or the local fault server).
import { test, describe, mock } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { S3Client, type S3ClientOptions } from "../src/client.ts";
import { InputError, S3Error, NetworkError, TimeoutError } from "../src/errors.ts";
import { listObjectsV2Page } from "./support/listxml.ts";
import { seededRandom } from "./support/util.ts";
import { faultServer } from "./support/faultserver.ts";

const creds = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" };
const SECRET = creds.secretAccessKey;

type Reply =
  | { status?: number; headers?: Record<string, string>; body?: string | null; hang?: boolean }
  | Error
  | ((url: string, init: RequestInit) => Response | Promise<Response>);

interface Call {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: unknown;
}

/** A scripted fetch: replies in order (then 200 ""), records calls and which bodies were cancelled. */
function stub(...replies: Reply[]) {
  const calls: Call[] = [],
    cancelled: number[] = [],
    read: number[] = [];
  const fakeFetch = async (url: string, init: RequestInit = {}) => {
    const i = calls.length;
    calls.push({
      url,
      method: init.method ?? "GET",
      headers: { ...(init.headers as Record<string, string>) },
      body: init.body,
    });
    const r = replies.shift() ?? { status: 200, body: "" };
    if (r instanceof Error) throw r;
    if (typeof r == "function") return r(url, init);
    if (r.hang)
      return new Promise<Response>((_, no) => {
        const s = init.signal!;
        s.aborted ? no(s.reason) : s.addEventListener("abort", () => no(s.reason));
      });
    const body =
      r.body == null
        ? null
        : new ReadableStream<Uint8Array>(
            {
              pull(c) {
                read.push(i);
                c.enqueue(new TextEncoder().encode(r.body!));
                c.close();
              },
              cancel() {
                cancelled.push(i);
              },
            },
            { highWaterMark: 0 },
          );
    return new Response(body, { status: r.status ?? 200, headers: { date: new Date().toUTCString(), ...r.headers } });
  };
  return { fetch: fakeFetch as unknown as typeof fetch, calls, cancelled, read };
}

/** A client of a local endpoint on the given fetch, retrying without a wait worth the name. */
const clientWith = (fetch: typeof globalThis.fetch, options: Partial<S3ClientOptions> = {}) =>
  new S3Client({ endpoint: "http://127.0.0.1:9000", credentials: creds, fetch, retryBaseMs: 1, ...options });

const XML_DECLARATION = `<?xml version="1.0" encoding="UTF-8"?>`;
/** An S3 error document, with RequestId REQ123 and HostId HOST456. */
const errorXml = (code: string, message = "msg", extra = "") =>
  `${XML_DECLARATION}\n<Error><Code>${code}</Code><Message>${message}</Message>${extra}` +
  "<RequestId>REQ123</RequestId><HostId>HOST456</HostId></Error>";

/** A ListBucketResult of bucket "bkt": `extra` fields, then `inner` entries. */
const listXml = (inner: string, extra = "") =>
  `${XML_DECLARATION}<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bkt</Name>` +
  `${extra}${inner}</ListBucketResult>`;

/** One listing entry of 42 bytes, modified 2024-03-01T12:34:56Z. */
const contentsXml = (key: string, etag = '"abc"') =>
  `<Contents><Key>${key}</Key><LastModified>2024-03-01T12:34:56.000Z</LastModified><ETag>${etag}</ETag>` +
  "<Size>42</Size><StorageClass>STANDARD</StorageClass></Contents>";

/** The error `promise` rejects with, checked to be a `type`. */
async function rejects<E extends Error>(promise: Promise<unknown>, type: new (...args: any[]) => E): Promise<E> {
  try {
    await promise;
  } catch (error) {
    assert.ok(
      error instanceof type,
      `expected ${type.name}, got ${(error as Error)?.name}: ${(error as Error)?.message}`,
    );
    return error as E;
  }
  assert.fail(`expected ${type.name}, nothing was thrown`);
}

describe("addressing", () => {
  const urlOf = async (o: Partial<S3ClientOptions>, bucket: string, key = "a b/c.txt") => {
    const s = stub({ status: 200, body: "x" });
    await new S3Client({ credentials: creds, fetch: s.fetch, ...o }).getObject({ bucket, key });
    return s.calls[0];
  };

  test("AWS default: virtual-hosted, us-east-1", async () => {
    const c = await urlOf({}, "my-bucket");
    assert.equal(c.url, "https://my-bucket.s3.us-east-1.amazonaws.com/a%20b/c.txt");
    assert.match(c.headers.authorization, /Credential=AKIDEXAMPLE\/\d{8}\/us-east-1\/s3\/aws4_request/);
  });

  test("AWS with a region", async () => {
    assert.equal(
      (await urlOf({ region: "eu-west-3" }, "logs")).url,
      "https://logs.s3.eu-west-3.amazonaws.com/a%20b/c.txt",
    );
  });

  test("path style on AWS for dotted or non-DNS bucket names", async () => {
    assert.equal((await urlOf({}, "my.bucket")).url, "https://s3.us-east-1.amazonaws.com/my.bucket/a%20b/c.txt");
    assert.equal((await urlOf({}, "My_Bucket")).url, "https://s3.us-east-1.amazonaws.com/My_Bucket/a%20b/c.txt");
  });

  test("custom endpoints default to path style; R2 region auto", async () => {
    assert.equal(
      (await urlOf({ endpoint: "http://127.0.0.1:9000" }, "bkt")).url,
      "http://127.0.0.1:9000/bkt/a%20b/c.txt",
    );
    const r2 = await urlOf({ endpoint: "https://acct123.r2.cloudflarestorage.com", region: "auto" }, "bkt");
    assert.equal(r2.url, "https://acct123.r2.cloudflarestorage.com/bkt/a%20b/c.txt");
    assert.match(r2.headers.authorization, /\/auto\/s3\/aws4_request/);
  });

  test("forcePathStyle overrides either way; endpoint base path kept, default port dropped", async () => {
    assert.equal(
      (await urlOf({ forcePathStyle: true }, "bkt")).url,
      "https://s3.us-east-1.amazonaws.com/bkt/a%20b/c.txt",
    );
    assert.equal(
      (await urlOf({ endpoint: "https://r2.example.com", forcePathStyle: false }, "bkt")).url,
      "https://bkt.r2.example.com/a%20b/c.txt",
    );
    assert.equal(
      (await urlOf({ endpoint: "http://Gateway.local:80/s3/" }, "bkt")).url,
      "http://gateway.local/s3/bkt/a%20b/c.txt",
    );
  });

  test("the host header is not passed to fetch; signed headers are", async () => {
    const c = await urlOf({}, "bkt");
    assert.equal(c.headers.host, undefined);
    assert.match(c.headers["x-amz-date"], /^\d{8}T\d{6}Z$/);
    assert.equal(c.headers["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
  });

  test("bad endpoint, region, bucket and key are InputErrors naming the field", async () => {
    for (const endpoint of ["ftp://host", "not a url", "127.0.0.1:9000"]) {
      const e = assert.throws(() => new S3Client({ endpoint, credentials: creds }), InputError) as unknown;
      void e;
    }
    try {
      new S3Client({ endpoint: "ftp://x", credentials: creds });
    } catch (e) {
      assert.equal((e as InputError).field, "endpoint");
      assert.match((e as Error).message, /http\(s\) URL/);
    }
    assert.throws(
      () => new S3Client({ region: "US East", credentials: creds }),
      (e: InputError) => e.field == "region",
    );
    const s = stub();
    const c = clientWith(s.fetch);
    assert.equal((await rejects(c.getObject({ bucket: "", key: "k" }), InputError)).field, "bucket");
    assert.equal((await rejects(c.getObject({ bucket: "b", key: "" }), InputError)).field, "key");
    assert.equal(s.calls.length, 0);
  });

  test("'.' and '..' key segments: InputError unless the fetch declares rawPath", async () => {
    const s = stub();
    for (const key of ["a/../b", "./x", "a/.", "..", "x/./y"]) {
      const e = await rejects(clientWith(s.fetch).getObject({ bucket: "b", key }), InputError);
      assert.equal(e.field, "key");
      assert.match(e.message, /collapses/);
    }
    for (const key of ["a..b", ".hidden", "a/...", "..x/y."]) await clientWith(s.fetch).getObject({ bucket: "b", key });
    assert.equal(s.calls.length, 4);
    const raw = Object.assign(stub().fetch, { rawPath: true });
    await clientWith(raw).getObject({ bucket: "b", key: "a/../b" });
  });
});

describe("query and headers", () => {
  test("listObjectsV2 maps every parameter, RFC 3986 encoded", async () => {
    const s = stub({ status: 200, body: listXml("") });
    await clientWith(s.fetch).listObjectsV2({
      bucket: "bkt",
      prefix: "a b/ü+",
      delimiter: "/",
      continuationToken: "1/x+y=",
      startAfter: "k*'",
      maxKeys: 2,
      fetchOwner: true,
      encodingType: "url",
    });
    assert.equal(
      s.calls[0].url,
      "http://127.0.0.1:9000/bkt?list-type=2&prefix=a%20b%2F%C3%BC%2B&delimiter=%2F" +
        "&continuation-token=1%2Fx%2By%3D&start-after=k%2A%27&max-keys=2&fetch-owner=true&encoding-type=url",
    );
  });

  test("listObjectsV2 on a virtual-hosted bucket lists at /", async () => {
    const s = stub({ status: 200, body: listXml("") });
    await new S3Client({ credentials: creds, fetch: s.fetch }).listObjectsV2({ bucket: "bkt" });
    assert.equal(s.calls[0].url, "https://bkt.s3.us-east-1.amazonaws.com/?list-type=2");
  });

  test("getObject: a success without a body (204) gives an empty, readable stream", async () => {
    const r = await clientWith(stub({ status: 204, body: null }).fetch).getObject({ bucket: "b", key: "k" });
    assert.equal(r.status, 204);
    assert.equal(r.contentLength, 0);
    assert.deepEqual(await r.body.getReader().read(), { done: true, value: undefined });
  });

  test("getObject: query overrides, conditionals quoted, dates as HTTP dates, checksum mode", async () => {
    const s = stub({ status: 206, body: "x" });
    const d = new Date("2024-01-02T03:04:05Z");
    await clientWith(s.fetch).getObject({
      bucket: "b",
      key: "k",
      range: "bytes=0-9",
      ifMatch: "abc",
      ifNoneMatch: "*",
      ifModifiedSince: d,
      ifUnmodifiedSince: d,
      versionId: "v/1",
      partNumber: 2,
      checksumMode: true,
      responseContentType: "text/plain; charset=utf-8",
      responseContentDisposition: 'attachment; filename="a b"',
      responseExpires: d,
    });
    const c = s.calls[0];
    assert.equal(
      c.url,
      "http://127.0.0.1:9000/b/k?versionId=v%2F1&partNumber=2" +
        "&response-content-type=text%2Fplain%3B%20charset%3Dutf-8" +
        "&response-content-disposition=attachment%3B%20filename%3D%22a%20b%22" +
        "&response-expires=Tue%2C%2002%20Jan%202024%2003%3A04%3A05%20GMT",
    );
    assert.equal(c.headers.range, "bytes=0-9");
    assert.equal(c.headers["if-match"], '"abc"');
    assert.equal(c.headers["if-none-match"], "*");
    assert.equal(c.headers["if-modified-since"], "Tue, 02 Jan 2024 03:04:05 GMT");
    assert.equal(c.headers["if-unmodified-since"], "Tue, 02 Jan 2024 03:04:05 GMT");
    assert.equal(c.headers["x-amz-checksum-mode"], "ENABLED");
    // Already quoted ETags are sent as given.
    const s2 = stub({ status: 200, body: "" });
    await clientWith(s2.fetch).getObject({ bucket: "b", key: "k", ifMatch: '"q"' });
    assert.equal(s2.calls[0].headers["if-match"], '"q"');
  });

  test("keys are encoded once, every byte but A-Za-z0-9-._~ and /", async () => {
    const s = stub({ status: 200, body: "" });
    await clientWith(s.fetch).getObject({ bucket: "b", key: "a+b %25 ü/é?#&=;,~!'()*//end/" });
    assert.equal(
      s.calls[0].url,
      "http://127.0.0.1:9000/b/a%2Bb%20%2525%20%C3%BC/%C3%A9%3F%23%26%3D%3B%2C~%21%27%28%29%2A//end/",
    );
  });

  test("putObject signs the body hash and sends metadata", async () => {
    const s = stub({ status: 200, headers: { etag: '"e1"', "x-amz-version-id": "v9" }, body: "" });
    const r = await clientWith(s.fetch).putObject({
      bucket: "b",
      key: "k",
      body: "héllo",
      contentType: "text/plain",
      metadata: { Owner: "me", n: "1" },
    });
    assert.deepEqual(r, { etag: "e1", versionId: "v9" });
    const h = s.calls[0].headers;
    assert.equal(s.calls[0].method, "PUT");
    assert.equal(h["x-amz-content-sha256"], createHash("sha256").update("héllo").digest("hex"));
    assert.equal(h["content-type"], "text/plain");
    assert.equal(h["x-amz-meta-owner"], "me");
    assert.match(h.authorization, /SignedHeaders=[^,]*content-type;[^,]*x-amz-meta-owner/);
    const nonAscii = clientWith(s.fetch).putObject({ bucket: "b", key: "k", body: "", metadata: { x: "é" } });
    await rejects(nonAscii, InputError);
  });

  test("createBucket: PUT /bucket (or / on the bucket host)", async () => {
    const s = stub({ status: 200 }, { status: 200 });
    await clientWith(s.fetch).createBucket({ bucket: "nbk" });
    assert.equal(s.calls[0].url, "http://127.0.0.1:9000/nbk");
    assert.equal(s.calls[0].body, undefined);
    await new S3Client({ region: "eu-west-1", credentials: creds, fetch: s.fetch }).createBucket({ bucket: "nbk" });
    assert.equal(s.calls[1].url, "https://nbk.s3.eu-west-1.amazonaws.com/");
    assert.equal(s.calls[1].method, "PUT");
    assert.equal(
      s.calls[1].body,
      "<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>",
    );
  });

  test("presignGetObject: query signature with overrides, usable URL", async () => {
    const url = await clientWith(stub().fetch).presignGetObject({
      bucket: "b",
      key: "a b",
      expiresIn: 600,
      versionId: "v1",
      responseContentDisposition: "attachment",
    });
    const u = new URL(url);
    assert.equal(u.origin + u.pathname, "http://127.0.0.1:9000/b/a%20b");
    assert.equal(u.searchParams.get("X-Amz-Expires"), "600");
    assert.equal(u.searchParams.get("versionId"), "v1");
    assert.equal(u.searchParams.get("response-content-disposition"), "attachment");
    assert.match(u.searchParams.get("X-Amz-Signature")!, /^[0-9a-f]{64}$/);
    assert.ok(!url.includes(SECRET));
    await rejects(clientWith(stub().fetch).presignGetObject({ bucket: "b", key: "k", expiresIn: 0 }), InputError);
  });
});

describe("credentials", () => {
  test("an async provider is called per request; rotated keys and session token are used", async () => {
    let n = 0;
    const s = stub({ status: 200, body: "" }, { status: 200, body: "" });
    const c = clientWith(s.fetch, {
      credentials: async () => ({ accessKeyId: "AK" + ++n, secretAccessKey: "s" + n, sessionToken: "tok" + n }),
    });
    await c.headObject({ bucket: "b", key: "k" });
    await c.headObject({ bucket: "b", key: "k" });
    assert.equal(n, 2);
    assert.match(s.calls[0].headers.authorization, /Credential=AK1\//);
    assert.match(s.calls[1].headers.authorization, /Credential=AK2\//);
    assert.equal(s.calls[1].headers["x-amz-security-token"], "tok2");
  });
});

describe("responses", () => {
  test("listObjectsV2: typed objects, common prefixes, owner, server date", async () => {
    const date = "Wed, 01 May 2024 10:00:00 GMT";
    const body = listXml(
      contentsXml("00123", "&quot;d41d8cd98f00b204e9800998ecf8427e&quot;") +
        `<Contents><Key>a&amp;b</Key><LastModified>2024-03-01T00:00:00.000Z</LastModified><ETag>"x-2"</ETag>` +
        "<Size>5368709120</Size><Owner><ID>id1</ID><DisplayName>me</DisplayName></Owner></Contents>" +
        `<CommonPrefixes><Prefix>dir/</Prefix></CommonPrefixes>`,
      "<Prefix></Prefix><KeyCount>3</KeyCount><MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter>" +
        "<IsTruncated>true</IsTruncated><NextContinuationToken>t2</NextContinuationToken>",
    );
    const r = await clientWith(stub({ status: 200, headers: { date }, body }).fetch).listObjectsV2({ bucket: "bkt" });
    assert.equal(r.name, "bkt");
    assert.equal(r.contents[0].key, "00123");
    assert.equal(r.contents[0].etag, "d41d8cd98f00b204e9800998ecf8427e");
    assert.equal(r.contents[0].size, 42);
    assert.deepEqual(r.contents[0].lastModified, new Date("2024-03-01T12:34:56.000Z"));
    assert.equal(r.contents[1].key, "a&b");
    assert.equal(r.contents[1].size, 5368709120);
    assert.deepEqual(r.contents[1].owner, { id: "id1", displayName: "me" });
    assert.deepEqual(r.commonPrefixes, ["dir/"]);
    assert.equal(r.isTruncated, true);
    assert.equal(r.nextContinuationToken, "t2");
    assert.equal(r.keyCount, 3);
    assert.equal(r.maxKeys, 1000);
    assert.equal(r.delimiter, "/");
    assert.deepEqual(r.date, new Date(date));
  });

  test("a realistic 1000-key page parses with exact keys", async () => {
    const page = listObjectsV2Page({ count: 1000 });
    const r = await clientWith(stub({ status: 200, body: page.xml }).fetch).listObjectsV2({ bucket: "example-bucket" });
    assert.equal(r.contents.length, 1000);
    assert.deepEqual(
      r.contents.map((o) => o.key),
      page.objects.map((o) => o.key),
    );
    assert.deepEqual(
      r.contents.map((o) => o.size),
      page.objects.map((o) => o.size),
    );
  });

  test("encoding-type url: keys and prefixes decoded only when the response says so ('+' is a space)", async () => {
    const params = { bucket: "bkt", encodingType: "url", prefix: "p& q", startAfter: "s=", delimiter: "/" } as const;
    // AWS encodes the echoed Prefix, StartAfter and Delimiter too; RGW echoes them as sent.
    for (const echo of [
      "<Prefix>p%26+q</Prefix><StartAfter>s%3D</StartAfter><Delimiter>%2F</Delimiter>",
      "<Prefix>p&amp; q</Prefix><StartAfter>s=</StartAfter><Delimiter>/</Delimiter>",
    ]) {
      const enc = listXml(
        contentsXml("a+b%2Bc%25%C3%BC") + "<CommonPrefixes><Prefix>d+1%2F/</Prefix></CommonPrefixes>",
        "<EncodingType>url</EncodingType>" + echo,
      );
      const r = await clientWith(stub({ status: 200, body: enc }).fetch).listObjectsV2(params);
      assert.equal(r.contents[0].key, "a b+c%ü");
      assert.deepEqual(r.commonPrefixes, ["d 1//"]);
      assert.equal(r.prefix, "p& q");
      assert.equal(r.startAfter, "s=");
      assert.equal(r.delimiter, "/");
    }
    // RGW echoes a prefix with a bare "%" unencoded: not decoded, so no URIError.
    const percent = listXml(contentsXml("a%25"), "<EncodingType>url</EncodingType><Prefix>a%</Prefix>");
    const r2 = await clientWith(stub({ status: 200, body: percent }).fetch).listObjectsV2({ ...params, prefix: "a%" });
    assert.equal(r2.prefix, "a%");
    assert.equal(r2.contents[0].key, "a%");
    // A server that ignored the parameter: keys are literal.
    const raw = await clientWith(stub({ status: 200, body: listXml(contentsXml("a+b%2Bc")) }).fetch).listObjectsV2({
      bucket: "bkt",
      encodingType: "url",
    });
    assert.equal(raw.contents[0].key, "a+b%2Bc");
  });

  test("LastModified: read exactly as Date reads it, for every form and value (fast path or not)", async () => {
    // The client reads S3's usual form by hand; every value Date can read must come out as
    // new Date(value) does: month/day/time edges, leap days, other precisions, offsets. What Date
    // cannot read is an InvalidResponse naming the key and the field (next test).
    const r = seededRandom(7).random,
      p2 = (n: number) => String(n).padStart(2, "0");
    const values = [
      "2024-02-29T23:59:59.999Z",
      "2023-02-29T00:00:00.000Z",
      "2024-04-31T00:00:00.000Z",
      "2024-12-31T23:59:59.999Z",
      "2024-01-01T00:00:00.000Z",
      "2024-13-01T00:00:00.000Z",
      "2024-00-10T00:00:00.000Z",
      "2024-01-00T00:00:00.000Z",
      "2024-01-10T24:00:00.000Z",
      "2024-01-10T23:60:00.000Z",
      "2024-01-10T23:59:60.000Z",
      "0099-01-10T10:00:00.000Z",
      "2024-01-10T10:00:00Z",
      "2024-01-10T10:00:00.123456Z",
      "2024-01-10T10:00:00.000+02:00",
      "2024-01-1OT10:00:00.000Z",
      "2024/01/10T10:00:00.000Z",
      "2024-01-10 10:00:00.000Z",
      "Wed, 10 Jan 2024 10:00:00 GMT",
      "",
      "garbage",
      "1000-01-01T00:00:00.000Z",
      "9999-12-28T23:59:59.999Z",
      "1600-03-01T00:00:00.000Z",
      "1900-02-28T12:00:00.000Z",
      "1900-03-01T00:00:00.000Z",
      "2000-02-28T00:00:00.000Z",
      "2000-03-01T00:00:00.000Z",
      "2100-03-01T00:00:00.000Z",
      "1969-12-28T23:59:59.999Z",
      "1970-01-01T00:00:00.000Z",
    ];
    // Years around now, and any four-digit year (century and 400-year leap rules, March-based day counts).
    const below = (n: number) => Math.floor(r() * n);
    for (let i = 0; i < 400; i++) {
      const year = i & 1 ? 1000 + below(9000) : 1970 + below(100);
      const date = `${year}-${p2(1 + below(12))}-${p2(1 + below(31))}`;
      values.push(
        `${date}T${p2(below(24))}:${p2(below(60))}:${p2(below(60))}.${String(below(1000)).padStart(3, "0")}Z`,
      );
    }
    const readable = values.filter((value) => !isNaN(Date.parse(value)));
    assert.ok(readable.length > 400 && readable.length < values.length);
    const xml = listXml(
      readable
        .map(
          (v, i) =>
            `<Contents><Key>k${i}</Key><LastModified>${v}</LastModified><ETag>"e"</ETag><Size>1</Size></Contents>`,
        )
        .join(""),
    );
    const res = await clientWith(stub({ status: 200, body: xml }).fetch).listObjectsV2({ bucket: "bkt" });
    assert.equal(res.contents.length, readable.length);
    res.contents.forEach((o, i) => {
      assert.ok(o.lastModified instanceof Date);
      assert.equal(+o.lastModified, +new Date(readable[i]), `LastModified ${JSON.stringify(readable[i])}`);
    });
    for (const value of values.filter((value) => isNaN(Date.parse(value)))) {
      const entry =
        `<Contents><Key>k</Key><LastModified>${value}</LastModified>` + `<ETag>"e"</ETag><Size>1</Size></Contents>`;
      const e = await rejects(
        clientWith(stub({ status: 200, body: listXml(entry) }).fetch).listObjectsV2({ bucket: "bkt" }),
        S3Error,
      );
      assert.equal(e.code, "InvalidResponse", value);
      assert.equal(e.message, `listing "bkt": key "k" has an invalid LastModified ${JSON.stringify(value)}`);
    }
  });

  test("an entry without a Key, or with a bad LastModified or Size: InvalidResponse naming both", async () => {
    const entry = (key: string | null, lastModified: string | null, size: string | null) =>
      "<Contents>" +
      (key == null ? "" : `<Key>${key}</Key>`) +
      (lastModified == null ? "" : `<LastModified>${lastModified}</LastModified>`) +
      `<ETag>"e"</ETag>` +
      (size == null ? "" : `<Size>${size}</Size>`) +
      "</Contents>";
    const ok = "2024-03-01T12:34:56.000Z";
    for (const [contents, field, key, value] of [
      [entry("k1", "yesterday", "1"), "LastModified", "k1", "yesterday"],
      [entry("k2", null, "1"), "LastModified", "k2", ""],
      [entry("k3", ok, "1e3"), "Size", "k3", "1e3"],
      [entry("k4", ok, " 42"), "Size", "k4", " 42"],
      [entry("k5", ok, ""), "Size", "k5", ""],
      [entry("k6", ok, null), "Size", "k6", ""],
      [entry("k7", ok, "-1"), "Size", "k7", "-1"],
      [entry(null, ok, "1"), "Key", "", ""],
    ]) {
      const body = listXml(contentsXml("fine") + contents);
      const e = await rejects(clientWith(stub({ status: 200, body }).fetch).listObjectsV2({ bucket: "bkt" }), S3Error);
      assert.equal(e.code, "InvalidResponse");
      assert.equal(e.key, key);
      assert.equal(e.bucket, "bkt");
      assert.equal(
        e.message,
        `listing "bkt": key ${JSON.stringify(key)} has an invalid ${field} ${JSON.stringify(value)}`,
      );
    }
  });

  test("a malformed %-escape under EncodingType url: InvalidResponse, not a URIError", async () => {
    for (const [inner, field, key] of [
      [contentsXml("bad%E0%A4%A"), "Key", "bad%E0%A4%A"],
      [contentsXml("ok") + "<CommonPrefixes><Prefix>dir%zz/</Prefix></CommonPrefixes>", "CommonPrefix", "dir%zz/"],
    ]) {
      const body = listXml(inner, "<EncodingType>url</EncodingType>");
      const e = await rejects(
        clientWith(stub({ status: 200, body }).fetch).listObjectsV2({ bucket: "bkt", encodingType: "url" }),
        S3Error,
      );
      assert.equal(e.code, "InvalidResponse");
      assert.equal(e.key, key);
      assert.match(e.message, new RegExp(`has an invalid ${field} `));
    }
  });

  test("a 200 that is not a ListBucketResult is an error saying what came back", async () => {
    const e1 = await rejects(
      clientWith(
        stub({ status: 200, body: errorXml("InternalError", "We encountered an internal error") }).fetch,
      ).listObjectsV2({
        bucket: "b",
      }),
      S3Error,
    );
    assert.equal(e1.code, "InternalError");
    assert.equal(e1.requestId, "REQ123");
    const e2 = await rejects(
      clientWith(
        stub({ status: 200, body: "<html><body>Captive portal: please log in " + "x".repeat(300) + "</body></html>" })
          .fetch,
      ).listObjectsV2({ bucket: "b" }),
      S3Error,
    );
    assert.equal(e2.code, "InvalidResponse");
    assert.match(e2.message, /unexpected response body: <html><body>Captive portal/);
    assert.ok(e2.message.length < 300);
    const e3 = await rejects(clientWith(stub({ status: 200, body: "" }).fetch).listObjectsV2({ bucket: "b" }), S3Error);
    assert.equal(e3.code, "InvalidResponse");
    assert.match(e3.message, /no response body/);
    const e4 = await rejects(
      clientWith(stub({ status: 200, body: "<ListBucketResult><Name>b</Name>" }).fetch).listObjectsV2({ bucket: "b" }),
      S3Error,
    );
    assert.equal(e4.code, "InvalidResponse");
  });

  test("getObject: streaming body and metadata from headers", async () => {
    const s = stub({
      status: 206,
      body: "hello",
      headers: {
        "content-length": "5",
        "content-range": "bytes 10-14/100",
        etag: '"e-tag"',
        "last-modified": "Wed, 01 May 2024 10:00:00 GMT",
        "content-type": "text/plain",
        "x-amz-meta-color": "blue",
        "x-amz-checksum-crc32": "AAAAAA==",
        "x-amz-checksum-type": "FULL_OBJECT",
        "x-amz-version-id": "v3",
        "x-amz-storage-class": "STANDARD_IA",
        "cache-control": "no-cache",
      },
    });
    const r = await clientWith(s.fetch).getObject({ bucket: "b", key: "k", range: "bytes=10-14" });
    assert.equal(r.status, 206);
    assert.equal(r.size, 100);
    assert.equal(r.contentLength, 5);
    assert.deepEqual(r.contentRange, { start: 10, end: 14, size: 100 });
    assert.equal(r.etag, "e-tag");
    assert.deepEqual(r.lastModified, new Date("2024-05-01T10:00:00Z"));
    assert.equal(r.contentType, "text/plain");
    assert.equal(r.cacheControl, "no-cache");
    assert.deepEqual(r.metadata, { color: "blue" });
    assert.deepEqual(r.checksums, { crc32: "AAAAAA==" });
    assert.equal(r.checksumType, "FULL_OBJECT");
    assert.equal(r.versionId, "v3");
    assert.equal(r.storageClass, "STANDARD_IA");
    assert.deepEqual(s.read, [], "body not read before the caller reads it");
    assert.equal(await new Response(r.body).text(), "hello");
  });

  test("headObject: same metadata; a body sent with HEAD is cancelled, not read", async () => {
    const s = stub({ status: 200, body: "junk", headers: { "content-length": "7", etag: '"x"', "x-amz-meta-a": "1" } });
    const m = await clientWith(s.fetch).headObject({ bucket: "b", key: "k" });
    assert.equal(s.calls[0].method, "HEAD");
    assert.equal(m.size, 7);
    assert.equal(m.etag, "x");
    assert.deepEqual(m.metadata, { a: "1" });
    assert.deepEqual(s.cancelled, [0]);
    assert.deepEqual(s.read, []);
  });
});

describe("errors", () => {
  test("NoSuchKey: fields from XML and headers, message names bucket and key and says names are exact", async () => {
    const s = stub({
      status: 404,
      body: errorXml("NoSuchKey", "The specified key does not exist.", "<Key>Photo.JPG</Key>"),
      headers: { "x-amz-request-id": "HDR" },
    });
    const e = await rejects(clientWith(s.fetch).getObject({ bucket: "Photos", key: "photo.jpg" }), S3Error);
    assert.equal(e.code, "NoSuchKey");
    assert.equal(e.status, 404);
    assert.equal(e.requestId, "REQ123");
    assert.equal(e.hostId, "HOST456");
    assert.equal(e.bucket, "Photos");
    assert.equal(e.key, "photo.jpg");
    assert.match(e.message, /bucket "Photos" key "photo.jpg"/);
    assert.match(e.message, /exact and case-sensitive/);
    assert.match(e.message, /The specified key does not exist/);
    assert.equal(s.calls.length, 1, "4xx is not retried");
  });

  test("NoSuchBucket on list has the hint too", async () => {
    const e = await rejects(
      clientWith(stub({ status: 404, body: errorXml("NoSuchBucket") }).fetch).listObjectsV2({ bucket: "Nope" }),
      S3Error,
    );
    assert.equal(e.code, "NoSuchBucket");
    assert.match(e.message, /bucket "Nope".*case-sensitive/);
  });

  test("HEAD 404/403 without a body: code from status, request id from headers", async () => {
    const e = await rejects(
      clientWith(stub({ status: 404, headers: { "x-amz-request-id": "R9" } }).fetch).headObject({
        bucket: "b",
        key: "Missing.txt",
      }),
      S3Error,
    );
    assert.equal(e.code, "NoSuchKey");
    assert.equal(e.requestId, "R9");
    assert.match(e.message, /key "Missing.txt".*case-sensitive/);
    const e2 = await rejects(clientWith(stub({ status: 403 }).fetch).headObject({ bucket: "b", key: "k" }), S3Error);
    assert.equal(e2.code, "Forbidden");
  });

  test("304 NotModified and 412 PreconditionFailed", async () => {
    const e = await rejects(
      clientWith(stub({ status: 304 }).fetch).getObject({ bucket: "b", key: "k", ifNoneMatch: "abc" }),
      S3Error,
    );
    assert.equal(e.code, "NotModified");
    assert.equal(e.status, 304);
    assert.match(e.message, /If-None-Match/);
    const s = stub({
      status: 412,
      body: errorXml("PreconditionFailed", "At least one of the pre-conditions you specified did not hold"),
    });
    const e2 = await rejects(clientWith(s.fetch).getObject({ bucket: "b", key: "k", ifMatch: "abc" }), S3Error);
    assert.equal(e2.code, "PreconditionFailed");
    assert.match(e2.message, /If-Match.*changed/);
    assert.equal(s.calls.length, 1);
  });

  test("SignatureDoesNotMatch: both canonical requests attached, line diff, token and secret never shown", async () => {
    const token = "FQoGZXIvYXdzEXAMPLETOKEN//+==";
    let ours = "";
    const serverCR = (cr: string) =>
      cr.replace(/^(GET\n)[^\n]*/, "$1/b/other").replace(/(x-amz-security-token:)[^\n]*/, "$1" + token);
    const s = stub(async (_url, init) => {
      // The server echoes a canonical request that differs from ours in the path line.
      ours = (init.headers as Record<string, string>)["x-amz-date"];
      return new Response(
        errorXml(
          "SignatureDoesNotMatch",
          "The request signature we calculated does not match the signature you provided.",
          `<StringToSign>AWS4-HMAC-SHA256\n${ours}\nscope\nffff</StringToSign><CanonicalRequest>` +
            serverCR(
              "GET\n/b/k\n\nhost:127.0.0.1:9000\nx-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:" +
                ours +
                "\nx-amz-security-token:X\n\n" +
                "host;x-amz-content-sha256;x-amz-date;x-amz-security-token\nUNSIGNED-PAYLOAD",
            ) +
            "</CanonicalRequest>",
        ),
        { status: 403 },
      );
    });
    const e = await rejects(
      clientWith(s.fetch, { credentials: { ...creds, sessionToken: token } }).getObject({ bucket: "b", key: "k" }),
      S3Error,
    );
    assert.equal(e.code, "SignatureDoesNotMatch");
    assert.match(e.canonicalRequest!, /^GET\n\/b\/k\n/);
    assert.match(e.canonicalRequest!, /x-amz-security-token:<redacted>/);
    assert.match(e.serverCanonicalRequest!, /^GET\n\/b\/other\n/);
    assert.match(e.serverCanonicalRequest!, /x-amz-security-token:<redacted>/);
    assert.match(e.stringToSign!, /^AWS4-HMAC-SHA256\n/);
    assert.match(e.serverStringToSign!, /ffff$/);
    assert.match(e.message, /line 2: ours "\/b\/k", server "\/b\/other"/);
    const all = JSON.stringify({ ...e, message: e.message, stack: e.stack });
    assert.ok(!all.includes("EXAMPLETOKEN"), "token leaked");
    assert.ok(!all.includes(SECRET), "secret leaked");
    assert.ok(!/Signature=/.test(all), "authorization header leaked");
  });

  test("expectedBucketOwner, requestPayer, SSE-C: signed x-amz-* headers; the SSE-C key redacted", async () => {
    const ssec = {
      sseCustomerAlgorithm: "AES256" as const,
      sseCustomerKey: "S0VZS0VZS0VZS0VZS0VZS0VZS0VZS0VZS0VZS0VZS0U=",
      sseCustomerKeyMD5: "bWQ1bWQ1bWQ1bWQ1bWQ1bQ==",
    };
    const s = stub({ status: 200, body: listXml("") }, { status: 403, body: errorXml("SignatureDoesNotMatch") });
    await clientWith(s.fetch).listObjectsV2({
      bucket: "b",
      expectedBucketOwner: "123456789012",
      requestPayer: "requester",
    });
    assert.equal(s.calls[0].headers["x-amz-expected-bucket-owner"], "123456789012");
    assert.equal(s.calls[0].headers["x-amz-request-payer"], "requester");
    assert.match(s.calls[0].headers.authorization, /x-amz-expected-bucket-owner;x-amz-request-payer/);
    const e = await rejects(clientWith(s.fetch).getObject({ bucket: "b", key: "k", ...ssec }), S3Error);
    const h = s.calls[1].headers;
    assert.equal(h["x-amz-server-side-encryption-customer-algorithm"], "AES256");
    assert.equal(h["x-amz-server-side-encryption-customer-key"], ssec.sseCustomerKey);
    assert.equal(h["x-amz-server-side-encryption-customer-key-md5"], ssec.sseCustomerKeyMD5);
    assert.match(
      h.authorization,
      /x-amz-server-side-encryption-customer-key;x-amz-server-side-encryption-customer-key-md5/,
    );
    assert.match(e.canonicalRequest!, /\nx-amz-server-side-encryption-customer-key:<redacted>\n/);
    assert.ok(!e.canonicalRequest!.includes(ssec.sseCustomerKey) && !e.message.includes(ssec.sseCustomerKey));
  });

  test("SignatureDoesNotMatch without the server's canonical request still carries ours", async () => {
    const e = await rejects(
      clientWith(stub({ status: 403, body: errorXml("SignatureDoesNotMatch") }).fetch).headObject({
        bucket: "b",
        key: "k",
      }),
      S3Error,
    );
    void e;
    const e2 = await rejects(
      clientWith(stub({ status: 403, body: errorXml("SignatureDoesNotMatch") }).fetch).getObject({
        bucket: "b",
        key: "k",
      }),
      S3Error,
    );
    assert.match(e2.canonicalRequest!, /^GET\n\/b\/k\n/);
    assert.equal(e2.serverCanonicalRequest, undefined);
    assert.match(e2.message, /sent no canonical request/);
  });

  test("an HTML 503 page: retried, then S3Error with a short snippet", async () => {
    const html =
      "<!DOCTYPE html><html><head><title>503 Service Temporarily Unavailable</title></head><body>" +
      "nginx ".repeat(100) +
      "</body></html>";
    const s = stub({ status: 503, body: html }, { status: 503, body: html });
    const e = await rejects(clientWith(s.fetch, { maxAttempts: 2 }).getObject({ bucket: "b", key: "k" }), S3Error);
    assert.equal(s.calls.length, 2);
    assert.equal(e.code, "HTTP503");
    assert.equal(e.status, 503);
    assert.match(e.message, /unexpected response body: <!DOCTYPE html><html><head><title>503 Service/);
    assert.ok(e.message.length < 300);
  });
});

describe("retries", () => {
  test("SlowDown / 500 / 429 / 408 / RequestTimeout then success", async () => {
    for (const r of [
      { status: 503, body: errorXml("SlowDown") },
      { status: 500, body: errorXml("InternalError") },
      { status: 429, body: "" },
      { status: 408, body: "" },
      { status: 400, body: errorXml("RequestTimeout") },
    ]) {
      const s = stub(r, { status: 200, body: listXml("") });
      await clientWith(s.fetch).listObjectsV2({ bucket: "b" });
      assert.equal(s.calls.length, 2, JSON.stringify(r));
    }
  });

  test("the budget: maxAttempts calls, then the last S3Error", async () => {
    const s = stub(
      ...Array.from({ length: 5 }, () => ({
        status: 503,
        body: errorXml("SlowDown", "Please reduce your request rate."),
      })),
    );
    const e = await rejects(clientWith(s.fetch, { maxAttempts: 4 }).listObjectsV2({ bucket: "b" }), S3Error);
    assert.equal(e.code, "SlowDown");
    assert.equal(s.calls.length, 4);
    const s1 = stub({ status: 500, body: "" });
    await rejects(clientWith(s1.fetch, { maxAttempts: 1 }).listObjectsV2({ bucket: "b" }), S3Error);
    assert.equal(s1.calls.length, 1);
  });

  test("non-retryable errors are thrown at once", async () => {
    for (const code of ["AccessDenied", "NoSuchBucket", "InvalidArgument"]) {
      const s = stub({ status: 400, body: errorXml(code) });
      assert.equal((await rejects(clientWith(s.fetch).listObjectsV2({ bucket: "b" }), S3Error)).code, code);
      assert.equal(s.calls.length, 1);
    }
  });

  test("network errors are retried; after the budget a NetworkError with attempts and cause", async () => {
    const s = stub(new TypeError("fetch failed"), { status: 200, body: listXml("") });
    await clientWith(s.fetch).listObjectsV2({ bucket: "b" });
    assert.equal(s.calls.length, 2);
    const cause = new TypeError("fetch failed: ECONNRESET");
    const s2 = stub(cause, cause, cause);
    const e = await rejects(clientWith(s2.fetch).listObjectsV2({ bucket: "b" }), NetworkError);
    assert.equal(e.name, "NetworkError");
    assert.equal(e.attempts, 3);
    assert.equal(e.cause, cause);
    assert.match(
      e.message,
      /GET http:\/\/127.0.0.1:9000\/b\?list-type=2 failed after 3 attempts: fetch failed: ECONNRESET/,
    );
    assert.equal(s2.calls.length, 3);
  });

  test("backoff is exponential with full jitter", async () => {
    const rnd = mock.method(Math, "random", () => 0.999);
    try {
      const s = stub({ status: 500 }, { status: 500 }, { status: 200, body: listXml("") });
      const t0 = Date.now();
      await clientWith(s.fetch, { retryBaseMs: 40 }).listObjectsV2({ bucket: "b" });
      const ms = Date.now() - t0;
      assert.ok(ms >= 110 && ms < 5000, `waited ${ms} ms, expected ~40+80`);
      rnd.mock.mockImplementation(() => 0);
      const s2 = stub({ status: 500 }, { status: 500 }, { status: 200, body: listXml("") });
      const t1 = Date.now();
      await clientWith(s2.fetch, { retryBaseMs: 1000 }).listObjectsV2({ bucket: "b" });
      assert.ok(Date.now() - t1 < 1000, "random() = 0 means no wait (else >= 3 s here)");
    } finally {
      rnd.mock.restore();
    }
  });

  test("a truncated buffered body (list) is retried", async () => {
    const s = stub(
      () => new Response(new ReadableStream({ pull: (c) => c.error(new TypeError("terminated")) }), { status: 200 }),
      { status: 200, body: listXml(contentsXml("k")) },
    );
    const r = await clientWith(s.fetch).listObjectsV2({ bucket: "b" });
    assert.equal(r.contents[0].key, "k");
    assert.equal(s.calls.length, 2);
  });
});

describe("abort and timeouts", () => {
  test("abort during backoff rejects at once with signal.reason", async () => {
    const s = stub({ status: 503, body: errorXml("SlowDown") }, { status: 200, body: listXml("") });
    const ac = new AbortController();
    const reason = new Error("user cancelled");
    setTimeout(() => ac.abort(reason), 30);
    const t0 = Date.now();
    await assert.rejects(
      clientWith(s.fetch, { retryBaseMs: 60_000 }).listObjectsV2({ bucket: "b", signal: ac.signal }),
      (e) => e === reason,
    );
    assert.ok(Date.now() - t0 < 1000);
    assert.equal(s.calls.length, 1);
  });

  test("an already aborted signal: no request at all; abort during fetch: the reason, no retry", async () => {
    const s = stub({ hang: true }, { status: 200 });
    await assert.rejects(clientWith(s.fetch).getObject({ bucket: "b", key: "k", signal: AbortSignal.abort() }), {
      name: "AbortError",
    });
    assert.equal(s.calls.length, 0);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 20);
    await assert.rejects(
      clientWith(s.fetch).getObject({ bucket: "b", key: "k", signal: ac.signal }),
      (e) => e === ac.signal.reason,
    );
    assert.equal(s.calls.length, 1);
  });

  test("per-attempt timeout: each attempt aborted, then TimeoutError", async () => {
    const s = stub({ hang: true }, { hang: true });
    const t0 = Date.now();
    const e = await rejects(
      clientWith(s.fetch, { timeoutMs: 40, maxAttempts: 2 }).headObject({ bucket: "b", key: "k" }),
      TimeoutError,
    );
    assert.ok(e instanceof NetworkError);
    assert.equal(e.attempts, 2);
    assert.equal(s.calls.length, 2);
    assert.match(e.message, /timeoutMs=40/);
    assert.ok(Date.now() - t0 < 1000);
    // A timeout then a success.
    const s2 = stub({ hang: true }, { status: 200, body: listXml("") });
    await clientWith(s2.fetch, { timeoutMs: 40 }).listObjectsV2({ bucket: "b" });
    assert.equal(s2.calls.length, 2);
  });

  test("getObject: the timeout covers the headers, not the streaming body; the caller can still abort it", async () => {
    let ctl!: ReadableStreamDefaultController<Uint8Array>, fetchSignal!: AbortSignal;
    const s = stub((_u, init) => {
      fetchSignal = init.signal!;
      const body = new ReadableStream<Uint8Array>({ start: (c) => void (ctl = c) });
      fetchSignal.addEventListener("abort", () => ctl.error(fetchSignal.reason));
      return new Response(body, { status: 200 });
    });
    const r = await clientWith(s.fetch, { timeoutMs: 30 }).getObject({ bucket: "b", key: "k" });
    await new Promise((ok) => setTimeout(ok, 80));
    assert.equal(fetchSignal.aborted, false, "timeout must not abort a streaming body");
    ctl.enqueue(new Uint8Array([1, 2]));
    ctl.close();
    assert.deepEqual([...new Uint8Array(await new Response(r.body).arrayBuffer())], [1, 2]);

    const ac = new AbortController();
    const s2 = stub((_u, init) => {
      fetchSignal = init.signal!;
      return new Response(new ReadableStream(), { status: 200 });
    });
    await clientWith(s2.fetch).getObject({ bucket: "b", key: "k", signal: ac.signal });
    ac.abort();
    assert.equal(fetchSignal.aborted, true, "caller abort reaches the body");
  });
});

/** When a request was signed (its x-amz-date), in ms. */
const signedAt = (call: Call) =>
  Date.parse(call.headers["x-amz-date"].replace(/(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z/, "$1-$2-$3T$4:$5:$6Z"));

describe("clock skew", () => {
  test("RequestTimeTooSkewed, Date 1 h ahead: retried once at the corrected clock, kept afterwards", async () => {
    const ahead = Date.now() + 3600_000;
    const date = new Date(ahead).toUTCString();
    const s = stub(
      {
        status: 403,
        headers: { date },
        body: errorXml(
          "RequestTimeTooSkewed",
          "The difference between the request time and the current time is too large.",
        ),
      },
      { status: 200, headers: { date }, body: listXml("") },
      { status: 200, headers: { date }, body: listXml("") },
    );
    const c = clientWith(s.fetch, { maxAttempts: 1 });
    await c.listObjectsV2({ bucket: "b" });
    const t = (i: number) =>
      Date.parse(
        s.calls[i].headers["x-amz-date"].replace(/(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z/, "$1-$2-$3T$4:$5:$6Z"),
      );
    assert.equal(s.calls.length, 2, "skew retry does not count against maxAttempts");
    assert.ok(Math.abs(t(0) - Date.now()) < 5000);
    assert.ok(Math.abs(t(1) - ahead) < 5000, "second attempt signed with server time");
    await c.listObjectsV2({ bucket: "b" });
    assert.ok(Math.abs(t(2) - ahead) < 5000, "later requests keep the correction");
  });

  test("skew is retried only once", async () => {
    const date = new Date(Date.now() - 2 * 3600_000).toUTCString();
    const r = { status: 403, headers: { date }, body: errorXml("RequestTimeTooSkewed", "too large") };
    const s = stub(r, r, r);
    const e = await rejects(clientWith(s.fetch).listObjectsV2({ bucket: "b" }), S3Error);
    assert.equal(e.code, "RequestTimeTooSkewed");
    assert.equal(s.calls.length, 2);
  });

  test("a success's Date, however far off, never re-bases signing (a proxy may send a stale one)", async () => {
    for (const offset of [20 * 60_000, -365 * 86_400_000]) {
      const far = new Date(Date.now() + offset).toUTCString();
      const s = stub(
        { status: 200, headers: { date: far }, body: "" },
        { status: 200, headers: { date: far }, body: listXml("") },
        { status: 200, body: "" },
      );
      const c = clientWith(s.fetch);
      await c.headObject({ bucket: "b", key: "k" });
      await c.listObjectsV2({ bucket: "b" });
      await c.headObject({ bucket: "b", key: "k" });
      assert.ok(Math.abs(signedAt(s.calls[2]) - Date.now()) < 60_000, "signed with the local clock");
    }
  });

  test("a codeless 403 with a far-off Date: retried once at server time; with a near Date, not", async () => {
    const ahead = Date.now() + 3_600_000;
    const s = stub({ status: 403, headers: { date: new Date(ahead).toUTCString() } }, { status: 200, body: "" });
    await clientWith(s.fetch, { maxAttempts: 1 }).headObject({ bucket: "b", key: "k" });
    assert.equal(s.calls.length, 2);
    assert.ok(Math.abs(signedAt(s.calls[1]) - ahead) < 60_000);
    const near = stub({ status: 403 }, { status: 200, body: "" });
    assert.equal(
      (await rejects(clientWith(near.fetch).headObject({ bucket: "b", key: "k" }), S3Error)).code,
      "Forbidden",
    );
    assert.equal(near.calls.length, 1);
  });
});

describe("listAll", () => {
  const page = (keys: string[], next?: string) => ({
    status: 200,
    body: listXml(
      keys.map((k) => contentsXml(k)).join(""),
      next === undefined
        ? "<IsTruncated>false</IsTruncated>"
        : `<IsTruncated>true</IsTruncated>${next ? `<NextContinuationToken>${next}</NextContinuationToken>` : ""}`,
    ),
  });
  const all = async (c: S3Client, p = {}) => {
    const out: string[] = [];
    for await (const o of c.listAll({ bucket: "b", ...p })) out.push(o.key);
    return out;
  };

  test("follows continuation tokens", async () => {
    const s = stub(page(["a", "b"], "t/1+"), page(["c", "d"], "t2"), page(["e"]));
    assert.deepEqual(await all(clientWith(s.fetch), { maxKeys: 2, prefix: "p" }), ["a", "b", "c", "d", "e"]);
    assert.equal(s.calls.length, 3);
    assert.doesNotMatch(s.calls[0].url, /continuation-token/);
    assert.match(s.calls[1].url, /continuation-token=t%2F1%2B&/);
    assert.match(s.calls[2].url, /prefix=p&continuation-token=t2&max-keys=2/);
  });

  test("a repeated token or a missing one fails loudly instead of looping", async () => {
    const s = stub(page(["a"], "t1"), page(["b"], "t1"), page(["c"], "t1"));
    await assert.rejects(
      all(clientWith(s.fetch)),
      (e: S3Error) => e.code == "InvalidResponse" && /truncated page repeats its token/.test(e.message),
    );
    assert.equal(s.calls.length, 2);
    const s2 = stub(page(["a"], "t1"), page(["b"], "t2"), page(["c"], "t1"));
    await assert.rejects(all(clientWith(s2.fetch)), /repeats/);
    const s3 = stub(page(["a"], ""));
    await assert.rejects(all(clientWith(s3.fetch)), (e: S3Error) => /truncated page has no token/.test(e.message));
  });
});

describe("fault server (real fetch over loopback)", () => {
  const ok = { status: 200, body: listXml(contentsXml("k")) };

  test("connection reset, then success", async () => {
    const fs = await faultServer(ok);
    try {
      fs.faults.push({ reset: true });
      const r = await new S3Client({ endpoint: fs.endpoint, credentials: creds, retryBaseMs: 1 }).listObjectsV2({
        bucket: "b",
      });
      assert.equal(r.contents[0].key, "k");
      assert.equal(fs.requests.length, 2);
      assert.equal(fs.requests[1].url, "/b?list-type=2");
      assert.match(String(fs.requests[1].headers.authorization), /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\//);
    } finally {
      await fs.close();
    }
  });

  test("resets every time: NetworkError after maxAttempts", async () => {
    const fs = await faultServer({ reset: true });
    try {
      const e = await rejects(
        new S3Client({ endpoint: fs.endpoint, credentials: creds, retryBaseMs: 1, maxAttempts: 2 }).headObject({
          bucket: "b",
          key: "k",
        }),
        NetworkError,
      );
      assert.equal(e.attempts, 2);
      assert.equal(fs.requests.length, 2);
    } finally {
      await fs.close();
    }
  });

  test("truncated list body is retried; a truncated object body errors the stream", async () => {
    const fs = await faultServer(ok);
    try {
      fs.faults.push({ status: 200, body: ok.body, truncateAt: 60 });
      const c = new S3Client({ endpoint: fs.endpoint, credentials: creds, retryBaseMs: 1 });
      assert.equal((await c.listObjectsV2({ bucket: "b" })).contents[0].key, "k");
      assert.equal(fs.requests.length, 2);
      fs.faults.push({ status: 200, body: "0123456789".repeat(100), truncateAt: 100 });
      const g = await c.getObject({ bucket: "b", key: "k" });
      assert.equal(g.contentLength, 1000);
      await assert.rejects(new Response(g.body).arrayBuffer());
    } finally {
      await fs.close();
    }
  });

  test("a SlowDown burst, then success", async () => {
    const fs = await faultServer(ok);
    try {
      for (let i = 0; i < 3; i++)
        fs.faults.push({ status: 503, body: errorXml("SlowDown", "Please reduce your request rate.") });
      const r = await new S3Client({
        endpoint: fs.endpoint,
        credentials: creds,
        retryBaseMs: 1,
        maxAttempts: 4,
      }).listObjectsV2({ bucket: "b" });
      assert.equal(r.contents.length, 1);
      assert.equal(fs.requests.length, 4);
    } finally {
      await fs.close();
    }
  });

  test("slow headers hit the timeout; a slow body on getObject does not", async () => {
    const fs = await faultServer({ status: 200, body: "data", bodyDelayMs: 150 });
    try {
      fs.faults.push({ delayMs: 300, status: 200, body: "" }, { delayMs: 300, status: 200, body: "" });
      const c = new S3Client({
        endpoint: fs.endpoint,
        credentials: creds,
        retryBaseMs: 1,
        maxAttempts: 2,
        timeoutMs: 80,
      });
      await rejects(c.headObject({ bucket: "b", key: "k" }), TimeoutError);
      const g = await c.getObject({ bucket: "b", key: "k" });
      assert.equal(await new Response(g.body).text(), "data");
    } finally {
      await fs.close();
    }
  });

  test("skewed server clock: RequestTimeTooSkewed, then accepted at server time", async () => {
    const offset = -3600_000;
    // The server rejects requests more than 5 minutes away from its own clock, like S3 (15 min there).
    const fs = await faultServer((r) => {
      const m = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(String(r.headers["x-amz-date"]))!;
      const t = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
      return Math.abs(t - (Date.now() + offset)) > 300_000
        ? {
            status: 403,
            dateOffsetMs: offset,
            body: errorXml(
              "RequestTimeTooSkewed",
              "The difference between the request time and the current time is too large.",
            ),
          }
        : { status: 200, dateOffsetMs: offset, body: ok.body };
    });
    try {
      const c = new S3Client({ endpoint: fs.endpoint, credentials: creds, retryBaseMs: 1, maxAttempts: 1 });
      assert.equal((await c.listObjectsV2({ bucket: "b" })).contents[0].key, "k");
      assert.equal(fs.requests.length, 2);
      await c.listObjectsV2({ bucket: "b" });
      assert.equal(fs.requests.length, 3, "no second skew round trip");
    } finally {
      await fs.close();
    }
  });

  test("an HTML error page from a proxy", async () => {
    const fs = await faultServer({
      status: 502,
      headers: { "content-type": "text/html" },
      body:
        "<html><head><title>502 Bad Gateway</title></head>" +
        "<body><center><h1>502 Bad Gateway</h1></center></body></html>",
    });
    try {
      const e = await rejects(
        new S3Client({ endpoint: fs.endpoint, credentials: creds, retryBaseMs: 1, maxAttempts: 2 }).listObjectsV2({
          bucket: "b",
        }),
        S3Error,
      );
      assert.equal(e.status, 502);
      assert.equal(e.code, "HTTP502");
      assert.match(e.message, /<title>502 Bad Gateway<\/title>/);
      assert.equal(fs.requests.length, 2);
    } finally {
      await fs.close();
    }
  });
});

describe("a server, a proxy or a bad input cannot steer the client (issue 13)", () => {
  const ssec = {
    sseCustomerAlgorithm: "AES256" as const,
    sseCustomerKey: "S0VZS0VZS0VZS0VZS0VZS0VZS0VZS0VZS0VZS0VZS0U=",
    sseCustomerKeyMD5: "bWQ1bWQ1bWQ1bWQ1bWQ1bQ==",
  };
  const permanentRedirect = errorXml(
    "PermanentRedirect",
    "The bucket you are attempting to access must be addressed using the specified endpoint.",
    "<Endpoint>bkt.s3.eu-west-1.amazonaws.com</Endpoint><Bucket>bkt</Bucket>",
  );
  /** A fetch that answers every request with what `reply` makes of it. */
  const always = (reply: (url: string, init: RequestInit) => Response) => {
    const calls: { url: string; init: RequestInit }[] = [];
    const fakeFetch = (async (url: string, init: RequestInit) => (
      calls.push({ url, init }),
      reply(url, init)
    )) as unknown;
    return { fetch: fakeFetch as typeof fetch, calls };
  };

  test("bucket names checked before any request: S3's rules virtual-hosted, no URL changers path style", async () => {
    const s = stub();
    const virtualHosted = clientWith(s.fetch, { forcePathStyle: false });
    for (const bucket of [
      "127.0.0.1:18128/#",
      "evil.example/x",
      "ab",
      "a".repeat(64),
      "Upper",
      "under_score",
      "-start",
      "end-",
      "a..b",
      "a.-b",
      "a-.b",
      "192.168.5.4",
      "sp ace",
      "user@host",
      "",
    ]) {
      const e = await rejects(virtualHosted.getObject({ bucket, key: "k" }), InputError);
      assert.equal(e.field, "bucket", bucket);
      assert.match(e.message, /virtual-hosted name is 3-63 of a-z 0-9 \. -/);
    }
    const pathStyle = clientWith(s.fetch);
    for (const bucket of [
      "a/b",
      "a?b",
      "a#b",
      "user@host",
      "host:80",
      "a b",
      "a\tb",
      "a\nb",
      "..",
      ".",
      "a%2Fb",
      "x".repeat(256),
    ]) {
      const e = await rejects(pathStyle.listObjectsV2({ bucket }), InputError);
      assert.equal(e.field, "bucket", bucket);
    }
    // On AWS a name that is no DNS label goes path style, so "127.0.0.1:18128/#" cannot become the host there either.
    await rejects(
      new S3Client({ credentials: creds, fetch: s.fetch }).getObject({ bucket: "127.0.0.1:18128/#", key: "k" }),
      InputError,
    );
    await rejects(clientWith(s.fetch).presignGetObject({ bucket: "a/b", key: "k", expiresIn: 60 }), InputError);
    assert.equal(s.calls.length, 0);
    // The looser names of legacy buckets and S3-compatible servers, where path style carries them.
    for (const bucket of ["My_Bucket", "ab", "a..b", "192.168.5.4", "x".repeat(255)])
      await pathStyle.getObject({ bucket, key: "k" });
    for (const bucket of ["my-bucket", "my.bucket.example", "a1b"]) await virtualHosted.getObject({ bucket, key: "k" });
    assert.equal(s.calls.length, 8);
    assert.equal(s.calls[6].url, "http://my.bucket.example.127.0.0.1:9000/k");
  });

  test("fetch is told never to follow a redirect", async () => {
    const s = always(() => new Response("", { status: 200 }));
    await clientWith(s.fetch).getObject({ bucket: "b", key: "k" });
    await clientWith(s.fetch).putObject({ bucket: "b", key: "k", body: "x" });
    assert.deepEqual(
      s.calls.map((call) => call.init.redirect),
      ["manual", "manual"],
    );
  });

  test("a redirect to another host (real fetch): nothing reaches it, its body is never the object", async () => {
    const other = await faultServer({ status: 200, body: "not the object" });
    try {
      for (const status of [301, 302, 303, 307, 308]) {
        const fs = await faultServer({ status, headers: { location: other.endpoint + "/b/k" }, body: "" });
        try {
          const c = new S3Client({
            endpoint: fs.endpoint,
            credentials: { ...creds, sessionToken: "SESSION-TOKEN" },
            retryBaseMs: 1,
          });
          const e = await rejects(c.getObject({ bucket: "b", key: "k", ...ssec }), S3Error);
          assert.equal(e.status, status);
          assert.equal(e.code, "HTTP" + status);
          assert.equal(fs.requests.length, 1, "not retried");
        } finally {
          await fs.close();
        }
      }
      assert.equal(other.requests.length, 0, "the token and SSE-C key went to the other host");
    } finally {
      await other.close();
    }
  });

  test("S3 names the bucket's region (301, 400 with Region): signed there once, kept per bucket", async () => {
    const s = stub(
      { status: 301, headers: { "x-amz-bucket-region": "eu-west-1" }, body: permanentRedirect },
      { status: 200, body: listXml("") },
      { status: 200, body: "x" },
      { status: 200, body: "y" },
    );
    const c = new S3Client({ credentials: creds, fetch: s.fetch });
    await c.listObjectsV2({ bucket: "bkt" });
    assert.equal(s.calls[0].url, "https://bkt.s3.us-east-1.amazonaws.com/?list-type=2");
    assert.equal(s.calls[1].url, "https://bkt.s3.eu-west-1.amazonaws.com/?list-type=2");
    assert.match(s.calls[1].headers.authorization, /\/eu-west-1\/s3\/aws4_request/);
    await c.getObject({ bucket: "bkt", key: "k" });
    assert.equal(s.calls[2].url, "https://bkt.s3.eu-west-1.amazonaws.com/k", "the bucket's region is kept");
    await c.getObject({ bucket: "other", key: "k" });
    assert.equal(s.calls[3].url, "https://other.s3.us-east-1.amazonaws.com/k", "per bucket");
    const presigned = new URL(await c.presignGetObject({ bucket: "bkt", key: "k", expiresIn: 60 }));
    assert.equal(presigned.host, "bkt.s3.eu-west-1.amazonaws.com");
    assert.match(presigned.searchParams.get("X-Amz-Credential")!, /\/eu-west-1\/s3\/aws4_request$/);
    // An S3-compatible endpoint: the same host, signed for the region the server named.
    const m = stub(
      {
        status: 400,
        body: errorXml(
          "AuthorizationHeaderMalformed",
          "the region 'us-east-1' is wrong",
          "<Region>eu-central-1</Region>",
        ),
      },
      { status: 200, body: "" },
    );
    await clientWith(m.fetch).getObject({ bucket: "b", key: "k" });
    assert.equal(m.calls[1].url, "http://127.0.0.1:9000/b/k");
    assert.match(m.calls[1].headers.authorization, /\/eu-central-1\/s3\/aws4_request/);
  });

  test("a region redirect that repeats, names our region or no region: an S3Error naming it", async () => {
    const redirect = { status: 301, headers: { "x-amz-bucket-region": "eu-west-1" }, body: permanentRedirect };
    const s = stub(redirect, redirect, redirect);
    const e = await rejects(
      new S3Client({ credentials: creds, fetch: s.fetch }).getObject({ bucket: "bkt", key: "k" }),
      S3Error,
    );
    assert.equal(s.calls.length, 2);
    assert.equal(e.code, "PermanentRedirect");
    assert.equal(e.region, "eu-west-1");
    assert.match(e.message, /The bucket is in region "eu-west-1"/);
    const own = stub({ status: 307, headers: { "x-amz-bucket-region": "us-east-1" } });
    const e2 = await rejects(
      new S3Client({ credentials: creds, fetch: own.fetch }).headObject({ bucket: "bkt", key: "k" }),
      S3Error,
    );
    assert.equal(own.calls.length, 1);
    assert.match(
      e2.message,
      /^HTTP307 \(HTTP 307\) on HEAD bucket "bkt" key "k": no response body\. The bucket is in region "us-east-1"\.$/,
    );
    const evil = stub({ status: 301, headers: { "x-amz-bucket-region": "evil.example/x" } });
    await rejects(
      new S3Client({ credentials: creds, fetch: evil.fetch }).headObject({ bucket: "bkt", key: "k" }),
      S3Error,
    );
    assert.equal(evil.calls.length, 1);
  });

  test("an error body is read up to 64 KiB, then cancelled (a 32 MiB 404 page is not buffered)", async () => {
    let pulled = 0,
      cancelled = false;
    const endless = always(
      () =>
        new Response(
          new ReadableStream({
            pull: (controller) => {
              pulled += 16_384;
              controller.enqueue(new TextEncoder().encode("<html>" + "x".repeat(16_378)));
              if (pulled >= 32 << 20) controller.close();
            },
            cancel: () => void (cancelled = true),
          }),
          { status: 404 },
        ),
    );
    const e = await rejects(
      clientWith(endless.fetch, { timeoutMs: 2000 }).getObject({ bucket: "b", key: "k" }),
      S3Error,
    );
    assert.equal(e.code, "NoSuchKey");
    assert.match(e.message, /unexpected response body: <html>xxx/);
    assert.ok(pulled <= 65_536 + 2 * 16_384, `read ${pulled} bytes`);
    assert.ok(cancelled, "the rest is cancelled");
  });

  test("a list page over 8 MiB: ResponseTooLarge, not retried, reading stopped (of a 64 MiB body)", async () => {
    let pulled = 0;
    const endless = always(
      () =>
        new Response(
          new ReadableStream({
            pull: (controller) => {
              pulled += 1 << 20;
              controller.enqueue(new Uint8Array(1 << 20).fill(0x20));
              if (pulled >= 64 << 20) controller.close();
            },
          }),
          { status: 200 },
        ),
    );
    const e = await rejects(clientWith(endless.fetch, { timeoutMs: 5000 }).listObjectsV2({ bucket: "b" }), S3Error);
    assert.equal(e.code, "ResponseTooLarge");
    assert.equal(e.status, 200);
    assert.match(e.message, /maxBodyBytes=8388608/);
    assert.equal(endless.calls.length, 1);
    assert.ok(pulled <= 10 << 20, `read ${pulled} bytes`);
  });

  test("echoed secrets (token, SSE-C key; raw or %-encoded; body, header, 200 page) never reach an error", async () => {
    const token = "FQoGZXIvYXdzEXAMPLE/TOKEN+with=chars";
    const echo = always((_url, init) => {
      const headers = init.headers as Record<string, string>;
      const sent = headers["x-amz-security-token"],
        key = headers["x-amz-server-side-encryption-customer-key"] ?? "";
      return new Response(
        init.method == "GET" && !key
          ? `<html>Proxy page for ${sent}</html>`
          : errorXml(
              "AccessDenied",
              `token ${sent} key ${key} encoded ${encodeURIComponent(sent)} auth ${headers.authorization}`,
              `<Resource>/b/k?x-amz-security-token=${encodeURIComponent(sent)}</Resource>`,
            ),
        { status: key ? 403 : 200, headers: { "x-amz-request-id": sent, "x-amz-id-2": key } },
      );
    });
    const c = clientWith(echo.fetch, { credentials: { ...creds, sessionToken: token } });
    const e = await rejects(c.getObject({ bucket: "b", key: "k", ...ssec }), S3Error);
    const e2 = await rejects(c.listObjectsV2({ bucket: "b" }), S3Error);
    assert.equal(e2.code, "InvalidResponse");
    // Echoed in headers only (a HEAD has no body).
    const e3 = await rejects(c.headObject({ bucket: "b", key: "k", ...ssec }), S3Error);
    const authorization = (echo.calls[0].init.headers as Record<string, string>).authorization;
    const signature = /Signature=(\w+)/.exec(authorization)![1];
    for (const error of [e, e2, e3]) {
      const all = JSON.stringify({ ...error, message: error.message, stack: error.stack });
      for (const secret of [token, encodeURIComponent(token), ssec.sseCustomerKey, signature])
        assert.ok(!all.includes(secret), `${secret} in ${all}`);
    }
    assert.match(e.message, /token <redacted> key <redacted> encoded <redacted> auth <redacted>/);
    assert.equal(e.resource, "/b/k?x-amz-security-token=<redacted>");
    assert.equal(e3.requestId, "<redacted>");
    assert.equal(e3.hostId, "<redacted>");
    assert.match(e2.message, /Proxy page for <redacted>/);
  });

  test(
    "endless empty truncated pages stop after 1000 (InvalidResponse); a shorter run is followed",
    { timeout: 30_000 },
    async () => {
      let token = 0;
      const endless = always(
        () =>
          new Response(
            listXml("", `<IsTruncated>true</IsTruncated><NextContinuationToken>t${token++}</NextContinuationToken>`),
          ),
      );
      const keys: string[] = [];
      await assert.rejects(
        (async () => {
          for await (const object of clientWith(endless.fetch).listAll({ bucket: "b" })) keys.push(object.key);
        })(),
        (e: S3Error) => e.code == "InvalidResponse" && /truncated page is empty, the 1000th in a row/.test(e.message),
      );
      assert.equal(endless.calls.length, 1000);
      assert.equal(keys.length, 0);
      let page = 0;
      const someEmpty = always(() => {
        page++;
        const last = page == 60;
        const inner = page == 1 || last ? contentsXml("k" + page) : "";
        return new Response(
          listXml(
            inner,
            last
              ? "<IsTruncated>false</IsTruncated>"
              : `<IsTruncated>true</IsTruncated><NextContinuationToken>p${page}</NextContinuationToken>`,
          ),
        );
      });
      for await (const object of clientWith(someEmpty.fetch).listAll({ bucket: "b" })) keys.push(object.key);
      assert.deepEqual(keys, ["k1", "k60"]);
    },
  );
});
