// The runtime matrix: proves s3-edge on every runtime it claims. Run from the repo root with
// `npx tsx test/runtimes/run.ts` (npm test runs it first). Uses the S3_TEST_* server when set
// (npm test sets it), else starts Ceph RGW itself. Installs the runtimes (test/runtimes/package.json,
// not the library's dependencies) when node_modules is missing or stale. A runtime that cannot be
// installed or started FAILS its row: nothing is skipped silently.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { readdirSync } from "node:fs";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const nm = join(here, "node_modules");
const t0 = Date.now();
// Optional row filter: `npx tsx test/runtimes/run.ts deno workerd` runs only the rows whose name contains an argument.
const only = process.argv.slice(2).map((a) => a.toLowerCase());
const want = (name: string) => !only.length || only.some((a) => name.toLowerCase().includes(a));

// ---------------------------------------------------------------- process helpers
interface Out {
  code: number;
  out: string;
  ms: number;
  timedOut: boolean;
}
function exec(
  cmd: string,
  args: string[],
  o: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; echo?: boolean } = {},
): Promise<Out> {
  const start = Date.now();
  return new Promise((done) => {
    let out = "",
      timedOut = false;
    let p;
    try {
      p = spawn(cmd, args, {
        cwd: o.cwd ?? root,
        env: o.env ?? process.env,
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
      });
    } catch (e) {
      return done({ code: 127, out: String(e), ms: 0, timedOut });
    }
    const add = (b: Buffer) => {
      out += b;
      if (o.echo) process.stdout.write(b);
    };
    p.stdout!.on("data", add);
    p.stderr!.on("data", add);
    // The whole process group: test runners spawn children (node --test workers, servers).
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-p.pid!, "SIGKILL");
      } catch {}
    }, o.timeoutMs ?? 150_000);
    p.on("error", (e) => (out += `\n${e}`));
    p.on("close", (code, sig) => {
      clearTimeout(timer);
      done({ code: code ?? (sig ? 1 : 0), out, ms: Date.now() - start, timedOut });
    });
  });
}
const tail = (s: string, n = 40) => s.trimEnd().split("\n").slice(-n).join("\n");
const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "");

// ---------------------------------------------------------------- runtimes install
if (process.platform !== "linux" || process.arch !== "x64") {
  console.error(
    `runtime matrix: the runtime packages pinned in test/runtimes are linux-x64 builds; this is ${process.platform}-${process.arch}. Run the matrix on linux-x64 (CI does).`,
  );
  process.exit(1);
}
const BIN = {
  node22: join(nm, "node22/bin/node"),
  node18: join(nm, "node18/bin/node"),
  deno: join(nm, "@deno/linux-x64-glibc/deno"),
  bun: join(nm, "@oven/bun-linux-x64/bin/bun"),
  workerd: join(nm, "@cloudflare/workerd-linux-64/bin/workerd"),
};
const PKGS = ["miniflare", "edge-runtime", "esbuild"];
const missing = () =>
  [...Object.values(BIN), ...PKGS.map((p) => join(nm, p, "package.json"))].filter((f) => !existsSync(f));
const lock = join(here, "package-lock.json"),
  installed = join(nm, ".package-lock.json");
const stale = () => !existsSync(installed) || statSync(lock).mtimeMs > statSync(installed).mtimeMs;
if (missing().length || stale()) {
  // --ignore-scripts: every binary ships inside its package (deno, bun, workerd, node, esbuild);
  // none needs a postinstall, and npm 11 blocks install scripts by default anyway.
  console.log("# runtime matrix: installing the runtimes (npm ci --prefix test/runtimes) ...");
  const r = await exec("npm", ["ci", "--prefix", relative(root, here), "--ignore-scripts", "--no-audit", "--no-fund"], {
    timeoutMs: 600_000,
  });
  if (r.code !== 0) {
    console.error(
      `runtime matrix FAILED: could not install the runtimes with npm ci --prefix test/runtimes (exit ${r.code}):\n${tail(r.out)}`,
    );
    process.exit(1);
  }
}
if (missing().length) {
  console.error(
    `runtime matrix FAILED: runtimes missing after npm ci --prefix test/runtimes:\n  ${missing().join("\n  ")}`,
  );
  process.exit(1);
}

// ---------------------------------------------------------------- the S3 server
let stopServer = async () => {};
let S3: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string };
if (process.env.S3_TEST_ENDPOINT) {
  const e = process.env;
  if (!e.S3_TEST_ACCESS_KEY_ID || !e.S3_TEST_SECRET_ACCESS_KEY) {
    console.error(
      "runtime matrix FAILED: S3_TEST_ENDPOINT is set without S3_TEST_ACCESS_KEY_ID / S3_TEST_SECRET_ACCESS_KEY",
    );
    process.exit(1);
  }
  S3 = {
    endpoint: e.S3_TEST_ENDPOINT!,
    region: e.S3_TEST_REGION || "us-east-1",
    accessKeyId: e.S3_TEST_ACCESS_KEY_ID!,
    secretAccessKey: e.S3_TEST_SECRET_ACCESS_KEY!,
  };
} else {
  const { s3TestServer } = await import("../support/s3server.ts");
  const s = await s3TestServer();
  console.log(`# runtime matrix: started Ceph RGW at ${s.endpoint}`);
  S3 = s;
  stopServer = () => s.stop();
}
const testEnv = {
  ...process.env,
  NO_COLOR: "1",
  FORCE_COLOR: "0",
  DENO_NO_UPDATE_CHECK: "1",
  S3_TEST_ENDPOINT: S3.endpoint,
  S3_TEST_REGION: S3.region,
  S3_TEST_ACCESS_KEY_ID: S3.accessKeyId,
  S3_TEST_SECRET_ACCESS_KEY: S3.secretAccessKey,
};

