// `npm run demo`: the whole s3-edge flow on a laptop with no account and no root.
// Starts an embedded S3 server (s3rver) on loopback, watches `incoming/` with the new-file trigger
// while files are uploaded, downloads every reported file and compares its SHA-256 with what was
// uploaded. Exits 0 only when every expected event arrived once, verified, and nothing else did.
//
// Against a real bucket instead: DEMO_BUCKET=my-bucket AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=…
// [AWS_ENDPOINT_URL_S3=https://… | S3_ENDPOINT=…] [AWS_REGION=…] npm run demo
// (uploads under a fresh `incoming-<timestamp>/` prefix and deletes what it uploaded afterwards).
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { S3Client, newFileTrigger, type FileEvent } from "../src/index.ts";
import { downloadToFile } from "../src/node/index.ts";

const env = process.env;
const sha256Hex = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
const shortHash = (hash: string) => hash.slice(0, 16) + "…";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const humanSize = (bytes: number) =>
  bytes < 1024
    ? `${bytes} B`
    : bytes < 1_048_576
      ? `${(bytes / 1024).toFixed(1)} KiB`
      : `${(bytes / 1_048_576).toFixed(2)} MiB`;
const log = (line = "") => console.log(line);

const real = !!env.DEMO_BUCKET;
const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || env.S3_ENDPOINT || undefined;
if (real && !(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY)) {
  console.error(
    "DEMO_BUCKET is set, but AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not: set both (and " +
      "AWS_ENDPOINT_URL_S3 for a non-AWS endpoint), or unset DEMO_BUCKET to use the embedded server.",
  );
  process.exit(2);
}

const work = mkdtempSync(join(tmpdir(), "s3-edge-demo-"));
const downloads = join(work, "downloads");
let server: any, client: S3Client, bucket: string, folder: string;
if (real) {
  bucket = env.DEMO_BUCKET!;
  folder = `incoming-${new Date().toISOString().replace(/[-:.]/g, "")}/`;
  client = new S3Client({
    endpoint,
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined,
    credentials: {
      accessKeyId: env.AWS_ACCESS_KEY_ID!,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY!,
      sessionToken: env.AWS_SESSION_TOKEN || undefined,
    },
  });
  log(`s3-edge demo against ${endpoint ?? "AWS S3"}, bucket "${bucket}", folder "${folder}"`);
} else {
  // Loaded only here: s3rver is a devDependency, the real-bucket mode does not need it.
  const { default: S3rver } = await import("s3rver" as string);
  server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: join(work, "s3rver") });
  const { port } = await server.run();
  bucket = "demo";
  folder = "incoming/";
  // s3rver accepts any signature; these are its documented defaults.
  client = new S3Client({
    endpoint: `http://127.0.0.1:${port}`,
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
  });
  await client.createBucket({ bucket });
  log(`s3-edge demo: embedded s3rver at http://127.0.0.1:${port} (data in ${work}), bucket "${bucket}"`);
  log("note: s3rver verifies no signatures and ignores encoding-type, so this shows the flow, not correctness");
  log("      against real S3; the test suite runs against Ceph RGW, which does verify them.");
}

const controller = new AbortController();
const limitMs = real ? 60_000 : 10_000;
const uploaded = new Map<string, string>(); // key -> sha256 of the latest upload
const expected: string[] = []; // "key sha" of every event that must arrive
const unwatched: string[] = [];
let failures = 0,
  events = 0;
const seen = new Set<string>();

async function put(name: string, body: Uint8Array, watched = true) {
  const key = folder + name;
  const digest = sha256Hex(body);
  const { etag } = await client.putObject({ bucket, key, body });
  uploaded.set(key, digest);
  (watched ? expected : unwatched).push(watched ? key + " " + digest : key);
  const note = watched ? "" : "  (subfolder: not watched)";
  log(
    `upload  ${key.padEnd(folder.length + 16)} ${humanSize(body.length).padStart(10)}  etag ${etag}  ` +
      `sha256 ${shortHash(digest)}${note}`,
  );
}

