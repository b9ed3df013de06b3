// The CLI as users and scripts run it: a child process, real Ceph RGW (SigV4-verifying), exit codes,
// output formats, restart-safe watch, and never a secret in any output. Plus `npm run demo` end to end.
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { S3Client } from "../src/client.ts";
import { s3TestServer, uniqueBucket, type S3TestServer } from "./support/s3server.ts";
import {
  cleanEnv,
  credentialsOf,
  finish,
  putRaw,
  runCli,
  settle,
  spawnCli,
  stderrMatches,
  type Run,
} from "./support/cli-runner.ts";

const work = mkdtempSync(join(tmpdir(), "s3-edge-cli-"));
let srv: S3TestServer, client: S3Client, bucket: string;
const big = randomBytes(300 * 1024 + 3);

const creds = () => credentialsOf(srv);
const cli = (args: string[], env: Record<string, string | undefined> = creds(), script?: string) =>
  runCli(srv, args, env, script);

before(async () => {
  srv = await s3TestServer();
  client = new S3Client({
    endpoint: srv.endpoint,
    region: srv.region,
    credentials: { accessKeyId: srv.accessKeyId, secretAccessKey: srv.secretAccessKey },
  });
  bucket = uniqueBucket("cli");
  await client.createBucket({ bucket });
  await Promise.all([
    client.putObject({ bucket, key: "dir/a.txt", body: "hello" }),
    client.putObject({ bucket, key: "dir/sub/b.bin", body: big }),
    client.putObject({ bucket, key: "top.txt", body: "top" }),
  ]);
});
after(async () => {
  rmSync(work, { recursive: true, force: true });
  await srv?.stop();
});

describe("ls / get / presign", () => {
  test("ls lists one level with PRE lines; --recursive lists every key; --json is JSON lines", async () => {
    const [one, rec, js, empty] = await Promise.all([
      cli(["ls", `s3://${bucket}/dir/`]),
      cli(["ls", `s3://${bucket}`, "--recursive"]),
      cli(["ls", `s3://${bucket}/dir/`, "--json"]),
      cli(["ls", `s3://${bucket}/Dir/`]),
    ]);
    assert.equal(one.code, 0, one.stderr);
    const lines = one.out.trimEnd().split("\n");
    assert.equal(lines.length, 2, one.out);
    assert.match(lines[0], /^\s+PRE sub\/$/);
    assert.match(lines[1], /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +5 a\.txt$/);
    assert.equal(rec.code, 0, rec.stderr);
    assert.deepEqual(
      rec.out
        .trimEnd()
        .split("\n")
        .map((line) => line.split(/\s+/).slice(2)),
      [
        ["5", "dir/a.txt"],
        [String(big.length), "dir/sub/b.bin"],
        ["3", "top.txt"],
      ],
    );
    assert.deepEqual(
      js.out
        .trimEnd()
        .split("\n")
        .map((line) => JSON.parse(line))
        .map((entry) => entry.prefix ?? `${entry.key} ${entry.size} ${entry.etag}`),
      ["dir/sub/", "dir/a.txt 5 5d41402abc4b2a76b9719d911017c592"],
    );
    // Wrong case: nothing there, and the hint says why.
    assert.equal(empty.code, 0);
    assert.equal(empty.out, "");
    assert.match(empty.stderr, /case-sensitive/);
  });

  test("get to a file (atomically, no temp left), into a directory, and to stdout", async () => {
    const dir = join(work, "get");
    const [toFile, intoDir, toStdout] = await Promise.all([
      cli(["get", `s3://${bucket}/dir/sub/b.bin`, join(dir, "x/copy.bin")]),
      cli(["get", `s3://${bucket}/dir/a.txt`, dir + "/"]),
      cli(["get", `s3://${bucket}/dir/sub/b.bin`, "-"]),
    ]);
    assert.equal(toFile.code, 0, toFile.stderr);
    assert.deepEqual(readFileSync(join(dir, "x/copy.bin")), big);
    assert.deepEqual(readdirSync(join(dir, "x")), ["copy.bin"]);
    assert.equal(intoDir.code, 0, intoDir.stderr);
    assert.equal(readFileSync(join(dir, "a.txt"), "utf8"), "hello");
    assert.equal(toStdout.code, 0, toStdout.stderr);
    assert.deepEqual(toStdout.stdout, big);
    assert.equal(toStdout.stderr, "", "stdout mode: nothing on stderr when it is not a terminal");
  });

  test("get --concurrency 4 --part-size 0.25: parallel ranges, byte-exact to a file and to stdout", async () => {
    const data = randomBytes(3 * 1024 * 1024 + 777);
    await client.putObject({ bucket, key: "dir/parallel.bin", body: data });
    const path = join(work, "parallel/copy.bin");
    const tuning = ["--concurrency", "4", "--part-size", "0.25"];
    const [toFile, toStdout, refused] = await Promise.all([
      cli(["get", `s3://${bucket}/dir/parallel.bin`, path, ...tuning]),
      cli(["get", `s3://${bucket}/dir/parallel.bin`, "-", ...tuning]),
      cli(["get", `s3://${bucket}/dir/parallel.bin`, "-", "--concurrency", "0"]),
    ]);
    assert.equal(toFile.code, 0, toFile.stderr);
    assert.deepEqual(readFileSync(path), data);
    assert.equal(toStdout.code, 0, toStdout.stderr);
    assert.deepEqual(toStdout.stdout, data);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /--concurrency must be/);
  });

  test("presign prints a URL that plain fetch can GET", async () => {
    const presigned = await cli(["presign", `s3://${bucket}/dir/sub/b.bin`, "--expires", "120"]);
    assert.equal(presigned.code, 0, presigned.stderr);
    const url = presigned.out.trim();
    assert.match(url, /X-Amz-Expires=120&/);
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), big);
  });
});

