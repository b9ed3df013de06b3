// downloadFile / downloadToFile against the local fault server (test/support/rangeserver.ts)
// and, for cases HTTP/1.1 framing cannot produce, a scripted fake client.
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { after, before, beforeEach, describe, test } from "node:test";
import { S3Client, type GetObjectResult } from "../src/client.ts";
import { downloadFile } from "../src/download.ts";
import { DownloadError, InputError, NetworkError, S3Error } from "../src/errors.ts";
import { downloadToFile } from "../src/node/index.ts";
import { compositeChecksums, randomData, rng, startRangeServer, type RangeServer } from "./support/rangeserver.ts";
import { readAll } from "./support/util.ts";

const MiB = 1 << 20;
let srv: RangeServer;
let client: S3Client;

before(async () => {
  srv = await startRangeServer();
  client = new S3Client({
    endpoint: srv.endpoint,
    forcePathStyle: true,
    region: "us-east-1",
    credentials: { accessKeyId: "AKID", secretAccessKey: "secret" },
    retryBaseMs: 1,
  });
});
after(() => srv.stop());
beforeEach(() => {
  srv.faults = { cuts: [], lieLength: 0, badChecksum: false, chunk: 64 * 1024 };
  srv.requests.length = 0;
  srv.bytesSent = 0;
  srv.peakActiveGets = 0;
});

const same = (a: Uint8Array, b: Uint8Array) =>
  assert.ok(Buffer.from(a).equals(Buffer.from(b)), `bytes differ (${a.length} vs ${b.length})`);
const gets = (key?: string) => srv.requests.filter((r) => r.method === "GET" && (!key || r.key === key));
const isDownloadError = (code: string) => (e: unknown) => {
  assert.ok(e instanceof DownloadError, `expected DownloadError ${code}, got ${e}`);
  assert.equal(e.code, code, e.message);
  return true;
};