// ---------------------------------------------------------------- bundles (esbuild, platform neutral)
const tmp = mkdtempSync(join(tmpdir(), "s3-edge-runtimes-"));
const bundles = { worker: join(tmp, "worker.mjs"), edge: join(tmp, "edge.js"), plain: join(tmp, "plain.mjs") };
let bundleError = "";
try {
  const esbuild = await import(join(nm, "esbuild/lib/main.js"));
  const common = { bundle: true, platform: "neutral", target: "es2022", logLevel: "silent", metafile: true } as const;
  const builds = [
    await esbuild.build({
      ...common,
      entryPoints: [join(here, "entries/worker.ts")],
      outfile: bundles.worker,
      format: "esm",
    }),
    await esbuild.build({
      ...common,
      entryPoints: [join(here, "entries/plain.ts")],
      outfile: bundles.plain,
      format: "esm",
    }),
    await esbuild.build({
      ...common,
      entryPoints: [join(here, "entries/edge.ts")],
      outfile: bundles.edge,
      format: "iife",
    }),
  ];
  // The bundle must be self-contained Web-API code: any import left (node:..., a package) would
  // bundle fine for "neutral" but fail at run time on an edge runtime.
  for (const b of builds)
    for (const [f, o] of Object.entries<any>(b.metafile.outputs))
      if (o.imports.length) throw new Error(`${f} still imports ${o.imports.map((i: any) => i.path).join(", ")}`);
} catch (e) {
  bundleError = `esbuild bundle of src/index.ts failed: ${(e as Error).message}`;
}

// ---------------------------------------------------------------- rows
type Rt = "node22" | "deno" | "bun";
interface Row {
  runtime: string;
  version: string;
  tested: string;
  ok: boolean;
  detail: string;
  ms: number;
}
const rows: Row[] = [];
const version = (cmd: string, args = ["--version"]) => {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 20_000 });
  return r.status === 0
    ? strip(r.stdout).trim().split("\n")[0].replace(/ \(.*/, "")
    : `cannot start (${(r.error?.message ?? r.stderr ?? "").trim().slice(0, 200)})`;
};

const testFiles = readdirSync(join(root, "test"))
  .filter((f) => f.endsWith(".test.ts"))
  .sort()
  .map((f) => "test/" + f);

// A suite row runs all 26 test files: 120-160 s on a quiet 2-core machine this round (Bun 120 s,
// Node 22 and Deno were cut off at 150 s under load), so a row gets 6 minutes before it is killed.
const SUITE_ROW_MS = 360_000;

/**
 * Tests excluded on a runtime, each with its reason, shown in the output. Only for defects or
 * incompatibilities in TEST code, or for Node-only modules on a runtime they are not claimed for;
 * library code the runtime is claimed for is never excluded. `tests` (names) excludes those
 * tests (Node: --test-skip-pattern, Bun: -t with a negative lookahead); no `tests` excludes the file.
 * Deno filters only top-level tests: there a file with `tests` runs alone with `denoKeep`
 * (a --filter of the top-level tests to keep).
 */
