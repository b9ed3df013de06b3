// Download throughput and memory (issue 4): a 100 MiB GET "to nowhere" (bytes counted, not kept)
// through s3-edge's downloadFile vs @aws-sdk/client-s3 GetObject, from the same loopback server.
// Each download runs in its own child process (download-child.mjs) so its peak RSS is its own; a
// bare node child gives the baseline. Rounds are interleaved with a rotating order.
// "s3-edge (nodeFetch)" is the same downloadFile with the Node transport from s3-edge/node (its own
// HTTP/1.1 reader over node:net, not node:http).
// References: nodeFetch alone, the global fetch alone and node:http alone (same read loop, no
// library) show what the transports themselves cost; curl shows what the server can deliver.
// Options: --checksum  the server also sends x-amz-checksum-crc32 (both clients then verify it).
//          --rounds N  (default 4)
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { spawn, execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import * as zlib from "node:zlib";
import * as esbuild from "esbuild";

const MiB = 1048576, CHUNK = Buffer.alloc(MiB), TOTAL = 100 * MiB;
for (let i = 0; i < MiB; i++) CHUNK[i] = (i * 2654435761) >>> 24; // not all zeros: no accidental fast paths
const ETAG = '"5f1e5c0de0b5e0c1a1b2c3d4e5f60718"', BUCKET = "bench", KEY = "big/100MiB.bin";
const args = process.argv.slice(2);
const withChecksum = args.includes("--checksum");
const rounds = +(args[args.indexOf("--rounds") + 1] || 0) || 4;

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
  if (path != `/${BUCKET}/${KEY}`) {
    res.writeHead(404, { "content-type": "application/xml" });
    return res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>${KEY}</Key></Error>`);
  }
  const im = req.headers["if-match"];
  if (im && im != "*" && im != ETAG) return res.writeHead(412).end();
  let start = 0, end = TOTAL - 1;
  const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? "");
  if (m) {
    if (m[1]) { start = +m[1]; if (m[2]) end = Math.min(+m[2], TOTAL - 1); } else start = TOTAL - +m[2];
    if (start > end || start >= TOTAL) return res.writeHead(416, { "content-range": `bytes */${TOTAL}` }).end();
  }
  const h: Record<string, string> = {
    "content-type": "application/octet-stream", "content-length": String(end - start + 1), etag: ETAG,
    "last-modified": "Wed, 01 Jan 2025 00:00:00 GMT", "accept-ranges": "bytes", "x-amz-request-id": "BENCH",
  };
  if (m) h["content-range"] = `bytes ${start}-${end}/${TOTAL}`;
  else if (crc32b64 && req.headers["x-amz-checksum-mode"] == "ENABLED") {
    h["x-amz-checksum-crc32"] = crc32b64;
    h["x-amz-checksum-type"] = "FULL_OBJECT";
  }
  res.writeHead(m ? 206 : 200, h);
  if (req.method == "HEAD") return res.end();
  // Streams slices of the one 1 MiB buffer, honouring backpressure.
  let pos = start;
  const pump = () => {
    while (pos <= end) {
      const off = pos % MiB, n = Math.min(MiB - off, end - pos + 1);
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
  stdin: { contents: `export { S3Client, downloadFile } from "../src/index.ts";`, resolveDir: here.pathname, loader: "ts" },
  bundle: true, format: "esm", platform: "neutral", target: "es2022", outfile: new URL(".build/s3-edge.mjs", here).pathname, logLevel: "error",
});

await esbuild.build({
  entryPoints: [new URL("../src/node/index.ts", here).pathname], bundle: true, format: "esm", platform: "node", target: "node20",
  outfile: new URL(".build/s3-edge-node.mjs", here).pathname, logLevel: "error",
});

const server = createServer(serve);
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

interface Run { bytes: number; ms: number; mibPerSec: number; rssBeforeMiB: number; peakRssMiB: number }
function child(who: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [new URL("download-child.mjs", here).pathname, who, endpoint, BUCKET, KEY], { cwd: here.pathname, stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
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
  return new Promise((resolve) => execFile("curl", ["-s", "-o", "/dev/null", "-w", "%{size_download} %{time_total}", `${endpoint}/${BUCKET}/${KEY}`], (e, t) => {
    if (e) return resolve(undefined);
    const [bytes, s] = t.split(" ").map(Number);
    resolve({ bytes, ms: s * 1000, mibPerSec: bytes / MiB / s, rssBeforeMiB: NaN, peakRssMiB: NaN });
  }));
}
const curlOk = !!(await curl());

const names = ["bare", "s3-edge", "s3-edge-nodefetch", "aws-sdk", "nodefetch", "fetch", "http", ...(curlOk ? ["curl"] : [])];
const runs: Record<string, Run[]> = Object.fromEntries(names.map((n) => [n, []]));
console.log(`# download: 100 MiB GET from ${endpoint}, ${rounds} interleaved rounds, one child process per download${withChecksum ? ", server sends x-amz-checksum-crc32" : ""}`);
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
server.close();

const med = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b), k = s.length >> 1; return s.length % 2 ? s[k] : (s[k - 1] + s[k]) / 2; };
const summary = names.map((n) => ({
  name: n, mibPerSec: med(runs[n].map((x) => x.mibPerSec)), peakRssMiB: med(runs[n].map((x) => x.peakRssMiB)),
  maxPeakRssMiB: Math.max(...runs[n].map((x) => x.peakRssMiB)), rssAfterImportMiB: med(runs[n].map((x) => x.rssBeforeMiB)), runs: runs[n],
}));
const get = (n: string) => summary.find((s) => s.name == n)!;
const bare = get("bare"), sdk = get("aws-sdk");
const rows = [["contender", "MiB/s", "peak RSS MiB", "(max)", "RSS after import", "vs bare node"]];
const LABELS: Record<string, string> = {
  bare: "bare node (no download)", "s3-edge-nodefetch": "s3-edge (nodeFetch)", nodefetch: "nodeFetch alone (ref)",
  fetch: "global fetch alone (ref)", http: "node:http alone (ref)", curl: "curl (ref)",
};
for (const s of summary) rows.push([LABELS[s.name] ?? s.name, s.name == "bare" ? "—" : s.mibPerSec.toFixed(0),
  isNaN(s.peakRssMiB) ? "n/a" : s.peakRssMiB.toFixed(1), isNaN(s.maxPeakRssMiB) ? "" : s.maxPeakRssMiB.toFixed(1),
  isNaN(s.rssAfterImportMiB) ? "" : s.rssAfterImportMiB.toFixed(1), s.name == "bare" || isNaN(s.peakRssMiB) ? "" : `+${(s.peakRssMiB - bare.peakRssMiB).toFixed(1)} MiB`]);