describe("downloadFile", () => {
  test("options that cannot be used are refused with InputError naming the field, before any request", async () => {
    srv.put("opt.bin", randomData(1000, 54));
    srv.requests.length = 0;
    const refused: [string, unknown][] = [
      ["concurrency", 0],
      ["concurrency", 2.5],
      ["concurrency", NaN],
      ["concurrency", "8"],
      ["concurrency", 5000],
      ["partSize", 0],
      ["partSize", NaN],
      ["partSize", Infinity],
      ["partSize", 1.5 * 1024 * 1024 + 0.5],
      ["maxResumes", -1],
      ["idleTimeoutMs", 0],
      ["minBytesPerSecond", -5],
      ["range", "bytes=abc"],
      ["range", "bytes=10-5"],
      ["range", "bytes=-0"],
      ["range", "10-20"],
    ];
    for (const [field, value] of refused) {
      const options = { bucket: "b", key: "opt.bin", [field]: value } as any;
      for (const download of [downloadFile, downloadToFile])
        await assert.rejects(
          download(client, { ...options, path: "/nonexistent/never-written" }),
          (e: any) => e instanceof InputError && e.field === field && e.message.includes(field),
          `${field}: ${String(value)}`,
        );
    }
    assert.equal(srv.requests.length, 0, "no request for a refused option");
    // The bounds themselves are accepted.
    for (const options of [
      { concurrency: 1024, partSize: 1024 },
      { maxResumes: 0, minBytesPerSecond: 0 },
      { range: "bytes=-1" },
    ])
      await readAll((await downloadFile(client, { bucket: "b", key: "opt.bin", ...options })).body);
  });

  test("byte-exact multi-MiB object, checksum mode on, progress up to the total", async () => {
    const data = randomData(5 * MiB + 123, 1);
    const o = srv.put("big.bin", data, { contentType: "application/x-test" });
    const progress: number[] = [];
    const d = await downloadFile(client, {
      bucket: "b",
      key: "big.bin",
      onProgress: (p) => (assert.equal(p.total, data.length), progress.push(p.loaded)),
    });
    assert.equal(d.size, data.length);
    assert.equal(d.etag, o.etag);
    assert.equal(d.contentType, "application/x-test");
    assert.equal(d.lastModified.getTime(), Math.floor(o.lastModified.getTime() / 1000) * 1000);
    same(await readAll(d.body), data);
    assert.equal(progress.at(-1), data.length);
    assert.ok(
      progress.every((v, i) => i === 0 || v > progress[i - 1]),
      "progress increases",
    );
    assert.equal(gets().length, 1);
    assert.equal(gets()[0].checksumMode, "ENABLED");
    assert.equal(gets()[0].ifMatch, undefined);
  });

  test("a caller's etag is sent as If-Match; a different current version is refused", async () => {
    const data = randomData(1000, 2);
    const o = srv.put("e.bin", data);
    const d = await downloadFile(client, { bucket: "b", key: "e.bin", etag: o.etag });
    same(await readAll(d.body), data);
    assert.equal(gets()[0].ifMatch, `"${o.etag}"`);
    await assert.rejects(
      downloadFile(client, { bucket: "b", key: "e.bin", etag: "0123456789abcdef0123456789abcdef" }),
      (e: any) => e instanceof S3Error && e.code === "PreconditionFailed",
    );
  });

  test("a stored Content-Encoding (gzip) comes back as the stored bytes, verified (fetch would decode it)", async () => {
    const data = new Uint8Array(gzipSync(Buffer.from("hello ".repeat(20000))));
    srv.put("g.txt.gz", data, { contentEncoding: "gzip" });
    srv.faults.cuts = [100];
    const d = await downloadFile(client, { bucket: "b", key: "g.txt.gz" });
    same(await readAll(d.body), data);
    assert.ok(gets().every((q) => q.query.includes("response-content-encoding=identity")));
  });

  test("empty object", async () => {
    srv.put("empty", new Uint8Array(0));
    const d = await downloadFile(client, { bucket: "b", key: "empty" });
    assert.equal(d.size, 0);
    assert.equal((await readAll(d.body)).length, 0);
  });

  test("connections cut at random offsets (seeded) resume byte-exactly with If-Match and Range", async () => {
    for (let seed = 1; seed <= 12; seed++) {
      const r = rng(seed),
        size = 1 * MiB + Math.floor(r() * MiB);
      const data = randomData(size, seed);
      // Vary the checksum the server offers so crc32, crc32c and sha256 are each verified across resumes.
      const sums = [{ all: true }, {}, { checksums: { sha256: require_sha256(data) } }][seed % 3];
      const o = srv.put("cut.bin", data, sums);
      const n = 1 + Math.floor(r() * 4);
      srv.faults.cuts = Array.from({ length: n }, () => 1 + Math.floor(r() * (size - 1))).sort((a, b) => a - b);
      const cuts = [...new Set(srv.faults.cuts)];
      srv.requests.length = 0;
      const d = await downloadFile(client, { bucket: "b", key: "cut.bin" });
      same(await readAll(d.body), data);
      const g = gets();
      assert.equal(g.length, 1 + cuts.length, `seed ${seed}: one resume per cut`);
      let prev = 0;
      g.slice(1).forEach((q, i) => {
        assert.equal(q.ifMatch, `"${o.etag}"`);
        // A reset (RST) may drop bytes the server wrote before the cut: resume at what arrived.
        const m = /^bytes=(\d+)-(\d+)$/.exec(q.range ?? "")!;
        assert.ok(
          m && +m[1] >= prev && +m[1] <= cuts[i] && +m[2] === size - 1,
          `seed ${seed}: resume ${q.range} for a cut at ${cuts[i]}`,
        );
        prev = +m[1];
      });
    }
  });

  test("a body that stalls (connection open, no bytes) is dropped after idleTimeoutMs and resumed", async () => {
    const data = randomData(MiB, 21);
    const o = srv.put("s.bin", data);
    srv.faults.stalls = [300_000];
    const t0 = Date.now();
    const d = await downloadFile(client, { bucket: "b", key: "s.bin", idleTimeoutMs: 300 });
    same(await readAll(d.body), data);
    const g = gets();
    assert.equal(g.length, 2);
    assert.equal(g[1].ifMatch, `"${o.etag}"`);
    assert.equal(g[1].range, `bytes=${+/^bytes=(\d+)/.exec(g[1].range!)![1]}-${MiB - 1}`);
    assert.ok(+/^bytes=(\d+)/.exec(g[1].range!)![1] <= 300_000);
    const took = Date.now() - t0;
    assert.ok(took >= 300 && took < 5000, `resumed after the 300 ms idle timeout (took ${took} ms)`);
  });

  test("after maxResumes, Truncated says how many bytes arrived of how many", async () => {
    const data = randomData(MiB, 3);
    srv.put("t.bin", data);
    srv.faults.cuts = [1000, 2000, 3000, 4000];
    const d = await downloadFile(client, { bucket: "b", key: "t.bin", maxResumes: 2 });
    await assert.rejects(readAll(d.body), (e: any) => {
      isDownloadError("Truncated")(e);
      // Never more than the server sent before its last cut. (Some fetch implementations drop
      // chunks still queued when the connection breaks, so "fewer" is possible, and honest.)
      assert.ok(e.received >= 0 && e.received <= 3000, `received ${e.received}`);
      assert.equal(e.expected, MiB);
      assert.match(e.message, new RegExp(`${e.received} of 1048576`));
      return true;
    });
    assert.equal(gets().length, 3);
  });

  test("the object changes mid-download: ObjectChanged, never spliced", async () => {
    const data = randomData(2 * MiB, 4);
    srv.put("v.bin", data);
    srv.faults.cuts = [700_000];
    srv.faults.onGet = (n) => {
      if (n === 2) srv.put("v.bin", randomData(2 * MiB, 5));
    };
    const d = await downloadFile(client, { bucket: "b", key: "v.bin" });
    let got = 0;
    await assert.rejects(async () => {
      for await (const c of d.body as any) got += c.length;
    }, isDownloadError("ObjectChanged"));
    assert.ok(got <= 700_000, `only bytes of the first version were delivered (${got})`);
  });

  test("lying Content-Length (declares more than it sends): LengthMismatch", async () => {
    srv.put("l.bin", randomData(300_000, 6));
    srv.faults.lieLength = 5000;
    const d = await downloadFile(client, { bucket: "b", key: "l.bin" });
    assert.equal(d.size, 305_000);
    // Never a silent success. Where fetch hands over every byte (Node 20) the resume at 300000
    // gets 416: LengthMismatch; where it drops queued chunks at the break, the resumes keep
    // breaking at the lie: Truncated.
    await assert.rejects(
      readAll(d.body),
      (e: any) => e instanceof DownloadError && /^(LengthMismatch|Truncated)$/.test(e.code) && e.received <= 300_000,
    );
  });

  test("lying Content-Length (declares fewer than it sends): the checksum catches it", async () => {
    srv.put("l2.bin", randomData(300_000, 7));
    srv.faults.lieLength = -5000;
    const d = await downloadFile(client, { bucket: "b", key: "l2.bin" });
    // Node 20's fetch stops at the declared length and the checksum catches the difference; other
    // fetch implementations error on the surplus bytes, and the resume's Content-Range then shows
    // the true length (LengthMismatch), or the resumes keep hitting the lie (Truncated).
    await assert.rejects(
      readAll(d.body),
      (e: any) => e instanceof DownloadError && /^(ChecksumMismatch|LengthMismatch|Truncated)$/.test(e.code),
    );
  });

  test("bad checksum header: the stream errors with ChecksumMismatch instead of closing", async () => {
    for (const sums of [{}, { all: true }, { checksums: { crc32c: "AAAAAA==" } }]) {
      srv.put("c.bin", randomData(MiB, 8), sums);
      srv.faults.badChecksum = !("checksums" in sums);
      const d = await downloadFile(client, { bucket: "b", key: "c.bin" });
      await assert.rejects(readAll(d.body), (e: any) => isDownloadError("ChecksumMismatch")(e) && e.received === MiB);
    }
  });

  test("a COMPOSITE (multipart) checksum is not checked against the bytes", async () => {
    const data = randomData(100_000, 9);
    srv.put("m.bin", data, { checksums: { crc32: "AAAAAA==-3" }, checksumType: "COMPOSITE" });
    same(await readAll((await downloadFile(client, { bucket: "b", key: "m.bin" })).body), data);
  });

  test("ranged download, resumed inside the range; checksum not applied to a slice", async () => {
    const data = randomData(3 * MiB, 10);
    srv.put("r.bin", data);
    srv.faults.cuts = [1_500_000];
    const progress: [number, number][] = [];
    const d = await downloadFile(client, {
      bucket: "b",
      key: "r.bin",
      range: "bytes=1000000-2099999",
      onProgress: (p) => progress.push([p.loaded, p.total]),
    });
    assert.equal(d.size, 1_100_000);
    same(await readAll(d.body), data.subarray(1_000_000, 2_100_000));
    assert.deepEqual(progress.at(-1), [1_100_000, 1_100_000]);
    const ranges = gets().map((q) => q.range!);
    assert.equal(ranges.length, 2);
    assert.equal(ranges[0], "bytes=1000000-2099999");
    const at = +/^bytes=(\d+)-2099999$/.exec(ranges[1])![1];
    assert.ok(at > 1_000_000 && at <= 1_500_000, `resumed at ${at}, inside the range, not past the cut`);
  });

  test("abort mid-stream: the stream errors with signal.reason and nothing resumes", async () => {
    srv.put("a.bin", randomData(8 * MiB, 11));
    const ac = new AbortController();
    const d = await downloadFile(client, { bucket: "b", key: "a.bin", signal: ac.signal });
    const reader = d.body.getReader();
    await reader.read();
    const reason = new Error("stop now");
    ac.abort(reason);
    await assert.rejects(
      async () => {
        for (;;) if ((await reader.read()).done) break;
      },
      (e) => e === reason,
    );
    assert.equal(gets().length, 1);
  });

  test("backpressure: a slow consumer keeps the server from running far ahead; cancel closes the connection", async () => {
    srv.put("bp.bin", randomData(48 * MiB, 12));
    srv.dropIdle(); // earlier tests let the kernel grow this connection's buffers (tcp_rmem max is often 32 MiB)
    const d = await downloadFile(client, { bucket: "b", key: "bp.bin" });
    const reader = d.body.getReader();
    let got = 0;
    for (let i = 0; i < 4; i++) got += (await reader.read()).value!.length;
    await new Promise((r) => setTimeout(r, 400));
    const ahead = srv.bytesSent - got;
    // Only socket buffers and fetch's own small queue sit between server and consumer (a few MiB;
    // kernel autotuning can grow them under load). Without backpressure the whole 48 MiB would go.
    assert.ok(ahead < 24 * MiB, `server ran ${ahead} bytes ahead of the consumer`);
    await reader.cancel();
    const sent = srv.bytesSent;
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(srv.bytesSent - sent < 8 * MiB, `cancel stops the transfer (${srv.bytesSent - sent} bytes after it)`);
  });
});

