// `npm test`: the whole suite, from a fresh clone with nothing but `npm ci` before it.
//  1. The test S3 server: Ceph RGW, installed here when it is missing and this can (root and
//     apt-get, as in CI: scripts/install-rgw.sh); otherwise the run stops at once with the one
//     command to run. S3_TEST_ENDPOINT (+ keys) points the tests at another server instead.
//  2. Starts ONE RGW and hands it to every test file through S3_TEST_* variables.
//  3. Typecheck, lint, the runtime matrix (test/runtimes; SKIP_RUNTIMES=1 skips it outside CI),
//     then every node:test file through tsx; RGW is stopped at the end.
// A single test file run alone (`npx tsx --test test/x.test.ts`) starts its own RGW instead.
// `npm test -- cli` runs only the test files whose names contain "cli".
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { s3TestServer } from "../test/support/s3server.ts";
import { repoRoot } from "../test/support/util.ts";

const run = (command: string, args: string[], env: NodeJS.ProcessEnv) =>
  new Promise<number>((resolve) => {
    const child = spawn(command, args, { cwd: repoRoot, env, stdio: "inherit" });
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });

const INSTALL_SCRIPT = join(repoRoot, "scripts/install-rgw.sh");
const bin = (name: string) => join(repoRoot, "node_modules/.bin", name);

/** Ceph RGW is there, or is installed now, or the run stops with the command that installs it. */
async function ensureRgw(): Promise<void> {
  if (process.env.S3_TEST_ENDPOINT) return; // another S3 server was given
  const installed = () => spawnSync("bash", [INSTALL_SCRIPT, "--check"]).status === 0;
  if (installed()) return;
  const isRoot = process.getuid?.() === 0;
  const hasApt = spawnSync("sh", ["-c", "command -v apt-get"]).status === 0;
  if (isRoot && hasApt) {
    console.log(
      "# Ceph RGW (the SigV4-verifying S3 server the tests use) is not installed: installing it now with\n" +
        "#   bash scripts/install-rgw.sh  (apt-get install ceph-mon ceph-osd radosgw ceph-common uuid-runtime curl;\n" +
        "#   no daemon is started or enabled; the tests run their own throwaway RGW on 127.0.0.1)",
    );
    const code = await run("bash", [INSTALL_SCRIPT], process.env);
    if (code === 0 && installed()) return;
    console.error("# installing Ceph RGW failed (see above); fix it, then run npm test again");
    process.exit(1);
  }
  console.error(
    "Ceph RGW, the S3 server the tests run against, is not installed. Run this once, then npm test again:\n\n" +
      "  sudo bash scripts/install-rgw.sh\n\n" +
      `(${hasApt ? "it needs root" : "it needs apt-get (Debian/Ubuntu)"}; or point the tests at any S3 server with ` +
      "S3_TEST_ENDPOINT, S3_TEST_ACCESS_KEY_ID and S3_TEST_SECRET_ACCESS_KEY)",
  );
  process.exit(1);
}

/** The lint step: Prettier's check (printWidth 120, .prettierrc.json) over code and tests. */
async function lint(env: NodeJS.ProcessEnv): Promise<number> {
  const code = await run(bin("prettier"), ["--check", "--log-level", "warn", "src", "test", "scripts", "bench"], env);
  if (code) console.error("# formatting: run `npm run format` (Prettier) and commit the result");
  return code;
}

const files = readdirSync(join(repoRoot, "test"))
  .filter((name) => name.endsWith(".test.ts"))
  .sort()
  .map((name) => join("test", name));
const filter = process.argv.slice(2);
const selected = filter.length ? files.filter((file) => filter.some((part) => file.includes(part))) : files;

await ensureRgw();
const server = await s3TestServer();
console.log(`# S3 test server: ${server.endpoint} (Ceph RGW unless S3_TEST_ENDPOINT was given)`);
const env = {
  ...process.env,
  S3_TEST_ENDPOINT: server.endpoint,
  S3_TEST_REGION: server.region,
  S3_TEST_ACCESS_KEY_ID: server.accessKeyId,
  S3_TEST_SECRET_ACCESS_KEY: server.secretAccessKey,
  ...(server.roleArn && { S3_TEST_ROLE_ARN: server.roleArn }),
};
let code = 1;
try {
  const failed: string[] = [];
  // Types are part of the contract (published .d.ts): a type error fails the run.
  if (await run(bin("tsc"), ["-p", "tsconfig.json", "--noEmit"], env)) failed.push("typecheck");
  if (await lint(env)) failed.push("lint");
  // The runtime matrix goes first so that node's own test summary is what closes the output.
  const runtimes = join(repoRoot, "test/runtimes/run.ts");
  const runMatrix = !filter.length && existsSync(runtimes) && (process.env.CI || process.env.SKIP_RUNTIMES !== "1");
  if (runMatrix && (await run(bin("tsx"), [runtimes], env))) failed.push("runtime matrix");
  const testCode = await run(bin("tsx"), ["--test", ...selected], env);
  if (failed.length) console.error(`# ${failed.join(", ")} FAILED (see above)`);
  code = testCode || (failed.length ? 1 : 0);
} finally {
  await server.stop().catch((error) => {
    console.error(error);
    code ||= 1;
  });
}
process.exit(code);
