// A real, SigV4-verifying S3 server for the integration tests: a throwaway Ceph RADOS Gateway on
// loopback (scripts/rgw.sh), or whatever S3_TEST_ENDPOINT points at. Never skips: if no server can
// be had, s3TestServer() throws, so the suite fails (in CI and locally alike).
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export interface S3TestServer {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** A role the test user may assume via STS AssumeRole on `endpoint` (S3_TEST_ROLE_ARN); unset if the server has none. */
  roleArn?: string;
  stop(): Promise<void>;
}

const RGW_SH = fileURLToPath(new URL("../../scripts/rgw.sh", import.meta.url));
let pending: Promise<S3TestServer> | undefined;

/** The test S3 server of this process: started on first call, shared by later calls. */
export function s3TestServer(): Promise<S3TestServer> {
  return (pending ??= start());
}

/** A DNS-valid (virtual-host safe) bucket name, unique per call: `<prefix>-<time>-<random>`. */
export function uniqueBucket(prefix = "test"): string {
  let p = prefix
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/-+/g, "-")
    .replace(/^-|-$/g, "")
    .slice(0, 36);
  // Names starting with these are reserved by S3; an empty prefix would leave a leading dash.
  if (!p || /^(xn--|sthree-)/.test(p)) p = "b" + (p && "-" + p);
  return `${p.replace(/-$/, "")}-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
}

async function start(): Promise<S3TestServer> {
  const env = process.env;
  if (env.S3_TEST_ENDPOINT) {
    if (!env.S3_TEST_ACCESS_KEY_ID || !env.S3_TEST_SECRET_ACCESS_KEY) {
      throw new Error(
        "S3_TEST_ENDPOINT is set but S3_TEST_ACCESS_KEY_ID / S3_TEST_SECRET_ACCESS_KEY are not: set all three (S3_TEST_REGION is optional, default us-east-1)",
      );
    }
    return {
      endpoint: env.S3_TEST_ENDPOINT.replace(/\/+$/, ""),
      region: env.S3_TEST_REGION || "us-east-1",
      accessKeyId: env.S3_TEST_ACCESS_KEY_ID,
      secretAccessKey: env.S3_TEST_SECRET_ACCESS_KEY,
      roleArn: env.S3_TEST_ROLE_ARN || undefined,
      stop: async () => {},
    };
  }
  let lastErr = "";
  // The free port can be taken between our probe and rgw.sh binding it: one retry on another port.
  for (let attempt = 0; attempt < 2; attempt++) {
    const port = await freePort();
    const dir = join(tmpdir(), `s3-edge-rgw-${port}`);
    const r = await run(["up", "--port", String(port), "--dir", dir, "--watch-pid", String(process.pid)]);
    if (r.code === 0) return started(parseExports(r.stdout), dir);
    lastErr = r.stderr.trim().split("\n").slice(-30).join("\n");
    if (!/already in use/.test(r.stderr)) break;
  }
  const how = env.CI
    ? "CI is set, so this fails instead of skipping: the CI job must install the packages as root (scripts/install-rgw.sh) before the tests."
    : "Install Ceph RGW with `sudo scripts/install-rgw.sh`, or point the tests at an S3 server with S3_TEST_ENDPOINT, S3_TEST_ACCESS_KEY_ID, S3_TEST_SECRET_ACCESS_KEY (and optionally S3_TEST_REGION).";
  throw new Error(`Could not start the Ceph RGW test S3 server (scripts/rgw.sh up). ${how}\n${lastErr}`);
}

function started(vars: Record<string, string>, dir: string): S3TestServer {
  const {
    S3_TEST_ENDPOINT: endpoint,
    S3_TEST_ACCESS_KEY_ID: accessKeyId,
    S3_TEST_SECRET_ACCESS_KEY: secretAccessKey,
  } = vars;
  if (!endpoint || !accessKeyId || !secretAccessKey)
    throw new Error("scripts/rgw.sh up printed no S3_TEST_* export lines");
  // 'exit' handlers must be synchronous; signals need a handler or node dies without running 'exit'.
  const onExit = () => {
    try {
      execFileSync("bash", [RGW_SH, "down", "--dir", dir], { stdio: "ignore", timeout: 20_000 });
    } catch {}
  };
  const onSignal = (sig: NodeJS.Signals) => {
    unhook();
    onExit();
    process.kill(process.pid, sig); // default action again: die by the same signal
  };
  const unhook = () => {
    process.off("exit", onExit).off("SIGINT", onSignal).off("SIGTERM", onSignal);
  };
  process.on("exit", onExit).on("SIGINT", onSignal).on("SIGTERM", onSignal);
  let stopping: Promise<void> | undefined;
  return {
    endpoint,
    region: vars.S3_TEST_REGION || "us-east-1",
    accessKeyId,
    secretAccessKey,
    roleArn: vars.S3_TEST_ROLE_ARN || undefined,
    stop: () =>
      (stopping ??= (async () => {
        unhook();
        pending = undefined;
        const r = await run(["down", "--dir", dir]);
        if (r.code !== 0) throw new Error(`scripts/rgw.sh down failed:\n${r.stderr.trim()}`);
      })()),
  };
}

function parseExports(out: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const m of out.matchAll(/^export (\w+)=(?:'([^']*)'|(\S*))$/gm)) vars[m[1]] = m[2] ?? m[3];
  return vars;
}

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("bash", [RGW_SH, ...args], { timeout: 120_000, encoding: "utf8" }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, stdout, stderr: stderr || (err ? String(err.message) : "") });
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
