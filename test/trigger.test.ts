// Trigger tests against an in-memory bucket: focused rules, then a seeded model-based test.
import { test } from "node:test";
import assert from "node:assert/strict";
import { newFileTrigger, type FileEvent, type TriggerState } from "../src/trigger.ts";
import type { ListObjectsV2Result, S3Object } from "../src/client.ts";
import { InputError, NetworkError, S3Error } from "../src/errors.ts";

// ---------------------------------------------------------------------------------------------
// In-memory bucket with a server clock that is NOT the local clock (year 2001).

interface Obj { key: string; etag: string; lm: number; size: number }
const T0 = Date.UTC(2001, 0, 1, 12, 0, 0);
const sec = (t: number) => Math.floor(t / 1000) * 1000;

class FakeBucket {
  objs = new Map<string, Obj>();
  now = T0; // server clock, ms
  pageSize = 1000;
  calls: { prefix?: string; delimiter?: string; continuationToken?: string }[] = [];
  onPage?: () => void; // runs between pages: uploads racing a listing
  fail?: () => unknown; // error to throw on the next call
  etagN = 0;
  private cache = new Map<string, { key: string; cp?: boolean; o?: Obj }[]>();
  del(key: string) {
    this.objs.delete(key), this.cache.clear();
  }

  put(key: string, o: { lm?: number; etag?: string; size?: number } = {}) {
    const v = { key, etag: o.etag ?? `e${++this.etagN}`, lm: sec(o.lm ?? this.now), size: o.size ?? 1 };
    this.objs.set(key, v), this.cache.clear();
    return v;
  }
  client() {
    return {
      listObjectsV2: async (p: { bucket: string; prefix?: string; delimiter?: string; continuationToken?: string; maxKeys?: number; signal?: AbortSignal }): Promise<ListObjectsV2Result> => {
        this.calls.push({ prefix: p.prefix, delimiter: p.delimiter, continuationToken: p.continuationToken });
        const err = this.fail?.();
        if (err) throw err;
        if (p.continuationToken) this.onPage?.();
        const prefix = p.prefix ?? "";
        // One sorted run of entries; a common prefix counts as one entry, like S3.
        const ck = prefix + "\0" + p.delimiter;
        let entries = this.cache.get(ck);
        if (!entries) {
          const cps = new Set<string>();
          this.cache.set(ck, (entries = []));
          for (const k of [...this.objs.keys()].sort()) {
            if (!k.startsWith(prefix)) continue;
            const i = p.delimiter ? k.indexOf(p.delimiter, prefix.length) : -1;
            if (i >= 0) {
              const cp = k.slice(0, i + 1);
              if (!cps.has(cp)) cps.add(cp), entries.push({ key: cp, cp: true });
            } else entries.push({ key: k, o: this.objs.get(k)! });
          }
        }
        const after = p.continuationToken ? atob(p.continuationToken) : "";
        const rest = entries.filter((e) => e.key > after);
        const page = rest.slice(0, Math.min(p.maxKeys ?? 1000, this.pageSize));
        const truncated = rest.length > page.length;
        const contents: S3Object[] = page.filter((e) => e.o).map(({ o }) => ({ key: o!.key, etag: o!.etag, size: o!.size, lastModified: new Date(o!.lm), storageClass: "STANDARD" }));
        return {
          name: p.bucket, prefix, delimiter: p.delimiter, contents, commonPrefixes: page.filter((e) => e.cp).map((e) => e.key),
          isTruncated: truncated, nextContinuationToken: truncated ? btoa(page[page.length - 1].key) : undefined,
          keyCount: page.length, date: new Date(sec(this.now)),
        };
      },
    };
  }
}

const keys = (evs: FileEvent[]) => evs.map((e) => e.key);
const rt = <T>(x: T): T => JSON.parse(JSON.stringify(x));

// ---------------------------------------------------------------------------------------------
// Focused rules

