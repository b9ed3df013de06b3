// `s3-edge watch` against real Ceph RGW (SigV4-verifying), as a child process: what buckets contain
// (keys the local file system cannot store, keys that would share a file, control characters),
// transient failures, Ctrl-C and restarts, the state file's lock, temp files of a killed process,
// symbolic links, and the flags of issue 10 (--incremental, --max-requests, --filter).
import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer, request, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
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
  jsonLines,
  putRaw,
  runCli,
  settle,
  spawnCli,
  stderrMatches,
  stdoutLines,
} from "./support/cli-runner.ts";

const work = mkdtempSync(join(tmpdir(), "s3-edge-cli-watch-"));
const SINCE = ["--since", "2000-01-01T00:00:00Z"];
let server: S3TestServer, client: S3Client, bucket: string;

before(async () => {
  server = await s3TestServer();
  client = new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
  });
  bucket = uniqueBucket("cli-watch");
  await client.createBucket({ bucket });
});
after(async () => {
  rmSync(work, { recursive: true, force: true });
  await server?.stop();
});

const cli = (args: string[], env?: Record<string, string | undefined>) => runCli(server, args, env);
const put = (key: string, body: string) => client.putObject({ bucket, key, body });
/** `watch --once` over a folder and its subfolders since 2000, JSON lines, downloading into `downloads`. */
const watchOnceJson = (folder: string, downloads: string, ...extra: string[]) =>
  cli([
    "watch",
    `s3://${bucket}/${folder}/`,
    "--once",
    "--include-subfolders",
    ...SINCE,
    "--json",
    "--download-to",
    downloads,
    ...extra,
  ]);

/**
 * A pass-through proxy to RGW (the signature covers the Host header, which is forwarded as sent)
 * whose `intercept` may answer a request itself: for faults a real server won't produce on demand.
 */
async function proxy(intercept: (request: IncomingMessage) => { status: number; body: string } | "hang" | undefined) {
  const target = new URL(server.endpoint);
  const proxyServer: Server = createServer((incoming, outgoing) => {
    const fault = intercept(incoming);
    if (fault === "hang") return; // never answers: the client waits until it is stopped
    if (fault) {
      outgoing.writeHead(fault.status, {
        "content-type": "application/xml",
        "content-length": Buffer.byteLength(fault.body),
      });
      return void outgoing.end(fault.body);
    }
    const forwarded = request(
      {
        host: target.hostname,
        port: target.port,
        method: incoming.method,
        path: incoming.url,
        headers: incoming.headers,
      },
      (response) => {
        outgoing.writeHead(response.statusCode!, response.headers);
        response.pipe(outgoing);
      },
    );
    forwarded.on("error", () => outgoing.destroy());
    incoming.pipe(forwarded);
  });
  await new Promise<void>((resolve) => proxyServer.listen(0, "127.0.0.1", resolve));
  const endpoint = `http://127.0.0.1:${(proxyServer.address() as AddressInfo).port}`;
  return {
    endpoint,
    close: () => (proxyServer.closeAllConnections(), new Promise((resolve) => proxyServer.close(resolve))),
  };
}

const slowDown = {
  status: 503,
  body: '<?xml version="1.0"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>',
};

