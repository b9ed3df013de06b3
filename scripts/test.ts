// `npm test`: the whole suite. Starts ONE Ceph RGW (unless S3_TEST_ENDPOINT is set) and hands
// it to every test file through S3_TEST_* variables, runs all node:test files through tsx, then
// after the runtime matrix (test/runtimes; SKIP_RUNTIMES=1 skips it outside CI), and stops RGW.
// A single test file run alone (`npx tsx --test test/x.test.ts`) starts its own RGW instead.
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { root } from "../test/support/sigv4suite.ts";
import { s3TestServer } from "../test/support/s3server.ts";

const run = (cmd: string, args: string[], env: NodeJS.ProcessEnv) =>
  new Promise<number>((resolve) => {
    const p = spawn(cmd, args, { cwd: root, env, stdio: "inherit" });
    p.on("exit", (code, sig) => resolve(code ?? (sig ? 1 : 0)));
  });

const files = readdirSync(join(root, "test")).filter((f) => f.endsWith(".test.ts")).sort().map((f) => join("test", f));
const filter = process.argv.slice(2);
const selected = filter.length ? files.filter((f) => filter.some((x) => f.includes(x))) : files;

const server = await s3TestServer();
console.log(`# S3 test server: ${server.endpoint} (Ceph RGW unless S3_TEST_ENDPOINT was given)`);
const env = {
  ...process.env,
  S3_TEST_ENDPOINT: server.endpoint, S3_TEST_REGION: server.region,
  S3_TEST_ACCESS_KEY_ID: server.accessKeyId, S3_TEST_SECRET_ACCESS_KEY: server.secretAccessKey,
  ...(server.roleArn && { S3_TEST_ROLE_ARN: server.roleArn }),
};
let code = 1;
try {
  const tsx = join(root, "node_modules/.bin/tsx");
  // The runtime matrix goes first so that node's own test summary is what closes the output.
  const runtimes = join(root, "test/runtimes/run.ts");
  // Types are part of the contract (published .d.ts): a type error fails the run.
  let rc = await run(join(root, "node_modules/.bin/tsc"), ["-p", "tsconfig.json", "--noEmit"], env);
  if (rc) console.error("# typecheck FAILED");
  if (!filter.length && existsSync(runtimes) && (process.env.CI || process.env.SKIP_RUNTIMES !== "1")) rc = (await run(tsx, [runtimes], env)) || rc;
  code = (await run(tsx, ["--test", ...selected], env)) || rc;
  if (rc) console.error("# typecheck or runtime matrix FAILED (see above)");
} finally {
  await server.stop().catch((e) => { console.error(e); code ||= 1; });
}
process.exit(code);