test("folder: direct children only by default, whole subtree with includeSubfolders; 'a/b' means 'a/b/'", async () => {
  const b = new FakeBucket();
  const s = (await newFileTrigger(b.client(), { bucket: "bk", folder: "a/b" }).poll()).state;
  const s2 = (await newFileTrigger(b.client(), { bucket: "bk", folder: "a/b", includeSubfolders: true }).poll()).state;
  b.now += 5000;
  for (const k of ["a/b/1.txt", "a/b/sub/2.txt", "a/b/sub/deep/3.txt", "a/bc/4.txt", "a/b.txt", "x/a/b/5.txt", "a/b/6.txt"]) b.put(k);
  b.calls = [];
  const flat = await newFileTrigger(b.client(), { bucket: "bk", folder: "a/b" }).poll(s);
  assert.deepEqual(keys(flat.events), ["a/b/1.txt", "a/b/6.txt"]);
  assert.deepEqual(b.calls[0], { prefix: "a/b/", delimiter: "/", continuationToken: undefined });
  const deep = await newFileTrigger(b.client(), { bucket: "bk", folder: "a/b/", includeSubfolders: true }).poll(s2);
  assert.deepEqual(keys(deep.events), ["a/b/1.txt", "a/b/6.txt", "a/b/sub/2.txt", "a/b/sub/deep/3.txt"]);
  assert.equal(b.calls[1].delimiter, undefined);
  assert.deepEqual(deep.events[2], {
    bucket: "bk", key: "a/b/sub/2.txt", name: "2.txt", size: 1, etag: b.objs.get("a/b/sub/2.txt")!.etag,
    lastModified: new Date(sec(b.now)), storageClass: "STANDARD", isUpdate: false,
  });
});

test("whole bucket when folder is empty; folder placeholders are not files, empty files are", async () => {
  const b = new FakeBucket();
  const t = newFileTrigger(b.client(), { bucket: "bk", includeSubfolders: true });
  const { state } = await t.poll();
  b.now += 1000;
  b.put("logs/", { size: 0 });
  b.put("logs/2024/", { size: 0 });
  b.put("logs/empty.txt", { size: 0 });
  b.put("top.txt");
  b.put("odd/", { size: 3 }); // a key ending in "/" with content is a file
  const r = await t.poll(state);
  assert.deepEqual(keys(r.events), ["logs/empty.txt", "odd/", "top.txt"]);
  assert.equal(r.events[1].name, "");
});

test("since defaults to the SERVER time of the first poll; explicit since picks up older objects", async () => {
  const b = new FakeBucket(); // server clock is in 2001, far from the local clock
  b.put("old-1", { lm: T0 - 60_000 });
  b.put("old-2", { lm: T0 - 1000 });
  const t = newFileTrigger(b.client(), { bucket: "bk" });
  const first = await t.poll();
  assert.deepEqual(first.events, [], "history is not replayed");
  b.now += 2000;
  b.put("new-1");
  const second = await t.poll(rt(first.state));
  assert.deepEqual(keys(second.events), ["new-1"]);
  const t2 = newFileTrigger(b.client(), { bucket: "bk", since: new Date(T0 - 1000) });
  assert.deepEqual(keys((await t2.poll()).events), ["old-2", "new-1"]);
  // since is inclusive and a state, once given, wins over since
  assert.deepEqual((await t2.poll(second.state as any)).events, []);
});

test("local clock fallback when the response has no Date", async () => {
  const b = new FakeBucket();
  const c = b.client();
  const noDate = { listObjectsV2: async (p: any) => ({ ...(await c.listObjectsV2(p)), date: undefined }) };
  b.put("past", { lm: Date.now() - 10_000 });
  const t = newFileTrigger(noDate, { bucket: "bk" });
  const { events, state } = await t.poll();
  assert.deepEqual(events, []);
  b.put("recent", { lm: Date.now() + 1000 });
  assert.deepEqual(keys((await newFileTrigger(noDate, { bucket: "bk" }).poll(state)).events), []);
  assert.ok(Math.abs(Date.parse(state.floor) - Date.now()) < 5000, state.floor);
});

test("minAgeMs holds objects back by SERVER time, they come in a later poll", async () => {
  const b = new FakeBucket();
  const t = newFileTrigger(b.client(), { bucket: "bk", minAgeMs: 10_000, since: new Date(T0 - 3600_000) });
  b.put("a", { lm: T0 - 20_000 });
  b.put("b", { lm: T0 - 10_000 });
  b.put("c", { lm: T0 - 9_000 });
  b.put("d", { lm: T0 });
  const r1 = await t.poll();
  assert.deepEqual(keys(r1.events), ["a", "b"]);
  assert.equal(r1.hasMore, false, "young objects are not 'more'");
  b.now = T0 + 1000;
  assert.deepEqual(keys((await t.poll(r1.state)).events), ["c"]);
  b.now = T0 + 10_000;
  assert.deepEqual(keys((await t.poll(r1.state)).events), ["c", "d"]);
});