describe("downloadFile: low-speed limit and what servers send back", () => {
  // (Without the low-speed limit this body would take 5 minutes: the timeout makes that a failure.)
  test(
    "a body that trickles (under minBytesPerSecond for idleTimeoutMs) is resumed, then fails as Stalled",
    { timeout: 20_000 },
    async () => {
      srv.put("slow.bin", randomData(64 * 1024, 30));
      srv.faults.trickle = { bytes: 4, everyMs: 20 }; // 200 B/s: never idle, far under 1 KiB/s
      const t0 = Date.now();
      const d = await downloadFile(client, { bucket: "b", key: "slow.bin", idleTimeoutMs: 300, maxResumes: 2 });
      await assert.rejects(
        readAll(d.body),
        (e: any) => isDownloadError("Stalled")(e) && e.received > 0 && e.received < 64 * 1024,
      );
      assert.equal(gets().length, 3, "two resumes, then the typed error");
      assert.ok(Date.now() - t0 < 5000, `gave up in ${Date.now() - t0} ms`);
    },
  );

  test(
    "a trickling first connection is dropped and the resume completes byte-exactly",
    { timeout: 20_000 },
    async () => {
      const data = randomData(200_000, 31);
      srv.put("slow2.bin", data);
      srv.faults.trickle = { bytes: 4, everyMs: 20 }; // 200 B/s, under the default 1 KiB/s
      srv.faults.onGet = (n) => n === 2 && (srv.faults.trickle = undefined);
      const d = await downloadFile(client, { bucket: "b", key: "slow2.bin", idleTimeoutMs: 250 });
      same(await readAll(d.body), data);
      assert.equal(gets().length, 2);
    },
  );

  test("minBytesPerSecond: a slow consumer is not taken for a slow server", async () => {
    const data = randomData(2 * MiB, 32);
    srv.put("c.bin", data);
    // 2 MiB over 8 pauses of 150 ms: 1.7 MiB/s of wall time, under the limit; the network itself is far faster.
    const d = await downloadFile(client, { bucket: "b", key: "c.bin", idleTimeoutMs: 200, minBytesPerSecond: 2 * MiB });
    const reader = d.body.getReader(),
      parts: Uint8Array[] = [];
    for (let r; !(r = await reader.read()).done;) {
      parts.push(r.value);
      if (parts.length % 4 === 0) await new Promise((ok) => setTimeout(ok, 150));
    }
    same(new Uint8Array(Buffer.concat(parts)), data);
    assert.equal(gets().length, 1, "no resume: the time went to the consumer");
  });

  test("a chunked response without Content-Length: a typed DownloadError, never a wrong body", async () => {
    srv.put("ch.bin", randomData(300_000, 33));
    srv.faults.chunked = "all";
    for (const concurrency of [1, 4]) {
      const d = await downloadFile(client, { bucket: "b", key: "ch.bin", concurrency, partSize: 64 * 1024 });
      await assert.rejects(readAll(d.body), (e: any) => e instanceof DownloadError);
    }
  });

  test("chunked ranges (no Content-Length) are counted against the range asked: exact bytes", async () => {
    const data = randomData(300_000, 34);
    srv.put("chr.bin", data);
    srv.faults.chunked = "ranged";
    srv.faults.cuts = [150_000];
    same(
      await readAll(
        (await downloadFile(client, { bucket: "b", key: "chr.bin", concurrency: 3, partSize: 64 * 1024 })).body,
      ),
      data,
    );
    same(
      await readAll((await downloadFile(client, { bucket: "b", key: "chr.bin", range: "bytes=1000-" })).body),
      data.subarray(1000),
    );
  });

  test("a server that ignores Range: a caller's range and parallel parts still get exactly their bytes", async () => {
    const data = randomData(700_000, 35);
    srv.put("ir.bin", data);
    srv.faults.ignoreRange = true;
    const ranged = await downloadFile(client, { bucket: "b", key: "ir.bin", range: "bytes=100-199" });
    assert.equal(ranged.size, 100);
    same(await readAll(ranged.body), data.subarray(100, 200));
    same(
      await readAll((await downloadFile(client, { bucket: "b", key: "ir.bin", range: "bytes=-50" })).body),
      data.subarray(-50),
    );
    const parallel = await downloadFile(client, { bucket: "b", key: "ir.bin", concurrency: 4, partSize: 100_000 });
    same(await readAll(parallel.body), data);
    assert.equal(parallel.verified, "crc32");
  });

  test("a 206 whose Content-Range is not the range asked: InvalidResponse (caller range and parallel parts)", async () => {
    srv.put("sh.bin", randomData(700_000, 36));
    srv.faults.shiftContentRange = 1;
    const ranged = downloadFile(client, { bucket: "b", key: "sh.bin", range: "bytes=100-199" }).then((d) =>
      readAll(d.body),
    );
    await assert.rejects(ranged, isDownloadError("InvalidResponse"));
    const d = await downloadFile(client, { bucket: "b", key: "sh.bin", concurrency: 4, partSize: 100_000 });
    await assert.rejects(readAll(d.body), isDownloadError("InvalidResponse"));
  });

  test("a server that ignores If-Match: a new version mid-download is ObjectChanged (sequential and parallel)", async () => {
    srv.faults.ignoreIfMatch = true;
    for (const concurrency of [1, 4]) {
      const firstVersion = randomData(2 * MiB, 37);
      srv.put("im.bin", firstVersion);
      srv.faults.cuts = [300_000];
      let count = 0;
      srv.faults.onGet = () => ++count === 2 && srv.put("im.bin", randomData(2 * MiB, 38));
      srv.requests.length = 0;
      const d = await downloadFile(client, { bucket: "b", key: "im.bin", concurrency, partSize: 512 * 1024 });
      const outcome = await readAll(d.body).then(
        (bytes) => bytes,
        (error) => error,
      );
      // Never spliced: ObjectChanged, or (where the runtime's timing let every response come from
      // the first version, seen under Bun) exactly the first version's bytes.
      if (outcome instanceof Uint8Array) same(outcome, firstVersion);
      else assert.ok(isDownloadError("ObjectChanged")(outcome), String(outcome));
      srv.faults.onGet = undefined;
    }
  });
});