const EXCLUDED: { file: string; tests?: string[]; denoKeep?: string; runtimes: Rt[]; why: string }[] = [
  {
    file: "test/cli.test.ts",
    runtimes: ["deno"],
    why:
      "the CLI is Node-only (bin runs on node); the test spawns process.execPath, which is deno here: Deno's fetch " +
      "errors carry no Node error code (no ECONNREFUSED in the message) and SIGINT does not end the watch with exit 130",
  },
  {
    file: "test/cli-watch.test.ts",
    runtimes: ["deno"],
    why:
      "the CLI is Node-only (bin runs on node); the test spawns process.execPath as the CLI, which is deno here " +
      "(as test/cli.test.ts)",
  },
  {
    file: "test/npm-test.test.ts",
    runtimes: ["deno"],
    why: "runs scripts/test.ts (npm test, Node-only) as process.execPath, which is deno here",
  },
  {
    file: "test/node-fetch.test.ts",
    runtimes: ["deno"],
    why:
      "nodeFetch (s3-edge/node) is the Node-only transport; the TLS test reads the server socket's servername, " +
      "which Deno's node:tls gives as null where Node gives false for a client that sent no SNI",
  },
  {
    file: "test/node-undici.test.ts",
    runtimes: ["deno"],
    why:
      "checks Node's process.moduleLoadList in a child started as process.execPath with Node's flags " +
      "(--import tsx, --input-type=module); under Deno that is deno, which takes neither",
  },
  {
    file: "test/download.test.ts",
    tests: ["a server that ignores If-Match: a new version mid-download is ObjectChanged (sequential and parallel)"],
    runtimes: ["bun"],
    why:
      "the fault server swaps the object's version from inside its own GET handler; under Bun's fetch on a loaded " +
      "machine that swap races the cut it also injects (1 run in 3 in the full matrix, never alone), so the test's " +
      "premise does not hold; the download code it drives runs in every other download test here, and this test " +
      "runs under Node 20, Node 22 and Deno",
  },
  {
    file: "test/trigger.integration.test.ts",
    tests: [
      "incremental on RGW: an idle poll of a 20,000-key folder costs at most 2 requests; a new file costs 1",
      "maxRequestsPerPoll 3 on RGW: all of a 10,000-key folder exactly once, no poll over budget",
    ],
    denoKeep: "/^(concurrent uploads|watch on RGW|incremental on RGW with awkward keys)/",
    runtimes: ["node22", "deno", "bun"],
    why:
      "uploading their 20,000 objects takes RGW 1-3 minutes on a 2-core machine, beyond a suite row's time: they " +
      "run once, under Node 20 in npm test; the trigger code they drive runs here in the other trigger tests",
  },
];
const ran = new Set<Rt>();
const exclusionsFor = (rt: Rt) => EXCLUDED.filter((x) => x.runtimes.includes(rt));
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const excludedNote = (rt: Rt) => {
  const ex = exclusionsFor(rt);
  const what = (x: (typeof ex)[0]) =>
    !x.tests ? "whole file" : rt === "deno" ? "top-level suite" : `${x.tests.length} tests`;
  return ex.length ? `; excluded: ${ex.map((x) => `${x.file.slice(5)} (${what(x)})`).join(", ")}` : "";
};

async function suiteRow(
  rt: Rt,
  runtime: string,
  ver: string,
  run: (files: string[], extra: string[]) => Promise<Out>,
  count: (o: string) => string,
) {
  if (!want(runtime)) return;
  ran.add(rt);
  const ex = exclusionsFor(rt);
  const outs: Out[] = [];
  const files = testFiles.filter((f) => !ex.some((x) => x.file === f && (!x.tests || (rt === "deno" && x.denoKeep))));
  if (rt === "deno") {
    outs.push(await run(files, []));
    for (const x of ex) if (x.tests && x.denoKeep) outs.push(await run([x.file], ["--filter", x.denoKeep]));
  } else {
    const names = ex.flatMap((x) => x.tests ?? []).map(esc);
    outs.push(
      await run(
        files,
        names.length
          ? rt === "bun"
            ? ["-t", `^(?!.*(${names.join("|")}))`]
            : [`--test-skip-pattern=${names.join("|")}`]
          : [],
      ),
    );
  }
  if (process.env.RUNTIMES_DEBUG) for (const o of outs) console.log(o.out);
  const ok = outs.every((o) => o.code === 0 && !o.timedOut);
  const detail = outs.map((o) => (o.timedOut ? "TIMED OUT " : "") + count(strip(o.out))).join(" + ");
  rows.push({
    runtime,
    version: ver,
    tested: `node:test suites (${testFiles.length} files incl. RGW integration)${excludedNote(rt)}`,
    ok,
    detail: ok
      ? detail
      : `${detail}\n${outs
          .filter((o) => o.code)
          .map((o) => tail(strip(o.out), 60))
          .join("\n")}`,
    ms: outs.reduce((a, o) => a + o.ms, 0),
  });
}

const S3_SCENARIO =
  "scenario vs RGW: sign, presign, createBucket/putObject, listObjectsV2 paginated, getObject, trigger poll x2, downloadFile";
let nb = 0;
async function scenarioRow(
  runtime: string,
  fallbackVersion: string,
  cmd: string,
  args: string[],
  assertExtra?: (r: any) => string | undefined,
) {
  if (!want(runtime)) return;
  const start = Date.now();
  const fail = (detail: string, version = fallbackVersion) =>
    rows.push({ runtime, version, tested: S3_SCENARIO, ok: false, detail, ms: Date.now() - start });
  if (bundleError) return fail(bundleError);
  const bucket = `rt-${runtime.toLowerCase().replace(/[^a-z0-9]+/g, "-")}-${Date.now().toString(36)}-${nb++}`.slice(
    0,
    63,
  );
  const env = {
    S3_ENDPOINT: S3.endpoint,
    S3_REGION: S3.region,
    S3_ACCESS_KEY_ID: S3.accessKeyId,
    S3_SECRET_ACCESS_KEY: S3.secretAccessKey,
    S3_BUCKET: bucket,
  };
  const o = await exec(cmd, args, { env: { ...process.env, SCENARIO_ENV: JSON.stringify(env) }, timeoutMs: 90_000 });
  const line = o.out.split("\n").find((l) => l.startsWith("REPORT "));
  if (o.code !== 0 || !line)
    return fail(`${o.timedOut ? "timed out; " : ""}exit ${o.code}, no report:\n${tail(o.out)}`);
  const r = JSON.parse(line.slice(7));
  const { CHECKS } = await import("./scenario.ts");
  const problems: string[] = [];
  for (const name of CHECKS) {
    const c = r.checks.find((x: any) => x.name === name);
    if (!c) problems.push(`missing check: ${name}`);
    else if (!c.ok) problems.push(`FAILED ${name}: ${c.detail}`);
  }
  const extra = assertExtra?.(r);
  if (extra) problems.push(extra);
  const ok = !problems.length;
  rows.push({
    runtime,
    version: r.runtimeVersion ?? fallbackVersion,
    tested: S3_SCENARIO,
    ok,
    ms: Date.now() - start,
    detail: ok ? `${r.checks.length}/${CHECKS.length} checks passed (crypto global: ${r.crypto})` : problems.join("\n"),
  });
}

