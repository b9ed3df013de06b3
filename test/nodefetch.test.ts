// nodeFetch (src/node.ts): a fetch over node:http that keeps the request path byte for byte.
// Against a local node:http server (raw paths, headers, statuses, abort, errors, backpressure) and
// against the real S3 server (keys with "." / ".." segments through S3Client).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { S3Client } from "../src/client.ts";
import { downloadFile } from "../src/download.ts";
import { nodeFetch } from "../src/node.ts";
import { s3TestServer, uniqueBucket } from "./support/s3server.ts";

const MiB = 1 << 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const readAll = async (s: ReadableStream<Uint8Array>) => {
  const parts: Uint8Array[] = [];
  for await (const x of s as any as AsyncIterable<Uint8Array>) parts.push(x);
  return Buffer.concat(parts);
};

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;
let server: Server, base: string, handler: Handler;
const seen: { method: string; url: string; headers: IncomingMessage["headers"]; body: Buffer }[] = [];
const closed: string[] = []; // urls whose response connection closed before the body was finished

before(async () => {
  server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (d) => parts.push(d)).on("end", () => {
      const body = Buffer.concat(parts);
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      res.on("close", () => res.writableFinished || closed.push(req.url!));
      handler(req, res, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

describe("nodeFetch on a local server", () => {
  test("is marked rawPath for S3Client", () => assert.equal(nodeFetch.rawPath, true));

  test("sends the path and query exactly as written: no dot-segment collapsing, no re-encoding", async () => {
    handler = (_q, s) => s.end("ok");
    const paths = ["/b/a/../c", "/b/./x", "/b/%2E%2E/y", "/b/%2e/./../z?list-type=2&prefix=a%2F..%2F&x=%7E~", "/b/dir/./y/..", "/b//double//slash/"];
    for (const p of paths) {
      const r = await nodeFetch(base + p);
      assert.equal(await r.text(), "ok");
      assert.equal(seen.at(-1)!.url, p);
    }
    // A URL object is already normalized by WHATWG URL; it is sent as it stands. No path -> "/".
    await (await nodeFetch(new URL(base + "/q/../r"))).text();
    assert.equal(seen.at(-1)!.url, "/r");
    await (await nodeFetch(base + "?a=1#frag")).text();
    assert.equal(seen.at(-1)!.url, "/?a=1");
  });

  test("method, request headers (object, Headers, pairs) and bodies (string, Uint8Array, ArrayBuffer) arrive", async () => {
    handler = (_q, s) => s.end();
    const body = randomBytes(100_000);
    for (const [headers, b, want] of [
      [{ "X-One": "1", "x-amz-meta-k": "v v" }, "héllo", Buffer.from("héllo")],
      [new Headers({ "x-one": "1", "x-amz-meta-k": "v v" }), new Uint8Array(body), body],
      [[["x-one", "1"], ["x-amz-meta-k", "v v"]], body.buffer.slice(body.byteOffset, body.byteOffset + body.length), body],
    ] as [HeadersInit, BodyInit, Buffer][]) {
      const r = await nodeFetch(base + "/put", { method: "PUT", headers, body: b });
      assert.equal(r.status, 200);
      const s = seen.at(-1)!;
      assert.equal(s.method, "PUT");
      assert.equal(s.headers["x-one"], "1");
      assert.equal(s.headers["x-amz-meta-k"], "v v");
      assert.equal(s.headers["content-length"], String(want.length));
      assert.equal(s.headers.host, new URL(base).host);
      assert.ok(s.body.equals(want));
    }
    await nodeFetch(base + "/empty-put", { method: "PUT", body: "" });
    assert.equal(seen.at(-1)!.headers["content-length"], "0");
    await assert.rejects(nodeFetch(base + "/x", { method: "POST", body: new Blob(["x"]) }), TypeError);
  });

  test("status, status text, repeated response headers and body round-trip", async () => {
    handler = (_q, s) => {
      s.setHeader("x-rep", ["a", "b"]);
      s.setHeader("set-cookie", ["c=1", "d=2"]);
      s.writeHead(207, "Multi Things", { "content-type": "application/xml", etag: '"abc"' }).end("<x/>");
    };
    const r = await nodeFetch(base + "/h");
    assert.ok(r instanceof Response);
    assert.equal(r.status, 207);
    assert.equal(r.statusText, "Multi Things");
    assert.equal(r.ok, true);
    assert.equal(r.headers.get("x-rep"), "a, b");
    assert.deepEqual(r.headers.getSetCookie(), ["c=1", "d=2"]);
    assert.equal(r.headers.get("etag"), '"abc"');
    assert.equal(await r.text(), "<x/>");
    handler = (_q, s) => s.writeHead(503, { "retry-after": "1" }).end("busy");
    const e = await nodeFetch(base + "/e");
    assert.equal(e.status, 503);
    assert.equal(e.ok, false);
    assert.equal(await e.text(), "busy");
  });

  test("HEAD, 204 and 304 have a null body; the kept-alive connection stays usable", async () => {
    handler = (q, s) => {
      if (q.url == "/304") return s.writeHead(304, { etag: '"e"' }).end();
      if (q.url == "/204") return s.writeHead(204).end();
      s.writeHead(200, { "content-length": "5", "x-amz-meta-a": "1" }).end(q.method == "HEAD" ? undefined : "hello");
    };
    const h = await nodeFetch(base + "/obj", { method: "HEAD" });
    assert.equal(h.status, 200);
    assert.equal(h.body, null);
    assert.equal(h.headers.get("content-length"), "5");
    assert.equal(h.headers.get("x-amz-meta-a"), "1");
    for (const st of [304, 204]) {
      const r = await nodeFetch(base + "/" + st);
      assert.equal(r.status, st);
      assert.equal(r.body, null);
    }
    assert.equal(await (await nodeFetch(base + "/obj")).text(), "hello");
  });

  test("abort before the headers rejects with signal.reason; an aborted signal rejects at once", async () => {
    handler = (_q, s) => setTimeout(() => s.destroyed || s.end("late"), 2000);
    const c = new AbortController(), why = new Error("caller gave up");
    const t0 = Date.now();
    setTimeout(() => c.abort(why), 50);
    await assert.rejects(nodeFetch(base + "/slow", { signal: c.signal }), (e) => e === why);
    assert.ok(Date.now() - t0 < 1000);
    const n = seen.length;
    await assert.rejects(nodeFetch(base + "/never", { signal: AbortSignal.abort() }), (e: any) => e.name == "AbortError");
    await sleep(50);
    assert.equal(seen.length, n, "an aborted signal must not send the request");
  });

  test("abort during the body errors the body stream with signal.reason and closes the connection", async () => {
    handler = (_q, s) => {
      s.writeHead(200, { "content-length": String(10 * MiB) });
      s.write(Buffer.alloc(1000, 1)); // then stall
    };
    const c = new AbortController(), why = new Error("stop now");
    const r = await nodeFetch(base + "/stall", { signal: c.signal });
    const rd = r.body!.getReader();
    assert.equal((await rd.read()).value!.length, 1000);
    const pending = rd.read();
    c.abort(why);
    await assert.rejects(pending, (e) => e === why);
    await sleep(100);
    assert.ok(closed.includes("/stall"), "the server's response was cut");
  });

  test("a connection error is a TypeError with the node error as cause", async () => {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    const port = (s.address() as AddressInfo).port;
    await new Promise((r) => s.close(r));
    await assert.rejects(nodeFetch(`http://127.0.0.1:${port}/x`), (e: any) => e instanceof TypeError && (e.cause as any)?.code == "ECONNREFUSED");
    await assert.rejects(nodeFetch("ftp://127.0.0.1/x"), TypeError);
    await assert.rejects(nodeFetch(base + "/a b"), TypeError); // node refuses a raw space in the path
  });

  test("a connection broken mid-body errors the body stream (never a silent short body)", async () => {
    handler = (_q, s) => {
      s.writeHead(200, { "content-length": "100000" });
      s.write(Buffer.alloc(30000, 2), () => setTimeout(() => s.destroy(), 20));
    };
    const r = await nodeFetch(base + "/cut");
    await assert.rejects(readAll(r.body!), (e: any) => e instanceof TypeError);
  });

  test("cancelling the body closes the connection", async () => {
    handler = (_q, s) => {
      s.writeHead(200, { "content-length": String(50 * MiB) });
      const chunk = Buffer.alloc(MiB);
      const pump = () => { while (!s.destroyed && s.write(chunk)); if (!s.destroyed) s.once("drain", pump); };
      pump();
    };
    const r = await nodeFetch(base + "/cancel");
    const rd = r.body!.getReader();
    await rd.read();
    await rd.cancel();
    await sleep(100);
    assert.ok(closed.includes("/cancel"));
  });

  test("backpressure: a slow reader keeps the server from running ahead (bounded by socket buffers)", async () => {
    const TOTAL = 128 * MiB, chunk = Buffer.alloc(MiB, 3);
    let written = 0;
    handler = (_q, s) => {
      s.writeHead(200, { "content-length": String(TOTAL) });
      const pump = () => {
        while (!s.destroyed && written < TOTAL) {
          written += chunk.length;
          if (!s.write(chunk)) return void s.once("drain", pump);
        }
        s.end();
      };
      pump();
    };
    const r = await nodeFetch(base + "/big");
    const rd = r.body!.getReader();
    let read = 0;
    for (let i = 0; i < 5; i++) {
      read += (await rd.read()).value!.length;
      await sleep(60);
    }
    const ahead = written - read;
    // Kernel socket buffers on loopback take a few MiB (measured 2-4 MiB ahead); without
    // backpressure the server ran ~50 MiB ahead in this time.
    assert.ok(ahead < 16 * MiB, `server ran ${(ahead / MiB).toFixed(1)} MiB ahead of the reader`);
    // And reading on still delivers every byte.
    for (let x; !(x = await rd.read()).done; ) read += x.value.length;
    assert.equal(read, TOTAL);
  });
});

describe("nodeFetch with S3Client on a real S3 server", () => {
  let c: S3Client, bucket: string;
  const keys = ["a/../b", "./x", "dir/./y/..", "..", "a/b", "b", "x"];
  const data = new Map(keys.map((k, i) => [k, randomBytes(1000 + i * 977)]));

  before(async () => {
    const srv = await s3TestServer();
    c = new S3Client({ endpoint: srv.endpoint, region: srv.region, credentials: srv, forcePathStyle: true, fetch: nodeFetch });
    bucket = uniqueBucket("nodefetch");
    await c.createBucket({ bucket });
  });

  test('keys with "." and ".." segments: put, get and list byte-exact, each a distinct object', async () => {
    for (const k of keys) await c.putObject({ bucket, key: k, body: data.get(k)!, metadata: { k: encodeURIComponent(k) } });
    for (const k of keys) {
      const r = await c.getObject({ bucket, key: k });
      assert.equal(r.metadata.k, encodeURIComponent(k), `metadata of ${k}`);
      assert.ok((await readAll(r.body)).equals(data.get(k)!), `body of ${k}`);
      const h = await c.headObject({ bucket, key: k });
      assert.equal(h.size, data.get(k)!.length);
    }
    const listed = [];
    for await (const o of c.listAll({ bucket, maxKeys: 3 })) listed.push([o.key, o.size]);
    assert.deepEqual(listed.sort(), keys.map((k) => [k, data.get(k)!.length]).sort());
    const dots = await c.listObjectsV2({ bucket, prefix: "a/../", encodingType: "url" });
    assert.deepEqual(dots.contents.map((o) => o.key), ["a/../b"]);
  });

  test("downloadFile through nodeFetch: multi-MiB, byte-exact, ranged", async () => {
    const big = randomBytes(5 * MiB + 3), key = "dl/./../big.bin";
    const { etag } = await c.putObject({ bucket, key, body: big });
    const d = await downloadFile(c, { bucket, key });
    assert.equal(d.size, big.length);
    assert.equal(d.etag, etag);
    assert.ok((await readAll(d.body)).equals(big));
    const part = await downloadFile(c, { bucket, key, range: "bytes=1000000-2999999", etag });
    assert.ok((await readAll(part.body)).equals(big.subarray(1_000_000, 3_000_000)));
  });

  test("errors still come back as S3Error through nodeFetch (404 on a dotted key)", async () => {
    await assert.rejects(c.getObject({ bucket, key: "nope/../nothing" }), (e: any) => e.name == "S3Error" && e.status == 404 && e.code == "NoSuchKey");
    await assert.rejects(c.headObject({ bucket, key: "./nothing" }), (e: any) => e.name == "S3Error" && e.status == 404);
  });
});
