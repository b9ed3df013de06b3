// Download throughput and memory (issue 4): a 100 MiB GET "to nowhere" (bytes counted, not kept)
// through s3-edge's downloadFile vs @aws-sdk/client-s3 GetObject, from the same loopback server.
// Each download runs in its own child process (download-child.mjs) so its peak RSS is its own; a
// bare node child gives the baseline. Rounds are interleaved with a rotating order.
// "s3-edge" is the package as Node imports it (the "node" export, src/index.node.ts) with no fetch
// option: its default transport on Node, nodeFetch (its own HTTP/1.1 reader over node:net). The
// targets apply to it. "s3-edge (global fetch)" is the edge entry over Node's global fetch, for
// reference (what `fetch: globalThis.fetch` gets).
// References: nodeFetch alone, the global fetch alone and node:http alone (same read loop, no
// library) show what the transports themselves cost; curl shows what the server can deliver.
// Throttled (issue 12): a local proxy limits each connection to THROTTLE_MIB_PER_SEC (like one S3
// connection, roughly 50-100 MB/s on AWS, scaled down to what 2 loopback cores can carry), and a
// 256 MiB object is fetched by s3-edge at concurrency 1, 4, 8, 16 beside the AWS SDK's single GetObject.
// Options: --checksum  the server also sends x-amz-checksum-crc32 (both clients then verify it).
//          --rounds N  (default 4)   --throttled-rounds N  (default 1; 0 skips the throttled part)
//          --only-throttled   --burst ms of credit a throttled connection may save up (default 20)
//          --throttle MiB/s per connection (default 16; on a loaded machine pick
//          a rate whose concurrency-8 total the machine can still carry, else the cores are measured)
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { connect, createServer as createTcpServer, type Socket } from "node:net";
import { spawn, execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import * as zlib from "node:zlib";
import * as esbuild from "esbuild";

const MiB = 1048576,
  CHUNK = Buffer.alloc(MiB),
  TOTAL = 100 * MiB;
for (let i = 0; i < MiB; i++) CHUNK[i] = (i * 2654435761) >>> 24; // not all zeros: no accidental fast paths
const ETAG = '"5f1e5c0de0b5e0c1a1b2c3d4e5f60718"',
  BUCKET = "bench",
  KEY = "big/100MiB.bin";
const args = process.argv.slice(2);
const withChecksum = args.includes("--checksum");
const rounds = +(args[args.indexOf("--rounds") + 1] || 0) || 4;
const numberArg = (name: string, fallback: number) => (args.includes(name) ? +args[args.indexOf(name) + 1] : fallback);
const throttledRounds = numberArg("--throttled-rounds", 1);
const onlyThrottled = args.includes("--only-throttled");
const THROTTLED_KEY = "big/256MiB.bin",
  THROTTLED_TOTAL = 256 * MiB,
  THROTTLE_MIB_PER_SEC = numberArg("--throttle", 16),
  THROTTLE_BURST_MS = numberArg("--burst", 20),
  PART_SIZE = 8 * MiB;
const SIZES: Record<string, number> = {
  [`/${BUCKET}/${KEY}`]: TOTAL,
  [`/${BUCKET}/${THROTTLED_KEY}`]: THROTTLED_TOTAL,
};

// CRC32 of 100 copies of CHUNK, base64 big-endian as S3 sends it.
let crc32b64: string | undefined;
if (withChecksum) {
  const z = zlib as unknown as { crc32?: (b: Uint8Array, v?: number) => number };
  if (!z.crc32) throw new Error("--checksum needs zlib.crc32 (Node >= 20.15)");
  let c = 0;
  for (let i = 0; i < TOTAL / MiB; i++) c = z.crc32(CHUNK, c);
  const b = Buffer.alloc(4);
  b.writeUInt32BE(c >>> 0);
  crc32b64 = b.toString("base64");
}

// ---- the server: any signature accepted; ETag, Content-Length, Range, If-Match ---------------------
function serve(req: IncomingMessage, res: ServerResponse) {
  const path = decodeURIComponent((req.url ?? "").split("?")[0]);
  const TOTAL = SIZES[path];
  if (!TOTAL) {
    res.writeHead(404, { "content-type": "application/xml" });
    return res.end(
      `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>${KEY}</Key></Error>`,
    );
  }
  const im = req.headers["if-match"];
  if (im && im != "*" && im != ETAG) return res.writeHead(412).end();
  let start = 0,
    end = TOTAL - 1;
  const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? "");
  if (m) {
    if (m[1]) {
      start = +m[1];
      if (m[2]) end = Math.min(+m[2], TOTAL - 1);
    } else start = TOTAL - +m[2];
    if (start > end || start >= TOTAL) return res.writeHead(416, { "content-range": `bytes */${TOTAL}` }).end();
  }
  const h: Record<string, string> = {
    "content-type": "application/octet-stream",
    "content-length": String(end - start + 1),
    etag: ETAG,
    "last-modified": "Wed, 01 Jan 2025 00:00:00 GMT",
    "accept-ranges": "bytes",
    "x-amz-request-id": "BENCH",
  };
  if (m) h["content-range"] = `bytes ${start}-${end}/${TOTAL}`;
  else if (crc32b64 && TOTAL == 100 * MiB && req.headers["x-amz-checksum-mode"] == "ENABLED") {
    h["x-amz-checksum-crc32"] = crc32b64;
    h["x-amz-checksum-type"] = "FULL_OBJECT";
  }
  res.writeHead(m ? 206 : 200, h);
  if (req.method == "HEAD") return res.end();
  // Streams slices of the one 1 MiB buffer, honouring backpressure.
  let pos = start;
  const pump = () => {
    while (pos <= end) {
      const off = pos % MiB,
        n = Math.min(MiB - off, end - pos + 1);
      pos += n;
      if (!res.write(CHUNK.subarray(off, off + n))) return void res.once("drain", pump);
    }
    res.end();
  };
  pump();
}