describe("exit codes and messages", () => {
  test("2 usage, 3 credentials, 4 not found, 1 network; messages say what to fix", async () => {
    // A port nothing listens on (fetch refuses "bad ports" such as 1 before connecting).
    const closed = await new Promise<number>((ok) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => ok(port));
      });
    });
    const wrong = { ...creds(), AWS_SECRET_ACCESS_KEY: "wrong-secret-" + randomBytes(8).toString("hex") };
    const runs = await Promise.all([
      cli(["ls", "http://example.com/bucket"]), // 0
      cli(["get", `s3://${bucket}`]), // 1: no key
      cli(["ls", `s3://${bucket}`, "--bogus"]), // 2
      cli(["frobnicate"]), // 3
      cli(["presign", `s3://${bucket}/k`, "--expires", "0"]), // 4
      cli(["ls", `s3://${bucket}`], { ...creds(), AWS_ACCESS_KEY_ID: undefined }), // 5
      cli(["ls", `s3://${bucket}`], wrong), // 6
      cli(["ls", `s3://${bucket}-missing`]), // 7
      cli(["get", `s3://${bucket}/DIR/A.TXT`, join(work, "never")]), // 8
      cli(["ls", `s3://${bucket}`, "--endpoint", `http://127.0.0.1:${closed}`]), // 9
      cli(["ls", `s3://${bucket}`, "--endpoint", "ftp://x"]), // 10
    ]);
    const codes = runs.map((run) => run.code);
    assert.deepEqual(
      codes,
      [2, 2, 2, 2, 2, 3, 3, 4, 4, 1, 2],
      runs.map((run, index) => `${index}: ${run.stderr}`).join("\n"),
    );
    for (const run of runs) {
      assert.match(run.stderr, /^s3-edge: /);
      assert.doesNotMatch(run.stderr, /\n\s+at /, "no stack traces");
      assert.equal(run.out, "");
    }
    assert.match(runs[0].stderr, /expected s3:\/\/bucket/);
    assert.match(runs[5].stderr, /set AWS_ACCESS_KEY_ID/);
    assert.doesNotMatch(runs[5].stderr, /AWS_SECRET_ACCESS_KEY and/);
    assert.match(runs[6].stderr, /SignatureDoesNotMatch/);
    assert.match(runs[7].stderr, /NoSuchBucket/);
    assert.match(runs[8].stderr, /NoSuchKey.*case-sensitive/);
    assert.ok(!existsSync(join(work, "never")));
    assert.match(runs[9].stderr, /ECONNREFUSED/);
  });

  test("--help documents the exit codes", async () => {
    const help = await cli(["--help"], {});
    assert.equal(help.code, 0);
    for (const code of ["0  ok", "2  usage", "3  credentials", "4  not found", "5  watch", "130 interrupted"])
      assert.ok(help.out.includes(code), code);
  });
});

