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
    server.handler = (_request, reply) => reply.end("ok");
    const paths = [
      "/b/a/../c",
      "/b/./x",
      "/b/%2E%2E/y",
      "/b/%2e/./../z?list-type=2&prefix=a%2F..%2F&x=%7E~",
      "/b/dir/./y/..",
      "/b//double//slash/",
    ];
    for (const p of paths) {
      const response = await nodeFetch(server.url + p);
      assert.equal(await response.text(), "ok");
      assert.equal(server.seen.at(-1)!.url, p);
    }
    // A URL object is already normalized by WHATWG URL; it is sent as it stands. No path -> "/".
    await (await nodeFetch(new URL(server.url + "/q/../r"))).text();
    assert.equal(server.seen.at(-1)!.url, "/r");
    await (await nodeFetch(server.url + "?a=1#frag")).text();
    assert.equal(server.seen.at(-1)!.url, "/?a=1");
  });

  test("method, request headers (object, Headers, pairs) and bodies (string, Uint8Array, ArrayBuffer) arrive", async () => {
    server.handler = (_request, reply) => reply.end();
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
      const response = await nodeFetch(server.url + "/put", { method: "PUT", headers, body: b });
      assert.equal(response.status, 200);
      const sent = server.seen.at(-1)!;
      assert.equal(sent.method, "PUT");
      assert.equal(sent.headers["x-one"], "1");
      assert.equal(sent.headers["x-amz-meta-k"], "v v");
      assert.equal(sent.headers["content-length"], String(want.length));
      assert.equal(sent.headers.host, new URL(server.url).host);
      assert.ok(sent.body.equals(want));
    }
    await nodeFetch(server.url + "/empty-put", { method: "PUT", body: "" });
    assert.equal(server.seen.at(-1)!.headers["content-length"], "0");
    await assert.rejects(nodeFetch(server.url + "/x", { method: "POST", body: new Blob(["x"]) }), TypeError);
  });

  test("status, status text, repeated response headers and body round-trip", async () => {
    server.handler = (_request, reply) => {
      reply.setHeader("x-rep", ["a", "b"]);
      reply.setHeader("set-cookie", ["c=1", "d=2"]);
      reply.writeHead(207, "Multi Things", { "content-type": "application/xml", etag: '"abc"' }).end("<x/>");
    };
    const response = await nodeFetch(server.url + "/h");
    assert.ok(response instanceof NodeResponse);
    assert.equal(response.status, 207);
    assert.equal(response.statusText, "Multi Things");
    assert.equal(response.ok, true);
    assert.equal(response.headers.get("x-rep"), "a, b");
    assert.deepEqual(response.headers.getSetCookie(), ["c=1", "d=2"]);
    assert.equal(response.headers.get("etag"), '"abc"');
    assert.equal(await response.text(), "<x/>");
    server.handler = (_request, reply) => reply.writeHead(503, { "retry-after": "1" }).end("busy");
    const busy = await nodeFetch(server.url + "/e");
    assert.equal(busy.status, 503);
    assert.equal(busy.ok, false);
    assert.equal(await busy.text(), "busy");
  });

  test("HEAD, 204 and 304 have a null body; the next request to the origin is answered", async () => {
    server.handler = (request, reply) => {
      if (request.url == "/304") return reply.writeHead(304, { etag: '"e"' }).end();
      if (request.url == "/204") return reply.writeHead(204).end();
      reply
        .writeHead(200, { "content-length": "5", "x-amz-meta-a": "1" })
        .end(request.method == "HEAD" ? undefined : "hello");
    };
    const head = await nodeFetch(server.url + "/obj", { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.body, null);
    assert.equal(head.headers.get("content-length"), "5");
    assert.equal(head.headers.get("x-amz-meta-a"), "1");
    for (const st of [304, 204]) {
      const response = await nodeFetch(server.url + "/" + st);
      assert.equal(response.status, st);
      assert.equal(response.body, null);
    }
    assert.equal(await (await nodeFetch(server.url + "/obj")).text(), "hello");
  });

  test("abort before the headers rejects with signal.reason; an aborted signal rejects at once", async () => {
    server.handler = (_request, reply) => setTimeout(() => reply.destroyed || reply.end("late"), 2000);
    const controller = new AbortController(),
      why = new Error("caller gave up");
    const t0 = Date.now();
    setTimeout(() => controller.abort(why), 50);
    await assert.rejects(nodeFetch(server.url + "/slow", { signal: controller.signal }), (e) => e === why);
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
    server.handler = (_request, reply) => {
      reply.writeHead(200, { "content-length": String(10 * MiB) });
      reply.write(Buffer.alloc(1000, 1)); // then stall
    };
    const controller = new AbortController(),
      why = new Error("stop now");
    const response = await nodeFetch(server.url + "/stall", { signal: controller.signal });
    const reader = response.body!.getReader();
    assert.equal((await reader.read()).value!.length, 1000);
    const pending = reader.read();
    controller.abort(why);
    await assert.rejects(pending, (e) => e === why);
    await sleep(100);
    assert.ok(server.closed.includes("/stall"), "the server's response was cut");
  });

  test("a connection error is a TypeError with the node error as cause", async () => {
    const refused = createServer();
    await new Promise<void>((r) => refused.listen(0, "127.0.0.1", r));
    const port = (refused.address() as AddressInfo).port;
    await new Promise((r) => refused.close(r));
    await assert.rejects(
      nodeFetch(`http://127.0.0.1:${port}/x`),
      (e: any) => e instanceof TypeError && (e.cause as any)?.code == "ECONNREFUSED",
    );
    await assert.rejects(nodeFetch("ftp://127.0.0.1/x"), TypeError);
    await assert.rejects(nodeFetch(server.url + "/a b"), TypeError); // node refuses a raw space in the path
  });

  test("a connection broken mid-body errors the body stream (never a silent short body)", async () => {
    server.handler = (_request, reply) => {
      reply.writeHead(200, { "content-length": "100000" });
      reply.write(Buffer.alloc(30000, 2), () => setTimeout(() => reply.destroy(), 20));
    };
    const response = await nodeFetch(server.url + "/cut");
    await assert.rejects(readAll(response.body!), (e: any) => e instanceof TypeError);
  });

  test("cancelling the body closes the connection", async () => {
    server.handler = (_request, reply) => {
      reply.writeHead(200, { "content-length": String(50 * MiB) });
      const chunk = Buffer.alloc(MiB);
      const pump = () => {
        while (!reply.destroyed && reply.write(chunk));
        if (!reply.destroyed) reply.once("drain", pump);
      };
      pump();
    };
    const response = await nodeFetch(server.url + "/cancel");
    const reader = response.body!.getReader();
    await reader.read();
    await reader.cancel();
    await sleep(100);
    assert.ok(server.closed.includes("/cancel"));
  });

  test("backpressure: a slow reader keeps the server from running ahead (bounded by socket buffers)", async () => {
    const TOTAL = 128 * MiB,
      chunk = Buffer.alloc(MiB, 3);
    let written = 0;
    server.handler = (_request, reply) => {
      reply.writeHead(200, { "content-length": String(TOTAL) });
      const pump = () => {
        while (!reply.destroyed && written < TOTAL) {
          written += chunk.length;
          if (!reply.write(chunk)) return void reply.once("drain", pump);
        }
        reply.end();
      };
      pump();
    };
    const response = await nodeFetch(server.url + "/big");
    const reader = response.body!.getReader();
    let read = 0;
    for (let i = 0; i < 5; i++) {
      read += (await reader.read()).value!.length;
      await sleep(60);
    }
    const ahead = written - read;
    // Kernel socket buffers on loopback take a few MiB (measured 2-4 MiB ahead); without
    // backpressure the server ran ~50 MiB ahead in this time.
    assert.ok(ahead < 16 * MiB, `server ran ${(ahead / MiB).toFixed(1)} MiB ahead of the reader`);
    // And reading on still delivers every byte.
    for (let x; !(x = await reader.read()).done;) read += x.value.length;
    assert.equal(read, TOTAL);
  });
});