describe("downloadFile with concurrency > 1 (parallel ranges)", () => {
  const parallel = (key: string, extra: object = {}) =>
    downloadFile(client, { bucket: "b", key, concurrency: 4, partSize: 256 * 1024, ...extra });
  // The documented layout of an in-order parallel download: the first `concurrency` parts are graded
  // (partSize × 1/c, 2/c, … c/c, rounded up) so that parts end one after another, then partSize each.
  const layout = (size: number, partSize: number, concurrency: number) => {
    const ranges: { start: number; end: number }[] = [];
    for (let start = 0; start < size;) {
      const k = ranges.length;
      const length = k < concurrency ? Math.ceil((partSize * (k + 1)) / concurrency) : partSize;
      ranges.push({ start, end: Math.min(start + length, size) - 1 });
      start += length;
    }
    return ranges;
  };

  test("every boundary alignment: sizes around part multiples, byte-exact, one GET per part (graded first parts), If-Match on each range", async () => {
    const partSize = 64 * 1024;
    for (const size of [
      partSize + 1,
      2 * partSize - 1,
      2 * partSize,
      2 * partSize + 1,
      5 * partSize,
      7 * partSize + 12_345,
    ]) {
      const data = randomData(size, size);
      const o = srv.put("al.bin", data);
      srv.requests.length = 0;
      const d = await downloadFile(client, { bucket: "b", key: "al.bin", concurrency: 3, partSize });
      assert.equal(d.size, size);
      same(await readAll(d.body), data);
      const g = gets("al.bin"),
        planned = layout(size, partSize, 3);
      assert.equal(g.length, planned.length, `size ${size}`);
      assert.equal(g[0].range, undefined);
      assert.equal(g[0].checksumMode, "ENABLED");
      const ranges = g
        .slice(1)
        .map((q) => q.range)
        .sort((a, b) => +/\d+/.exec(a!)![0] - +/\d+/.exec(b!)![0]);
      assert.deepEqual(
        ranges,
        planned.slice(1).map(({ start, end }) => `bytes=${start}-${end}`),
      );
      assert.ok(planned.every(({ start, end }) => end - start + 1 <= partSize));
      assert.ok(g.slice(1).every((q) => q.ifMatch === `"${o.etag}"`));
    }
  });

  test("an object of one part costs one request, as without concurrency", async () => {
    const data = randomData(256 * 1024, 40);
    srv.put("one.bin", data);
    same(await readAll((await parallel("one.bin")).body), data);
    assert.equal(gets().length, 1);
  });

  test("ranges run in parallel, are delivered in order, and progress only grows to the total", async () => {
    const data = randomData(4 * MiB + 5, 41);
    srv.put("par.bin", data);
    srv.faults.trickle = { bytes: 16 * 1024, everyMs: 2 }; // ~8 MiB/s per connection: ranges overlap in time
    const progress: number[] = [];
    const d = await parallel("par.bin", {
      onProgress: (p: any) => (assert.equal(p.total, data.length), progress.push(p.loaded)),
    });
    same(await readAll(d.body), data);
    assert.ok(srv.peakActiveGets >= 3, `peak ${srv.peakActiveGets} bodies at once`);
    // The first (whole-object) response is closed by the client once part 0 is in; the server may
    // notice a moment after the next range started.
    assert.ok(srv.peakActiveGets <= 5, `peak ${srv.peakActiveGets}`);
    assert.equal(progress.at(-1), data.length);
    assert.ok(
      progress.every((v, i) => i === 0 || v > progress[i - 1]),
      "progress increases",
    );
  });

  test("every full-object checksum is verified across parallel ranges, hashed in delivery order (crc64nvme, crc32c, crc32, sha256)", async () => {
    const data = randomData(3 * MiB + 777, 42);
    const all = srv.put("sum.bin", data, { all: true }).checksums;
    for (const name of ["crc64nvme", "crc32c", "crc32", "sha256"]) {
      srv.put("sum.bin", data, { checksums: { [name]: all[name] }, checksumType: "FULL_OBJECT" });
      const d = await parallel("sum.bin");
      assert.equal(d.verified, name);
      same(await readAll(d.body), data);
      const bad = Buffer.from(all[name], "base64");
      bad[0] ^= 1;
      srv.put("sum.bin", data, { checksums: { [name]: bad.toString("base64") } });
      const wrong = await parallel("sum.bin");
      await assert.rejects(readAll(wrong.body), isDownloadError("ChecksumMismatch"));
    }
  });

  test("no checksum from the server: verified is undefined and unverifiedReason says why", async () => {
    srv.put("none.bin", randomData(MiB, 43), { checksums: {} });
    for (const concurrency of [1, 4]) {
      const d = await parallel("none.bin", { concurrency });
      assert.equal(d.verified, undefined);
      assert.match(d.unverifiedReason!, /no checksum/);
      await readAll(d.body);
    }
  });

  test("connections broken at random offsets (seeded) in parallel: each range resumes on its own, byte-exactly", async () => {
    for (let seed = 1; seed <= 6; seed++) {
      const r = rng(100 + seed),
        size = 2 * MiB + Math.floor(r() * MiB);
      const data = randomData(size, seed + 50);
      const o = srv.put("pcut.bin", data, { all: true });
      srv.faults.cuts = Array.from({ length: 6 }, () => 1 + Math.floor(r() * (size - 1))).sort((a, b) => a - b);
      const cuts = new Set(srv.faults.cuts).size;
      srv.requests.length = 0;
      const d = await parallel("pcut.bin");
      assert.equal(d.verified, "crc64nvme");
      same(await readAll(d.body), data);
      const g = gets(),
        parts = layout(size, 256 * 1024, 4).length;
      assert.ok(
        g.length >= parts + 1 && g.length <= parts + cuts,
        `seed ${seed}: ${g.length} GETs for ${parts} parts and ${cuts} cuts`,
      );
      assert.ok(g.slice(1).every((q) => q.ifMatch === `"${o.etag}"`));
    }
  });

  test("the object changes mid-download: ObjectChanged, never spliced", async () => {
    const data = randomData(3 * MiB, 44);
    srv.put("pv.bin", data);
    srv.faults.onGet = (n) => n === 3 && srv.put("pv.bin", randomData(3 * MiB, 45));
    const d = await parallel("pv.bin");
    const got: Uint8Array[] = [];
    await assert.rejects(async () => {
      for await (const c of d.body as any) got.push(c);
    }, isDownloadError("ObjectChanged"));
    const delivered = new Uint8Array(Buffer.concat(got));
    same(delivered, data.subarray(0, delivered.length));
  });

  test("a slow consumer: no range is requested beyond concurrency parts ahead, and buffered bytes stay under concurrency × partSize", async () => {
    const partSize = 256 * 1024,
      concurrency = 4;
    srv.put("bp.bin", randomData(32 * MiB, 46));
    const d = await downloadFile(client, { bucket: "b", key: "bp.bin", concurrency, partSize });
    const reader = d.body.getReader();
    let consumed = 0;
    while (consumed < MiB) consumed += (await reader.read()).value!.length;
    await new Promise((r) => setTimeout(r, 500));
    const starts = gets("bp.bin")
      .slice(1)
      .map((q) => +/^bytes=(\d+)/.exec(q.range!)![1]);
    const farthest = Math.max(...starts);
    assert.ok(farthest < consumed + concurrency * partSize, `range at ${farthest} requested with ${consumed} consumed`);
    // Bytes received and not yet delivered: the ranges requested (each whole) less what was consumed.
    const requested = farthest + partSize;
    assert.ok(requested - consumed <= (concurrency + 1) * partSize, `${requested - consumed} bytes held`);
    const before = gets("bp.bin").length;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(gets("bp.bin").length, before, "no new range while the consumer waits");
    await reader.cancel();
  });

  test("a consumer that stops: the parts ahead of the one being read hold at most (concurrency - 1) / 2 × partSize", async () => {
    const partSize = MiB,
      concurrency = 4;
    srv.put("hold.bin", randomData(32 * MiB, 53));
    let loaded = 0;
    const d = await downloadFile(client, {
      bucket: "b",
      key: "hold.bin",
      concurrency,
      partSize,
      onProgress: (p) => (loaded = p.loaded),
    });
    const reader = d.body.getReader();
    const consumed = (await reader.read()).value!.length;
    // Wait until nothing more comes in: every range is paused or done.
    for (let last = -1; last !== loaded;) {
      last = loaded;
      await new Promise((r) => setTimeout(r, 150));
    }
    // Received and not delivered: the head part (at most partSize), the parts ahead (the limit), and
    // at most one network chunk per connection on its way into a part.
    const limit = partSize + ((concurrency - 1) / 2) * partSize + concurrency * 64 * 1024;
    assert.ok(loaded - consumed > partSize, `${loaded - consumed} bytes held: the parts ahead were fetched`);
    assert.ok(loaded - consumed <= limit, `${loaded - consumed} bytes held, limit ${limit}`);
    await reader.cancel();
  });

  test("abort cancels every range at once: the body errors with the reason, every connection closes, nothing more is requested", async () => {
    srv.put("pa.bin", randomData(16 * MiB, 47));
    srv.faults.chunk = 16 * 1024;
    srv.faults.trickle = { bytes: 16 * 1024, everyMs: 5 };
    const ac = new AbortController();
    const d = await parallel("pa.bin", { signal: ac.signal, partSize: 4 * MiB });
    const reader = d.body.getReader();
    await reader.read();
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(srv.activeGets >= 2, `${srv.activeGets} ranges open`);
    const reason = new Error("stop");
    ac.abort(reason);
    await assert.rejects(
      async () => {
        for (;;) if ((await reader.read()).done) break;
      },
      (e) => e === reason,
    );
    const count = gets().length;
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(srv.activeGets, 0, "every range connection closed");
    assert.equal(gets().length, count);
  });

  test("cancel of the body stops every range", async () => {
    srv.put("pc.bin", randomData(16 * MiB, 48));
    srv.faults.trickle = { bytes: 16 * 1024, everyMs: 5 };
    const d = await parallel("pc.bin", { partSize: 4 * MiB });
    const reader = d.body.getReader();
    await reader.read();
    await reader.cancel();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(srv.activeGets, 0);
  });

  test("a COMPOSITE (multipart) checksum is verified part by part (partNumber GETs), with the parts' own layout", async () => {
    const data = randomData(3 * MiB + 1000, 49),
      sizes = [MiB + 500, MiB + 500, MiB];
    for (const algorithm of ["crc32", "crc32c"] as const) {
      const composite = compositeChecksums(data, sizes, algorithm);
      srv.put("mp.bin", data, composite);
      srv.requests.length = 0;
      srv.faults.cuts = [MiB + 700_000];
      const d = await parallel("mp.bin", { partSize: 512 * 1024 });
      assert.equal(d.verified, `${algorithm} per part`);
      same(await readAll(d.body), data);
      assert.deepEqual(
        gets()
          .filter((q) => /partNumber/.test(q.query))
          .map((q) => /partNumber=(\d+)/.exec(q.query)![1])
          .sort(),
        ["1", "2", "3"],
      );
      // Part 2's bytes differ from what its checksum (and a consistent composite) says: that part fails.
      const other = data.slice();
      other[MiB + 600] ^= 1;
      srv.put("mp.bin", data, compositeChecksums(other, sizes, algorithm));
      await assert.rejects(readAll((await parallel("mp.bin")).body), isDownloadError("ChecksumMismatch"));
      // Without concurrency, no part boundaries: reported, not silently passed.
      const sequential = await downloadFile(client, { bucket: "b", key: "mp.bin" });
      assert.equal(sequential.verified, undefined);
      assert.match(sequential.unverifiedReason!, /COMPOSITE/);
      same(await readAll(sequential.body), data);
    }
  });

  test("a small object with a one-part COMPOSITE checksum is still verified with concurrency > 1 (one partNumber GET more)", async () => {
    const data = randomData(100_000, 52);
    srv.put("mp1.bin", data, compositeChecksums(data, [100_000], "crc32c"));
    const d = await parallel("mp1.bin");
    assert.equal(d.verified, "crc32c per part");
    same(await readAll(d.body), data);
    assert.equal(gets("mp1.bin").length, 2);
  });

  test("a COMPOSITE checksum claiming a part count S3 cannot have is reported unverified, not planned", async () => {
    const data = randomData(300_000, 55);
    for (const count of ["0", "10001", "99999999999"]) {
      srv.put("mpn.bin", data, { checksums: { crc32c: `AAAAAA==-${count}` }, checksumType: "COMPOSITE" });
      srv.requests.length = 0;
      const d = await parallel("mpn.bin");
      assert.equal(d.verified, undefined);
      assert.match(d.unverifiedReason!, new RegExp(`${count} parts`));
      same(await readAll(d.body), data);
      assert.ok(
        gets("mpn.bin").every((q) => !/partNumber/.test(q.query)),
        "no request by part",
      );
    }
  });

  test("a COMPOSITE checksum whose part list does not match the composite value: ChecksumMismatch", async () => {
    const data = randomData(2 * MiB, 50);
    const composite = compositeChecksums(data, [MiB, MiB], "crc32");
    composite.checksums.crc32 = compositeChecksums(randomData(2 * MiB, 51), [MiB, MiB], "crc32").checksums.crc32;
    srv.put("mp2.bin", data, composite);
    await assert.rejects(readAll((await parallel("mp2.bin")).body), isDownloadError("ChecksumMismatch"));
  });
});