test("many objects in one second, batch boundaries inside it: each once, in (lastModified, key) order", async () => {
  const b = new FakeBucket();
  b.pageSize = 4;
  const t = newFileTrigger(b.client(), { bucket: "bk", batchSize: 3, since: new Date(T0 - 5000) });
  for (let i = 0; i < 20; i++) b.put(`k${String(i).padStart(2, "0")}`, { lm: T0 - 1000 });
  b.put("a-newer"), b.put("z-older", { lm: T0 - 2000 });
  let state: TriggerState | undefined, all: string[] = [], hasMore = true, polls = 0;
  while (hasMore) {
    assert.ok(polls < 50, "terminates");
    const r = await t.poll(state);
    assert.ok(r.events.length <= 3);
    all.push(...keys(r.events));
    state = rt(r.state), hasMore = r.hasMore, polls++;
    if (polls === 3) b.put("k05x", { lm: T0 - 1000 }); // lands inside the already-passed second
  }
  assert.deepEqual(all.slice(0, 10), ["z-older", "k00", "k01", "k02", "k03", "k04", "k05", "k06", "k07", "k05x"]);
  assert.deepEqual([...all].sort(), [...b.objs.keys()].sort());
  assert.equal(all.at(-1), "a-newer");
});

test("late arrival with an older LastModified inside the look-back window is emitted; older than it is not", async () => {
  const b = new FakeBucket();
  const t = newFileTrigger(b.client(), { bucket: "bk", lookbackMs: 60_000 });
  let { state } = await t.poll();
  b.now += 120_000;
  b.put("now");
  ({ state } = await t.poll(state));
  b.put("multipart-started-50s-ago", { lm: b.now - 50_000 });
  b.put("multipart-started-70s-ago", { lm: b.now - 70_000 });
  const r = await t.poll(state);
  assert.deepEqual(keys(r.events), ["multipart-started-50s-ago"]);
  assert.deepEqual((await t.poll(r.state)).events, []);
});

test("overwrites: new ETag or newer LastModified is emitted again as an update", async () => {
  const b = new FakeBucket();
  const t = newFileTrigger(b.client(), { bucket: "bk" });
  let { state } = await t.poll();
  b.put("f", { etag: "same" });
  let r = await t.poll(state);
  assert.equal(r.events[0].isUpdate, false);
  assert.deepEqual((await t.poll(r.state)).events, [], "unchanged object is not emitted twice");
  b.put("f", { etag: "other" }); // same second, new content
  r = await t.poll(r.state);
  assert.deepEqual(r.events.map((e) => [e.key, e.etag, e.isUpdate]), [["f", "other", true]]);
  b.now += 1000;
  b.put("f", { etag: "other" }); // same content re-uploaded: newer LastModified
  r = await t.poll(r.state);
  assert.deepEqual(r.events.map((e) => [e.key, e.etag, e.isUpdate]), [["f", "other", true]]);
  b.del("f");
  b.now += 1000;
  b.put("f", { etag: "other" }); // deleted and re-created
  assert.equal((await t.poll(r.state)).events[0].isUpdate, true);
});

test("state only reflects returned events; a crash before persisting re-delivers the same events", async () => {
  const b = new FakeBucket();
  const t = newFileTrigger(b.client(), { bucket: "bk", batchSize: 2 });
  const s0 = rt((await t.poll()).state);
  for (const k of ["c", "a", "b"]) b.put(k);
  const r1 = await t.poll(s0);
  assert.deepEqual(keys(r1.events), ["a", "b"]);
  assert.equal(r1.hasMore, true);
  const again = await t.poll(s0); // crashed: state r1.state never persisted
  assert.deepEqual(again, r1);
  const r2 = await t.poll(rt(r1.state));
  assert.deepEqual(keys(r2.events), ["c"]);
  assert.equal(r2.hasMore, false);
  assert.deepEqual(rt(r2.state), r2.state, "plain JSON");
  assert.equal(r2.state.version, 1);
});

