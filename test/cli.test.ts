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
        .map((l) => l.split(/\s+/).slice(2)),
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
        .map((l) => JSON.parse(l))
        .map((o) => o.prefix ?? `${o.key} ${o.size} ${o.etag}`),
      ["dir/sub/", "dir/a.txt 5 5d41402abc4b2a76b9719d911017c592"],
    );
    // Wrong case: nothing there, and the hint says why.
    assert.equal(empty.code, 0);
    assert.equal(empty.out, "");
    assert.match(empty.stderr, /case-sensitive/);
  });

  test("get to a file (atomically, no temp left), into a directory, and to stdout", async () => {
    const dir = join(work, "get");
    const [f, d, o] = await Promise.all([
      cli(["get", `s3://${bucket}/dir/sub/b.bin`, join(dir, "x/copy.bin")]),
      cli(["get", `s3://${bucket}/dir/a.txt`, dir + "/"]),
      cli(["get", `s3://${bucket}/dir/sub/b.bin`, "-"]),
    ]);
    assert.equal(f.code, 0, f.stderr);
    assert.deepEqual(readFileSync(join(dir, "x/copy.bin")), big);
    assert.deepEqual(readdirSync(join(dir, "x")), ["copy.bin"]);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(readFileSync(join(dir, "a.txt"), "utf8"), "hello");
    assert.equal(o.code, 0, o.stderr);
    assert.deepEqual(o.stdout, big);
    assert.equal(o.stderr, "", "stdout mode: nothing on stderr when it is not a terminal");
  });

  test("presign prints a URL that plain fetch can GET", async () => {
    const r = await cli(["presign", `s3://${bucket}/dir/sub/b.bin`, "--expires", "120"]);
    assert.equal(r.code, 0, r.stderr);
    const url = r.out.trim();
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
      const s = createServer().listen(0, "127.0.0.1", () => {
        const { port } = s.address() as { port: number };
        s.close(() => ok(port));
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
    const codes = runs.map((r) => r.code);
    assert.deepEqual(codes, [2, 2, 2, 2, 2, 3, 3, 4, 4, 1, 2], runs.map((r, i) => `${i}: ${r.stderr}`).join("\n"));
    for (const r of runs) {
      assert.match(r.stderr, /^s3-edge: /);
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack traces");
      assert.equal(r.out, "");
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
    const r = await cli(["--help"], {});
    assert.equal(r.code, 0);
    for (const c of ["0  ok", "2  usage", "3  credentials", "4  not found", "130 interrupted"])
      assert.ok(r.out.includes(c), c);
  });
});

describe("watch", () => {
  const ev = (r: Run) =>
    r.out
      .trimEnd()
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l));

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
      ev(r1)
        .map((e) => e.key)
        .sort(),
      ["w/1.txt", "w/2.bin"],
    );
    assert.deepEqual(readFileSync(join(dl, "2.bin")), big);
    assert.ok(JSON.parse(readFileSync(state, "utf8")).version);

    await Promise.all(["4", "5", "6"].map((n) => client.putObject({ bucket, key: `w/${n}.txt`, body: n })));
    await settle();
    const r2 = await cli(args);
    assert.equal(r2.code, 0, r2.stderr);
    const e2 = ev(r2);
    assert.deepEqual(e2.map((e) => e.key).sort(), ["w/4.txt", "w/5.txt", "w/6.txt"]);
    for (const e of e2) {
      assert.equal(e.event, "new");
      assert.equal(readFileSync(e.path, "utf8"), e.key.slice(2, 3));
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
    const r = await cli([
      "watch",
      `s3://${bucket}/s/`,
      "--once",
      "--include-subfolders",
      "--since",
      "2000-01-01T00:00:00Z",
      "--download-to",
      dl,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(join(dl, "x/y/deep.txt"), "utf8"), "deep");
    const lines = r.out.trimEnd().split("\n");
    assert.equal(lines.length, 2, r.out);
    assert.match(r.out, /s\/\.\.\/\.\.\/escape\.txt .*SKIPPED: key would escape/);
    assert.match(r.stderr, /skipped s3:\/\/.*escape\.txt/);
    assert.ok(!existsSync(join(work, "escape.txt")) && !existsSync(join(work, "s/escape.txt")));
  });

  test("Ctrl-C stops a running watch cleanly with exit 130 and the state saved", async () => {
    const state = join(work, "int/state.json");
    const p = spawnCli(["watch", `s3://${bucket}/w/`, "--interval", "0.2", "--state", state], cleanEnv(creds()));
    const done = finish(p, [srv.secretAccessKey]);
    await stderrMatches(p, /watching/);
    // The first poll saves the starting point; give it a moment, then interrupt.
    for (let i = 0; i < 50 && !existsSync(state); i++) await new Promise((r) => setTimeout(r, 100));
    p.kill("SIGINT");
    const r = await done;
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /interrupted; state saved/);
    assert.equal(JSON.parse(readFileSync(state, "utf8")).source, `${bucket}/w/`);
  });
});

test(
  "npm run demo: embedded s3rver, uploads while watching, every download verified, exit 0",
  { timeout: 30_000 },
  async () => {
    const r = await cli([], {}, "scripts/demo.ts");
    assert.equal(r.code, 0, r.out + r.stderr);
    assert.match(r.out, /s3rver verifies no signatures/);
    assert.match(r.out, /✓ 5 events for 5 uploads/);
    assert.equal((r.out.match(/= uploaded ✓/g) ?? []).length, 5);
    assert.doesNotMatch(r.out, /✗/);
    assert.doesNotMatch(r.out, /^event .*nested\.txt/m, "subfolder not watched by default");
  },
);