describe("downloadToFile through nodeFetch", () => {
  test("a multi-MiB object lands byte-exact (chunks gathered into batched writes)", async () => {
    const data = randomBytes(7 * MiB + 12345);
    server.handler = (_request, res) => {
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
      const client = new S3Client({
        endpoint: server.url,
        region: "us-east-1",
        credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
        forcePathStyle: true,
        fetch: nodeFetch,
      });
      const saved = await downloadToFile(client, { bucket: "b", key: "k/../o.bin", path });
      assert.equal(saved.size, data.length);
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
        const response = await nodeFetch(`https://${host}:${port}/big`);
        assert.equal(response.status, 200);
        assert.equal(response.headers.get("x-sni"), host == "localhost" ? "localhost" : "false", "SNI only for a name");
        assert.ok(Buffer.from(await readAll(response.body!)).equals(body));
      }
      const n = ports.length;
      await (await nodeFetch(`https://localhost:${port}/chunked`)).arrayBuffer();
      assert.equal(ports[n], ports[n - 1], "the TLS connection was reused");
      // A slow reader over TLS still gets every byte.
      const response = await nodeFetch(`https://127.0.0.1:${port}/big`),
        reader = response.body!.getReader();
      let got = 0;
      for (let x; !(x = await reader.read()).done; got += x.value.length) if (got < 200_000) await sleep(5);
      assert.equal(got, body.length);
    } finally {
      if (was == null) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      else process.env.NODE_TLS_REJECT_UNAUTHORIZED = was;
      process.emitWarning = warn;
    }
  });
});