// The uploads, while the trigger watches: a same-second burst, a file in an unwatched subfolder,
// larger files later. (No overwrite here: s3rver answers a PUT before the bytes are on disk and
// writes an object's ETag and content separately, so a listing can see a half-replaced object.)
async function uploads() {
  await Promise.all([
    put("hello.txt", new TextEncoder().encode("hello, s3-edge!\n")),
    put("empty.dat", new Uint8Array(0)),
    put("a.bin", randomBytes(64 * 1024)),
  ]);
  await sleep(400);
  await put("sub/nested.txt", new TextEncoder().encode("in a subfolder\n"), false);
  await put("b.bin", randomBytes(1024 * 1024));
  await sleep(700);
  await put("c.bin", randomBytes(3 * 1024 * 1024 + 7));
}

async function consume() {
  // since = epoch: the folder is new (a fresh server, or a unique prefix), so every file in it counts.
  const trigger = newFileTrigger(client, { bucket, folder, since: new Date(0), minAgeMs: 0, batchSize: 4 });
  for await (const event of trigger.watch({ intervalMs: 300, signal: controller.signal })) await handle(event);
}

async function handle(event: FileEvent) {
  events++;
  const relativePath = event.key.slice(folder.length);
  const path = join(downloads, ...relativePath.split("/").filter((segment) => segment && segment != ".."));
  mkdirSync(dirname(path), { recursive: true });
  await downloadToFile(client, { bucket, key: event.key, etag: event.etag, path, signal: controller.signal });
  const downloadedDigest = sha256Hex(readFileSync(path)),
    uploadedDigest = uploaded.get(event.key);
  const id = event.key + " " + downloadedDigest;
  const problem =
    downloadedDigest != uploadedDigest
      ? `≠ uploaded ${shortHash(uploadedDigest ?? "(never uploaded)")} ✗`
      : seen.has(id)
        ? "✗ reported twice"
        : !expected.includes(id)
          ? "✗ not expected"
          : "";
  if (problem) failures++;
  seen.add(id);
  const kind = (event.isUpdate ? "updated" : "new").padEnd(7);
  log(
    `event   ${kind} ${event.key}  ${humanSize(event.size)}  etag ${event.etag}  ` +
      `lastModified ${event.lastModified.toISOString()}`,
  );
  const verdict = downloadedDigest == uploadedDigest ? "= uploaded ✓" : "";
  log(`        -> ${path}  sha256 ${shortHash(downloadedDigest)} ${verdict}${problem && " " + problem}`);
}

log(`watching s3://${bucket}/${folder} every 300 ms (subfolders are not watched by default)`);
log("");
const timer = setTimeout(() => {
  controller.abort(new Error("timeout"));
  // Last resort: whatever still hangs after the abort, the demo's runtime stays bounded.
  setTimeout(() => (console.log(`✗ timed out after ${limitMs / 1000} s`), process.exit(1)), 2000).unref();
}, limitMs);
const watching = consume().catch((consumeError) => {
  if (!controller.signal.aborted) throw consumeError;
});
let error: unknown;
try {
  await uploads();
  // Wait until every expected event arrived, then two more polls: a duplicate or an unwatched file would show up there.
  while (!controller.signal.aborted && !expected.every((entry) => seen.has(entry))) await sleep(50);
  if (!controller.signal.aborted) await sleep(700);
} catch (uploadError) {
  error = uploadError;
}
const timedOut = controller.signal.aborted;
controller.abort();
await watching.catch((watchError) => (error ??= watchError));
clearTimeout(timer);

const missing = expected.filter((entry) => !seen.has(entry));
log("");
if (error) log(`error: ${(error as Error)?.message ?? error}`);
if (timedOut) log(`timed out after ${limitMs / 1000} s`);
if (missing.length) log(`missing events: ${missing.map((entry) => entry.split(" ")[0]).join(", ")}`);
const ok = !error && !timedOut && !missing.length && !failures && events == expected.length;
log(
  `${ok ? "✓" : "✗"} ${events} events for ${expected.length} uploads to ${folder}, ` +
    `${events - failures} verified by SHA-256` +
    `; not reported, as expected: ${unwatched.join(", ")}`,
);

if (real) for (const key of uploaded.keys()) await client.deleteObject({ bucket, key }).catch(() => {});
if (server) await new Promise((resolve) => server.close(resolve));
rmSync(work, { recursive: true, force: true });
process.exit(ok ? 0 : 1);