// ---- s3-edge as a plain-JS bundle, so children run under plain node like the aws-sdk --------------
const here = new URL(".", import.meta.url);
mkdirSync(new URL(".build/", here), { recursive: true });
await esbuild.build({
  stdin: {
    contents: `export { S3Client, downloadFile } from "../src/index.ts";`,
    resolveDir: here.pathname,
    loader: "ts",
  },
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  outfile: new URL(".build/s3-edge.mjs", here).pathname,
  logLevel: "error",
});

// The package as Node imports it (its "node" export), and s3-edge/node (nodeFetch for the reference row).
for (const [entry, bundle] of [
  ["../src/index.node.ts", ".build/s3-edge-node-default.mjs"],
  ["../src/node/index.ts", ".build/s3-edge-node.mjs"],
])
  await esbuild.build({
    entryPoints: [new URL(entry, here).pathname],
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    outfile: new URL(bundle, here).pathname,
    logLevel: "error",
  });

const server = createServer(serve);
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

// ---- the throttling proxy: each connection's server-to-client bytes at THROTTLE_MIB_PER_SEC --------
// A token bucket per connection: after each chunk the upstream socket is paused until the time
// those bytes take at the rate has passed. At most THROTTLE_BURST_MS of credit is saved up: enough
// to make up for a timer that fires late on this busy event loop, too little to let a connection run
// faster than its rate over any stretch that matters. Measured (2 rounds each): concurrency 4 / 8 / 16
// at 3.54× / 6.46× / 10.02× concurrency 1 with no credit (--burst 0), 3.71× / 6.72× / 10.94× with
// 20 ms; concurrency 1 and the AWS SDK at 16 MiB/s either way. A client that stops
// reading stops the proxy too (TCP flow control, as from S3): the bytes it has not read wait in the
// kernel's socket buffers, not in a proxy queue that would grow without bound.
const proxy = createTcpServer((client: Socket) => {
  const upstream = connect(+new URL(endpoint).port, "127.0.0.1");
  const bytesPerMs = (THROTTLE_MIB_PER_SEC * MiB) / 1000;
  let freeAt = -Infinity;
  let waitingForClient = false,
    waitingForClock = false;
  const resumeIfFree = () => !waitingForClient && !waitingForClock && upstream.resume();
  client.on("drain", () => ((waitingForClient = false), resumeIfFree()));
  client.pipe(upstream);
  upstream.on("data", (chunk: Buffer) => {
    if (!client.write(chunk)) {
      waitingForClient = true;
      upstream.pause();
    }
    const now = performance.now();
    freeAt = Math.max(freeAt, now - THROTTLE_BURST_MS) + chunk.length / bytesPerMs;
    if (freeAt - now > 2) {
      waitingForClock = true;
      upstream.pause();
      setTimeout(() => ((waitingForClock = false), resumeIfFree()), freeAt - now);
    }
  });
  upstream.on("end", () => client.end());
  const close = () => (client.destroy(), upstream.destroy());
  client.on("error", close).on("close", close);
  upstream.on("error", close).on("close", close);
});
await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
const throttledEndpoint = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;

