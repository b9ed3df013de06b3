// nodeFetch's HTTP/1.1 response reader (src/node/http1.ts): heads and bodies split across reads,
// chunked framing, bodies delimited by the close, cut and malformed responses, 1xx, the request's
// bytes on the wire, and backpressure reaching the socket. A byte-exact TCP server says what a real
// server won't on demand; node:http covers what a real server sends.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { ChunkedBody, ResponseHeadReader } from "../src/node/http1.ts";
import { nodeFetch } from "../src/node/index.ts";
import {
  failedWith,
  MiB,
  rawServer,
  recordingServer,
  writeSlowly,
  type RecordingServer,
} from "./support/http-servers.ts";
import { readAll, seededRandom } from "./support/util.ts";

let server: RecordingServer;
before(async () => (server = await recordingServer()));
after(() => server.close());

describe("nodeFetch's HTTP/1.1 reader (byte-exact server)", () => {
  test("chunked bodies: sizes split across reads, extensions, upper-case hex, trailers; then the connection is reused", async () => {
    const body = randomBytes(70_000);
    const raw = await rawServer((_request, socket, count) => {
      if (count == 1) {
        void writeSlowly(socket, [
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n",
          "5;name=va",
          "lue\r\n",
          body.subarray(0, 3),
          body.subarray(3, 5),
          "\r",
          "\n",
          "1\r\n",
          body.subarray(5, 6),
          "\r\n",
          (body.length - 6).toString(16).toUpperCase() + "\r\n", // 1116A: upper-case hex
          body.subarray(6, 40_000),
          body.subarray(40_000),
          "\r\n",
          "0\r\nX-Trailer: t\r\n",
          "\r\n",
        ]);
      } else socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    try {
      const response = await nodeFetch(raw.url + "/c");
      assert.equal(response.headers.get("x-a"), "1");
      assert.ok(Buffer.from(await readAll(response.body!)).equals(body));
      assert.equal(await (await nodeFetch(raw.url + "/next")).text(), "ok");
      assert.equal(raw.requests.length, 2);
      assert.equal(raw.requests[0].port, raw.requests[1].port, "the second request went over the same connection");
    } finally {
      await raw.close();
    }
  });

  test("chunked bodies from node:http (many small writes, trailers) arrive whole", async () => {
    const parts = Array.from({ length: 300 }, (_, i) => randomBytes(1 + ((i * 7919) % 5000)));
    server.handler = (_request, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream", trailer: "x-sum" });
      for (const p of parts) res.write(p);
      res.addTrailers({ "x-sum": "1" });
      res.end();
    };
    const response = await nodeFetch(server.url + "/chunked");
    assert.equal(response.headers.get("transfer-encoding"), "chunked");
    assert.ok(Buffer.from(await readAll(response.body!)).equals(Buffer.concat(parts)));
  });

  test("chunks handed out stay valid: every chunk is its own array, never overwritten by later reads", async () => {
    const TOTAL = 4 * MiB;
    server.handler = (_request, res) => {
      res.writeHead(200, { "content-length": String(TOTAL) });
      const b = Buffer.alloc(TOTAL);
      for (let i = 0; i < TOTAL; i++) b[i] = i % 251;
      res.end(b);
    };
    const response = await nodeFetch(server.url + "/valid");
    const kept: Uint8Array[] = [];
    for await (const c of response.body as any as AsyncIterable<Uint8Array>) kept.push(c);
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
    const raw = await rawServer(
      (_request, socket) =>
        void writeSlowly(
          socket,
          ["HTTP/1.1 200 OK\r\nContent-Type: x/y\r\n\r\n", body.subarray(0, 50_000), body.subarray(50_000)],
          "end",
        ),
    );
    try {
      const response = await nodeFetch(raw.url + "/eof");
      assert.ok(Buffer.from(await readAll(response.body!)).equals(body));
      // HTTP/1.0 and Content-Length: 0
      const http10 = await rawServer((_request, socket) => socket.end("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
      try {
        const empty = await nodeFetch(http10.url + "/empty");
        assert.equal(empty.status, 200);
        assert.ok(empty.body, "an empty body is a stream, like fetch's");
        assert.equal(await empty.text(), "");
      } finally {
        await http10.close();
      }
    } finally {
      await raw.close();
    }
  });

  test("bodies cut mid-way error with TypeError terminated (Content-Length, chunked)", async () => {
    for (const pieces of [
      ["HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", Buffer.alloc(30_000, 1)],
      ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "10000\r\n", Buffer.alloc(30_000, 1)],
      ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "10\r\n", Buffer.alloc(16, 1), "\r\n"], // no last chunk
    ]) {
      for (const how of ["end", "destroy"] as const) {
        const raw = await rawServer((_request, socket) => void writeSlowly(socket, pieces, how));
        try {
          const response = await nodeFetch(raw.url + "/cut");
          await assert.rejects(readAll(response.body!), failedWith("terminated"));
        } finally {
          await raw.close();
        }
      }
    }
  });

  test("a server closing before or during the headers: TypeError fetch failed", async () => {
    for (const pieces of [[], ["HTTP/1.1 200 OK\r\nContent-Le"]]) {
      const raw = await rawServer((_request, socket) => void writeSlowly(socket, pieces, "end"));
      try {
        await assert.rejects(nodeFetch(raw.url + "/x"), failedWith("fetch failed", "ECONNRESET"));
      } finally {
        await raw.close();
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
      const raw = await rawServer((_request, socket) => socket.end(reply));
      try {
        await assert.rejects(
          nodeFetch(raw.url + "/bad"),
          (e: any) => failedWith("fetch failed", "ERR_INVALID_HTTP_RESPONSE")(e) && why.test(e.cause.message),
          JSON.stringify(reply.slice(0, 60)),
        );
      } finally {
        await raw.close();
      }
    }
    // Mid-body: the body errors with "terminated", the cause names the problem.
    for (const reply of [
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ]) {
      const raw = await rawServer((_request, socket) => socket.end(reply));
      try {
        const response = await nodeFetch(raw.url + "/badchunk");
        await assert.rejects(
          readAll(response.body!),
          (e: any) => failedWith("terminated", "ERR_INVALID_HTTP_RESPONSE")(e) && /chunk/.test(e.cause.message),
        );
      } finally {
        await raw.close();
      }
    }
  });

  test("1xx informational responses are skipped; 205 has a null body; LF-only line ends are accepted", async () => {
    const raw = await rawServer((request, socket) => {
      if (request.includes("/early"))
        void writeSlowly(socket, [
          "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n",
          "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
        ]);
      else if (request.includes("/205")) socket.write("HTTP/1.1 205 Reset Content\r\nContent-Length: 2\r\n\r\nxx");
      else socket.write("HTTP/1.1 200 OK\nContent-Length: 2\nX-Lf: yes\n\nok");
    });
    try {
      const response = await nodeFetch(raw.url + "/early");
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("link"), null);
      assert.equal(await response.text(), "abc");
      const reset = await nodeFetch(raw.url + "/205");
      assert.equal(reset.status, 205);
      assert.equal(reset.body, null);
      const lf = await nodeFetch(raw.url + "/lf");
      assert.equal(lf.headers.get("x-lf"), "yes");
      assert.equal(await lf.text(), "ok");
      assert.equal(new Set(raw.requests.map((r) => r.port)).size, 1, "all three over one kept-alive connection");
    } finally {
      await raw.close();
    }
  });

  test("request bytes on the wire: Host, Content-Length, raw path, no body for GET", async () => {
    const raw = await rawServer((_request, socket) => socket.write("HTTP/1.1 204 No Content\r\n\r\n"));
    try {
      await nodeFetch(raw.url + "/a/../b?x=%2E", { headers: { "x-k": "v" } });
      const host = new URL(raw.url).host;
      assert.match(raw.requests[0].request, new RegExp(`^GET /a/\\.\\./b\\?x=%2E HTTP/1\\.1\\r\\n`));
      assert.match(raw.requests[0].request, new RegExp(`\\r\\nhost: ${host}\\r\\n`));
      assert.doesNotMatch(raw.requests[0].request, /content-length/i);
      await nodeFetch(raw.url + "/p", { method: "PUT", body: new Uint8Array([1, 2, 3]) });
      assert.match(
        raw.requests[1].request,
        /^PUT \/p HTTP\/1\.1\r\n[^]*content-length: 3\r\n[^]*\r\n\r\n\x01\x02\x03$/,
      );
      await nodeFetch(raw.url.replace("//", "//us%40r:p%3Ass@") + "/auth");
      assert.match(
        raw.requests[2].request,
        new RegExp(`\\r\\nauthorization: Basic ${Buffer.from("us@r:p:ss").toString("base64")}\\r\\n`),
      );
      await assert.rejects(nodeFetch(raw.url + "/x", { method: "GE T" }), TypeError);
      await assert.rejects(nodeFetch(raw.url + "/é"), TypeError);
      await assert.rejects(nodeFetch(raw.url + "/x", { headers: { "x-bad": "a\r\nb" } }), TypeError);
    } finally {
      await raw.close();
    }
  });

  test("backpressure pauses the socket: an unread body stops being read from the connection", async () => {
    const TOTAL = 256 * MiB,
      chunk = Buffer.alloc(MiB, 5);
    let written = 0;
    const raw = await rawServer((_request, socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${TOTAL}\r\n\r\n`);
      const pump = () => {
        while (!socket.destroyed && written < TOTAL) {
          written += chunk.length;
          if (!socket.write(chunk)) return void socket.once("drain", pump);
        }
      };
      pump();
    });
    try {
      const response = await nodeFetch(raw.url + "/big");
      await sleep(300); // nothing reads the body
      const w1 = written;
      await sleep(200);
      assert.equal(written, w1, "the server is blocked");
      assert.ok(written < 32 * MiB, `server wrote ${(written / MiB).toFixed(1)} MiB ahead`);
      const rd = response.body!.getReader();
      let n = 0;
      while (n < 64 * MiB) n += (await rd.read()).value!.length;
      assert.ok(written > w1, "reading resumed the socket");
      await rd.cancel();
    } finally {
      await raw.close();
    }
  });
});

describe("the response reader on its own (every split of the input)", () => {
  // A socket may cut the wire bytes anywhere: between CR and LF, inside a size line or its extension,
  // inside the trailers. The decoders must give the same result for every cut.
  const encoder = new TextEncoder();
  const seed = 20_261_204;
  const random = seededRandom(seed);
  const data = random.bytes(5_000);
  const chunkSizes = [1, 15, 16, 255, 4_096, 5_000 - 1 - 15 - 16 - 255 - 4_096];
  const pieces: Uint8Array[] = [];
  let offset = 0;
  for (const [index, size] of chunkSizes.entries()) {
    const extension = index % 2 ? `;name=${index}` : "";
    const hex = index % 3 ? size.toString(16).toUpperCase() : size.toString(16);
    pieces.push(encoder.encode(`${hex}${extension}\r\n`), data.subarray(offset, offset + size), encoder.encode("\r\n"));
    offset += size;
  }
  pieces.push(encoder.encode("0\r\nX-Trailer: 1\r\nX-Other: 2\r\n\r\n"));
  const next = encoder.encode("HTTP/1.1 200 OK\r\n"); // bytes of another response, not the body's
  const wire = Buffer.concat([...pieces, next]);
  const bodyLength = wire.length - next.length;

  /** Feeds `bytes` to the decoder in reads that end at `cuts`; returns the body and where it ended. */
  const decode = (bytes: Uint8Array, cuts: number[]) => {
    const decoder = new ChunkedBody();
    const out: number[] = [];
    let start = 0;
    for (const end of [...cuts, bytes.length]) {
      // The read buffer is longer than the read (as the shared socket buffer is): a stray LF past it.
      const buffer = new Uint8Array(end - start + 1);
      buffer.set(bytes.subarray(start, end));
      buffer[buffer.length - 1] = 0x0a; // '\n'
      const ranges: number[] = [];
      const bodyEnd = decoder.read(buffer, 0, end - start, ranges);
      for (let index = 0; index < ranges.length; index += 2)
        out.push(...buffer.subarray(ranges[index], ranges[index + 1]));
      if (bodyEnd >= 0) return { body: Uint8Array.from(out), end: start + bodyEnd };
      start = end;
    }
    return { body: Uint8Array.from(out), end: -1 };
  };

  test(`chunked: one read, one byte per read, and 200 seeded random splits give the same body (seed ${seed})`, () => {
    const splits = [[], Array.from({ length: wire.length - 1 }, (_, index) => index + 1)];
    for (let round = 0; round < 200; round++) {
      const cuts = new Set<number>();
      const count = 1 + random.int(20);
      while (cuts.size < count) cuts.add(1 + random.int(wire.length - 1));
      splits.push([...cuts].sort((a, b) => a - b));
    }
    for (const cuts of splits) {
      const { body, end } = decode(wire, cuts);
      assert.deepEqual(body, data, `cuts ${cuts.slice(0, 10)}`);
      assert.equal(end, bodyLength, "the body ends before the next response's bytes");
    }
  });

  test("chunked: a bad size line, missing CRLF after data, or an overlong line throws at any split", () => {
    for (const bad of ["zz\r\n", "5\r\nhelloX\r\n", "5;" + "x".repeat(5_000) + "\r\n"]) {
      const bytes = encoder.encode(bad);
      for (const cuts of [[], [1], [2, 3], Array.from({ length: bytes.length - 1 }, (_, index) => index + 1)])
        assert.throws(() => decode(bytes, cuts), /chunk/, JSON.stringify(bad.slice(0, 20)));
    }
  });

  test("a response head split at every byte parses the same, and the body starts after it", () => {
    const head = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: a b\r\nX-A: c\r\n\r\n";
    const bytes = encoder.encode(head + "abc");
    for (let cut = 0; cut <= head.length; cut++) {
      const reader = new ResponseHeadReader();
      const first = reader.read(bytes.subarray(0, cut), 0, cut);
      const parsed = first ?? reader.read(bytes.subarray(cut), 0, bytes.length - cut);
      assert.ok(parsed, `cut at ${cut}`);
      assert.equal(parsed.head.status, 200);
      assert.deepEqual(parsed.head.headers, [
        ["Content-Length", "3"],
        ["X-A", "a b"],
        ["X-A", "c"],
      ]);
      assert.equal((first ? 0 : cut) + parsed.bodyStart, head.length);
    }
  });
});