describe("watch: what buckets contain", () => {
  test("keys the file system cannot store are skipped with the reason; the watcher goes on and saves", async () => {
    const long250 = "n".repeat(246) + ".txt"; // 250 bytes: fits NAME_MAX only with a short temp name
    const long300 = "l".repeat(300);
    await put(`fs/${long250}`, "long name");
    await put("fs/k/a", "file a");
    await settle();
    await put("fs/k/a/b", "a file below a file"); // after "k/a": its folder "k/a" is a file
    await put(`fs/${long300}`, "too long");
    await settle();
    await put("fs/z-last.txt", "still fetched");
    await settle();
    const downloads = join(work, "fs/files"),
      state = join(work, "fs/state.json");
    const args = [
      "watch",
      `s3://${bucket}/fs/`,
      "--once",
      "--include-subfolders",
      ...SINCE,
      "--download-to",
      downloads,
      "--state",
      state,
    ];
    const text = await cli(args);
    assert.equal(text.code, 0, text.stderr);
    assert.equal(readFileSync(join(downloads, long250), "utf8"), "long name");
    assert.equal(readFileSync(join(downloads, "k/a"), "utf8"), "file a");
    assert.equal(readFileSync(join(downloads, "z-last.txt"), "utf8"), "still fetched");
    assert.match(text.out, /fs\/k\/a\/b .*SKIPPED: .*(file|folder)/);
    assert.match(text.out, /SKIPPED: the file name or path is too long .*ENAMETOOLONG/);
    assert.match(text.stderr, /skipped s3:\/\/.*\/fs\/k\/a\/b/);
    assert.ok(JSON.parse(readFileSync(state, "utf8")).version, "state saved");
    assert.deepEqual(
      readdirSync(downloads).filter((name) => name.startsWith(".")),
      [],
      "no temp files left",
    );

    // Restarted on the same state: nothing again. With --json, the reasons are fields.
    const again = await cli([...args, "--json"]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.out, "");
    const fresh = await watchOnceJson("fs", join(work, "fs/json"));
    const events = jsonLines(fresh);
    assert.equal(events.length, 5, fresh.out);
    assert.match(events.find((event) => event.key === `fs/${long300}`).skipped, /ENAMETOOLONG/);
    assert.ok(events.find((event) => event.key === "fs/k/a/b").skipped);
    assert.equal(events.find((event) => event.key === "fs/z-last.txt").skipped, undefined);
  });

  test("keys sharing a local file (in//x, in/./y, in/z/.) are refused; the plain keys keep their content", async () => {
    for (const key of ["amb/in/x", "amb/in/y", "amb/in/z"]) await putRaw(server, bucket, key, `plain ${key}`);
    for (const key of ["amb/in//x", "amb/in/./y", "amb/in/z/."]) await putRaw(server, bucket, key, `other ${key}`);
    await settle();
    const downloads = join(work, "amb/files");
    const run = await watchOnceJson("amb", downloads);
    assert.equal(run.code, 0, run.stderr);
    const events = jsonLines(run);
    assert.equal(events.length, 6, run.out);
    for (const name of ["x", "y", "z"])
      assert.equal(readFileSync(join(downloads, "in", name), "utf8"), `plain amb/in/${name}`);
    for (const key of ["amb/in//x", "amb/in/./y", "amb/in/z/."]) {
      const event = events.find((candidate) => candidate.key === key);
      assert.match(event.skipped, /share a local file/, key);
      assert.equal(event.path, undefined);
    }
  });

  test("control characters in keys are escaped in ls and watch text output; --json keeps the exact key", async () => {
    const key = "ctl/evil\nnew     2000-01-01T00:00:00.000Z 1 forged\x1b[31m\x9b.txt";
    await put(key, "x");
    await settle();
    const [listed, watched, json] = await Promise.all([
      cli(["ls", `s3://${bucket}/ctl/`]),
      cli(["watch", `s3://${bucket}/ctl/`, "--once", ...SINCE]),
      cli(["watch", `s3://${bucket}/ctl/`, "--once", ...SINCE, "--json"]),
    ]);
    for (const run of [listed, watched]) {
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.out.trimEnd().split("\n").length, 1, run.out);
      assert.doesNotMatch(run.out, /[\x1b\x9b]/);
      assert.match(run.out, /evil\\x0anew .*forged\\x1b\[31m\\x9b\.txt/);
    }
    assert.equal(jsonLines(json)[0].key, key);
  });
});