const nodeCount = (o: string) => {
  const g = (k: string) => o.match(new RegExp(`^# ${k} (\\d+)`, "m"))?.[1] ?? "?";
  return `${g("pass")} passed, ${g("fail")} failed, ${g("skipped")} skipped`;
};
const denoCount = (o: string) => o.match(/^(?:ok|FAILED) \| .*$/m)?.[0].replace(/ \(\d+m?s\)$/, "") ?? "no summary";
const bunCount = (o: string) =>
  ["pass", "skip", "fail"].map((k) => `${o.match(new RegExp(`^ (\\d+) ${k}$`, "m"))?.[1] ?? 0} ${k}`).join(", ");

// a. Node 22: the node:test suites through tsx (from the root node_modules).
await suiteRow(
  "node22",
  "Node 22",
  version(BIN.node22),
  (files, extra) =>
    exec(BIN.node22, ["--import", "tsx", "--test", ...extra, ...files], { env: testEnv, timeoutMs: SUITE_ROW_MS }),
  nodeCount,
);

// b. Deno: the same files, unchanged (node:test and node:assert through Deno's Node compat).
await suiteRow(
  "deno",
  "Deno",
  version(BIN.deno),
  (files, extra) =>
    exec(BIN.deno, ["test", "--allow-all", "--no-check", "--no-lock", ...extra, ...files], {
      env: testEnv,
      timeoutMs: SUITE_ROW_MS,
    }),
  denoCount,
);

// c. Bun: the same files (bun test runs node:test suites). Bun's 5 s default per-test timeout is
// too short for the trigger's seeded model check on a 2-core machine.
await suiteRow(
  "bun",
  "Bun",
  version(BIN.bun),
  (files, extra) =>
    exec(BIN.bun, ["test", "--timeout", "60000", ...extra, ...files.map((f) => "./" + f)], {
      env: testEnv,
      timeoutMs: SUITE_ROW_MS,
    }),
  bunCount,
);

// d. workerd (Cloudflare Workers) via Miniflare, which needs Node >= 22.
await scenarioRow("workerd", "workerd", BIN.node22, [join(here, "hosts/workerd.mjs"), bundles.worker]);

// d2. workerd: the R2 -> Queue -> Worker example (examples/r2-queue-worker.ts) with a Miniflare queue
// and Durable Object, RGW standing in for R2's S3 API (issue 11).
await workerdHostRow({
  runtime: "workerd queue",
  tested: "R2 -> Queue -> Worker example: parse, dedup (Durable Object), download",
  entry: "r2-queue",
  host: "workerd-queue",
  timeoutMs: 90_000,
  minChecks: 5,
  summary: (report) => `${report.checks.length} checks passed: ${report.checks.map((check) => check.name).join("; ")}`,
});

// d3. workerd: the README's cron Worker recipe (issue 10): separate scheduled() invocations, one
// poll each with maxRequestsPerPoll 40, the state in a Miniflare KV namespace, uploads in between.
await workerdHostRow({
  runtime: "workerd cron",
  tested: "cron Worker: one bounded poll per invocation, state in KV, <= 50 subrequests",
  entry: "cron-trigger",
  host: "workerd-cron",
  timeoutMs: 300_000,
  minChecks: 4,
  summary: (report) => `${report.invocations} invocations; ${report.checks.map((check) => check.name).join("; ")}`,
});

interface HostReport {
  runtimeVersion?: string;
  invocations?: number;
  checks: { name: string; ok: boolean; detail: string }[];
}

/**
 * A workerd row whose Worker is test/runtimes/entries/<entry>.ts, bundled for platform neutral with
 * no import left, and driven by hosts/<host>.mjs (Miniflare, under Node 22) against RGW in a fresh
 * bucket. The host prints one `REPORT {json}` line with its checks.
 */
