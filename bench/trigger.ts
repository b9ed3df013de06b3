// The new-file trigger's cost on a real S3 server (issue 10): requests and milliseconds per idle poll
// and per poll that finds 10 new files, full vs incremental listing, beside a raw listAll of the same
// folder (what any poller that lists everything pays). Needs an S3 server: S3_TEST_ENDPOINT,
// S3_TEST_ACCESS_KEY_ID, S3_TEST_SECRET_ACCESS_KEY (source /tmp/shared-rgw.env, or npm test's RGW).
// Run: npm run bench:trigger [-- --sizes 1000,10000,100000 --rounds 5]
// The folders live in one bucket (s3edge-bench-trigger) that later runs reuse: only missing keys are
// uploaded (RGW on a busy 2-core machine takes ~100 uploads/s, so 100,000 keys cost ~17 minutes once).
import { S3Client } from "../src/client.ts";
import { newFileTrigger, type TriggerState } from "../src/trigger.ts";

const env = process.env;
if (!env.S3_TEST_ENDPOINT || !env.S3_TEST_ACCESS_KEY_ID || !env.S3_TEST_SECRET_ACCESS_KEY) {
  console.error(
    "bench:trigger needs S3_TEST_ENDPOINT, S3_TEST_ACCESS_KEY_ID and S3_TEST_SECRET_ACCESS_KEY (e.g. source /tmp/shared-rgw.env)",
  );
  process.exit(1);
}
const argument = (name: string, fallback: string) => {
  const index = process.argv.indexOf(name);
  return index > 0 ? process.argv[index + 1] : fallback;
};
const sizes = argument("--sizes", "1000,10000").split(",").map(Number);
const rounds = Number(argument("--rounds", "5"));
const BUCKET = "s3edge-bench-trigger";
const UPLOAD_PARALLELISM = 48;
const NEW_FILES = 10;
const FULL_LISTING_TARGET = 1.2; // a full-listing poll may cost at most 1.2x a raw listAll

let requests = 0;
const countingFetch: typeof fetch = (input, init) => (requests++, fetch(input, init));
const client = new S3Client({
  endpoint: env.S3_TEST_ENDPOINT,
  region: env.S3_TEST_REGION || "us-east-1",
  credentials: { accessKeyId: env.S3_TEST_ACCESS_KEY_ID, secretAccessKey: env.S3_TEST_SECRET_ACCESS_KEY },
  forcePathStyle: true,
  fetch: countingFetch,
});

