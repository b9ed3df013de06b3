// Runs the bundled R2 -> Queue -> Worker example (entries/r2-queue.ts) in workerd through Miniflare,
// with a real Miniflare queue (batches of 3, so the redelivered message lands in a later batch than
// the first delivery) and a Durable Object. Needs Node >= 22 (run with node22).
// argv: <r2-queue.mjs> ; env: SCENARIO_ENV (S3_* of the scenario). Prints one line: REPORT <json>.
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { createRequire } from "node:module";
import { Miniflare } from "miniflare";

const [script] = process.argv.slice(2);
const s3 = JSON.parse(process.env.SCENARIO_ENV);
const folder = "incoming";
const mf = new Miniflare({
  modules: true,
  script: readFileSync(script, "utf8"),
  scriptPath: script,
  modulesRoot: dirname(script),
  compatibilityDate: "2025-09-01", // no nodejs_compat flag: Web APIs only
  bindings: {
    R2_ENDPOINT: s3.S3_ENDPOINT,
    R2_ACCESS_KEY_ID: s3.S3_ACCESS_KEY_ID,
    R2_SECRET_ACCESS_KEY: s3.S3_SECRET_ACCESS_KEY,
    S3_REGION: s3.S3_REGION,
    BUCKET: s3.S3_BUCKET,
    FOLDER: folder,
  },
  queueProducers: { QUEUE: "r2-events" },
  queueConsumers: { "r2-events": { maxBatchSize: 3, maxBatchTimeout: 1, maxRetries: 2 } },
  durableObjects: { TRIGGER: "FolderTrigger" },
  cf: false, // do not fetch Cloudflare's cf.json (no network beyond loopback here)
});
const checks = [];
const check = (name, ok, detail = "") => checks.push({ name, ok: !!ok, detail });
try {
  const produced = await mf.dispatchFetch("http://localhost/produce");
  const text = await produced.text();
  if (produced.status !== 200) throw new Error(`/produce answered ${produced.status}: ${text.slice(0, 2000)}`);
  const uploaded = JSON.parse(text);
  // Wait until every file is handled, then a little longer: a duplicate would come after.
  let log = [];
  const started = Date.now();
  for (let settledAt = 0; Date.now() - started < 30_000;) {
    log = await (await mf.dispatchFetch("http://localhost/log")).json();
    if (log.length >= uploaded.length) settledAt ||= Date.now();
    if (settledAt && Date.now() - settledAt > 2_500) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const handled = log.map((entry) => entry.key);
  check(
    "every uploaded file handled exactly once (a redelivered message is deduped)",
    handled.length == uploaded.length && new Set(handled).size == handled.length,
    `handled ${JSON.stringify(handled)}`,
  );
  const wrong = uploaded.filter((file) => {
    const entry = log.find((e) => e.key == file.key);
    return !entry || entry.size != file.size || entry.sha256 != file.sha256;
  });
  check(
    "raw R2 keys (space, +, %, unicode) downloaded byte-exact (size and SHA-256)",
    !wrong.length,
    `wrong or missing: ${JSON.stringify(wrong.map((file) => file.key))}`,
  );
  check("a file outside the folder is not handled", !handled.includes("elsewhere/x.txt"));
  check(
    "a late notification of an overwritten version is skipped, not retried (the newer one handled)",
    handled.filter((key) => key == `${folder}/overwritten.txt`).length == 1,
  );
  check(
    "a body that is no notification does not stall the queue (later files handled)",
    handled.includes(`${folder}/plain.txt`) && handled.includes(`${folder}/big.bin`),
  );
  const require = createRequire(import.meta.url);
  const versionOf = (name) => require(`${name}/package.json`).version;
  const runtimeVersion = `workerd ${versionOf("workerd")} (miniflare ${versionOf("miniflare")})`;
  console.log("REPORT " + JSON.stringify({ runtimeVersion, checks }));
} finally {
  await mf.dispose();
}