describe("watch: failures, interruptions, restarts", () => {
  test("a download failing with 503 SlowDown after the client's retries is retried at the next interval", async () => {
    await put("slow/a.txt", "a");
    await put("slow/b.txt", "b");
    await settle();
    let refusals = 5; // the client tries 3 times: the first batch fails, the second one succeeds
    const front = await proxy((incoming) =>
      incoming.method === "GET" && incoming.url!.includes("/slow/a.txt") && refusals-- > 0 ? slowDown : undefined,
    );
    const downloads = join(work, "slow/files");
    const args = ["watch", `s3://${bucket}/slow/`, "--interval", "0.3", ...SINCE, "--json", "--download-to", downloads];
    const child = spawnCli(args, cleanEnv(credentialsOf(server, front.endpoint)));
    const done = finish(child, [server.secretAccessKey]);
    try {
      await stdoutLines(child, 2);
      child.kill("SIGINT");
      const run = await done;
      assert.equal(run.code, 130, run.stderr);
      assert.match(run.stderr, /download failed, retrying in 0\.3 s: .*SlowDown|reduce your request rate/);
      assert.deepEqual(
        jsonLines(run).map((event) => event.key),
        ["slow/a.txt", "slow/b.txt"],
      );
      assert.equal(readFileSync(join(downloads, "a.txt"), "utf8"), "a");
    } finally {
      child.kill("SIGKILL");
      await front.close();
    }
  });

  test("Ctrl-C before anything was handled does not claim a saved state", async () => {
    const front = await proxy(() => "hang");
    const state = join(work, "hang/state.json");
    const child = spawnCli(
      ["watch", `s3://${bucket}/w/`, "--state", state],
      cleanEnv(credentialsOf(server, front.endpoint)),
    );
    const done = finish(child, [server.secretAccessKey]);
    try {
      await stderrMatches(child, /watching/);
      await new Promise((resolve) => setTimeout(resolve, 300));
      child.kill("SIGINT");
      const run = await done;
      assert.equal(run.code, 130, run.stderr);
      assert.doesNotMatch(run.stderr, /state saved/);
      assert.match(run.stderr, /interrupted before any state was saved/);
      assert.ok(!existsSync(state));
    } finally {
      await front.close();
    }
  });

  test("a batch interrupted midway: the restart neither repeats the finished files nor misses the rest", async () => {
    for (const name of ["1", "2", "3"]) await put(`mid/${name}.txt`, name);
    await settle();
    // The third file's download hangs, as a huge file would: Ctrl-C arrives while it is in flight.
    const front = await proxy((incoming) =>
      incoming.method === "GET" && incoming.url!.includes("/mid/3.txt") ? "hang" : undefined,
    );
    const state = join(work, "mid/state.json"),
      downloads = join(work, "mid/files");
    const args = ["watch", `s3://${bucket}/mid/`, ...SINCE, "--json", "--state", state, "--download-to", downloads];
    const child = spawnCli(args, cleanEnv(credentialsOf(server, front.endpoint)));
    const done = finish(child, [server.secretAccessKey]);
    try {
      await stdoutLines(child, 2);
      child.kill("SIGINT");
      const first = await done;
      assert.equal(first.code, 130, first.stderr);
      assert.deepEqual(
        jsonLines(first).map((event) => event.key),
        ["mid/1.txt", "mid/2.txt"],
      );
      assert.match(first.stderr, /interrupted; state saved in .*state\.json/);
    } finally {
      await front.close();
    }
    const second = await cli([
      "watch",
      `s3://${bucket}/mid/`,
      "--once",
      ...SINCE,
      "--json",
      "--state",
      state,
      "--download-to",
      downloads,
    ]);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(
      jsonLines(second).map((event) => event.key),
      ["mid/3.txt"],
    );
    assert.equal(readFileSync(join(downloads, "3.txt"), "utf8"), "3");
    const third = await cli(["watch", `s3://${bucket}/mid/`, "--once", "--state", state, "--download-to", downloads]);
    assert.equal(third.out, "");
    assert.deepEqual(
      readdirSync(join(work, "mid")).sort(),
      ["files", "state.json"],
      "no lock, progress or temp file left",
    );
  });

  test("a second watcher on one state file exits 5; a lock left by a killed watcher is taken over", async () => {
    const state = join(work, "lock/state.json");
    const first = spawnCli(
      ["watch", `s3://${bucket}/w/`, "--interval", "0.2", "--state", state],
      cleanEnv(credentialsOf(server)),
    );
    const firstDone = finish(first, [server.secretAccessKey]);
    await stderrMatches(first, /watching/);
    const second = await cli(["watch", `s3://${bucket}/w/`, "--once", "--state", state]);
    assert.equal(second.code, 5, second.stderr);
    assert.match(second.stderr, new RegExp(`in use by another watcher \\(pid ${first.pid} `));
    first.kill("SIGKILL");
    await firstDone;
    assert.ok(existsSync(state + ".lock"), "kill -9 leaves the lock behind");
    const third = await cli(["watch", `s3://${bucket}/w/`, "--once", "--state", state]);
    assert.equal(third.code, 0, third.stderr);
    assert.ok(!existsSync(state + ".lock"), "released on exit");
  });
});

