// nodeFetch (src/node.ts): a fetch over node:http that keeps the request path byte for byte.
// Against a local node:http server (raw paths, headers, statuses, abort, errors, backpressure) and
// against the real S3 server (keys with "." / ".." segments through S3Client).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createServer as createNetServer, type AddressInfo, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { S3Client } from "../src/client.ts";
import { downloadFile } from "../src/download.ts";
import { execFile } from "node:child_process";
import { nodeFetch, NodeHeaders, NodeResponse } from "../src/node/index.ts";
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
    assert.ok(r instanceof NodeResponse);
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

// A TCP server that answers each request with bytes chosen by the test (split into separate writes
// with a pause between them, so the client sees them in separate reads).
type RawReply = (req: string, sock: Socket, n: number) => void;
async function rawServer(reply: RawReply) {
  const conns = new Set<Socket>(), requests: { req: string; port: number }[] = [];
  const srv = createNetServer((sock) => {
    conns.add(sock);
    sock.on("close", () => conns.delete(sock));
    let buf = "";
    sock.on("data", (d) => {
      buf += d.toString("latin1");
      for (let i; (i = buf.indexOf("\r\n\r\n")) >= 0; ) {
        const head = buf.slice(0, i), cl = +(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < i + 4 + cl) return;
        const req = buf.slice(0, i + 4 + cl);
        buf = buf.slice(i + 4 + cl);
        requests.push({ req, port: sock.remotePort! });
        reply(req, sock, requests.length);
      }
    });
    sock.on("error", () => {});
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    requests,
    close: () => {
      for (const c of conns) c.destroy();
      return new Promise((r) => srv.close(r));
    },
  };
}
// Writes the pieces in order, each in its own TCP segment.
const writeSlowly = async (sock: Socket, pieces: (string | Buffer)[], then?: "end" | "destroy") => {
  sock.setNoDelay(true);
  for (const p of pieces) {
    if (sock.destroyed) return;
    sock.write(p);
    await sleep(5);
  }
  if (then == "end") sock.end();
  if (then == "destroy") sock.destroy();
};
const failedWith = (message: string, code?: string) => (e: any) => e instanceof TypeError && e.message == message && (code == null || (e as any).cause?.code == code);

describe("downloadToFile through nodeFetch", () => {
  test("a multi-MiB object lands byte-exact (chunks gathered into batched writes)", async () => {
    const { mkdtemp, readFile, rm } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { downloadToFile } = await import("../src/node/index.ts");
    const data = randomBytes(7 * MiB + 12345);
    handler = (_q, res) => {
      res.writeHead(200, { "content-length": String(data.length), etag: '"e1"', "last-modified": "Wed, 01 Jan 2025 00:00:00 GMT" });
      // odd-sized writes, so chunks are not aligned to anything
      for (let i = 0; i < data.length; i += 100_003) res.write(data.subarray(i, i + 100_003));
      res.end();
    };
    const dir = await mkdtemp(join(tmpdir(), "nodefetch-")), path = join(dir, "o.bin");
    try {
      const c = new S3Client({ endpoint: base, region: "us-east-1", credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" }, forcePathStyle: true, fetch: nodeFetch });
      const r = await downloadToFile(c, { bucket: "b", key: "k/../o.bin", path });
      assert.equal(r.size, data.length);
      assert.ok((await readFile(path)).equals(data));
      assert.equal(seen.at(-1)!.url.split("?")[0], "/b/k/../o.bin");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("nodeFetch's HTTP/1.1 reader (byte-exact server)", () => {
  test("chunked bodies: sizes split across reads, extensions, upper-case hex, trailers; then the connection is reused", async () => {
    const body = randomBytes(70_000);
    const s = await rawServer((_q, sock, n) => {
      if (n == 1) {
        const hex = body.length.toString(16).toUpperCase();
        void writeSlowly(sock, [
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n",
          "5;name=va", "lue\r\n", body.subarray(0, 3), body.subarray(3, 5), "\r", "\n",
          "1\r\n", body.subarray(5, 6), "\r\n",
          (body.length - 6).toString(16) + "\r\n", body.subarray(6, 40_000), body.subarray(40_000), "\r\n",
          "0\r\nX-Trailer: t\r\n", "\r\n",
        ]);
        void hex;
      } else sock.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    try {
      const r = await nodeFetch(s.url + "/c");
      assert.equal(r.headers.get("x-a"), "1");
      assert.ok((await readAll(r.body!)).equals(body));
      assert.equal(await (await nodeFetch(s.url + "/next")).text(), "ok");
      assert.equal(s.requests.length, 2);
      assert.equal(s.requests[0].port, s.requests[1].port, "the second request went over the same connection");
    } finally {
      await s.close();
    }
  });

  test("chunked bodies from node:http (many small writes, trailers) arrive whole", async () => {
    const parts = Array.from({ length: 300 }, (_, i) => randomBytes(1 + ((i * 7919) % 5000)));
    handler = (_q, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream", trailer: "x-sum" });
      for (const p of parts) res.write(p);
      res.addTrailers({ "x-sum": "1" });
      res.end();
    };
    const r = await nodeFetch(base + "/chunked");
    assert.equal(r.headers.get("transfer-encoding"), "chunked");
    assert.ok((await readAll(r.body!)).equals(Buffer.concat(parts)));
  });

  test("chunks handed out stay valid: every chunk is its own array, never overwritten by later reads", async () => {
    const TOTAL = 4 * MiB;
    handler = (_q, res) => {
      res.writeHead(200, { "content-length": String(TOTAL) });
      const b = Buffer.alloc(TOTAL);
      for (let i = 0; i < TOTAL; i++) b[i] = i % 251;
      res.end(b);
    };
    const r = await nodeFetch(base + "/valid");
    const kept: Uint8Array[] = [];
    for await (const c of r.body as any as AsyncIterable<Uint8Array>) kept.push(c);
    let off = 0;
    for (const c of kept) {
      assert.equal(Object.getPrototypeOf(c), Uint8Array.prototype, "a plain Uint8Array");
      assert.equal(c.byteOffset, 0);
      assert.equal(c.buffer.byteLength, c.length, "an exactly sized buffer of its own");
      for (let i = 0; i < c.length; i += 997) assert.equal(c[i], (off + i) % 251);
      off += c.length;
    }
    assert.equal(off, TOTAL);
    assert.equal(new Set(kept.map((c) => c.buffer)).size, kept.length);
  });

  test("a body delimited by the connection closing (no Content-Length, no chunked) ends cleanly", async () => {
    const body = randomBytes(100_000);
    const s = await rawServer((_q, sock) => void writeSlowly(sock, ["HTTP/1.1 200 OK\r\nContent-Type: x/y\r\n\r\n", body.subarray(0, 50_000), body.subarray(50_000)], "end"));
    try {
      const r = await nodeFetch(s.url + "/eof");
      assert.ok((await readAll(r.body!)).equals(body));
      // HTTP/1.0 and Content-Length: 0
      const s2 = await rawServer((_q, sock) => sock.end("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
      try {
        const e = await nodeFetch(s2.url + "/empty");
        assert.equal(e.status, 200);
        assert.ok(e.body, "an empty body is a stream, like fetch's");
        assert.equal(await e.text(), "");
      } finally {
        await s2.close();
      }
    } finally {
      await s.close();
    }
  });

  test("bodies cut mid-way error with TypeError terminated (Content-Length, chunked)", async () => {
    for (const pieces of [
      ["HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", Buffer.alloc(30_000, 1)],
      ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "10000\r\n", Buffer.alloc(30_000, 1)],
      ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "10\r\n", Buffer.alloc(16, 1), "\r\n"], // no last chunk
    ]) {
      for (const how of ["end", "destroy"] as const) {
        const s = await rawServer((_q, sock) => void writeSlowly(sock, pieces, how));
        try {
          const r = await nodeFetch(s.url + "/cut");
          await assert.rejects(readAll(r.body!), failedWith("terminated"));
        } finally {
          await s.close();
        }
      }
    }
  });

  test("a server closing before or during the headers: TypeError fetch failed", async () => {
    for (const pieces of [[], ["HTTP/1.1 200 OK\r\nContent-Le"]]) {
      const s = await rawServer((_q, sock) => void writeSlowly(sock, pieces, "end"));
      try {
        await assert.rejects(nodeFetch(s.url + "/x"), failedWith("fetch failed", "ECONNRESET"));
      } finally {
        await s.close();
      }
    }
  });

  test("malformed responses are rejected with a TypeError naming the problem", async () => {
    const cases: [string, RegExp][] = [
      ["HTTP/1.1 2000 OK\r\n\r\n", /status line/],
      ["HTTP/2 200 OK\r\n\r\n", /status line/],
      ["ICY 200 OK\r\n\r\n", /status line/],
      ["HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 0\r\n\r\n", /header line/],
      ["HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 0\r\n\r\n", /header line/],
      ["HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", /Content-Length/],
      ["HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", /Content-Length/],
      ["HTTP/1.1 200 OK\r\nX-Big: " + "a".repeat(70_000) + "\r\n\r\n", /headers larger/],
      ["HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", /101/],
      ["HTTP/1.1 600 Weird\r\nContent-Length: 0\r\n\r\n", /unusable/],
    ];
    for (const [reply, why] of cases) {
      const s = await rawServer((_q, sock) => sock.end(reply));
      try {
        await assert.rejects(
          nodeFetch(s.url + "/bad"),
          (e: any) => failedWith("fetch failed", "ERR_INVALID_HTTP_RESPONSE")(e) && why.test(e.cause.message),
          JSON.stringify(reply.slice(0, 60)),
        );
      } finally {
        await s.close();
      }
    }
    // Mid-body: the body errors with "terminated", the cause names the problem.
    for (const reply of ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]) {
      const s = await rawServer((_q, sock) => sock.end(reply));
      try {
        const r = await nodeFetch(s.url + "/badchunk");
        await assert.rejects(readAll(r.body!), (e: any) => failedWith("terminated", "ERR_INVALID_HTTP_RESPONSE")(e) && /chunk/.test(e.cause.message));
      } finally {
        await s.close();
      }
    }
  });

  test("1xx informational responses are skipped; 205 has a null body; LF-only line ends are accepted", async () => {
    const s = await rawServer((q, sock) => {
      if (q.includes("/early")) void writeSlowly(sock, ["HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"]);
      else if (q.includes("/205")) sock.write("HTTP/1.1 205 Reset Content\r\nContent-Length: 2\r\n\r\nxx");
      else sock.write("HTTP/1.1 200 OK\nContent-Length: 2\nX-Lf: yes\n\nok");
    });
    try {
      const r = await nodeFetch(s.url + "/early");
      assert.equal(r.status, 200);
      assert.equal(r.headers.get("link"), null);
      assert.equal(await r.text(), "abc");
      const reset = await nodeFetch(s.url + "/205");
      assert.equal(reset.status, 205);
      assert.equal(reset.body, null);
      const lf = await nodeFetch(s.url + "/lf");
      assert.equal(lf.headers.get("x-lf"), "yes");
      assert.equal(await lf.text(), "ok");
      assert.equal(new Set(s.requests.map((r) => r.port)).size, 1, "all three over one kept-alive connection");
    } finally {
      await s.close();
    }
  });

  test("keep-alive: sequential requests share a connection; Connection: close and a server closing an idle connection are handled", async () => {
    const s = await rawServer((q, sock) => {
      const close = q.includes("/close");
      sock.write(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n${close ? "Connection: close\r\n" : ""}\r\nok`);
      if (close) sock.end();
      if (q.includes("/then-idle-close")) setTimeout(() => sock.end(), 10);
    });
    try {
      for (let i = 0; i < 3; i++) assert.equal(await (await nodeFetch(s.url + "/a")).text(), "ok");
      assert.equal(new Set(s.requests.map((r) => r.port)).size, 1);
      await (await nodeFetch(s.url + "/close")).text();
      await (await nodeFetch(s.url + "/b")).text();
      assert.notEqual(s.requests.at(-1)!.port, s.requests.at(-2)!.port, "a new connection after Connection: close");
      await (await nodeFetch(s.url + "/then-idle-close")).text();
      await sleep(50); // the server has closed the idle connection
      assert.equal(await (await nodeFetch(s.url + "/c")).text(), "ok");
      // Concurrent requests each get a connection; all are answered.
      const many = await Promise.all(Array.from({ length: 20 }, (_, i) => nodeFetch(s.url + "/p" + i).then((r) => r.text())));
      assert.deepEqual(many, Array(20).fill("ok"));
    } finally {
      await s.close();
    }
  });

  test("a kept-alive connection the server dropped unseen is retried once on a new one (GET), not for POST", async () => {
    let drop = 0;
    const s = await rawServer((_q, sock) => {
      // The next request is dropped unanswered, as by a server that timed the connection out just
      // before the request arrived.
      if (drop && drop--) return void sock.destroy();
      sock.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    try {
      await (await nodeFetch(s.url + "/1")).text();
      drop = 1;
      assert.equal(await (await nodeFetch(s.url + "/2")).text(), "ok");
      assert.deepEqual(s.requests.map((r) => r.req.split(" ")[1]), ["/1", "/2", "/2"]);
      assert.equal(s.requests[0].port, s.requests[1].port);
      assert.notEqual(s.requests[1].port, s.requests[2].port, "retried on a new connection");
      // Not retried: POST (not idempotent), and a new connection (not a stale one).
      drop = 1;
      await assert.rejects(nodeFetch(s.url + "/3", { method: "POST", body: "x" }), failedWith("fetch failed", "ECONNRESET"));
      drop = 1;
      await assert.rejects(nodeFetch(s.url + "/4"), failedWith("fetch failed", "ECONNRESET"));
      assert.equal(s.requests.length, 5);
    } finally {
      await s.close();
    }
  });

  test("request bytes on the wire: Host, Content-Length, raw path, no body for GET", async () => {
    const s = await rawServer((_q, sock) => sock.write("HTTP/1.1 204 No Content\r\n\r\n"));
    try {
      await nodeFetch(s.url + "/a/../b?x=%2E", { headers: { "x-k": "v" } });
      const host = new URL(s.url).host;
      assert.match(s.requests[0].req, new RegExp(`^GET /a/\\.\\./b\\?x=%2E HTTP/1\\.1\\r\\n`));
      assert.match(s.requests[0].req, new RegExp(`\\r\\nhost: ${host}\\r\\n`));
      assert.doesNotMatch(s.requests[0].req, /content-length/i);
      await nodeFetch(s.url + "/p", { method: "PUT", body: new Uint8Array([1, 2, 3]) });
      assert.match(s.requests[1].req, /^PUT \/p HTTP\/1\.1\r\n[^]*content-length: 3\r\n[^]*\r\n\r\n\x01\x02\x03$/);
      await nodeFetch(s.url.replace("//", "//us%40r:p%3Ass@") + "/auth");
      assert.match(s.requests[2].req, new RegExp(`\\r\\nauthorization: Basic ${Buffer.from("us@r:p:ss").toString("base64")}\\r\\n`));
      await assert.rejects(nodeFetch(s.url + "/x", { method: "GE T" }), TypeError);
      await assert.rejects(nodeFetch(s.url + "/é"), TypeError);
      await assert.rejects(nodeFetch(s.url + "/x", { headers: { "x-bad": "a\r\nb" } }), TypeError);
    } finally {
      await s.close();
    }
  });

  test("backpressure pauses the socket: an unread body stops being read from the connection", async () => {
    const TOTAL = 256 * MiB, chunk = Buffer.alloc(MiB, 5);
    let written = 0;
    const s = await rawServer((_q, sock) => {
      sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${TOTAL}\r\n\r\n`);
      const pump = () => {
        while (!sock.destroyed && written < TOTAL) {
          written += chunk.length;
          if (!sock.write(chunk)) return void sock.once("drain", pump);
        }
      };
      pump();
    });
    try {
      const r = await nodeFetch(s.url + "/big");
      await sleep(300); // nothing reads the body
      const w1 = written;
      await sleep(200);
      assert.equal(written, w1, "the server is blocked");
      assert.ok(written < 32 * MiB, `server wrote ${(written / MiB).toFixed(1)} MiB ahead`);
      const rd = r.body!.getReader();
      let n = 0;
      while (n < 64 * MiB) n += (await rd.read()).value!.length;
      assert.ok(written > w1, "reading resumed the socket");
      await rd.cancel();
    } finally {
      await s.close();
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
  const body = randomBytes(3 * MiB + 17), ports: number[] = [];
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
    await assert.rejects(nodeFetch(`https://127.0.0.1:${port}/x`), (e: any) => e instanceof TypeError && e.message == "fetch failed" && typeof (e as any).cause?.code == "string");
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
        assert.ok((await readAll(r.body!)).equals(body));
      }
      const n = ports.length;
      await (await nodeFetch(`https://localhost:${port}/chunked`)).arrayBuffer();
      assert.equal(ports[n], ports[n - 1], "the TLS connection was reused");
      // A slow reader over TLS still gets every byte.
      const r = await nodeFetch(`https://127.0.0.1:${port}/big`), rd = r.body!.getReader();
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

describe("NodeHeaders and NodeResponse read like fetch's Headers and Response", () => {
  // Iteration as the Fetch standard's "sort and combine" gives it (names lowercase and sorted,
  // repeats joined with ", ", each set-cookie its own entry in its sorted place), which undici
  // follows; Bun lists set-cookie last, so its Headers is compared only off Bun.
  const inputs: [string, HeadersInit, [string, string][]][] = [
    ["record", { "Content-Type": " text/plain\t", "X-Amz-Meta-A": "1", b: "" }, [["b", ""], ["content-type", "text/plain"], ["x-amz-meta-a", "1"]]],
    ["pairs with repeats", [["x-a", "1"], ["X-A", "2"], ["set-cookie", "c=1"], ["Set-Cookie", "d=2"], ["accept", "*/*"]], [["accept", "*/*"], ["set-cookie", "c=1"], ["set-cookie", "d=2"], ["x-a", "1, 2"]]],
    ["a Headers", new Headers([["z", "1"], ["a", "2"], ["set-cookie", "e=3"]]), [["a", "2"], ["set-cookie", "e=3"], ["z", "1"]]],
  ];
  for (const [what, init, sorted] of inputs)
    test(`same reads as Headers: ${what}`, () => {
      const ours = new NodeHeaders(init), theirs = new Headers(init);
      assert.deepEqual([...ours], sorted);
      if (!process.versions.bun) assert.deepEqual([...ours], [...theirs]);
      assert.deepEqual([...ours.keys()], sorted.map(([k]) => k));
      assert.deepEqual([...ours.values()], sorted.map(([, v]) => v));
      assert.deepEqual(ours.getSetCookie(), theirs.getSetCookie());
      const fe: string[] = [];
      ours.forEach((v, k) => fe.push(k + "=" + v));
      assert.deepEqual(fe, sorted.map(([k, v]) => k + "=" + v));
      for (const n of ["content-type", "CONTENT-TYPE", "x-a", "set-cookie", "nope", "b"]) {
        assert.equal(ours.get(n), theirs.get(n), n);
        assert.equal(ours.has(n), theirs.has(n), n);
      }
      ours.set("X-A", "9"), theirs.set("X-A", "9"), ours.delete("accept"), theirs.delete("accept");
      assert.equal(ours.get("x-a"), "9");
      assert.equal(ours.has("accept"), false);
      if (!process.versions.bun) assert.deepEqual([...ours], [...theirs]);
    });

  test("invalid names and values are TypeErrors, as Headers makes them", () => {
    for (const [k, v] of [["a b", "1"], ["", "1"], ["x:", "1"], ["é", "1"], ["x", "a\r\nb"], ["x", "a\nb"], ["x", "a\0b"]]) {
      assert.throws(() => new Headers([[k, v]]), TypeError, `Headers ${JSON.stringify([k, v])}`);
      assert.throws(() => new NodeHeaders([[k, v]]), TypeError, `NodeHeaders ${JSON.stringify([k, v])}`);
    }
    assert.throws(() => new NodeHeaders([["a", "1", "2"]] as any), TypeError);
  });

  test("body methods, bodyUsed and clone behave as Response's", async () => {
    const stream = (...parts: string[]) => new ReadableStream<Uint8Array>({ start(c) { for (const p of parts) c.enqueue(new TextEncoder().encode(p)); c.close(); } });
    const make = (...parts: string[]) => new NodeResponse(stream(...parts), 200, "OK", new NodeHeaders({ "content-type": "application/json" }), "http://h/x");
    const r = make("\uFEFF{\"a\":", " [1, \"é\"]}");
    assert.equal(r.bodyUsed, false);
    const c = r.clone();
    assert.deepEqual(await r.json(), await new Response(stream("\uFEFF{\"a\":", " [1, \"é\"]}")).json());
    assert.equal(r.bodyUsed, true);
    await assert.rejects(r.text(), TypeError);
    assert.throws(() => r.clone(), TypeError);
    assert.equal(await c.text(), '{"a": [1, "é"]}'); // the BOM is dropped, as Response.text() drops it
    const b = await make("ab", "cd").arrayBuffer();
    assert.ok(b instanceof ArrayBuffer);
    assert.equal(Buffer.from(b).toString(), "abcd");
    assert.equal(b.byteLength, 4);
    const blob = await make("xyz").blob();
    assert.equal(blob.type, new Blob([], { type: "application/json" }).type); // Bun's Blob adds a charset
    assert.equal(await blob.text(), "xyz");
    assert.deepEqual([...(await make().bytes())], []);
    const empty = new NodeResponse(null, 204, "No Content", new NodeHeaders(), "");
    assert.equal(empty.ok, true);
    assert.equal(await empty.text(), "");
    await assert.rejects(make("a").formData(), TypeError);
    assert.equal(String(make()), "[object Response]");
  });

  test("a download through S3Client and nodeFetch never loads undici (Node's fetch, Headers, Response)", async () => {
    // In a fresh process: the test runner itself may have touched fetch's globals.
    const code = `
      // node:http through require: on Node 22 an ESM import of node:http reads every export, and
      // one of them loads undici.
      import { createRequire } from "node:module";
      const { createServer } = createRequire(import.meta.url)("node:http");
      const { S3Client } = await import(${JSON.stringify(new URL("../src/client.ts", import.meta.url).href)});
      const { downloadFile } = await import(${JSON.stringify(new URL("../src/download.ts", import.meta.url).href)});
      const { nodeFetch } = await import(${JSON.stringify(new URL("../src/node/index.ts", import.meta.url).href)});
      const body = Buffer.alloc(3 << 20, 7);
      const s = createServer((q, r) => r.writeHead(200, { "content-length": body.length, etag: '"e"', "last-modified": new Date().toUTCString() }).end(q.method == "HEAD" ? undefined : body));
      await new Promise((r) => s.listen(0, "127.0.0.1", r));
      const c = new S3Client({ endpoint: "http://127.0.0.1:" + s.address().port, credentials: { accessKeyId: "a", secretAccessKey: "b" }, fetch: nodeFetch });
      const h = await c.headObject({ bucket: "b", key: "k" });
      const d = await downloadFile(c, { bucket: "b", key: "k" });
      let n = 0;
      for await (const x of d.body) n += x.length;
      s.close();
      console.log(JSON.stringify({ n, size: h.size, undici: process.moduleLoadList.filter((m) => /undici/.test(m)) }));
    `;
    const out = await new Promise<string>((ok, no) =>
      execFile(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], { cwd: new URL("..", import.meta.url) }, (e, so, se) => (e ? no(new Error(se || String(e))) : ok(so))),
    );
    const r = JSON.parse(out.trim().split("\n").pop()!);
    assert.equal(r.n, 3 << 20);
    assert.equal(r.size, 3 << 20);
    assert.deepEqual(r.undici, []);
  });
});
