// The new-file trigger against a real S3 server (Ceph RGW or S3_TEST_ENDPOINT): uploads race the
// polls, the state goes through JSON and a "restart" (new trigger instance), and every key must
// come out exactly once.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { S3Client } from "../src/client.ts";
import { newFileTrigger, type FileEvent, type TriggerState } from "../src/trigger.ts";
import { s3TestServer, uniqueBucket, type S3TestServer } from "./support/s3server.ts";

let srv: S3TestServer, c: S3Client;

before(async () => {
  srv = await s3TestServer();
  c = new S3Client({ endpoint: srv.endpoint, region: srv.region, credentials: srv, forcePathStyle: true });
});

after(async () => {
  await srv?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rt = <T>(x: T): T => JSON.parse(JSON.stringify(x));
const byPos = (a: FileEvent, b: FileEvent) =>
  +a.lastModified - +b.lastModified || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

test("concurrent uploads while polling (batchSize 3, JSON state, restarts, a lost state): each key once", async () => {
  const bucket = uniqueBucket("trigger");
  await c.createBucket({ bucket });
  // History before the first poll is not replayed.
  await Promise.all(["in/old-1", "in/old-2"].map((key) => c.putObject({ bucket, key, body: "old" })));
  await sleep(1100); // Date and LastModified have 1 s resolution on the wire
  const opts = { bucket, folder: "in", batchSize: 3 };
  let trigger = newFileTrigger(c, opts);
  let r = await trigger.poll();
  assert.deepEqual(r.events, []);
  let persisted = JSON.stringify(r.state);

  const expected = new Map<string, string>(); // key -> etag
  const writers = [0, 1, 2, 3].map(async (w) => {
    for (let i = 0; i < 12; i++) {
      const key = `in/w${w}-${String(i).padStart(2, "0")}.txt`;
      const body = `writer ${w} file ${i} `.repeat(1 + i);
      const { etag } = await c.putObject({ bucket, key, body });
      expected.set(key, etag);
      if (i % 4 === 0) {
        // noise the trigger must ignore: a sub-folder file, a folder placeholder, another folder
        await c.putObject({ bucket, key: `in/sub/w${w}-${i}.txt`, body: "x" });
        await c.putObject({ bucket, key: "in/sub/", body: "" });
        await c.putObject({ bucket, key: `other/w${w}-${i}.txt`, body: "x" });
      }
      await sleep(Math.floor(Math.random() * 60));
    }
  });
  let writing = true;
  const done = Promise.all(writers).finally(() => (writing = false));

  const got: FileEvent[] = [];
  let polls = 0,
    lost = false,
    idle = 0;
  while (writing || idle < 3) {
    r = await trigger.poll(JSON.parse(persisted) as TriggerState);
    polls++;
    assert.ok(r.events.length <= 3);
    assert.deepEqual([...r.events].sort(byPos), r.events, "oldest first");
    if (!lost && r.events.length) {
      // crash before persisting: the same events must come again from the old state
      lost = true;
      const again = await trigger.poll(JSON.parse(persisted));
      assert.ok(again.events.length && byPos(again.events[0], r.events[0]) <= 0, "lost events are offered again");
      continue;
    }
    got.push(...r.events);
    persisted = JSON.stringify(r.state);
    if (polls % 5 === 0) trigger = newFileTrigger(c, opts); // restart
    if (!writing && !r.hasMore) ((idle = r.events.length ? 0 : idle + 1), await sleep(r.events.length ? 0 : 700));
    else if (!r.hasMore) await sleep(50);
  }
  await done;
  assert.ok(lost, "the lost-state path ran");
  const keys = got.map((e) => e.key);
  assert.equal(new Set(keys).size, keys.length, "no duplicates");
  assert.deepEqual([...keys].sort(), [...expected.keys()].sort(), "every key, nothing else");
  for (const e of got) {
    assert.equal(e.etag, expected.get(e.key));
    assert.equal(e.bucket, bucket);
    assert.equal(e.name, e.key.slice(3));
    assert.equal(e.isUpdate, false);
    assert.ok(e.size > 0);
  }
  const state = JSON.parse(persisted) as TriggerState;
  assert.ok(state.seen.length / 10 <= expected.size, "remembers at most one version per key (10 characters each)");

  // An overwrite comes again, marked as an update; a second trigger instance agrees.
  const { etag } = await c.putObject({ bucket, key: "in/w0-00.txt", body: "new content" });
  await sleep(1100);
  const u = await newFileTrigger(c, opts).poll(state);
  assert.deepEqual(
    u.events.map((e) => [e.key, e.etag, e.isUpdate]),
    [["in/w0-00.txt", etag, true]],
  );
  assert.deepEqual((await newFileTrigger(c, opts).poll(rt(u.state))).events, []);
});

test("watch on RGW: events as they land, onState persists, a restart resumes without repeats", async () => {
  const bucket = uniqueBucket("trigger-watch");
  await c.createBucket({ bucket });
  const opts = { bucket, includeSubfolders: true, batchSize: 4 };
  let saved: TriggerState | undefined,
    saves = 0;
  const ac = new AbortController();
  const want = Array.from({ length: 10 }, (_, i) => `f${i}/file-${i}.bin`);
  const got: string[] = [];
  const it = newFileTrigger(c, opts).watch({
    intervalMs: 150,
    signal: ac.signal,
    // Stop once a persisted state covers all seven: aborting mid-batch would (correctly) not
    // report the unfinished batch, and the restart below would see those events again.
    onState: (s) => void ((saved = rt(s)), saves++, got.length === 7 && ac.abort()),
  });
  const upload = (async () => {
    while (!saved) await sleep(20); // the first poll fixed "since"
    await sleep(1100);
    await Promise.all(want.slice(0, 7).map((key) => c.putObject({ bucket, key, body: new Uint8Array(100).fill(7) })));
  })();
  const timer = setTimeout(() => ac.abort(), 20_000);
  for await (const e of it) {
    got.push(e.key);
    assert.equal(e.size, 100);
  }
  clearTimeout(timer);
  await upload;
  assert.deepEqual([...got].sort(), want.slice(0, 7).sort());
  assert.ok(saves >= 2);
  // Pretend the process stopped after persisting; three more files arrive, a new watcher picks
  // up exactly those.
  await Promise.all(want.slice(7).map((key) => c.putObject({ bucket, key, body: new Uint8Array(100) })));
  const more: string[] = [];
  const ac2 = new AbortController();
  const timer2 = setTimeout(() => ac2.abort(), 20_000);
  for await (const e of newFileTrigger(c, opts).watch({ intervalMs: 150, signal: ac2.signal, state: saved })) {
    more.push(e.key);
    if (more.length === 3) ac2.abort();
  }
  clearTimeout(timer2);
  assert.deepEqual(more.sort(), want.slice(7).sort());
});

// ---------------------------------------------------------------------------------------------
// Cost that follows what is new, on a real folder: 20,000 ascending keys (Firehose-like names) in
// one bucket shared by the two tests below; the requests are counted where they leave the client.

const FOLDER_KEYS = 10_000;
let big: { bucket: string; client: S3Client; requests: () => number } | undefined;

async function bigBucket() {
  if (big) return big;
  let requests = 0;
  const counting: typeof fetch = (input, init) => (requests++, fetch(input, init));
  const client = new S3Client({
    endpoint: srv.endpoint,
    region: srv.region,
    credentials: srv,
    forcePathStyle: true,
    fetch: counting,
  });
  const bucket = uniqueBucket("trigger-scale");
  await client.createBucket({ bucket });
  // asc/a/00000 ... asc/b/19999: two folders of 10,000, one ascending tree of 20,000. Bounded
  // parallelism: RGW on a shared 2-core machine takes ~100 uploads/s.
  const keyOf = (i: number) => `asc/${i < FOLDER_KEYS ? "a" : "b"}/${String(i).padStart(5, "0")}.json`;
  let next = 0;
  await Promise.all(
    Array.from({ length: 48 }, async () => {
      while (next < 2 * FOLDER_KEYS) await client.putObject({ bucket, key: keyOf(next++), body: "{}" });
    }),
  );
  big = { bucket, client, requests: () => requests };
  return big;
}

test("incremental on RGW: an idle poll of a 20,000-key folder costs at most 2 requests; a new file costs 1", async () => {
  const { bucket, client, requests } = await bigBucket();
  const trigger = newFileTrigger(client, { bucket, folder: "asc", includeSubfolders: true, listing: "incremental" });
  await sleep(1100); // the Date of the first poll counts its own second as current: upload in an earlier one
  let before = requests();
  let r = await trigger.poll(); // learns the high-water key: the whole folder, once
  assert.deepEqual([r.events.length, r.hasMore, r.requests], [0, false, 20]);
  assert.ok(requests() - before >= 20); // more when the client retried a page (a busy RGW answers 503 at times)
  assert.equal(r.state.highWater, "asc/b/19999.json");
  for (let poll = 0; poll < 3; poll++) {
    before = requests();
    r = await trigger.poll(rt(r.state));
    assert.deepEqual([r.events.length, r.hasMore], [0, false]);
    assert.ok(requests() - before <= 2, `idle poll: ${requests() - before} requests`);
  }
  await sleep(1100);
  await client.putObject({ bucket, key: "asc/b/20000.json", body: "{}" });
  before = requests();
  r = await trigger.poll(rt(r.state));
  assert.deepEqual(keys(r.events), ["asc/b/20000.json"]);
  assert.ok(requests() - before <= 2);
  assert.ok(JSON.stringify(r.state).length < 1000, "the state holds a cursor, not the folder");
});

test("maxRequestsPerPoll 3 on RGW: all of a 10,000-key folder exactly once, no poll over budget", async () => {
  const { bucket, client, requests } = await bigBucket();
  const since = new Date(Date.now() - 3_600_000);
  const trigger = newFileTrigger(client, { bucket, folder: "asc/a", since, maxRequestsPerPoll: 3, batchSize: 1000 });
  const got: string[] = [];
  let state: TriggerState | undefined,
    polls = 0;
  for (let more = true; more; polls++) {
    assert.ok(polls < 200, "terminates");
    const before = requests();
    const r = await trigger.poll(state && rt(state));
    assert.ok(requests() - before <= 3, `poll ${polls}: ${requests() - before} requests`);
    got.push(...keys(r.events));
    state = r.state;
    more = r.hasMore;
  }
  assert.equal(got.length, FOLDER_KEYS);
  assert.equal(new Set(got).size, FOLDER_KEYS, "no duplicates");
  assert.deepEqual(
    [...got].sort(),
    Array.from({ length: FOLDER_KEYS }, (_, i) => `asc/a/${String(i).padStart(5, "0")}.json`),
  );
  assert.deepEqual((await trigger.poll(rt(state!))).events, [], "nothing twice");
});

const keys = (events: FileEvent[]) => events.map((e) => e.key);

test("incremental on RGW with awkward keys: the high-water key goes back as start-after exactly (space, +, %, CR, emoji)", async () => {
  const bucket = uniqueBucket("trigger-keys");
  await c.createBucket({ bucket });
  const awkward = ["odd/a b+c%2B.txt", "odd/line\r\nbreak.txt", "odd/\u00e9t\u00e9.txt", "odd/\u{1F600} smile.txt"];
  for (const key of awkward) await c.putObject({ bucket, key, body: key });
  await sleep(1100);
  const trigger = newFileTrigger(c, { bucket, folder: "odd", listing: "incremental" });
  let r = await trigger.poll();
  assert.equal(r.state.highWater, "odd/\u{1F600} smile.txt", "the greatest key in S3's (UTF-8) order, exact");
  // each new key is greater than the high-water key; each poll lists only after it
  for (const key of ["odd/\u{1F600} smile.txt2", "odd/\u{1F600}\u{1F600}\r.txt"]) {
    await sleep(1100);
    await c.putObject({ bucket, key, body: key });
    r = await trigger.poll(rt(r.state));
    assert.deepEqual([keys(r.events), r.requests, r.state.highWater], [[key], 1, key]);
  }
  r = await trigger.poll(rt(r.state));
  assert.deepEqual([r.events, r.requests], [[], 1]);
});