describe("watch", () => {
  const eventsOf = (run: Run) =>
    run.out
      .trimEnd()
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line));

  test("--once with --state is restart-safe: the second run reports only files uploaded since", async () => {
    const state = join(work, "w/state.json"),
      dl = join(work, "w/files");
    const args = [
      "watch",
      `s3://${bucket}/w`,
      "--once",
      "--json",
      "--state",
      state,
      "--download-to",
      dl,
      "--since",
      "2000-01-01T00:00:00Z",
    ];
    await Promise.all([
      client.putObject({ bucket, key: "w/1.txt", body: "one" }),
      client.putObject({ bucket, key: "w/2.bin", body: big }),
      client.putObject({ bucket, key: "w/deep/3.txt", body: "three, not watched" }),
    ]);
    await settle();
    const r1 = await cli(args);
    assert.equal(r1.code, 0, r1.stderr);
    assert.deepEqual(
      eventsOf(r1)
        .map((event) => event.key)
        .sort(),
      ["w/1.txt", "w/2.bin"],
    );
    assert.deepEqual(readFileSync(join(dl, "2.bin")), big);
    assert.ok(JSON.parse(readFileSync(state, "utf8")).version);

    await Promise.all(["4", "5", "6"].map((n) => client.putObject({ bucket, key: `w/${n}.txt`, body: n })));
    await settle();
    const r2 = await cli(args);
    assert.equal(r2.code, 0, r2.stderr);
    const e2 = eventsOf(r2);
    assert.deepEqual(e2.map((event) => event.key).sort(), ["w/4.txt", "w/5.txt", "w/6.txt"]);
    for (const event of e2) {
      assert.equal(event.event, "new");
      assert.equal(readFileSync(event.path, "utf8"), event.key.slice(2, 3));
    }
    const r3 = await cli(args);
    assert.equal(r3.code, 0, r3.stderr);
    assert.equal(r3.out, "");
    // Leftovers of atomic writes would show here.
    assert.deepEqual(readdirSync(join(work, "w")).sort(), ["files", "state.json"]);
    assert.deepEqual(readdirSync(dl).sort(), ["1.txt", "2.bin", "4.txt", "5.txt", "6.txt"]);

    // A state file for another folder is a usage error, not a silent restart from scratch.
    const other = await cli(["watch", `s3://${bucket}/dir`, "--once", "--state", state]);
    assert.equal(other.code, 2, other.stderr);
    assert.match(other.stderr, /state/);
  });

  test("--include-subfolders keeps relative paths; keys escaping the directory are refused", async () => {
    await client.putObject({ bucket, key: "s/x/y/deep.txt", body: "deep" });
    await putRaw(srv, bucket, "s/../../escape.txt", "evil");
    await settle();
    const dl = join(work, "s/files");
    const run = await cli([
      "watch",
      `s3://${bucket}/s/`,
      "--once",
      "--include-subfolders",
      "--since",
      "2000-01-01T00:00:00Z",
      "--download-to",
      dl,
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(readFileSync(join(dl, "x/y/deep.txt"), "utf8"), "deep");
    const lines = run.out.trimEnd().split("\n");
    assert.equal(lines.length, 2, run.out);
    assert.match(run.out, /s\/\.\.\/\.\.\/escape\.txt .*SKIPPED: key would escape/);
    assert.match(run.stderr, /skipped s3:\/\/.*escape\.txt/);
    assert.ok(!existsSync(join(work, "escape.txt")) && !existsSync(join(work, "s/escape.txt")));
  });

  test("Ctrl-C stops a running watch cleanly with exit 130 and the state saved", async () => {
    const state = join(work, "int/state.json");
    const watcher = spawnCli(["watch", `s3://${bucket}/w/`, "--interval", "0.2", "--state", state], cleanEnv(creds()));
    const done = finish(watcher, [srv.secretAccessKey]);
    await stderrMatches(watcher, /watching/);
    // The first poll saves the starting point; give it a moment, then interrupt.
    for (let tries = 0; tries < 50 && !existsSync(state); tries++)
      await new Promise((resolve) => setTimeout(resolve, 100));
    watcher.kill("SIGINT");
    const run = await done;
    assert.equal(run.code, 130, run.stderr);
    assert.match(run.stderr, /interrupted; state saved/);
    assert.equal(JSON.parse(readFileSync(state, "utf8")).source, `${bucket}/w/`);
  });
});

test(
  "npm run demo: embedded s3rver, uploads while watching, every download verified, exit 0",
  { timeout: 30_000 },
  async () => {
    const demo = await cli([], {}, "scripts/demo.ts");
    assert.equal(demo.code, 0, demo.out + demo.stderr);
    assert.match(demo.out, /s3rver verifies no signatures/);
    assert.match(demo.out, /✓ 5 events for 5 uploads/);
    assert.equal((demo.out.match(/= uploaded ✓/g) ?? []).length, 5);
    assert.doesNotMatch(demo.out, /✗/);
    assert.doesNotMatch(demo.out, /^event .*nested\.txt/m, "subfolder not watched by default");
  },
);