test("state stays bounded: window pruning and the maxSeen cap (no duplicates, no in-order loss)", async () => {
  const b = new FakeBucket();
  const t = newFileTrigger(b.client(), { bucket: "bk", batchSize: 7, maxSeen: 10, lookbackMs: 5000 });
  let { state } = await t.poll();
  const got: string[] = [];
  for (let i = 0; i < 300; i++) {
    if (i % 3 === 0) b.now += 1000;
    b.put(`k${i}`);
    const r = await t.poll(state);
    got.push(...keys(r.events));
    state = rt(r.state);
    assert.ok(state.seen.length <= 10);
  }
  const drain = async (into: string[]) => {
    for (let r = await t.poll(state), n = 0; r.events.length; r = await t.poll(state), n++) {
      assert.ok(n < 100, "drain terminates");
      into.push(...keys(r.events)), (state = rt(r.state));
    }
  };
  await drain(got);
  assert.equal(got.length, 300);
  assert.equal(new Set(got).size, 300);
  // 50 objects in one second with maxSeen 10: the floor moves inside the second, nothing repeats
  const burst: string[] = [];
  for (let i = 0; i < 50; i++) b.put(`burst${String(i).padStart(2, "0")}`);
  await drain(burst);
  assert.equal(burst.length, 50);
  assert.equal(new Set(burst).size, 50);
  assert.ok(state.seen.length <= 10);
  // 200 keys in the window but pruning by lookback keeps only the recent ones
  b.now += 60_000;
  b.put("later");
  const r = await t.poll(state);
  assert.deepEqual(keys(r.events), ["later"]);
  assert.equal(r.state.seen.length, 1);
});

test("a listing whose truncated pages repeat their token is an error, not an endless poll", async () => {
  let calls = 0;
  const page = (): ListObjectsV2Result => ({
    name: "bk", contents: [], commonPrefixes: [], isTruncated: true, nextContinuationToken: "same", keyCount: 0, date: new Date(),
  });
  const client = { listObjectsV2: async () => (calls++ > 50 ? assert.fail("kept listing") : page()) };
  await assert.rejects(newFileTrigger(client, { bucket: "bk" }).poll(), (e: any) => e instanceof S3Error && e.code == "InvalidResponse" && /repeats its token/.test(e.message));
  assert.equal(calls, 2);
});

test("bad options and bad state are InputErrors that name the field", async () => {
  const c = new FakeBucket().client();
  const field = (f: () => unknown, name: string) =>
    assert.throws(f, (e: any) => e instanceof InputError && e.field === name && e.message.includes(name));
  field(() => newFileTrigger(c, { bucket: "" }), "bucket");
  field(() => newFileTrigger(c, { bucket: "b", batchSize: 0 }), "batchSize");
  field(() => newFileTrigger(c, { bucket: "b", minAgeMs: -1 }), "minAgeMs");
  field(() => newFileTrigger(c, { bucket: "b", lookbackMs: NaN }), "lookbackMs");
  field(() => newFileTrigger(c, { bucket: "b", maxSeen: 0 }), "maxSeen");
  field(() => newFileTrigger(c, { bucket: "b", since: new Date("nope") }), "since");
  const t = newFileTrigger(c, { bucket: "b", folder: "in" });
  const good = (await t.poll()).state;
  const bads: unknown[] = [
    "x", 42, [], { ...good, version: 2 }, { ...good, floor: 5 }, { ...good, seen: {} }, { ...good, seen: [["k", 1]] },
    { ...good, seen: [["k"]] }, { ...good, source: "other/in/" }, (await newFileTrigger(c, { bucket: "b", folder: "out" }).poll()).state,
  ];
  for (const s of bads) await assert.rejects(t.poll(s as any), (e: any) => e instanceof InputError && e.field === "state", JSON.stringify(s));
  await t.poll(rt(good));
});

// ---------------------------------------------------------------------------------------------
// watch()

