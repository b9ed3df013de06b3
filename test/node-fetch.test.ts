// nodeFetch (src/node/fetch.ts) as fetch: the path and query sent byte for byte, headers, bodies,
// statuses, abort, connection errors and backpressure against a local node:http server; TLS; and
// S3Client with keys that have "." / ".." segments against the real S3 server.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { S3Client } from "../src/client.ts";
import { downloadFile } from "../src/download.ts";
import { downloadToFile, nodeFetch, NodeResponse } from "../src/node/index.ts";
import { MiB, recordingServer, type RecordingServer } from "./support/http-servers.ts";
import { s3TestServer, uniqueBucket } from "./support/s3server.ts";
import { readAll } from "./support/util.ts";

let server: RecordingServer;
before(async () => (server = await recordingServer()));
after(() => server.close());

describe("nodeFetch on a local server", () => {
  test("is marked rawPath for S3Client", () => assert.equal(nodeFetch.rawPath, true));

  test("sends the path and query exactly as written: no dot-segment collapsing, no re-encoding", async () => {
    server.handler = (_q, s) => s.end("ok");
    const paths = [
      "/b/a/../c",
      "/b/./x",
      "/b/%2E%2E/y",
      "/b/%2e/./../z?list-type=2&prefix=a%2F..%2F&x=%7E~",
      "/b/dir/./y/..",
      "/b//double//slash/",
    ];
    for (const p of paths) {
      const r = await nodeFetch(server.url + p);
      assert.equal(await r.text(), "ok");
      assert.equal(server.seen.at(-1)!.url, p);
    }
    // A URL object is already normalized by WHATWG URL; it is sent as it stands. No path -> "/".
    await (await nodeFetch(new URL(server.url + "/q/../r"))).text();
    assert.equal(server.seen.at(-1)!.url, "/r");
    await (await nodeFetch(server.url + "?a=1#frag")).text();
    assert.equal(server.seen.at(-1)!.url, "/?a=1");
  });

  test("method, request headers (object, Headers, pairs) and bodies (string, Uint8Array, ArrayBuffer) arrive", async () => {
    server.handler = (_q, s) => s.end();
    const body = randomBytes(100_000);
    for (const [headers, b, want] of [
      [{ "X-One": "1", "x-amz-meta-k": "v v" }, "héllo", Buffer.from("héllo")],
      [new Headers({ "x-one": "1", "x-amz-meta-k": "v v" }), new Uint8Array(body), body],
      [
        [
          ["x-one", "1"],
          ["x-amz-meta-k", "v v"],
        ],
        body.buffer.slice(body.byteOffset, body.byteOffset + body.length),
        body,
      ],
    ] as [HeadersInit, BodyInit, Buffer][]) {
      const r = await nodeFetch(server.url + "/put", { method: "PUT", headers, body: b });
      assert.equal(r.status, 200);
      const s = server.seen.at(-1)!;
      assert.equal(s.method, "PUT");
      assert.equal(s.headers["x-one"], "1");
      assert.equal(s.headers["x-amz-meta-k"], "v v");
      assert.equal(s.headers["content-length"], String(want.length));
      assert.equal(s.headers.host, new URL(server.url).host);
      assert.ok(s.body.equals(want));
    }
    await nodeFetch(server.url + "/empty-put", { method: "PUT", body: "" });
    assert.equal(server.seen.at(-1)!.headers["content-length"], "0");
    await assert.rejects(nodeFetch(server.url + "/x", { method: "POST", body: new Blob(["x"]) }), TypeError);
  });

  test("status, status text, repeated response headers and body round-trip", async () => {
    server.handler = (_q, s) => {
      s.setHeader("x-rep", ["a", "b"]);
      s.setHeader("set-cookie", ["c=1", "d=2"]);
      s.writeHead(207, "Multi Things", { "content-type": "application/xml", etag: '"abc"' }).end("<x/>");
    };
    const r = await nodeFetch(server.url + "/h");
    assert.ok(r instanceof NodeResponse);
    assert.equal(r.status, 207);
    assert.equal(r.statusText, "Multi Things");
    assert.equal(r.ok, true);
    assert.equal(r.headers.get("x-rep"), "a, b");
    assert.deepEqual(r.headers.getSetCookie(), ["c=1", "d=2"]);
    assert.equal(r.headers.get("etag"), '"abc"');
    assert.equal(await r.text(), "<x/>");
    server.handler = (_q, s) => s.writeHead(503, { "retry-after": "1" }).end("busy");
    const e = await nodeFetch(server.url + "/e");
    assert.equal(e.status, 503);
    assert.equal(e.ok, false);
    assert.equal(await e.text(), "busy");
  });

  test("HEAD, 204 and 304 have a null body; the next request to the origin is answered", async () => {
    server.handler = (q, s) => {
      if (q.url == "/304") return s.writeHead(304, { etag: '"e"' }).end();
      if (q.url == "/204") return s.writeHead(204).end();
      s.writeHead(200, { "content-length": "5", "x-amz-meta-a": "1" }).end(q.method == "HEAD" ? undefined : "hello");
    };
    const h = await nodeFetch(server.url + "/obj", { method: "HEAD" });
    assert.equal(h.status, 200);
    assert.equal(h.body, null);
    assert.equal(h.headers.get("content-length"), "5");
    assert.equal(h.headers.get("x-amz-meta-a"), "1");
    for (const st of [304, 204]) {
      const r = await nodeFetch(server.url + "/" + st);
      assert.equal(r.status, st);
      assert.equal(r.body, null);
    }
    assert.equal(await (await nodeFetch(server.url + "/obj")).text(), "hello");
  });

  test("abort before the headers rejects with signal.reason; an aborted signal rejects at once", async () => {
    server.handler = (_q, s) => setTimeout(() => s.destroyed || s.end("late"), 2000);
    const c = new AbortController(),
      why = new Error("caller gave up");
    const t0 = Date.now();
    setTimeout(() => c.abort(why), 50);
    await assert.rejects(nodeFetch(server.url + "/slow", { signal: c.signal }), (e) => e === why);
    assert.ok(Date.now() - t0 < 1000);
    const n = server.seen.length;
    await assert.rejects(
      nodeFetch(server.url + "/never", { signal: AbortSignal.abort() }),
      (e: any) => e.name == "AbortError",
    );
    await sleep(50);
    assert.equal(server.seen.length, n, "an aborted signal must not send the request");
  });

  test("abort during the body errors the body stream with signal.reason and closes the connection", async () => {
    server.handler = (_q, s) => {
      s.writeHead(200, { "content-length": String(10 * MiB) });
      s.write(Buffer.alloc(1000, 1)); // then stall
    };
    const c = new AbortController(),
      why = new Error("stop now");
    const r = await nodeFetch(server.url + "/stall", { signal: c.signal });
    const rd = r.body!.getReader();
    assert.equal((await rd.read()).value!.length, 1000);
    const pending = rd.read();
    c.abort(why);
    await assert.rejects(pending, (e) => e === why);
    await sleep(100);
    assert.ok(server.closed.includes("/stall"), "the server's response was cut");
  });

  test("a connection error is a TypeError with the node error as cause", async () => {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    const port = (s.address() as AddressInfo).port;
    await new Promise((r) => s.close(r));
    await assert.rejects(
      nodeFetch(`http://127.0.0.1:${port}/x`),
      (e: any) => e instanceof TypeError && (e.cause as any)?.code == "ECONNREFUSED",
    );
    await assert.rejects(nodeFetch("ftp://127.0.0.1/x"), TypeError);
    await assert.rejects(nodeFetch(server.url + "/a b"), TypeError); // node refuses a raw space in the path
  });

  test("a connection broken mid-body errors the body stream (never a silent short body)", async () => {
    server.handler = (_q, s) => {
      s.writeHead(200, { "content-length": "100000" });
      s.write(Buffer.alloc(30000, 2), () => setTimeout(() => s.destroy(), 20));
    };
    const r = await nodeFetch(server.url + "/cut");
    await assert.rejects(readAll(r.body!), (e: any) => e instanceof TypeError);
  });

  test("cancelling the body closes the connection", async () => {
    server.handler = (_q, s) => {
      s.writeHead(200, { "content-length": String(50 * MiB) });
      const chunk = Buffer.alloc(MiB);
      const pump = () => {
        while (!s.destroyed && s.write(chunk));
        if (!s.destroyed) s.once("drain", pump);
      };
      pump();
    };
    const r = await nodeFetch(server.url + "/cancel");
    const rd = r.body!.getReader();
    await rd.read();
    await rd.cancel();
    await sleep(100);
    assert.ok(server.closed.includes("/cancel"));
  });

  test("backpressure: a slow reader keeps the server from running ahead (bounded by socket buffers)", async () => {
    const TOTAL = 128 * MiB,
      chunk = Buffer.alloc(MiB, 3);
    let written = 0;
    server.handler = (_q, s) => {
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
    const r = await nodeFetch(server.url + "/big");
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
    for (let x; !(x = await rd.read()).done;) read += x.value.length;
    assert.equal(read, TOTAL);
  });
});

describe("downloadToFile through nodeFetch", () => {
  test("a multi-MiB object lands byte-exact (chunks gathered into batched writes)", async () => {
    const data = randomBytes(7 * MiB + 12345);
    server.handler = (_q, res) => {
      res.writeHead(200, {
        "content-length": String(data.length),
        etag: '"e1"',
        "last-modified": "Wed, 01 Jan 2025 00:00:00 GMT",
      });
      // odd-sized writes, so chunks are not aligned to anything
      for (let i = 0; i < data.length; i += 100_003) res.write(data.subarray(i, i + 100_003));
      res.end();
    };
    const dir = await mkdtemp(join(tmpdir(), "nodefetch-")),
      path = join(dir, "o.bin");
    try {
      const c = new S3Client({
        endpoint: server.url,
        region: "us-east-1",
        credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
        forcePathStyle: true,
        fetch: nodeFetch,
      });
      const r = await downloadToFile(c, { bucket: "b", key: "k/../o.bin", path });
      assert.equal(r.size, data.length);
      assert.ok((await readFile(path)).equals(data));
      assert.equal(server.seen.at(-1)!.url.split("?")[0], "/b/k/../o.bin");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("nodeFetch over https", () => {
  // A self-signed certificate for localhost / 127.0.0.1, for this test only.
  const key = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgZXVbUCreYqqizIla
A1t64MDMYjou0ZOH+1oV5W3uv3OhRANCAAQbCfnDCMIzR+kQUDswkQ7CJBe+I/Lm
677dqlz1rzSK90RZwgLx6Mq4el2b6PMEG6bfGGWZgNlNkMZdud1nPXf7
-----END PRIVATE KEY-----`;
  const cert = `-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUYJuCB6ly99Kuruiv3sz7IFD1WAcwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwMjAxNTkxNVoYDzIxMjYxMTA4
MDE1OTE1WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAQbCfnDCMIzR+kQUDswkQ7CJBe+I/Lm677dqlz1rzSK90RZwgLx6Mq4
el2b6PMEG6bfGGWZgNlNkMZdud1nPXf7o28wbTAdBgNVHQ4EFgQUInMKiiYvBtu6
AzUxLREioqL71mQwHwYDVR0jBBgwFoAUInMKiiYvBtu6AzUxLREioqL71mQwDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI
zj0EAwIDSAAwRQIhAPuKsABLmaui5lK8Sf2tdCMVVbGK4Y9gDcPhY2vEw1ktAiAb
NXML76pIvEvBOW9IIIhgUAh529B3RcjNn5SwYW6AVw==
-----END CERTIFICATE-----`;
  let srv: ReturnType<typeof createHttpsServer>, port: number;
  const body = randomBytes(3 * MiB + 17),
    ports: number[] = [];
  before(async () => {
    srv = createHttpsServer({ key, cert }, (req, res) => {
      ports.push(req.socket.remotePort!);
      if (req.url == "/chunked") return res.end(body.subarray(0, 100_000)); // small end(): Content-Length
      res.writeHead(200, { "content-length": String(body.length), "x-sni": String((req.socket as any).servername) });
      res.end(body);
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    port = (srv.address() as AddressInfo).port;
  });
  after(() => {
    srv.closeAllConnections();
    srv.close();
  });

  test("an untrusted certificate is refused like fetch (TypeError with the TLS error as cause)", async () => {
    await assert.rejects(
      nodeFetch(`https://127.0.0.1:${port}/x`),
      (e: any) => e instanceof TypeError && e.message == "fetch failed" && typeof (e as any).cause?.code == "string",
    );
  });

  test("bodies, SNI and keep-alive over TLS (certificate check off for this self-signed server)", async () => {
    const was = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
    const warn = process.emitWarning;
    process.emitWarning = () => {};
    try {
      for (const host of ["127.0.0.1", "localhost"]) {
        const r = await nodeFetch(`https://${host}:${port}/big`);
        assert.equal(r.status, 200);
        assert.equal(r.headers.get("x-sni"), host == "localhost" ? "localhost" : "false", "SNI only for a name");
        assert.ok(Buffer.from(await readAll(r.body!)).equals(body));
      }
      const n = ports.length;
      await (await nodeFetch(`https://localhost:${port}/chunked`)).arrayBuffer();
      assert.equal(ports[n], ports[n - 1], "the TLS connection was reused");
      // A slow reader over TLS still gets every byte.
      const r = await nodeFetch(`https://127.0.0.1:${port}/big`),
        rd = r.body!.getReader();
      let got = 0;
      for (let x; !(x = await rd.read()).done; got += x.value.length) if (got < 200_000) await sleep(5);
      assert.equal(got, body.length);
    } finally {
      if (was == null) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      else process.env.NODE_TLS_REJECT_UNAUTHORIZED = was;
      process.emitWarning = warn;
    }
  });
});

describe("nodeFetch with S3Client on a real S3 server", () => {
  let c: S3Client, bucket: string;
  const keys = ["a/../b", "./x", "dir/./y/..", "..", "a/b", "b", "x"];
  const data = new Map(keys.map((k, i) => [k, randomBytes(1000 + i * 977)]));

  before(async () => {
    const srv = await s3TestServer();
    c = new S3Client({
      endpoint: srv.endpoint,
      region: srv.region,
      credentials: srv,
      forcePathStyle: true,
      fetch: nodeFetch,
    });
    bucket = uniqueBucket("nodefetch");
    await c.createBucket({ bucket });
  });

  test('keys with "." and ".." segments: put, get and list byte-exact, each a distinct object', async () => {
    for (const k of keys)
      await c.putObject({ bucket, key: k, body: data.get(k)!, metadata: { k: encodeURIComponent(k) } });
    for (const k of keys) {
      const r = await c.getObject({ bucket, key: k });
      assert.equal(r.metadata.k, encodeURIComponent(k), `metadata of ${k}`);
      assert.ok(Buffer.from(await readAll(r.body)).equals(data.get(k)!), `body of ${k}`);
      const h = await c.headObject({ bucket, key: k });
      assert.equal(h.size, data.get(k)!.length);
    }
    const listed = [];
    for await (const o of c.listAll({ bucket, maxKeys: 3 })) listed.push([o.key, o.size]);
    assert.deepEqual(listed.sort(), keys.map((k) => [k, data.get(k)!.length]).sort());
    const dots = await c.listObjectsV2({ bucket, prefix: "a/../", encodingType: "url" });
    assert.deepEqual(
      dots.contents.map((o) => o.key),
      ["a/../b"],
    );
  });

  test("downloadFile through nodeFetch: multi-MiB, byte-exact, ranged", async () => {
    const big = randomBytes(5 * MiB + 3),
      key = "dl/./../big.bin";
    const { etag } = await c.putObject({ bucket, key, body: big });
    const d = await downloadFile(c, { bucket, key });
    assert.equal(d.size, big.length);
    assert.equal(d.etag, etag);
    assert.ok(Buffer.from(await readAll(d.body)).equals(big));
    const part = await downloadFile(c, { bucket, key, range: "bytes=1000000-2999999", etag });
    assert.ok(Buffer.from(await readAll(part.body)).equals(big.subarray(1_000_000, 3_000_000)));
  });

  test("errors still come back as S3Error through nodeFetch (404 on a dotted key)", async () => {
    await assert.rejects(
      c.getObject({ bucket, key: "nope/../nothing" }),
      (e: any) => e.name == "S3Error" && e.status == 404 && e.code == "NoSuchKey",
    );
    await assert.rejects(
      c.headObject({ bucket, key: "./nothing" }),
      (e: any) => e.name == "S3Error" && e.status == 404,
    );
  });
});