interface Run {
  bytes: number;
  ms: number;
  mibPerSec: number;
  rssBeforeMiB: number;
  peakRssMiB: number;
}
function child(who: string, target = { endpoint, key: KEY }, extra: string[] = []): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(
      process.execPath,
      [new URL("download-child.mjs", here).pathname, who, target.endpoint, BUCKET, target.key, ...extra],
      { cwd: here.pathname, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "",
      err = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (err += d));
    p.on("close", (code) => {
      try {
        if (code) throw new Error(`exit ${code}`);
        resolve(JSON.parse(out.trim().split("\n").pop()!));
      } catch (e) {
        reject(new Error(`${who} child failed (${(e as Error).message}):\n${out}${err}`));
      }
    });
  });
}
// curl as a reference for what the loopback server can deliver (async: the server shares this event loop).
function curl(): Promise<Run | undefined> {
  return new Promise((resolve) =>
    execFile(
      "curl",
      ["-s", "-o", "/dev/null", "-w", "%{size_download} %{time_total}", `${endpoint}/${BUCKET}/${KEY}`],
      (e, t) => {
        if (e) return resolve(undefined);
        const [bytes, s] = t.split(" ").map(Number);
        resolve({ bytes, ms: s * 1000, mibPerSec: bytes / MiB / s, rssBeforeMiB: NaN, peakRssMiB: NaN });
      },
    ),
  );
}
const curlOk = !!(await curl());

let summary: ReturnType<typeof summarize> = [];
const med = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b),
    k = s.length >> 1;
  return s.length % 2 ? s[k] : (s[k - 1] + s[k]) / 2;
};
function summarize(names: string[], runs: Record<string, Run[]>) {
  return names.map((n) => ({
    name: n,
    mibPerSec: med(runs[n].map((x) => x.mibPerSec)),
    peakRssMiB: med(runs[n].map((x) => x.peakRssMiB)),
    maxPeakRssMiB: Math.max(...runs[n].map((x) => x.peakRssMiB)),
    rssAfterImportMiB: med(runs[n].map((x) => x.rssBeforeMiB)),
    runs: runs[n],
  }));
}
const printTable = (rows: string[][]) => {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  console.log(
    "\n" +
      rows
        .map(
          (r, ri) =>
            r.map((c, i) => (i == 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join("  ") +
            (ri == 0 ? "\n" + w.map((n) => "-".repeat(n)).join("  ") : ""),
        )
        .join("\n"),
  );
};
const results: Record<string, unknown> = {
  name: "download",
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model,
  cores: cpus().length,
};

const LABELS: Record<string, string> = {
  bare: "bare node (no download)",
  "s3-edge": "s3-edge (Node default)",
  "s3-edge-globalfetch": "s3-edge (global fetch, ref)",
  nodefetch: "nodeFetch alone (ref)",
  fetch: "global fetch alone (ref)",
  http: "node:http alone (ref)",
  curl: "curl (ref)",
  "aws-sdk": "aws-sdk GetObject",
};

if (!onlyThrottled) {
  const names = [
    "bare",
    "s3-edge",
    "s3-edge-globalfetch",
    "aws-sdk",
    "nodefetch",
    "fetch",
    "http",
    ...(curlOk ? ["curl"] : []),
  ];
  const runs: Record<string, Run[]> = Object.fromEntries(names.map((n) => [n, []]));
  console.log(
    `# download: 100 MiB GET from ${endpoint}, ${rounds} interleaved rounds, one child process per download${withChecksum ? ", server sends x-amz-checksum-crc32" : ""}`,
  );
  const t0 = performance.now();
  await child("s3-edge"); // warm the OS page cache / server before measuring
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < names.length; i++) {
      const who = names[(i + r) % names.length];
      const run = who == "curl" ? (await curl())! : await child(who);
      if (who != "bare" && run.bytes != TOTAL) throw new Error(`${who} received ${run.bytes} bytes, expected ${TOTAL}`);
      runs[who].push(run);
    }
    process.stdout.write(r == rounds - 1 ? ` done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n` : ".");
  }
  summary = summarize(names, runs);
  const get = (n: string) => summary.find((s) => s.name == n)!;
  const bare = get("bare"),
    sdk = get("aws-sdk");
  const rows = [["contender", "MiB/s", "peak RSS MiB", "(max)", "RSS after import", "vs bare node"]];
  for (const s of summary)
    rows.push([
      LABELS[s.name] ?? s.name,
      s.name == "bare" ? "—" : s.mibPerSec.toFixed(0),
      isNaN(s.peakRssMiB) ? "n/a" : s.peakRssMiB.toFixed(1),
      isNaN(s.maxPeakRssMiB) ? "" : s.maxPeakRssMiB.toFixed(1),
      isNaN(s.rssAfterImportMiB) ? "" : s.rssAfterImportMiB.toFixed(1),
      s.name == "bare" || isNaN(s.peakRssMiB) ? "" : `+${(s.peakRssMiB - bare.peakRssMiB).toFixed(1)} MiB`,
    ]);
  printTable(rows);
  const versusSdk = (name: string) => ({
    speedVsAwsSdk: get(name).mibPerSec / sdk.mibPerSec,
    peakRssAboveBareMiB: get(name).maxPeakRssMiB - bare.peakRssMiB,
  });
  const edge = versusSdk("s3-edge"),
    globalFetch = versusSdk("s3-edge-globalfetch");
  const met = (ok: boolean) => (ok ? "✓" : "✗ NOT MET");
  console.log(
    `  target: s3-edge (Node default) MiB/s ≥ aws-sdk: ${edge.speedVsAwsSdk.toFixed(2)}× ${met(edge.speedVsAwsSdk >= 1)}`,
  );
  console.log(
    `  target: s3-edge (Node default) peak RSS ≤ bare node + 32 MiB: +${edge.peakRssAboveBareMiB.toFixed(1)} MiB (worst run) ${met(edge.peakRssAboveBareMiB <= 32)}`,
  );
  console.log(
    `  reference, no target: s3-edge over global fetch ${globalFetch.speedVsAwsSdk.toFixed(2)}× aws-sdk, +${globalFetch.peakRssAboveBareMiB.toFixed(1)} MiB`,
  );
  Object.assign(results, {
    objectBytes: TOTAL,
    rounds,
    checksum: withChecksum,
    contenders: summary,
    ratios: { ...edge, globalFetch },
  });
}