describe("nodeFetch with S3Client on a real S3 server", () => {
  let client: S3Client, bucket: string;
  const keys = ["a/../b", "./x", "dir/./y/..", "..", "a/b", "b", "x"];
  const data = new Map(keys.map((k, i) => [k, randomBytes(1000 + i * 977)]));

  before(async () => {
    const srv = await s3TestServer();
    client = new S3Client({
      endpoint: srv.endpoint,
      region: srv.region,
      credentials: srv,
      forcePathStyle: true,
      fetch: nodeFetch,
    });
    bucket = uniqueBucket("nodefetch");
    await client.createBucket({ bucket });
  });

  test('keys with "." and ".." segments: put, get and list byte-exact, each a distinct object', async () => {
    for (const k of keys)
      await client.putObject({ bucket, key: k, body: data.get(k)!, metadata: { k: encodeURIComponent(k) } });
    for (const k of keys) {
      const object = await client.getObject({ bucket, key: k });
      assert.equal(object.metadata.k, encodeURIComponent(k), `metadata of ${k}`);
      assert.ok(Buffer.from(await readAll(object.body)).equals(data.get(k)!), `body of ${k}`);
      const head = await client.headObject({ bucket, key: k });
      assert.equal(head.size, data.get(k)!.length);
    }
    const listed = [];
    for await (const o of client.listAll({ bucket, maxKeys: 3 })) listed.push([o.key, o.size]);
    assert.deepEqual(listed.sort(), keys.map((k) => [k, data.get(k)!.length]).sort());
    const dots = await client.listObjectsV2({ bucket, prefix: "a/../", encodingType: "url" });
    assert.deepEqual(
      dots.contents.map((o) => o.key),
      ["a/../b"],
    );
  });

  test("downloadFile through nodeFetch: multi-MiB, byte-exact, ranged", async () => {
    const big = randomBytes(5 * MiB + 3),
      key = "dl/./../big.bin";
    const { etag } = await client.putObject({ bucket, key, body: big });
    const download = await downloadFile(client, { bucket, key });
    assert.equal(download.size, big.length);
    assert.equal(download.etag, etag);
    assert.ok(Buffer.from(await readAll(download.body)).equals(big));
    const part = await downloadFile(client, { bucket, key, range: "bytes=1000000-2999999", etag });
    assert.ok(Buffer.from(await readAll(part.body)).equals(big.subarray(1_000_000, 3_000_000)));
  });

  test("errors still come back as S3Error through nodeFetch (404 on a dotted key)", async () => {
    await assert.rejects(
      client.getObject({ bucket, key: "nope/../nothing" }),
      (e: any) => e.name == "S3Error" && e.status == 404 && e.code == "NoSuchKey",
    );
    await assert.rejects(
      client.headObject({ bucket, key: "./nothing" }),
      (e: any) => e.name == "S3Error" && e.status == 404,
    );
  });
});