test("watch: onState after the consumer pulled the last event of a batch, before the next poll; break stops", async () => {
  const b = new FakeBucket();
  const log: string[] = [];
  const c = b.client();
  const client = { listObjectsV2: (p: any) => (log.push("list"), c.listObjectsV2(p)) };
  for (const k of ["a", "b", "c"]) b.put(k, { lm: T0 - 1000 });
  const t = newFileTrigger(client, { bucket: "bk", batchSize: 2, since: new Date(T0 - 5000) });
  const states: TriggerState[] = [];
  const t0 = Date.now();
  for await (const e of t.watch({ intervalMs: 60_000, onState: async (s) => { await new Promise((r) => setTimeout(r, 5)); log.push("state"); states.push(s); } })) {
    log.push("got " + e.key);
    await new Promise((r) => setTimeout(r, 2));
    log.push("done " + e.key);
    if (e.key === "c" || log.length > 20) break;
  }
  assert.ok(Date.now() - t0 < 1000, "no sleep while hasMore");
  assert.deepEqual(log, ["list", "got a", "done a", "got b", "done b", "state", "list", "got c", "done c"]);
  assert.equal(states.length, 1);
  const after = await newFileTrigger(b.client(), { bucket: "bk", batchSize: 2 }).poll(states[0]);
  assert.deepEqual(keys(after.events), ["c"], "state handed over covers exactly a and b");
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(log.filter((l) => l === "list").length, 2, "no polling after break");
});

test("watch: abort while sleeping or while listing ends the iterator cleanly", async () => {
  const b = new FakeBucket();
  const t = newFileTrigger(b.client(), { bucket: "bk" });
  const ac = new AbortController();
  const got: string[] = [];
  let polls = 0;
  const it = t.watch({ intervalMs: 60_000, signal: ac.signal, onState: () => void polls++ });
  setTimeout(() => ac.abort(), 20);
  const t0 = Date.now();
  for await (const e of it) got.push(e.key);
  assert.ok(Date.now() - t0 < 1000, "did not wait for the interval");
  assert.equal(polls, 1);
  // abort during a hanging list call: the client rejects with signal.reason, watch returns
  const hang = {
    listObjectsV2: (p: any) => new Promise<never>((_, rej) => p.signal.addEventListener("abort", () => rej(p.signal.reason))),
  };
  const ac2 = new AbortController();
  setTimeout(() => ac2.abort(), 10);
  for await (const _ of newFileTrigger(hang, { bucket: "bk" }).watch({ intervalMs: 1, signal: ac2.signal })) assert.fail();
  // aborted mid-batch: the rest of the batch is not yielded and its state is not reported
  const b3 = new FakeBucket();
  for (const k of ["a", "b", "c"]) b3.put(k, { lm: T0 - 1000 });
  const ac3 = new AbortController();
  const seen3: string[] = [];
  let reported = 0;
  for await (const e of newFileTrigger(b3.client(), { bucket: "bk", since: new Date(0) }).watch({ intervalMs: 1, signal: ac3.signal, onState: () => void reported++ })) {
    seen3.push(e.key);
    ac3.abort();
  }
  assert.deepEqual(seen3, ["a"]);
  assert.equal(reported, 0);
});

test("watch: transient errors are retried next interval, permanent ones are thrown", async () => {
  const b = new FakeBucket();
  const errs: unknown[] = [];
  const queue: unknown[] = [new NetworkError("reset", 3), new S3Error("SlowDown", 503, "slow down"), new S3Error("InternalError", 500, "x")];
  b.fail = () => queue.shift();
  b.put("a", { lm: T0 - 1000 });
  const t = newFileTrigger(b.client(), { bucket: "bk", since: new Date(0) });
  const ac = new AbortController();
  for await (const e of t.watch({ intervalMs: 1, signal: ac.signal, onError: (e) => errs.push(e) })) {
    assert.equal(e.key, "a");
    ac.abort();
  }
  assert.equal(errs.length, 3);
  b.fail = () => new S3Error("NoSuchBucket", 404, "The specified bucket does not exist");
  const it = t.watch({ intervalMs: 1, signal: AbortSignal.timeout(2000) }); // a retry loop would end quietly
  await assert.rejects(async () => { for await (const _ of it) assert.fail(); }, (e: any) => e.code === "NoSuchBucket");
  b.fail = () => new S3Error("AccessDenied", 403, "denied");
  await assert.rejects(async () => { for await (const _ of t.watch({ intervalMs: 1, signal: AbortSignal.timeout(2000) })) assert.fail(); }, (e: any) => e.code === "AccessDenied");
  b.fail = undefined;
  await assert.rejects(async () => { for await (const _ of t.watch({ intervalMs: 1, state: { version: 9 } as any })) assert.fail(); }, InputError);
});

