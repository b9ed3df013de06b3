// Runs the bundled cron-trigger Worker (entries/cron-trigger.ts) in workerd through Miniflare: a
// cron-style loop of separate scheduled() invocations, the trigger's state in a Miniflare KV
// namespace, 5,000 files in the folder before the first invocation and more uploaded between
// invocations. Needs Node >= 22 (run with node22).
// argv: <cron-trigger.mjs> ; env: SCENARIO_ENV (S3_* of the scenario). Prints one line: REPORT <json>.
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { createRequire } from "node:module";
import { Miniflare } from "miniflare";

const [script] = process.argv.slice(2);
const FOLDER_FILES = 5_000,
  UPLOAD_CHUNK = 250,
  LATE_BATCHES = 6,
  LATE_FILES = 25,
  MAX_INVOCATIONS = 80;
const SUBREQUEST_LIMIT = 50; // Workers free plan, per invocation
const mf = new Miniflare({
  modules: true,
  script: readFileSync(script, "utf8"),
  scriptPath: script,
  modulesRoot: dirname(script),
  compatibilityDate: "2025-09-01", // no nodejs_compat flag: Web APIs only
  bindings: JSON.parse(process.env.SCENARIO_ENV),
  kvNamespaces: ["STATE"],
  cf: false, // do not fetch Cloudflare's cf.json (no network beyond loopback here)
});
const checks = [];
const check = (name, ok, detail = "") => checks.push({ name, ok: !!ok, detail });
try {
  const upload = async (prefix, from, count) => {
    const response = await mf.dispatchFetch(`http://localhost/upload?prefix=${prefix}&from=${from}&count=${count}`);
    if (response.status !== 200)
      throw new Error(`/upload answered ${response.status}: ${(await response.text()).slice(0, 2000)}`);
    return response.json();
  };
  const expected = [];
  for (let from = 0; from < FOLDER_FILES; from += UPLOAD_CHUNK)
    expected.push(...(await upload("f", from, UPLOAD_CHUNK)));
  const worker = await mf.getWorker();
  const kv = await mf.getKVNamespace("STATE");
  const reports = async () => {
    const out = [];
    for (let cursor; ;) {
      const page = await kv.list({ prefix: "log/", cursor });
      for (const { name } of page.keys) out.push(JSON.parse(await kv.get(name)));
      if (page.list_complete) return out;
      cursor = page.cursor;
    }
  };
  let invocations = 0,
    late = 0,
    idle = 0;
  for (; invocations < MAX_INVOCATIONS && idle < 2; invocations++) {
    await worker.scheduled({ scheduledTime: new Date(), cron: "* * * * *" });
    // files arrive between invocations, in a later second than the polls before them
    if (invocations % 2 == 1 && late < LATE_BATCHES) {
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      expected.push(...(await upload(`late${late}-`, 0, LATE_FILES)));
      late++;
    }
    const all = await reports();
    const last = all.at(-1); // keys are log/<time>-<id>: KV lists them in time order
    const emitted = all.flatMap((report) => report.events ?? []);
    idle =
      late == LATE_BATCHES && emitted.length >= expected.length && last && !last.hasMore && !last.error ? idle + 1 : 0;
  }
  const all = await reports();
  const emitted = all.flatMap((report) => report.events ?? []);
  const errors = all.filter((report) => report.error);
  const maxSubrequests = Math.max(...all.map((report) => report.subrequests));
  const missing = expected.filter((key) => !emitted.includes(key));
  const duplicates = emitted.filter((key, index) => emitted.indexOf(key) != index);
  check(
    `every file exactly once (${expected.length} files: ${FOLDER_FILES} before the first invocation, ${LATE_BATCHES} x ${LATE_FILES} between invocations)`,
    !missing.length && !duplicates.length && emitted.length == expected.length,
    `missing ${missing.length} (${missing.slice(0, 3)}), duplicates ${duplicates.length} (${duplicates.slice(0, 3)}), emitted ${emitted.length}`,
  );
  check(
    `no invocation over ${SUBREQUEST_LIMIT} subrequests (S3 fetches + KV calls counted; max ${maxSubrequests} in ${all.length} invocations)`,
    all.length == invocations && maxSubrequests <= SUBREQUEST_LIMIT,
    `${all.length} reports for ${invocations} invocations`,
  );
  check(
    `every poll within maxRequestsPerPoll 40 (max ${Math.max(...all.map((report) => report.requests ?? 0))})`,
    all.every((report) => (report.requests ?? 0) <= 40),
  );
  check(
    `the state fits a KV value and a Durable Object value (max ${Math.max(...all.map((report) => report.stateBytes ?? 0))} B)`,
    all.every((report) => (report.stateBytes ?? 0) <= 128 * 1024),
    `${errors.length} invocations failed and were retried by the next: ${errors.map((report) => report.error).slice(0, 2)}`,
  );
  const require = createRequire(import.meta.url);
  const versionOf = (name) => require(`${name}/package.json`).version;
  const runtimeVersion = `workerd ${versionOf("workerd")} (miniflare ${versionOf("miniflare")})`;
  console.log("REPORT " + JSON.stringify({ runtimeVersion, checks, invocations, errors: errors.length }));
} finally {
  await mf.dispose();
}