test(
  "parts are planned as they are requested: a 5 TiB object in 1 KiB ranges starts at once",
  { timeout: 30_000 },
  async () => {
    // A scripted object whose byte i is i % 251, served for any range without storing it.
    const size = 5 * 1024 ** 4,
      partSize = 1024;
    const byteAt = (offset: number) => offset % 251;
    const bytesFrom = (start: number, end: number) => {
      let next = start;
      return new ReadableStream<Uint8Array>({
        pull(controller) {
          if (next > end) return controller.close();
          const chunk = Uint8Array.from({ length: Math.min(4096, end - next + 1) }, (_, i) => byteAt(next + i));
          next += chunk.length;
          controller.enqueue(chunk);
        },
      });
    };
    const requests: (string | undefined)[] = [];
    const scripted = {
      async getObject(params: any): Promise<GetObjectResult> {
        requests.push(params.range);
        const ranged = /^bytes=(\d+)-(\d+)$/.exec(params.range ?? "");
        const [start, end] = ranged ? [+ranged[1], +ranged[2]] : [0, size - 1];
        return {
          size,
          contentLength: end - start + 1,
          etag: '"e"',
          lastModified: new Date(0),
          checksums: {},
          metadata: {},
          status: ranged ? 206 : 200,
          contentRange: ranged ? { start, end, size } : undefined,
          body: bytesFrom(start, end),
        } as unknown as GetObjectResult;
      },
    };
    const d = await downloadFile(scripted, { bucket: "b", key: "huge", concurrency: 4, partSize });
    assert.equal(d.size, size);
    const reader = d.body.getReader();
    let offset = 0;
    while (offset < 256 * 1024) {
      const { value } = await reader.read();
      for (let i = 0; i < value!.length; i++) assert.equal(value![i], byteAt(offset + i), `byte ${offset + i}`);
      offset += value!.length;
    }
    await reader.cancel();
    // Only the parts near the one being read were requested (256 KiB read, 1 KiB parts, 4 in flight).
    assert.ok(requests.length <= 256 + 8, `${requests.length} requests`);
  },
);