async function workerdHostRow(row: {
  runtime: string;
  tested: string;
  entry: string;
  host: string;
  timeoutMs: number;
  minChecks: number;
  summary: (report: HostReport) => string;
}) {
  const { runtime, tested } = row;
  if (!want(runtime)) return;
  const start = Date.now();
  const problems: string[] = [];
  let report: HostReport = { checks: [] };
  try {
    const esbuild = await import(join(nm, "esbuild/lib/main.js"));
    const bundle = join(tmp, `${row.entry}.mjs`);
    const built = await esbuild.build({
      entryPoints: [join(here, `entries/${row.entry}.ts`)],
      outfile: bundle,
      format: "esm",
      bundle: true,
      platform: "neutral",
      target: "es2022",
      logLevel: "silent",
      metafile: true,
    });
    const imports = Object.values<any>(built.metafile.outputs).flatMap((output) => output.imports);
    if (imports.length) throw new Error(`the bundle still imports ${imports.map((i: any) => i.path).join(", ")}`);
    const env = {
      S3_ENDPOINT: S3.endpoint,
      S3_REGION: S3.region,
      S3_ACCESS_KEY_ID: S3.accessKeyId,
      S3_SECRET_ACCESS_KEY: S3.secretAccessKey,
      S3_BUCKET: `rt-${row.entry}-${Date.now().toString(36)}-${nb++}`,
    };
    const out = await exec(BIN.node22, [join(here, `hosts/${row.host}.mjs`), bundle], {
      env: { ...process.env, SCENARIO_ENV: JSON.stringify(env) },
      timeoutMs: row.timeoutMs,
    });
    const line = out.out.split("\n").find((text) => text.startsWith("REPORT "));
    if (out.code !== 0 || !line)
      throw new Error(`${out.timedOut ? "timed out; " : ""}exit ${out.code}, no report:\n${tail(out.out)}`);
    report = JSON.parse(line.slice(7));
    if (report.checks.length < row.minChecks)
      problems.push(`only ${report.checks.length} of ${row.minChecks} checks ran`);
    for (const check of report.checks) if (!check.ok) problems.push(`FAILED ${check.name}: ${check.detail}`);
  } catch (error) {
    problems.push(String((error as Error)?.message ?? error));
  }
  rows.push({
    runtime,
    version: report.runtimeVersion ?? "workerd",
    tested,
    ok: !problems.length,
    ms: Date.now() - start,
    detail: problems.length ? problems.join("\n") : row.summary(report),
  });
}

// e. Vercel edge-runtime.
await scenarioRow("edge-runtime", "edge-runtime", BIN.node22, [join(here, "hosts/edge.mjs"), bundles.edge], (r) =>
  r.edgeRuntimeGlobal === "string"
    ? undefined
    : `the scenario did not run inside the edge VM (typeof EdgeRuntime: ${r.edgeRuntimeGlobal})`,
);

// f. Node 18 without the crypto global: the pure-TS hashing path.
await scenarioRow("Node 18", version(BIN.node18), BIN.node18, [join(here, "hosts/node.mjs"), bundles.plain], (r) =>
  r.crypto === "undefined"
    ? undefined
    : `Node 18 was expected to have no crypto global, found typeof crypto = ${r.crypto}`,
);

// Node 20 (the machine's node, which also runs every suite in npm test): the same bundle, with WebCrypto.
await scenarioRow(`Node ${process.versions.node.split(".")[0]}`, process.version, process.execPath, [
  join(here, "hosts/node.mjs"),
  bundles.plain,
]);

// g. npm pack: what users install.
await packRow();