describe("watch: the download directory", () => {
  test("a replaced file keeps its mode; temp files of dead processes are removed, a live one's kept", async () => {
    const downloads = join(work, "mode/files");
    mkdirSync(join(downloads, "sub"), { recursive: true });
    writeFileSync(join(downloads, "private.txt"), "old");
    chmodSync(join(downloads, "private.txt"), 0o600);
    writeFileSync(join(downloads, "script.sh"), "old");
    chmodSync(join(downloads, "script.sh"), 0o750);
    // The pid of a process that has exited: its temp files are leftovers.
    const exited = spawnSync(process.execPath, ["-e", ""]).pid.toString(16).padStart(8, "0");
    const stale = [`.s3edge-${exited}-00000001.part`, `sub/.s3edge-${exited}-00000002.part`];
    const live = `.s3edge-${process.pid.toString(16).padStart(8, "0")}-00000003.part`;
    for (const name of [...stale, live]) writeFileSync(join(downloads, name), "partial");
    await put("mode/private.txt", "new");
    await put("mode/script.sh", "#!/bin/sh\n");
    await settle();
    const run = await cli(["watch", `s3://${bucket}/mode/`, "--once", ...SINCE, "--download-to", downloads]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(readFileSync(join(downloads, "private.txt"), "utf8"), "new");
    assert.equal(statSync(join(downloads, "private.txt")).mode & 0o777, 0o600);
    assert.equal(statSync(join(downloads, "script.sh")).mode & 0o777, 0o750);
    for (const name of stale) assert.ok(!existsSync(join(downloads, name)), name);
    assert.ok(existsSync(join(downloads, live)), "a live process's temp file is not touched");
  });

  test("a symbolic link inside the download directory is not followed out of it", async () => {
    const downloads = join(work, "link/files"),
      outside = join(work, "link/outside");
    mkdirSync(downloads, { recursive: true });
    mkdirSync(outside, { recursive: true });
    symlinkSync(outside, join(downloads, "linked"));
    await put("link/linked/planted.txt", "should not leave");
    await put("link/normal/ok.txt", "ok");
    await settle();
    const run = await watchOnceJson("link", downloads);
    assert.equal(run.code, 0, run.stderr);
    const events = jsonLines(run);
    assert.match(events.find((event) => event.key === "link/linked/planted.txt").skipped, /symbolic link/);
    assert.deepEqual(readdirSync(outside), []);
    assert.equal(readFileSync(join(downloads, "normal/ok.txt"), "utf8"), "ok");
  });
});

describe("watch: --filter, --incremental, --max-requests", () => {
  test("--filter GLOB reports only matching keys; --incremental and --max-requests N find all once", async () => {
    for (const name of ["a.csv", "b.txt", "deep/c.csv", "deep/d.json", "e.csv.gz"]) await put(`flt/${name}`, name);
    await settle();
    const base = ["watch", `s3://${bucket}/flt/`, "--once", "--include-subfolders", ...SINCE, "--json"];
    const [csv, deep, incremental, bounded] = await Promise.all([
      cli([...base, "--filter", "*.csv"]),
      cli([...base, "--filter", "deep/*"]),
      cli([...base, "--incremental"]),
      cli([...base, "--max-requests", "1"]),
    ]);
    for (const run of [csv, deep, incremental, bounded]) assert.equal(run.code, 0, run.stderr);
    const keys = (run: typeof csv) =>
      jsonLines(run)
        .map((event) => event.key)
        .sort();
    assert.deepEqual(keys(csv), ["flt/a.csv", "flt/deep/c.csv"]);
    assert.deepEqual(keys(deep), ["flt/deep/c.csv", "flt/deep/d.json"]);
    const all = ["flt/a.csv", "flt/b.txt", "flt/deep/c.csv", "flt/deep/d.json", "flt/e.csv.gz"];
    assert.deepEqual(keys(incremental), all);
    assert.deepEqual(keys(bounded), all);
  });

  test("--download-to with --concurrency 3 --part-size 0.25: each file fetched as parallel ranges, byte-exact", async () => {
    const files = { "par/one.bin": randomBytes(1024 * 1024 + 5), "par/two.bin": randomBytes(700 * 1024) };
    for (const [key, body] of Object.entries(files)) await client.putObject({ bucket, key, body });
    await settle();
    const downloads = join(work, "par-downloads");
    const run = await watchOnceJson("par", downloads, "--concurrency", "3", "--part-size", "0.25");
    assert.equal(run.code, 0, run.stderr);
    for (const [key, body] of Object.entries(files))
      assert.deepEqual(readFileSync(join(downloads, key.slice("par/".length))), body, key);
  });

  test("bad values of the new flags are usage errors (exit 2)", async () => {
    const runs = await Promise.all([
      cli(["watch", `s3://${bucket}/flt/`, "--max-requests", "0"]),
      cli(["watch", `s3://${bucket}/flt/`, "--max-requests", "1.5"]),
      cli(["watch", `s3://${bucket}/flt/`, "--filter", ""]),
      cli(["watch", `s3://${bucket}/flt/`, "--sqs", "http://127.0.0.1:1/q", "--once"]),
      cli(["watch", `s3://${bucket}/flt/`, "--concurrency", "0"]),
      cli(["watch", `s3://${bucket}/flt/`, "--part-size", "-1"]),
    ]);
    assert.deepEqual(
      runs.map((run) => run.code),
      [2, 2, 2, 2, 2, 2],
      runs.map((run) => run.stderr).join("\n"),
    );
  });
});

describe("watch --sqs", () => {
  test("SQS notifications (fauxqs) are downloaded once each, acked, and remembered across restarts", async () => {
    // fauxqs checks no signatures: this proves the wiring (same output, download, state), not signing.
    const { buildApp } = await import("fauxqs");
    const queues = buildApp({ logger: false, host: "localhost" });
    const sqsEndpoint = await queues.listen({ port: 0, host: "127.0.0.1" });
    const sqs = async (action: string, body: object) => {
      const response = await fetch(sqsEndpoint + "/", {
        method: "POST",
        headers: { "content-type": "application/x-amz-json-1.0", "x-amz-target": "AmazonSQS." + action },
        body: JSON.stringify(body),
      });
      return (await response.json()) as Record<string, any>;
    };
    try {
      const { QueueUrl: queueUrl } = await sqs("CreateQueue", { QueueName: `cli-${Date.now()}` });
      // AWS's notification format: the key URL-encoded with "+" for a space.
      const notify = async (key: string, encodedKey: string, body: string) => {
        const { etag } = await put(key, body);
        const record = {
          eventVersion: "2.1",
          eventSource: "aws:s3",
          awsRegion: "us-east-1",
          eventTime: new Date().toISOString(),
          eventName: "ObjectCreated:Put",
          s3: {
            bucket: { name: bucket },
            object: { key: encodedKey, size: body.length, eTag: etag.replace(/"/g, "") },
          },
        };
        const message = JSON.stringify({ Records: [record] });
        await sqs("SendMessage", { QueueUrl: queueUrl, MessageBody: message });
        return message;
      };
      const state = join(work, "sqs/state.json"),
        downloads = join(work, "sqs/files");
      const args = [
        "watch",
        `s3://${bucket}/sqsq/`,
        "--sqs",
        queueUrl,
        "--json",
        "--state",
        state,
        "--download-to",
        downloads,
      ];
      const env = cleanEnv({ ...credentialsOf(server), AWS_ENDPOINT_URL_SQS: sqsEndpoint });
      const child = spawnCli(args, env);
      const done = finish(child, [server.secretAccessKey]);
      const first = await notify("sqsq/a b+c.txt", "sqsq/a+b%2Bc.txt", "first");
      await stdoutLines(child, 1);
      await sqs("SendMessage", { QueueUrl: queueUrl, MessageBody: first }); // a redelivery
      await notify("sqsq/second.txt", "sqsq/second.txt", "second");
      await stdoutLines(child, 2);
      await new Promise((resolve) => setTimeout(resolve, 500));
      child.kill("SIGINT");
      const run = await done;
      assert.equal(run.code, 130, run.stderr);
      assert.deepEqual(
        jsonLines(run).map((event) => event.key),
        ["sqsq/a b+c.txt", "sqsq/second.txt"],
      );
      assert.equal(readFileSync(join(downloads, "a b+c.txt"), "utf8"), "first");
      assert.equal(readFileSync(join(downloads, "second.txt"), "utf8"), "second");
      const attributes = (await sqs("GetQueueAttributes", { QueueUrl: queueUrl, AttributeNames: ["All"] })).Attributes;
      assert.equal(+attributes.ApproximateNumberOfMessages + +attributes.ApproximateNumberOfMessagesNotVisible, 0);

      // Restarted on the saved state: a late redelivery of the first file is not reported again.
      await sqs("SendMessage", { QueueUrl: queueUrl, MessageBody: first });
      const again = spawnCli(args, env);
      const againDone = finish(again, [server.secretAccessKey]);
      await stderrMatches(again, /watching/);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      again.kill("SIGINT");
      const rerun = await againDone;
      assert.equal(rerun.code, 130, rerun.stderr);
      assert.equal(rerun.out, "");
    } finally {
      await queues.close();
    }
  });
});