describe("downloadFile with a scripted client (framing HTTP cannot produce)", () => {
  const body = (...parts: (Uint8Array | Error)[]) => {
    let i = 0;
    return new ReadableStream<Uint8Array>({
      pull(c) {
        const p = parts[i++];
        if (!p) c.close();
        else if (p instanceof Error) c.error(p);
        else c.enqueue(p);
      },
    });
  };
  const fake = (responses: ((p: any) => Partial<GetObjectResult>)[], calls: any[] = []) => ({
    async getObject(p: any): Promise<GetObjectResult> {
      calls.push(p);
      const r = responses.shift()!(p);
      return {
        size: 10,
        contentLength: 10,
        etag: "e1",
        lastModified: new Date(0),
        checksums: {},
        metadata: {},
        status: 200,
        body: body(),
        ...r,
      } as GetObjectResult;
    },
  });
  const bytes = (...v: number[]) => new Uint8Array(v);

  test("a body that ends early without an error is resumed like a break", async () => {
    const calls: any[] = [];
    const c = fake(
      [
        () => ({ body: body(bytes(0, 1, 2, 3)) }),
        () => ({
          status: 206,
          contentLength: 6,
          contentRange: { start: 4, end: 9, size: 10 },
          body: body(bytes(4, 5, 6, 7, 8, 9)),
        }),
      ],
      calls,
    );
    const d = await downloadFile(c, { bucket: "b", key: "k" });
    same(await readAll(d.body), bytes(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
    assert.equal(calls[1].range, "bytes=4-9");
    assert.equal(calls[1].ifMatch, "e1");
  });

  test("more bytes than Content-Length: LengthMismatch", async () => {
    const d = await downloadFile(fake([() => ({ body: body(bytes(0, 1, 2, 3, 4, 5), bytes(6, 7, 8, 9, 10)) })]), {
      bucket: "b",
      key: "k",
    });
    await assert.rejects(readAll(d.body), isDownloadError("LengthMismatch"));
  });

  test("a resume answered with another ETag (a server that ignores If-Match) is refused: ObjectChanged", async () => {
    const first = () => ({ body: body(bytes(0, 1, 2, 3), new Error("reset")) });
    const d1 = await downloadFile(
      fake([first, () => ({ etag: "e2", status: 206, contentRange: { start: 4, end: 9, size: 10 } })]),
      { bucket: "b", key: "k" },
    );
    await assert.rejects(readAll(d1.body), isDownloadError("ObjectChanged"));
  });

  test("a resume answered with 200 and the whole object (a server that ignores Range) delivers the missing bytes exactly", async () => {
    const first = () => ({ body: body(bytes(0, 1, 2, 3), new Error("reset")) });
    const d2 = await downloadFile(fake([first, () => ({ body: body(bytes(0, 1, 2), bytes(3, 4, 5, 6, 7, 8, 9)) })]), {
      bucket: "b",
      key: "k",
    });
    same(await readAll(d2.body), bytes(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
  });

  test("a resume answered with a 206 whose Content-Range is not the range asked: InvalidResponse (another total: LengthMismatch)", async () => {
    const first = () => ({ body: body(bytes(0, 1, 2, 3), new Error("reset")) });
    for (const { contentRange, code } of [
      { contentRange: { start: 3, end: 9, size: 10 }, code: "InvalidResponse" },
      { contentRange: { start: 4, end: 8, size: 10 }, code: "InvalidResponse" },
      { contentRange: undefined, code: "InvalidResponse" },
      // The object's length is not what the first response said: its Content-Length was a lie.
      { contentRange: { start: 4, end: 9, size: 11 }, code: "LengthMismatch" },
    ] as const) {
      const d = await downloadFile(
        fake([first, () => ({ status: 206, contentRange, body: body(bytes(4, 5, 6, 7, 8, 9)) })]),
        { bucket: "b", key: "k" },
      );
      await assert.rejects(readAll(d.body), isDownloadError(code));
    }
  });

  test("a failed resume request (transport error) spends one resume; then Truncated", async () => {
    const reset = () => ({ body: body(bytes(0, 1), new Error("reset")) });
    const down = () => {
      throw new NetworkError("GET failed after 3 attempts", 3);
    };
    const ok = () => ({
      status: 206,
      contentLength: 8,
      contentRange: { start: 2, end: 9, size: 10 },
      body: body(bytes(2, 3, 4, 5, 6, 7, 8, 9)),
    });
    const d = await downloadFile(fake([reset, down as any, ok]), { bucket: "b", key: "k" });
    same(await readAll(d.body), bytes(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
    const calls: any[] = [];
    const d2 = await downloadFile(fake([reset, down as any, down as any, down as any], calls), {
      bucket: "b",
      key: "k",
      maxResumes: 3,
    });
    await assert.rejects(
      readAll(d2.body),
      (e: any) => isDownloadError("Truncated")(e) && e.received === 2 && e.expected === 10,
    );
    assert.equal(calls.length, 4);
  });

  test("abort is honoured at the next read even if the transport body ignores the signal", async () => {
    const ac = new AbortController();
    const d = await downloadFile(fake([() => ({ body: body(bytes(0, 1), bytes(2, 3), bytes(4, 5, 6, 7, 8, 9)) })]), {
      bucket: "b",
      key: "k",
      signal: ac.signal,
    });
    const r = d.body.getReader();
    await r.read();
    ac.abort("why");
    await assert.rejects(r.read(), (e) => e === "why");
  });

  test("a 4xx on resume other than 412/416 is passed through", async () => {
    const d = await downloadFile(
      fake([
        () => ({ body: body(bytes(0), new Error("reset")) }),
        () => {
          throw new S3Error("AccessDenied", 403, "denied");
        },
      ]),
      { bucket: "b", key: "k" },
    );
    await assert.rejects(readAll(d.body), (e: any) => e instanceof S3Error && e.code === "AccessDenied");
  });

  test("backpressure: nothing is read from the network until the consumer pulls", async () => {
    let pulls = 0;
    const src = new ReadableStream<Uint8Array>(
      {
        pull: (c) => {
          pulls++;
          c.enqueue(new Uint8Array(1));
        },
      },
      { highWaterMark: 0 },
    );
    const d = await downloadFile(fake([() => ({ body: src, contentLength: 1e9, size: 1e9 })]), {
      bucket: "b",
      key: "k",
    });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(pulls, 0);
    const r = d.body.getReader();
    await r.read();
    await r.read();
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(pulls, 2);
    await r.cancel();
  });
});

describe("downloadToFile", () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), "s3edge-dl-"))));
  after(() => rm(dir, { recursive: true, force: true }));

  test("writes the exact bytes atomically (resumes included) and leaves no temp file", async () => {
    const data = randomData(3 * MiB, 13);
    srv.put("f.bin", data);
    srv.faults.cuts = [1_234_567];
    const path = join(dir, "out.bin");
    const r = await downloadToFile(client, { bucket: "b", key: "f.bin", path });
    assert.equal(r.path, path);
    assert.equal(r.size, data.length);
    same(await readFile(path), data);
    assert.deepEqual(await readdir(dir), ["out.bin"]);
  });

  test("a failed download leaves nothing under the final name, and an older file untouched", async () => {
    srv.put("bad.bin", randomData(MiB, 14));
    srv.faults.badChecksum = true;
    const path = join(dir, "bad.bin");
    await assert.rejects(
      downloadToFile(client, { bucket: "b", key: "bad.bin", path }),
      isDownloadError("ChecksumMismatch"),
    );
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n !== "out.bin"),
      [],
    );
    await writeFile(path, "old");
    await assert.rejects(
      downloadToFile(client, { bucket: "b", key: "bad.bin", path }),
      isDownloadError("ChecksumMismatch"),
    );
    assert.equal(await readFile(path, "utf8"), "old");
    await rm(path);
  });

  test("concurrency > 1: ranges broken at random offsets are written at their offsets, verified by combined CRC, renamed at the end", async () => {
    const data = randomData(5 * MiB + 4321, 16);
    srv.put("pf.bin", data, { all: true });
    srv.faults.cuts = [100_000, 1_700_000, 3_000_001, 5 * MiB];
    srv.faults.trickle = { bytes: 64 * 1024, everyMs: 2 }; // ranges overlap in time
    const path = join(dir, "pf.bin");
    const r = await downloadToFile(client, { bucket: "b", key: "pf.bin", path, concurrency: 4, partSize: 512 * 1024 });
    assert.equal(r.size, data.length);
    assert.equal(r.verified, "crc64nvme");
    same(await readFile(path), data);
    assert.ok(srv.peakActiveGets >= 2);
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.startsWith(".")),
      [],
    );
    await rm(path);
  });

  test("concurrency > 1: each CRC (crc64nvme, crc32c, crc32) is combined from ranges written at offsets; a wrong one leaves no file", async () => {
    const data = randomData(3 * MiB + 777, 44);
    const all = srv.put("pc.bin", data, { all: true }).checksums;
    const path = join(dir, "pc.bin");
    for (const name of ["crc64nvme", "crc32c", "crc32"]) {
      srv.put("pc.bin", data, { checksums: { [name]: all[name] }, checksumType: "FULL_OBJECT" });
      const r = await downloadToFile(client, { bucket: "b", key: "pc.bin", path, concurrency: 4, partSize: MiB });
      assert.equal(r.verified, name);
      same(await readFile(path), data);
      await rm(path);
      const bad = Buffer.from(all[name], "base64");
      bad[bad.length - 1] ^= 1;
      srv.put("pc.bin", data, { checksums: { [name]: bad.toString("base64") }, checksumType: "FULL_OBJECT" });
      await assert.rejects(
        downloadToFile(client, { bucket: "b", key: "pc.bin", path, concurrency: 4, partSize: MiB }),
        isDownloadError("ChecksumMismatch"),
      );
      await assert.rejects(readFile(path), { code: "ENOENT" });
    }
  });

  test("concurrency > 1: a SHA-256 of the whole object cannot be combined from offsets: reported unverified, not passed silently", async () => {
    const data = randomData(2 * MiB, 17);
    srv.put("ps.bin", data, { checksums: { sha256: require_sha256(data) } });
    const path = join(dir, "ps.bin");
    const r = await downloadToFile(client, { bucket: "b", key: "ps.bin", path, concurrency: 4, partSize: 512 * 1024 });
    assert.equal(r.verified, undefined);
    assert.match(r.unverifiedReason!, /sha256/);
    same(await readFile(path), data);
    await rm(path);
  });

  test("concurrency > 1: a checksum mismatch or a COMPOSITE part mismatch leaves no file", async () => {
    const data = randomData(2 * MiB, 18);
    srv.put("pb.bin", data);
    srv.faults.badChecksum = true;
    const path = join(dir, "pb.bin");
    await assert.rejects(
      downloadToFile(client, { bucket: "b", key: "pb.bin", path, concurrency: 3, partSize: 256 * 1024 }),
      isDownloadError("ChecksumMismatch"),
    );
    srv.faults.badChecksum = false;
    const composite = compositeChecksums(data, [MiB, MiB], "crc32c");
    composite.parts[0].checksums.crc32c = "AAAAAA==";
    srv.put("pb.bin", data, composite);
    await assert.rejects(
      downloadToFile(client, { bucket: "b", key: "pb.bin", path, concurrency: 3 }),
      isDownloadError("ChecksumMismatch"),
    );
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n !== "out.bin"),
      [],
    );
  });

  test("a missing object creates no file at all", async () => {
    const path = join(dir, "missing.bin");
    await assert.rejects(
      downloadToFile(client, { bucket: "b", key: "nope", path }),
      (e: any) => e instanceof S3Error && e.code === "NoSuchKey",
    );
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n !== "out.bin"),
      [],
    );
  });

  test("abort mid-download rejects with signal.reason and removes the temp file", async () => {
    srv.put("ab.bin", randomData(32 * MiB, 15));
    srv.faults.chunk = 16 * 1024;
    const ac = new AbortController();
    const reason = new Error("user abort");
    const path = join(dir, "ab.bin");
    const p = downloadToFile(client, {
      bucket: "b",
      key: "ab.bin",
      path,
      signal: ac.signal,
      onProgress: (x) => x.loaded > 2 * MiB && ac.abort(reason),
    });
    await assert.rejects(p, (e) => e === reason);
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n !== "out.bin"),
      [],
    );
  });
});

import { createHash } from "node:crypto";
function require_sha256(d: Uint8Array) {
  return createHash("sha256").update(d).digest("base64");
}
