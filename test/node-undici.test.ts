// nodeFetch's memory promise: a download through it never loads undici (Node's fetch, Headers,
// Response: ~9 MiB of RSS), neither when passed as `fetch` nor as the Node entry's default transport.
// Checked in a fresh process, since the test runner may touch fetch's globals.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { describe, test } from "node:test";

describe("nodeFetch without undici", () => {
  for (const { name, entry, fetchOption } of [
    { name: "S3Client with fetch: nodeFetch", entry: "../src/index.ts", fetchOption: "nodeFetch" },
    {
      name: "the Node entry's S3Client without a fetch option",
      entry: "../src/index.node.ts",
      fetchOption: "undefined",
    },
  ])
    test(`a download through ${name} never loads undici (Node's fetch, Headers, Response)`, async () => {
      // In a fresh process: the test runner itself may have touched fetch's globals.
      const code = `
      // node:http through require: on Node 22 an ESM import of node:http reads every export, and
      // one of them loads undici.
      import { createRequire } from "node:module";
      const { createServer } = createRequire(import.meta.url)("node:http");
      const { S3Client, downloadFile } = await import(${JSON.stringify(new URL(entry, import.meta.url).href)});
      const { nodeFetch } = await import(${JSON.stringify(new URL("../src/node/index.ts", import.meta.url).href)});
      const body = Buffer.alloc(3 << 20, 7);
      const headers = { "content-length": body.length, etag: '"e"', "last-modified": new Date().toUTCString() };
      const s = createServer((q, r) => r.writeHead(200, headers).end(q.method == "HEAD" ? undefined : body));
      await new Promise((r) => s.listen(0, "127.0.0.1", r));
      const credentials = { accessKeyId: "a", secretAccessKey: "b" };
      const c = new S3Client({ endpoint: "http://127.0.0.1:" + s.address().port, credentials, fetch: ${fetchOption} });
      const h = await c.headObject({ bucket: "b", key: "k" });
      const d = await downloadFile(c, { bucket: "b", key: "k" });
      let n = 0;
      for await (const x of d.body) n += x.length;
      s.close();
      console.log(JSON.stringify({ n, size: h.size, undici: process.moduleLoadList.filter((m) => /undici/.test(m)) }));
    `;
      const out = await new Promise<string>((ok, no) =>
        execFile(
          process.execPath,
          ["--import", "tsx", "--input-type=module", "-e", code],
          { cwd: new URL("..", import.meta.url) },
          (e, so, se) => (e ? no(new Error(se || String(e))) : ok(so)),
        ),
      );
      const r = JSON.parse(out.trim().split("\n").pop()!);
      assert.equal(r.n, 3 << 20);
      assert.equal(r.size, 3 << 20);
      assert.deepEqual(r.undici, []);
    });
});