// Which transport each runtime gets from the installed tarball (issue 12): on Node, "s3-edge" is
// dist/index.node.js and an S3Client made without `fetch` sends through nodeFetch: a recording
// server sees a key's ".." segment as written (fetch's URL parser collapses it, so on any other
// transport the client refuses the key) and no user-agent (undici adds one), and undici is never
// loaded. Deno and Bun get the edge entry (global fetch). Bundles for platform neutral, the
// browser, workerd and Vercel's edge take dist/index.js with no node: import; platform node takes
// the Node entry.
async function transportProof(
  proj: string,
  step: (name: string, cmd: string, args: string[], cwd?: string) => Promise<Out>,
  problems: string[],
  steps: string[],
) {
  const { createServer } = await import("node:http");
  const seen: { path: string; userAgent: string | null }[] = [];
  const server = createServer((request, response) => {
    seen.push({ path: request.url!.split("?")[0], userAgent: request.headers["user-agent"] ?? null });
    const headers = { "content-length": "2", etag: '"e"', "last-modified": new Date().toUTCString() };
    response.writeHead(200, headers).end(request.method == "HEAD" ? undefined : "ok");
  });
  await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
  const endpoint = `http://127.0.0.1:${(server.address() as import("node:net").AddressInfo).port}`;
  // Runs unchanged on Node, Deno and Bun; prints one TRANSPORT line.
  writeFileSync(
    join(proj, "transport.mjs"),
    `
    const { S3Client, InputError } = await import("s3-edge");
    let entry = null;
    try { entry = import.meta.resolve("s3-edge"); } catch {}
    const credentials = { accessKeyId: "a", secretAccessKey: "b" };
    const client = new S3Client({ endpoint: ${JSON.stringify(endpoint)}, forcePathStyle: true, credentials });
    let transport;
    try {
      const object = await client.getObject({ bucket: "b", key: "a/../k" });
      let text = "";
      for await (const chunk of object.body) text += new TextDecoder().decode(chunk);
      transport = text == "ok" ? "raw path sent" : "wrong body " + JSON.stringify(text);
    } catch (error) {
      transport = error instanceof InputError ? "refused the raw path" : "failed: " + error;
    }
    if (transport != "raw path sent") await (await client.getObject({ bucket: "b", key: "plain" })).body.cancel();
    const undici = globalThis.process?.moduleLoadList?.filter((name) => /undici/.test(name)) ?? null;
    const subclass = Object.getPrototypeOf(S3Client) !== Function.prototype;
    if (entry) entry = entry.slice(entry.lastIndexOf("/dist/") + 1);
    console.log("TRANSPORT " + JSON.stringify({ entry, transport, subclass, undici }));
  `,
  );
  const runtimes = [
    { name: `node ${process.version}`, cmd: process.execPath, args: ["transport.mjs"], node: true },
    { name: `node ${version(BIN.node22)}`, cmd: BIN.node22, args: ["transport.mjs"], node: true },
    {
      name: `deno ${version(BIN.deno).replace(/^deno /, "")}`,
      cmd: BIN.deno,
      args: ["run", "--allow-all", "--no-lock", "transport.mjs"],
      node: false,
    },
    { name: `bun ${version(BIN.bun)}`, cmd: BIN.bun, args: ["transport.mjs"], node: false },
  ];
  try {
    for (const runtime of runtimes) {
      seen.length = 0;
      const out = await step(`${runtime.name}: which transport`, runtime.cmd, runtime.args, proj);
      if (out.code) continue;
      const line = out.out.split("\n").find((text) => text.startsWith("TRANSPORT "));
      if (!line) {
        problems.push(`${runtime.name}: no TRANSPORT line:\n${tail(out.out)}`);
        continue;
      }
      const report = JSON.parse(line.slice(10));
      const request = seen[0];
      const got = runtime.node
        ? report.transport == "raw path sent" &&
          request?.path == "/b/a/../k" &&
          request.userAgent == null &&
          report.undici?.length === 0 &&
          report.subclass &&
          (report.entry == null || report.entry == "dist/index.node.js")
        : report.transport == "refused the raw path" &&
          request?.path == "/b/plain" &&
          request.userAgent != null &&
          !report.subclass &&
          (report.entry == null || report.entry == "dist/index.js");
      const what = runtime.node ? "nodeFetch" : "global fetch (edge entry)";
      const detail =
        `${report.entry ?? "entry not resolvable"}, ${report.transport}, server saw ${request?.path} ` +
        `with user-agent ${JSON.stringify(request?.userAgent)}` +
        (runtime.node ? `, undici modules loaded: ${report.undici?.length}` : "");
      if (!got) problems.push(`${runtime.name}: expected ${what}, got ${detail}`);
      else steps.push(`${runtime.name}: ${what} (${detail})`);
    }
  } finally {
    server.close();
  }

  // Bundlers: the conditions each target sets pick the entry; only platform node may get node: imports.
  const esbuild = await import(join(nm, "esbuild/lib/main.js"));
  const targets = [
    { name: "esbuild platform neutral", options: { platform: "neutral" }, entry: "dist/index.js" },
    { name: "esbuild platform browser", options: { platform: "browser" }, entry: "dist/index.js" },
    {
      name: "esbuild conditions workerd,worker,browser",
      options: { platform: "neutral", conditions: ["workerd", "worker", "browser"] },
      entry: "dist/index.js",
    },
    {
      name: "esbuild conditions edge-light",
      options: { platform: "neutral", conditions: ["edge-light"] },
      entry: "dist/index.js",
    },
    { name: "esbuild platform node", options: { platform: "node" }, entry: "dist/index.node.js" },
  ];
  for (const target of targets) {
    try {
      const result = await esbuild.build({
        stdin: { contents: `export { S3Client } from "s3-edge";`, resolveDir: proj, loader: "js" },
        bundle: true,
        format: "esm",
        target: "es2022",
        write: false,
        metafile: true,
        logLevel: "silent",
        ...target.options,
        plugins: [
          {
            name: "node-builtins",
            setup(build: any) {
              build.onResolve({ filter: /^node:/ }, (a: any) => ({ path: a.path, external: true }));
            },
          },
        ],
      });
      const inputs = Object.keys(result.metafile.inputs).filter((input) =>
        input.includes("node_modules/s3-edge/dist/index"),
      );
      const nodeImports = Object.values<any>(result.metafile.outputs)
        .flatMap((output) => output.imports.map((i: any) => i.path))
        .filter((path: string) => path.startsWith("node:"));
      const edge = target.entry == "dist/index.js";
      // The Node entry imports the edge one (and adds the S3Client subclass).
      const entryOk = edge
        ? inputs.length == 1 && inputs[0].endsWith(target.entry)
        : inputs.some((input) => input.endsWith(target.entry));
      if (!entryOk || (edge && nodeImports.length) || (!edge && !nodeImports.length))
        problems.push(`${target.name}: took ${inputs.join(", ")}, node: imports ${nodeImports.join(", ") || "none"}`);
      else
        steps.push(
          `${target.name}: ${target.entry}` +
            (edge ? ", no node: import" : ` (node: imports ${[...new Set(nodeImports)].join(", ")})`),
        );
    } catch (error) {
      problems.push(`${target.name}: ${(error as Error).message}`);
    }
  }
}