// ---- throttled: 256 MiB through the per-connection rate limit, parallel ranges vs one connection ----
if (throttledRounds > 0) {
  const target = { endpoint: throttledEndpoint, key: THROTTLED_KEY };
  const levels = [1, 4, 8, 16];
  const names = ["bare", "aws-sdk", ...levels.map((c) => `s3-edge c${c}`)];
  const runs: Record<string, Run[]> = Object.fromEntries(names.map((n) => [n, []]));
  console.log(
    `\n# download, throttled: 256 MiB through a proxy limiting each connection to ${THROTTLE_MIB_PER_SEC} MiB/s, partSize ${PART_SIZE / MiB} MiB, s3-edge with its Node default transport, ${throttledRounds} round(s)`,
  );
  const t0 = performance.now();
  for (let r = 0; r < throttledRounds; r++) {
    for (let i = 0; i < names.length; i++) {
      const who = names[(i + r) % names.length];
      const concurrency = /c(\d+)$/.exec(who)?.[1];
      const run = await child(
        concurrency ? "s3-edge" : who,
        target,
        concurrency ? [concurrency, String(PART_SIZE)] : [],
      );
      if (who != "bare" && run.bytes != THROTTLED_TOTAL)
        throw new Error(`${who} received ${run.bytes} bytes, expected ${THROTTLED_TOTAL}`);
      runs[who].push(run);
      process.stdout.write(".");
    }
  }
  console.log(` done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const throttled = summarize(names, runs);
  const get = (n: string) => throttled.find((s) => s.name == n)!;
  const bare = get("bare"),
    one = get("s3-edge c1");
  const rows = [["contender", "MiB/s", "vs concurrency 1", "peak RSS above bare", "RSS allowance"]];
  for (const s of throttled.slice(1)) {
    const concurrency = +(/c(\d+)$/.exec(s.name)?.[1] ?? 1);
    rows.push([
      LABELS[s.name] ?? s.name,
      s.mibPerSec.toFixed(0),
      `${(s.mibPerSec / one.mibPerSec).toFixed(2)}×`,
      `+${(s.maxPeakRssMiB - bare.peakRssMiB).toFixed(1)} MiB`,
      `${32 + (concurrency * PART_SIZE) / MiB} MiB`,
    ]);
  }
  printTable(rows);
  const c8 = get("s3-edge c8"),
    speedUp = c8.mibPerSec / one.mibPerSec;
  console.log(`  target: concurrency 8 ≥ 6× concurrency 1: ${speedUp.toFixed(2)}× ${speedUp >= 6 ? "✓" : "✗ NOT MET"}`);
  for (const c of levels) {
    const extra = get(`s3-edge c${c}`).maxPeakRssMiB - bare.peakRssMiB,
      allowance = 32 + (c * PART_SIZE) / MiB;
    console.log(
      `  target: concurrency ${c} peak RSS ≤ bare + 32 MiB + ${c} × ${PART_SIZE / MiB} MiB: +${extra.toFixed(1)} MiB ${extra <= allowance ? "✓" : "✗ NOT MET"}`,
    );
  }
  results.throttled = {
    objectBytes: THROTTLED_TOTAL,
    mibPerSecPerConnection: THROTTLE_MIB_PER_SEC,
    partSize: PART_SIZE,
    rounds: throttledRounds,
    contenders: throttled,
    speedUpC8: speedUp,
  };
}
server.close();
proxy.close();

mkdirSync(new URL("results/", here), { recursive: true });
writeFileSync(
  new URL(`results/download${withChecksum ? "-checksum" : ""}.json`, here),
  JSON.stringify(results, null, 2) + "\n",
);
console.log(`\nJSON: bench/results/download${withChecksum ? "-checksum" : ""}.json`);