const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
console.log("\n" + rows.map((r, ri) => r.map((c, i) => (i == 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join("  ") + (ri == 0 ? "\n" + w.map((n) => "-".repeat(n)).join("  ") : "")).join("\n"));
const ratios: Record<string, { speedVsAwsSdk: number; peakRssAboveBareMiB: number }> = {};
for (const [n, label] of [["s3-edge", "s3-edge (global fetch)"], ["s3-edge-nodefetch", "s3-edge (nodeFetch)"]]) {
  const e = get(n), speed = e.mibPerSec / sdk.mibPerSec, extra = e.maxPeakRssMiB - bare.peakRssMiB;
  ratios[n] = { speedVsAwsSdk: speed, peakRssAboveBareMiB: extra };
  console.log(`  target: ${label} MiB/s ≥ aws-sdk: ${speed.toFixed(2)}× ${speed >= 1 ? "✓" : "✗ NOT MET"}`);
  console.log(`  target: ${label} peak RSS ≤ bare node + 32 MiB: +${extra.toFixed(1)} MiB (worst run) ${extra <= 32 ? "✓" : "✗ NOT MET"}`);
}

mkdirSync(new URL("results/", here), { recursive: true });
writeFileSync(new URL(`results/download${withChecksum ? "-checksum" : ""}.json`, here), JSON.stringify({
  name: "download", date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, cores: cpus().length,
  objectBytes: TOTAL, rounds, checksum: withChecksum, contenders: summary,
  ratios: { speedVsAwsSdk: ratios["s3-edge"].speedVsAwsSdk, peakRssAboveBareMiB: ratios["s3-edge"].peakRssAboveBareMiB, nodeFetch: ratios["s3-edge-nodefetch"] },
}, null, 2) + "\n");
console.log(`\nJSON: bench/results/download${withChecksum ? "-checksum" : ""}.json`);