// ---------------------------------------------------------------------------------------------
// Model-based randomized test

function prng(seed: number) {
  // mulberry32
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Version { key: string; etag: string; lm: number; reqFloor?: number }
const vid = (v: { key: string; etag: string; lm: number }) => `${v.key}|${v.etag}|${v.lm}`;

async function runModel(seed: number) {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(a: T[]) => a[int(a.length)];
  const b = new FakeBucket();
  b.now = T0 + int(1000);
  b.pageSize = 1 + int(6);
  const lookbackMs = pick([10_000, 30_000, 60_000]);
  const minAgeMs = pick([0, 0, 2000, 5000]);
  const batchSize = 1 + int(5);
  const includeSubfolders = rnd() < 0.3;
  const folder = pick(["", "in", "in/"]);
  const prefix = folder && !folder.endsWith("/") ? folder + "/" : folder;
  const since = rnd() < 0.3 ? new Date(T0 - int(20_000)) : undefined;
  const opts = { bucket: "bk", folder, includeSubfolders, minAgeMs, batchSize, lookbackMs, since };
  const inScope = (k: string) => k.startsWith(prefix) && (includeSubfolders || !k.slice(prefix.length).includes("/"));
  const isFile = (o: Obj) => !(o.key.endsWith("/") && o.size === 0);

  const versions = new Map<string, Version>(); // every version ever uploaded, by vid
  const live = () => [...b.objs.values()];
  const pool = ["a", "b", "c", "d", "e", "f", "g", "h", "in/a", "in/b", "in/c", "in/d", "in/e", "in/f", "in/g", "in/h", "in/i", "in/j",
    "in/sub/x", "in/sub/y", "in/sub/", "in/", "out/z", "in/sub/deep/q", "in/k", "in/l", "in/m", "in/n"];
  const upload = (key: string, lm?: number, etag?: string) => {
    const o = b.put(key, { lm, etag, size: key.endsWith("/") ? int(2) : 1 + int(9) });
    if (!versions.has(vid(o))) versions.set(vid(o), { key, etag: o.etag, lm: o.lm });
  };

  // committed = events whose poll's state was persisted (the consumer's exactly-once stream)
  const committed: FileEvent[] = [];
  const committedIds = new Set<string>();
  const lastCommittedOfKey = new Map<string, number>();
  let state: TriggerState | undefined;
  let committedMax = -Infinity; // newest committed LastModified
  let sinceMs: number | undefined = since && +since; // known after the first poll
  let trigger = newFileTrigger(b.client(), opts);
  const floorNow = () => Math.max(sinceMs ?? -Infinity, committedMax - lookbackMs);

  let polls = 0;
  const poll = async (crash: boolean, race: boolean) => {
    polls++;
    // A version's guarantee is fixed by the floor when the first poll after its upload starts.
    for (const o of live()) {
      const v = versions.get(vid(o))!;
      if (v.reqFloor === undefined && sinceMs !== undefined) v.reqFloor = floorNow();
    }
    const dateMs = sec(b.now);
    let raced = 0;
    if (race) b.onPage = () => rnd() < 0.3 && (raced++, upload(pick(pool), rnd() < 0.5 ? b.now - int(lookbackMs / 2) : undefined));
    const before = JSON.stringify(state);
    const r = await trigger.poll(state === undefined ? undefined : rt(state));
    b.onPage = undefined;
    assert.equal(JSON.stringify(state), before, "poll must not mutate its input state");
    if (sinceMs === undefined && !crash) {
      sinceMs = dateMs;
      for (const o of live()) versions.get(vid(o))!.reqFloor ??= sinceMs; // uploaded before the first poll
    }
    // ordering, minAge, batch size, scope
    assert.ok(r.events.length <= batchSize);
    if (r.events.length < batchSize) assert.equal(r.hasMore, false);
    for (let i = 0; i < r.events.length; i++) {
      const e = r.events[i], p = r.events[i - 1];
      if (p) assert.ok(+p.lastModified < +e.lastModified || (+p.lastModified === +e.lastModified && p.key < e.key), "order");
      assert.ok(+e.lastModified <= dateMs - minAgeMs, "minAge by server time");
      assert.ok(inScope(e.key), "scope " + e.key);
      assert.ok(!(e.key.endsWith("/") && e.size === 0), "placeholder");
      assert.ok(versions.has(vid({ key: e.key, etag: e.etag, lm: +e.lastModified })));
      assert.equal(e.name, e.key.split("/").at(-1));
    }
    // bounded state: only entries inside the window of the newest emitted LastModified
    const s = r.state;
    assert.ok(s.seen.length <= 5000);
    const json = JSON.stringify(s);
    assert.deepEqual(JSON.parse(json), s);
    if (crash) {
      // crash before persisting: replaying from the persisted state gives the same answer when
      // nothing changed in between
      if (!raced && rnd() < 0.5) assert.deepEqual(rt(await trigger.poll(state && rt(state))), rt(r), "replay after crash");
      return r;
    }
    const floorStart = floorNow();
    for (const e of r.events) {
      const id = vid({ key: e.key, etag: e.etag, lm: +e.lastModified });
      assert.ok(!committedIds.has(id), "duplicate " + id);
      const prev = lastCommittedOfKey.get(e.key);
      assert.equal(e.isUpdate, prev !== undefined && prev >= floorStart, "isUpdate iff the key was emitted inside the window");
      committedIds.add(id), committed.push(e), lastCommittedOfKey.set(e.key, +e.lastModified);
      committedMax = Math.max(committedMax, +e.lastModified);
    }
    for (const [at] of s.seen) assert.ok(at > s.floor && Date.parse(at.slice(0, 24)) >= committedMax - lookbackMs, "pruned");
    state = rt(s);
    return r;
  };

  const steps = 30 + int(50);
  for (let step = 0; step < steps; step++) {
    const x = rnd();
    if (x < 0.25) b.now += int(3000);
    else if (x < 0.4) upload(pick(pool));
    else if (x < 0.5) for (let n = 1 + int(8); n > 0; n--) upload(pick(pool)); // same-second burst
    else if (x < 0.58) upload(pick(pool), b.now - int(lookbackMs)); // late arrival (multipart start time)
    else if (x < 0.63) { const o = live().length && pick(live()); if (o) upload(o.key, undefined, o.etag); } // same content again
    else if (x < 0.68) { const o = live().length && pick(live()); if (o) b.del(o.key); }
    else if (x < 0.72) trigger = newFileTrigger(b.client(), opts); // restart: new instance, persisted state
    else {
      const crash = rnd() < 0.15;
      let r = await poll(crash, rnd() < 0.2);
      while (!crash && r.hasMore && rnd() < 0.7) r = await poll(rnd() < 0.1, false);
    }
  }
  // drain: no more writes, let minAge pass
  b.now += minAgeMs + 1000;
  for (let i = 0; ; i++) {
    const r = await poll(false, false);
    if (!r.hasMore && !r.events.length) break;
    assert.ok(i < 100, "drain terminates");
  }
  // every live version that the documented guarantee covers was emitted exactly once
  let required = 0;
  for (const o of live()) {
    const v = versions.get(vid(o))!;
    if (!inScope(o.key) || !isFile(o) || v.reqFloor === undefined) continue;
    if (v.lm >= v.reqFloor) {
      required++;
      assert.ok(committedIds.has(vid(v)), `missed ${vid(v)} (reqFloor ${v.reqFloor - T0})`);
    }
  }
  return { events: committed.length, required, polls };
}

test("model: thousands of random interleavings, no miss, no duplicate", async (t) => {
  let events = 0, required = 0, polls = 0;
  const n = Number(process.env.TRIGGER_SEEDS ?? 300);
  for (let seed = 1; seed <= n; seed++) {
    try {
      const r = await runModel(seed);
      events += r.events, required += r.required, polls += r.polls;
    } catch (e) {
      (e as Error).message = `seed ${seed}: ${(e as Error).message}`;
      throw e;
    }
  }
  t.diagnostic(`${n} seeds, ${polls} polls, ${events} events, ${required} required versions`);
  assert.ok(required > n * 3, `the model exercises enough (${required} required versions)`);
  assert.ok(events >= required);
});