/** Requests and milliseconds of one operation. */
async function measure<T>(operation: () => Promise<T>) {
  const requestsBefore = requests,
    start = performance.now();
  const result = await operation();
  return { result, ms: performance.now() - start, requests: requests - requestsBefore };
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function ensureFolder(folder: string, size: number) {
  const present = new Set<string>();
  for await (const object of client.listAll({ bucket: BUCKET, prefix: folder })) present.add(object.key);
  const missing: string[] = [];
  for (let i = 0; i < size; i++) {
    const key = `${folder}${String(i).padStart(7, "0")}.json`;
    if (!present.has(key)) missing.push(key);
  }
  if (missing.length) console.log(`# uploading ${missing.length} objects to s3://${BUCKET}/${folder} ...`);
  const start = Date.now();
  await Promise.all(
    Array.from({ length: UPLOAD_PARALLELISM }, async () => {
      for (let key; (key = missing.pop());) await client.putObject({ bucket: BUCKET, key, body: "{}" });
    }),
  );
  if (missing.length) console.log(`# uploaded in ${((Date.now() - start) / 1000).toFixed(0)} s`);
}

await client.createBucket({ bucket: BUCKET }).catch((error) => {
  if (!/BucketAlreadyOwnedByYou|BucketAlreadyExists/.test(error?.code)) throw error;
});

interface Row {
  size: number;
  what: string;
  requests: number;
  ms: number;
  events?: number;
  stateBytes?: number;
  ratio?: string;
}
const rows: Row[] = [];
for (const size of sizes) {
  const folder = `n${size}/`;
  await ensureFolder(folder, size);
  // Each trigger starts with a state that has seen the folder (its first poll), as a running one has.
  const full = newFileTrigger(client, { bucket: BUCKET, folder });
  const incremental = newFileTrigger(client, { bucket: BUCKET, folder, listing: "incremental" });
  let fullState = (await full.poll()).state;
  let incrementalState: TriggerState | undefined;
  for (let more = true; more;) ({ state: incrementalState, hasMore: more } = await incremental.poll(incrementalState));
  const samples: Record<string, { requests: number[]; ms: number[]; events: number[] }> = {};
  const record = (what: string, sample: { requests: number; ms: number; events?: number }) => {
    const entry = (samples[what] ??= { requests: [], ms: [], events: [] });
    (entry.requests.push(sample.requests), entry.ms.push(sample.ms), entry.events.push(sample.events ?? 0));
  };
  for (let round = 0; round < rounds; round++) {
    // interleaved, in a rotating order: server-side caching and load drift hit all three alike
    const idle = [
      async () =>
        record(
          "raw listAll",
          await measure(async () => {
            for await (const _ of client.listAll({ bucket: BUCKET, prefix: folder, delimiter: "/" }));
          }),
        ),
      async () => {
        const sample = await measure(() => full.poll(fullState));
        fullState = sample.result.state;
        record("full: idle poll", { ...sample, events: sample.result.events.length });
      },
      async () => {
        const sample = await measure(() => incremental.poll(incrementalState));
        incrementalState = sample.result.state;
        record("incremental: idle poll", { ...sample, events: sample.result.events.length });
      },
    ];
    for (let i = 0; i < idle.length; i++) await idle[(i + round) % idle.length]();
    await sleep(1000); // a new file's LastModified lands in a later second than the last poll's Date
    await Promise.all(
      Array.from({ length: NEW_FILES }, (_, i) =>
        client.putObject({ bucket: BUCKET, key: `${folder}z${Date.now()}-${round}-${i}.json`, body: "{}" }),
      ),
    );
    const fullSample = await measure(() => full.poll(fullState));
    fullState = fullSample.result.state;
    record("full: poll with 10 new files", { ...fullSample, events: fullSample.result.events.length });
    const incrementalSample = await measure(() => incremental.poll(incrementalState));
    incrementalState = incrementalSample.result.state;
    record("incremental: poll with 10 new files", {
      ...incrementalSample,
      events: incrementalSample.result.events.length,
    });
  }
  const rawMs = median(samples["raw listAll"].ms);
  for (const [what, sample] of Object.entries(samples)) {
    const ms = median(sample.ms);
    const stateBytes = what.startsWith("full")
      ? JSON.stringify(fullState).length
      : what.startsWith("incremental")
        ? JSON.stringify(incrementalState).length
        : undefined;
    rows.push({
      size,
      what,
      requests: median(sample.requests),
      ms,
      events: median(sample.events),
      stateBytes,
      ratio: what == "raw listAll" ? "" : (ms / rawMs).toFixed(2) + "x",
    });
  }
}

console.log(
  `\n# trigger on ${env.S3_TEST_ENDPOINT} (medians of ${rounds} interleaved rounds; requests counted at fetch)`,
);
console.log("| objects | poll | requests | ms | vs raw listAll | events | state JSON |");
console.log("|---:|---|---:|---:|---:|---:|---:|");
for (const row of rows)
  console.log(
    `| ${row.size.toLocaleString("en-US")} | ${row.what} | ${row.requests} | ${row.ms.toFixed(0)} | ${row.ratio} | ${row.events} | ${row.stateBytes === undefined ? "" : row.stateBytes + " B"} |`,
  );
const failures: string[] = [];
for (const row of rows) {
  if (row.what.startsWith("incremental: idle") && row.requests > 2)
    failures.push(`incremental idle poll at ${row.size}: ${row.requests} requests (target <= 2)`);
  const raw = rows.find((other) => other.size == row.size && other.what == "raw listAll")!;
  if (row.what == "full: idle poll" && row.ms > FULL_LISTING_TARGET * raw.ms)
    failures.push(
      `full-listing poll at ${row.size}: ${(row.ms / raw.ms).toFixed(2)}x raw listAll (target <= ${FULL_LISTING_TARGET}x)`,
    );
}
console.log(
  failures.length
    ? failures.map((failure) => "✗ " + failure).join("\n")
    : "✓ targets: incremental idle poll <= 2 requests; full-listing poll <= 1.2x raw listAll",
);
