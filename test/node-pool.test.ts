// nodeFetch's keep-alive pool (src/node/pool.ts): connections reused in sequence, closed when the
// server or the caller says so, a stale kept-alive connection retried once, and a connection whose
// framing cannot be trusted never handed to the next request.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { nodeFetch } from "../src/node/index.ts";
import { failedWith, rawServer } from "./support/http-servers.ts";

describe("nodeFetch's keep-alive pool", () => {
  test("keep-alive: sequential requests share a connection; Connection: close and a server closing an idle connection are handled", async () => {
    const raw = await rawServer((request, socket) => {
      const close = request.includes("/close");
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n${close ? "Connection: close\r\n" : ""}\r\nok`);
      if (close) socket.end();
      if (request.includes("/then-idle-close")) setTimeout(() => socket.end(), 10);
    });
    try {
      for (let i = 0; i < 3; i++) assert.equal(await (await nodeFetch(raw.url + "/a")).text(), "ok");
      assert.equal(new Set(raw.requests.map((r) => r.port)).size, 1);
      await (await nodeFetch(raw.url + "/close")).text();
      await (await nodeFetch(raw.url + "/b")).text();
      assert.notEqual(raw.requests.at(-1)!.port, raw.requests.at(-2)!.port, "a new connection after Connection: close");
      await (await nodeFetch(raw.url + "/then-idle-close")).text();
      await sleep(50); // the server has closed the idle connection
      assert.equal(await (await nodeFetch(raw.url + "/c")).text(), "ok");
      // Concurrent requests each get a connection; all are answered.
      const many = await Promise.all(
        Array.from({ length: 20 }, (_, i) => nodeFetch(raw.url + "/p" + i).then((response) => response.text())),
      );
      assert.deepEqual(many, Array(20).fill("ok"));
    } finally {
      await raw.close();
    }
  });

  test("a kept-alive connection the server dropped unseen is retried once on a new one (GET), not for POST", async () => {
    let drop = 0;
    const raw = await rawServer((_request, socket) => {
      // The next request is dropped unanswered, as by a server that timed the connection out just
      // before the request arrived.
      if (drop && drop--) return void socket.destroy();
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    try {
      await (await nodeFetch(raw.url + "/1")).text();
      drop = 1;
      assert.equal(await (await nodeFetch(raw.url + "/2")).text(), "ok");
      assert.deepEqual(
        raw.requests.map((r) => r.request.split(" ")[1]),
        ["/1", "/2", "/2"],
      );
      assert.equal(raw.requests[0].port, raw.requests[1].port);
      assert.notEqual(raw.requests[1].port, raw.requests[2].port, "retried on a new connection");
      // Not retried: POST (not idempotent), and a new connection (not a stale one).
      drop = 1;
      await assert.rejects(
        nodeFetch(raw.url + "/3", { method: "POST", body: "x" }),
        failedWith("fetch failed", "ECONNRESET"),
      );
      drop = 1;
      await assert.rejects(nodeFetch(raw.url + "/4"), failedWith("fetch failed", "ECONNRESET"));
      assert.equal(raw.requests.length, 5);
    } finally {
      await raw.close();
    }
  });

  // Issue 13: a server that sends bytes after a response without a body (a HEAD answered with the
  // GET's body, a 204 or 304 with one, more than Content-Length: 0) desynchronizes the connection.
  // Bytes that arrive later than the response are read as the answer to the next request on that
  // socket, unless the connection is not reused.
  for (const { name, method, head, stray } of [
    { name: "HEAD", method: "HEAD", head: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", stray: "hello" },
    {
      name: "204",
      method: "GET",
      head: "HTTP/1.1 204 No Content\r\n\r\n",
      stray: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nWRONG",
    },
    {
      name: "304",
      method: "GET",
      head: 'HTTP/1.1 304 Not Modified\r\nETag: "e"\r\n\r\n',
      stray: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nWRONG",
    },
    {
      name: "Content-Length: 0",
      method: "PUT",
      head: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
      stray: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nWRONG",
    },
  ])
    test(`bytes that arrive after a response without a body (${name}) never reach the next request`, async () => {
      const raw = await rawServer((request, socket) => {
        if (request.includes(" /first ")) {
          socket.write(head);
          setTimeout(() => socket.write(stray), 30); // after the client has taken the response
        } else setTimeout(() => socket.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nright"), 60);
      });
      try {
        const first = await nodeFetch(raw.url + "/first", { method, body: method == "PUT" ? "x" : undefined });
        assert.equal(first.body == null || (await first.text()) == "", true);
        const second = await nodeFetch(raw.url + "/second"); // at once: the stray bytes are still on their way
        assert.equal(second.status, 200);
        assert.equal(await second.text(), "right");
        assert.notEqual(raw.requests[1].port, raw.requests[0].port, "the second request went over a new connection");
      } finally {
        await raw.close();
      }
    });
});