async function packRow() {
  if (!want("npm pack")) return;
  const start = Date.now();
  const problems: string[] = [];
  const steps: string[] = [];
  const tsc = join(root, "node_modules/typescript/bin/tsc");
  const tsVersion = JSON.parse(readFileSync(join(root, "node_modules/typescript/package.json"), "utf8")).version;
  const step = async (name: string, cmd: string, args: string[], cwd = root) => {
    const o = await exec(cmd, args, { cwd, timeoutMs: 120_000, env: { ...process.env, NO_COLOR: "1" } });
    if (o.code !== 0) problems.push(`${name} failed (exit ${o.code}):\n${tail(o.out, 30)}`);
    else steps.push(name);
    return o;
  };
  const proj = join(tmp, "consumer");
  try {
    if ((await step("npm run build", "npm", ["run", "build", "--silent"])).code) throw 0;
    const packed = await step("npm pack", "npm", ["pack", "--json", "--pack-destination", tmp]);
    if (packed.code) throw 0;
    const info = JSON.parse(packed.out.slice(packed.out.indexOf("[")))[0];
    const files: string[] = info.files.map((f: { path: string }) => f.path);
    const allowed = /^(dist\/.+\.(js|d\.ts)|README\.md|LICENSE(\.\w+)?|package\.json)$/;
    const extra = files.filter((f) => !allowed.test(f));
    if (extra.length) problems.push(`tarball holds files users do not need: ${extra.join(", ")}`);
    for (const need of [
      "package.json",
      "README.md",
      "dist/index.js",
      "dist/index.d.ts",
      "dist/node/index.js",
      "dist/node/index.d.ts",
    ])
      if (!files.includes(need)) problems.push(`tarball lacks ${need}`);
    steps.push(`${files.length} files, ${(info.size / 1024).toFixed(1)} KB packed`);
    if (!files.some((f) => /^LICEN[CS]E/.test(f)))
      steps.push(
        `NOTE: no LICENSE file in the tarball (package.json says ${JSON.stringify(info.license ?? JSON.parse(readFileSync(join(root, "package.json"), "utf8")).license)})`,
      );

    // An empty project installs the tarball, as a user would (no registry needed: no dependencies).
    const { mkdirSync } = await import("node:fs");
    mkdirSync(proj, { recursive: true });
    writeFileSync(join(proj, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    if (
      (
        await step(
          "npm install <tarball>",
          "npm",
          ["install", "--no-audit", "--no-fund", "--ignore-scripts", "--offline", join(tmp, info.filename)],
          proj,
        )
      ).code
    )
      throw 0;
    if (existsSync(join(proj, "node_modules/s3-edge/node_modules")))
      problems.push("the tarball pulled in dependencies");

    writeFileSync(
      join(proj, "run.mjs"),
      `
      import { S3Client, SigV4Signer, newFileTrigger, downloadFile, S3Error, InputError } from "s3-edge";
      import { downloadToFile } from "s3-edge/node";
      for (const [n, f] of Object.entries({ S3Client, SigV4Signer, newFileTrigger, downloadFile, downloadToFile, S3Error, InputError }))
        if (typeof f !== "function") throw new Error(n + " is not exported");
      const s = await new SigV4Signer({ accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region: "us-east-1", service: "s3" })
        .sign({ method: "GET", url: "https://examplebucket.s3.amazonaws.com/test.txt", headers: { range: "bytes=0-9" } }, { date: new Date("2013-05-24T00:00:00Z") });
      if (s.signature !== "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41") throw new Error("wrong signature " + s.signature);
      newFileTrigger(new S3Client({ endpoint: "http://127.0.0.1:1", credentials: { accessKeyId: "a", secretAccessKey: "b" } }), { bucket: "b" });
      console.log("import ok");
    `,
    );
    await step(
      `node ${process.version}: import from "s3-edge" and "s3-edge/node"`,
      process.execPath,
      ["run.mjs"],
      proj,
    );

    await transportProof(proj, step, problems, steps);

    // The bin, if the package declares one, must start from the installed tarball.
    const bins = JSON.parse(readFileSync(join(proj, "node_modules/s3-edge/package.json"), "utf8")).bin ?? {};
    for (const b of Object.keys(typeof bins == "string" ? { "s3-edge": bins } : bins))
      await step(`bin ${b} --help`, join(proj, "node_modules/.bin", b), ["--help"], proj);

    writeFileSync(
      join(proj, "check.ts"),
      `
      import { S3Client, SigV4Signer, newFileTrigger, downloadFile, S3Error, type S3Object, type FileEvent, type TriggerState, type Credentials } from "s3-edge";
      import { downloadToFile } from "s3-edge/node";
      const credentials: Credentials = { accessKeyId: "a", secretAccessKey: "b" };
      const client = new S3Client({ endpoint: "http://127.0.0.1:9000", region: "us-east-1", credentials });
      const trigger = newFileTrigger(client, { bucket: "b", folder: "in", minAgeMs: 1000 });
      export async function f(state?: TriggerState): Promise<TriggerState> {
        const r: { events: FileEvent[]; state: TriggerState; hasMore: boolean } = await trigger.poll(state);
        for (const e of r.events) {
          const d = await downloadFile(client, { bucket: e.bucket, key: e.key, etag: e.etag, onProgress: (p) => p.loaded / p.total });
          const body: ReadableStream<Uint8Array> = d.body;
          await body.cancel();
          const saved: { path: string; size: number; etag: string } = await downloadToFile(client, { bucket: e.bucket, key: e.key, path: "/tmp/" + e.name });
          void saved;
        }
        const page = await client.listObjectsV2({ bucket: "b", maxKeys: 10 });
        const first: S3Object | undefined = page.contents[0];
        const signed = await new SigV4Signer({ ...credentials, region: "us-east-1", service: "s3" }).sign({ method: "GET", url: "https://x/" });
        const sig: string = signed.signature;
        const url: string = await client.presignGetObject({ bucket: "b", key: "k", expiresIn: 60 });
        try { await client.headObject({ bucket: "b", key: "k" }); } catch (e) { if (e instanceof S3Error) { const c: string = e.code; void c; } }
        void first; void sig; void url;
        // @ts-expect-error option names are checked (regoin is not an option)
        new S3Client({ credentials, regoin: "x" });
        return r.state;
      }
    `,
    );
    const tsconfig = (moduleResolution: string, module: string) => ({
      compilerOptions: {
        strict: true,
        noEmit: true,
        target: "ES2022",
        module,
        moduleResolution,
        lib: ["ES2022", "DOM"],
        skipLibCheck: false, // the published .d.ts files themselves must type-check
        types: ["node"],
        typeRoots: [join(root, "node_modules/@types")],
      },
      files: ["check.ts"],
    });
    writeFileSync(join(proj, "tsconfig.json"), JSON.stringify(tsconfig("NodeNext", "NodeNext")));
    writeFileSync(join(proj, "tsconfig.bundler.json"), JSON.stringify(tsconfig("Bundler", "ESNext")));
    await step(`tsc ${tsVersion} --noEmit (NodeNext)`, process.execPath, [tsc, "-p", "tsconfig.json"], proj);
    await step(`tsc --noEmit (Bundler)`, process.execPath, [tsc, "-p", "tsconfig.bundler.json"], proj);
  } catch (e) {
    if (e !== 0) problems.push(String((e as Error)?.stack ?? e));
  }
  rows.push({
    runtime: "npm pack",
    version: `npm ${version("npm")}, tsc ${tsVersion}`,
    ms: Date.now() - start,
    tested: `build, pack, install the tarball in an empty project: import under Node ${process.versions.node.split(".")[0]}, tsc with the published types, tarball contents`,
    ok: !problems.length,
    detail: problems.length ? problems.join("\n") : steps.join("; "),
  });
}

// ---------------------------------------------------------------- report
await stopServer().catch((e) => console.error(`# could not stop RGW: ${e}`));
rmSync(tmp, { recursive: true, force: true });
const pad = (s: string, n: number) => (s.length > n ? s.slice(0, n - 1) + "…" : s.padEnd(n));
console.log("\n# runtime matrix (s3-edge)");
console.log(`| ${pad("runtime", 12)} | ${pad("version", 44)} | result | time   | tested`);
console.log(`|${"-".repeat(14)}|${"-".repeat(46)}|--------|--------|-------`);
for (const r of rows)
  console.log(
    `| ${pad(r.runtime, 12)} | ${pad(r.version, 44)} | ${r.ok ? "pass  " : "FAIL  "} | ${(r.ms / 1000).toFixed(1).padStart(5)}s | ${r.tested}`,
  );
console.log("");
for (const r of rows)
  console.log(`${r.ok ? "ok  " : "FAIL"} ${r.runtime}: ${r.ok ? r.detail : "\n" + r.detail.replace(/^/gm, "    ")}`);
for (const x of EXCLUDED)
  if (x.runtimes.some((r) => ran.has(r)))
    console.log(
      `# excluded on ${x.runtimes.join(", ")}: ${x.file}${x.tests ? ": " + x.tests.map((t) => JSON.stringify(t)).join(", ") : " (whole file)"}: ${x.why}`,
    );
const failed = rows.filter((r) => !r.ok).length;
console.log(`runtimes: ${rows.length - failed} passed, ${failed} failed (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
process.exit(failed ? 1 : 0);
