// One download in its own process, so peak RSS belongs to one contender alone. Plain JS run by plain
// node (no tsx loader in the process): s3-edge comes from a bundle that download.ts builds first.
// Usage: node download-child.mjs <bare|s3-edge|s3-edge-globalfetch|aws-sdk|nodefetch|fetch|http> <endpoint> <bucket> <key> [concurrency partSize]
// "s3-edge" is what `import { S3Client } from "s3-edge"` gives on Node (the package's "node" export,
// src/index.node.ts), with no fetch option: the default transport. "s3-edge-globalfetch" is the
// edge entry with Node's global fetch (what an explicit `fetch: globalThis.fetch` gets).
// Prints one JSON line: { bytes, ms, mibPerSec, rssBeforeMiB, peakRssMiB }.
import { readFileSync } from "node:fs";

const [who, endpoint, bucket, key, concurrency, partSize] = process.argv.slice(2);
const credentials = {
  accessKeyId: "AKIAIOSFODNN7EXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
};
const mib = (kb) => kb / 1024;
// VmHWM = the kernel's peak resident set of this process; maxRSS where /proc is missing.
const peakKb = () => {
  try {
    return +/VmHWM:\s*(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))[1];
  } catch {
    return process.resourceUsage().maxRSS;
  }
};

let run;
if (who == "s3-edge" || who == "s3-edge-globalfetch") {
  const bundle = who == "s3-edge" ? "./.build/s3-edge-node-default.mjs" : "./.build/s3-edge.mjs";
  const { S3Client, downloadFile } = await import(new URL(bundle, import.meta.url).href);
  const client = new S3Client({ region: "us-east-1", endpoint, credentials });
  run = async () => {
    const d = await downloadFile(client, {
      bucket,
      key,
      concurrency: +(concurrency ?? 1),
      partSize: partSize && +partSize,
    });
    const reader = d.body.getReader();
    let n = 0;
    for (let r; !(r = await reader.read()).done;) n += r.value.length;
    if (n != d.size) throw new Error(`s3-edge: got ${n} of ${d.size} bytes`);
    return n;
  };
} else if (who == "aws-sdk") {
  const { S3Client, GetObjectCommand } = await import("@aws-sdk/client-s3");
  const client = new S3Client({ region: "us-east-1", endpoint, credentials, forcePathStyle: true });
  run = async () => {
    const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    let n = 0;
    for await (const chunk of r.Body) n += chunk.length;
    if (n != r.ContentLength) throw new Error(`aws-sdk: got ${n} of ${r.ContentLength} bytes`);
    return n;
  };
} else if (who == "nodefetch" || who == "fetch") {
  // References with no library on top (no S3Client, no downloadFile): s3-edge's Node transport, and
  // the global fetch (undici), s3-edge's default transport in Node.
  const f =
    who == "fetch" ? fetch : (await import(new URL("./.build/s3-edge-node.mjs", import.meta.url).href)).nodeFetch;
  run = async () => {
    const reader = (await f(`${endpoint}/${bucket}/${key}`)).body.getReader();
    let n = 0;
    for (let r; !(r = await reader.read()).done;) n += r.value.length;
    return n;
  };
} else if (who == "http") {
  // Reference: node:http with no library on top (what the aws-sdk's node-http-handler uses).
  const http = await import("node:http");
  run = () =>
    new Promise((resolve, reject) => {
      http
        .get(`${endpoint}/${bucket}/${key}`, (res) => {
          let n = 0;
          res
            .on("data", (c) => (n += c.length))
            .on("end", () => resolve(n))
            .on("error", reject);
        })
        .on("error", reject);
    });
} else if (who == "bare") {
  run = async () => 0;
} else throw new Error(`unknown contender ${who}`);

const rssBefore = process.memoryUsage().rss / 1048576;
const t0 = performance.now();
const bytes = await run();
const ms = performance.now() - t0;
console.log(
  JSON.stringify({
    bytes,
    ms,
    mibPerSec: bytes / 1048576 / (ms / 1000),
    rssBeforeMiB: rssBefore,
    peakRssMiB: mib(peakKb()),
  }),
);
