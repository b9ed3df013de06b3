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
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const short = (h: string) => h.slice(0, 16) + "…";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const size = (n: number) => (n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(2)} MiB`);
const log = (s = "") => console.log(s);

const real = !!env.DEMO_BUCKET;
const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || env.S3_ENDPOINT || undefined;
if (real && !(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY)) {
  console.error("DEMO_BUCKET is set, but AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not: set both (and AWS_ENDPOINT_URL_S3 for a non-AWS endpoint), or unset DEMO_BUCKET to use the embedded server.");
  process.exit(2);
}

const work = mkdtempSync(join(tmpdir(), "s3-edge-demo-"));
const downloads = join(work, "downloads");
let server: any, client: S3Client, bucket: string, folder: string;
if (real) {
  bucket = env.DEMO_BUCKET!;
  folder = `incoming-${new Date().toISOString().replace(/[-:.]/g, "")}/`;
  client = new S3Client({
    endpoint, region: env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY!, sessionToken: env.AWS_SESSION_TOKEN || undefined },
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
  client = new S3Client({ endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true, credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } });
  await client.createBucket({ bucket });
  log(`s3-edge demo: embedded s3rver at http://127.0.0.1:${port} (data in ${work}), bucket "${bucket}"`);
  log("note: s3rver verifies no signatures and ignores encoding-type, so this shows the flow, not correctness");
  log("      against real S3; the test suite runs against Ceph RGW, which does verify them.");
}

const ac = new AbortController();
const limitMs = real ? 60_000 : 10_000;
const uploaded = new Map<string, string>(); // key -> sha256 of the latest upload
const expected: string[] = []; // "key sha" of every event that must arrive
const unwatched: string[] = [];
let failures = 0, events = 0;
const seen = new Set<string>();

async function put(name: string, body: Uint8Array, watched = true) {
  const key = folder + name;
  const h = sha(body);
  const { etag } = await client.putObject({ bucket, key, body });
  uploaded.set(key, h);
  (watched ? expected : unwatched).push(watched ? key + " " + h : key);
  log(`upload  ${key.padEnd(folder.length + 16)} ${size(body.length).padStart(10)}  etag ${etag}  sha256 ${short(h)}${watched ? "" : "  (subfolder: not watched)"}`);
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
  for await (const ev of trigger.watch({ intervalMs: 300, signal: ac.signal })) await handle(ev);
}

async function handle(ev: FileEvent) {
  events++;
  const rel = ev.key.slice(folder.length);
  const path = join(downloads, ...rel.split("/").filter((s) => s && s != ".."));
  mkdirSync(dirname(path), { recursive: true });
  await downloadToFile(client, { bucket, key: ev.key, etag: ev.etag, path, signal: ac.signal });
  const down = sha(readFileSync(path)), up = uploaded.get(ev.key);
  const id = ev.key + " " + down;
  const why = down != up ? `≠ uploaded ${short(up ?? "(never uploaded)")} ✗` : seen.has(id) ? "✗ reported twice" : !expected.includes(id) ? "✗ not expected" : "";
  if (why) failures++;
  seen.add(id);
  log(`event   ${(ev.isUpdate ? "updated" : "new").padEnd(7)} ${ev.key}  ${size(ev.size)}  etag ${ev.etag}  lastModified ${ev.lastModified.toISOString()}`);
  log(`        -> ${path}  sha256 ${short(down)} ${down == up ? "= uploaded ✓" : ""}${why && " " + why}`);
}

log(`watching s3://${bucket}/${folder} every 300 ms (subfolders are not watched by default)`);
log("");
const timer = setTimeout(() => {
  ac.abort(new Error("timeout"));
  // Last resort: whatever still hangs after the abort, the demo's runtime stays bounded.
  setTimeout(() => (console.log(`✗ timed out after ${limitMs / 1000} s`), process.exit(1)), 2000).unref();
}, limitMs);
const watching = consume().catch((e) => {
  if (!ac.signal.aborted) throw e;
});
let error: unknown;
try {
  await uploads();
  // Wait until every expected event arrived, then two more polls: a duplicate or an unwatched file would show up there.
  while (!ac.signal.aborted && !expected.every((x) => seen.has(x))) await sleep(50);
  if (!ac.signal.aborted) await sleep(700);
} catch (e) {
  error = e;
}
const timedOut = ac.signal.aborted;
ac.abort();
await watching.catch((e) => (error ??= e));
clearTimeout(timer);

const missing = expected.filter((x) => !seen.has(x));
log("");
if (error) log(`error: ${(error as Error)?.message ?? error}`);
if (timedOut) log(`timed out after ${limitMs / 1000} s`);
if (missing.length) log(`missing events: ${missing.map((x) => x.split(" ")[0]).join(", ")}`);
const ok = !error && !timedOut && !missing.length && !failures && events == expected.length;
log(`${ok ? "✓" : "✗"} ${events} events for ${expected.length} uploads to ${folder}, ${events - failures} verified by SHA-256` +
  `; not reported, as expected: ${unwatched.join(", ")}`);

if (real) for (const key of uploaded.keys()) await client.deleteObject({ bucket, key }).catch(() => {});
if (server) await new Promise((r) => server.close(r));
rmSync(work, { recursive: true, force: true });
process.exit(ok ? 0 : 1);
