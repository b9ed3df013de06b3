// Running the CLI as users and scripts do: a child process (through tsx), a clean environment,
// every output checked for leaked secrets. Shared by the CLI suites.
import { spawn, type ChildProcess } from "node:child_process";
import { request } from "node:http";
import assert from "node:assert/strict";
import { SigV4Signer } from "../../src/sigv4.ts";
import type { S3TestServer } from "./s3server.ts";
import { repoRoot } from "./util.ts";

export const CLI_SCRIPT = "src/cli/main.ts";

export interface Run {
  code: number | null;
  signal: string | null;
  stdout: Buffer;
  stderr: string;
  out: string;
}

/** Environment with nothing inherited that could point the CLI elsewhere. */
export function cleanEnv(extra: Record<string, string | undefined> = {}) {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const name of Object.keys(env)) if (/^(AWS_|S3_ENDPOINT|DEMO_BUCKET)/.test(name)) delete env[name];
  return { ...env, ...extra };
}

/** The variables that point the CLI at `server` (or at `endpoint`, a proxy in front of it). */
export const credentialsOf = (server: S3TestServer, endpoint = server.endpoint) => ({
  AWS_ACCESS_KEY_ID: server.accessKeyId,
  AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
  AWS_ENDPOINT_URL_S3: endpoint,
  AWS_REGION: server.region,
});

// Everything each child has written so far, per stream, for waitForOutput.
const written = new WeakMap<ChildProcess, { stdout: string; stderr: string }>();

export function spawnCli(args: string[], env: Record<string, string | undefined>, script = CLI_SCRIPT) {
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
    cwd: repoRoot,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const text = { stdout: "", stderr: "" };
  written.set(child, text);
  child.stdout.on("data", (chunk) => (text.stdout += chunk));
  child.stderr.on("data", (chunk) => (text.stderr += chunk));
  return child;
}

/** Collect a child's output until it exits; fail if any of `secrets` appears in it. */
export function finish(child: ChildProcess, secrets: (string | undefined)[]): Promise<Run> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on("data", (chunk) => out.push(chunk));
  child.stderr!.on("data", (chunk) => err.push(chunk));
  return new Promise((resolve) =>
    child.on("close", (code, signal) => {
      const stdout = Buffer.concat(out);
      const run = { code, signal, stdout, stderr: Buffer.concat(err).toString(), out: stdout.toString() };
      for (const secret of secrets)
        if (secret)
          assert.ok(
            !run.out.includes(secret) && !run.stderr.includes(secret),
            `a secret leaked into the output of ${child.spawnargs.join(" ")}`,
          );
      resolve(run);
    }),
  );
}

/** Run to completion; every run is checked for leaked secrets (the real one and any given wrong one). */
export function runCli(
  server: S3TestServer,
  args: string[],
  env: Record<string, string | undefined> = credentialsOf(server),
  script?: string,
): Promise<Run> {
  const child = spawnCli(args, cleanEnv(env), script);
  return finish(child, [server.secretAccessKey, env.AWS_SECRET_ACCESS_KEY, env.AWS_SESSION_TOKEN]);
}

/**
 * Resolves when all the child's `stream` has written since it started satisfies `done`; rejects if
 * it exits first.
 */
function waitForOutput(child: ChildProcess, stream: "stdout" | "stderr", done: (text: string) => boolean) {
  const text = written.get(child)!;
  return new Promise<void>((resolve, reject) => {
    const check = () => done(text[stream]) && resolve();
    // After spawnCli's own listener (registered first), so the text includes this chunk.
    child[stream]!.on("data", check);
    check();
    child.on("close", (code) =>
      reject(new Error(`the CLI exited (${code}) before the expected ${stream}:\n${text[stream]}`)),
    );
  });
}

/** Resolves when the child's stderr has matched `pattern` (its text so far). */
export const stderrMatches = (child: ChildProcess, pattern: RegExp) =>
  waitForOutput(child, "stderr", (text) => pattern.test(text));

/** Resolves when the child's stdout holds `count` lines. */
export const stdoutLines = (child: ChildProcess, count: number) =>
  waitForOutput(child, "stdout", (text) => text.split("\n").length > count);

// The trigger compares LastModified (ms) with the response Date (whole seconds, truncated): an object
// uploaded within the current second is held back until the next one. --once runs wait that out.
export const settle = () => new Promise((resolve) => setTimeout(resolve, 1100));

/** JSON lines of a --json run. */
export const jsonLines = (run: Run) =>
  run.out
    .trimEnd()
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line));

/** PUT with the path exactly as given (fetch would collapse "." and ".." segments and "//"). */
export async function putRaw(server: S3TestServer, bucket: string, key: string, body: string) {
  const endpoint = new URL(server.endpoint);
  const path = `/${bucket}/${key.split("/").map(encodeSegment).join("/")}`;
  const signer = new SigV4Signer({
    accessKeyId: server.accessKeyId,
    secretAccessKey: server.secretAccessKey,
    region: server.region,
    service: "s3",
  });
  const signed = await signer.sign({ method: "PUT", url: server.endpoint + path, body });
  await new Promise<void>((resolve, reject) => {
    const headers = { ...signed.headers, "content-length": String(Buffer.byteLength(body)) };
    const put = request({ host: endpoint.hostname, port: endpoint.port, method: "PUT", path, headers }, (response) => {
      response.resume();
      if (response.statusCode === 200) resolve();
      else reject(new Error(`raw PUT ${JSON.stringify(key)}: HTTP ${response.statusCode}`));
    });
    put.on("error", reject);
    put.end(body);
  });
}

// As the client encodes a key: everything but unreserved characters ("." stays, so "." and ".."
// segments reach the server as such).
const encodeSegment = (segment: string) =>
  encodeURIComponent(segment).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
