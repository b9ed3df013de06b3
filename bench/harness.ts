// Benchmark harness: every contender runs in ONE process, in interleaved rounds (each round gives
// every contender the same time slice, in a rotating order), so CPU frequency drift, JIT state and
// background noise hit all contenders alike instead of whichever ran last. Reports the median rate
// per contender and the ratio of s3-edge against each competitor of the same case.
import { fork, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";

export const SUBJECT = "s3-edge";

export interface Contender {
  name: string;
  /** One operation. May return a promise (awaited) or a plain value (sync contenders are not awaited). */
  run?: () => unknown;
  /**
   * Instead of run: imports and checks the contender, then gives its operation. With isolate it is
   * called only in the contender's own process, so no process holds another library's modules.
   */
  load?: () => Promise<() => unknown>;
}

export interface Case {
  /** e.g. "header-auth GET" */
  name: string;
  contenders: Contender[];
  /** Minimum speed-up of s3-edge over a named competitor (ratio of rates); printed as ✓/✗. */
  targets?: Record<string, number>;
}

export interface BenchOptions {
  rounds?: number; // interleaved rounds (default 15)
  sliceMs?: number; // time per contender per round (default 150)
  warmupMs?: number; // per contender, before the rounds (default 300)
  /** "op": report ops/s first; "page": report ms/op first (one op = one page). */
  unit?: "op" | "page";
  meta?: Record<string, unknown>;
  /**
   * Each contender in a process of its own (this same script, forked), still driven in interleaved
   * rounds from here. For contenders that allocate megabytes per op: in one shared heap, the garbage
   * one contender leaves is collected during the next one's slice, which charges the fastest
   * contender for the others' GC (measured on the list bench: s3-edge 8.2 ms/page alone, 12.2
   * beside the other two; the aws-sdk 51.4 alone, 55.2 beside).
   */
  isolate?: boolean;
}

export interface ContenderResult {
  name: string;
  opsPerSec: number; // median over rounds
  msPerOp: number; // 1000 / opsPerSec
  spreadPct: number; // (p75 - p25) / median of the per-round rates, in %
  rounds: number[]; // per-round ops/s
}

export interface CaseResult {
  name: string;
  contenders: ContenderResult[];
  /** s3-edge median rate / competitor median rate (> 1: s3-edge is faster). */
  ratios: Record<string, number>;
  /** Median over rounds of the same-round ratio: steadier than `ratios` when the machine is noisy. */
  pairedRatios: Record<string, number>;
  targets: { vs: string; min: number; ratio: number; met: boolean }[];
}

// gc() between slices only when asked (BENCH_GC=1 with --expose-gc): forced full GCs make V8 flush
// the bytecode of functions that haven't run lately, so every contender would start each slice
// cold; measured here that tripled the per-op cost of @smithy/signature-v4 and aws4.
const gc: (() => void) | undefined = process.env.BENCH_GC == "1" ? (globalThis as { gc?: () => void }).gc : undefined;
const now = () => performance.now();

interface Slot {
  c: Contender;
  run: () => unknown;
  async: boolean;
  batch: number;
  rates: number[];
  child?: ChildProcess;
}

// A contender ready to time: loaded, and run once, which also tells sync from async (so sync
// contenders such as aws4 aren't charged an await per op).
async function slotOf(c: Contender): Promise<Slot> {
  const run = c.load ? await c.load() : c.run!,
    first = run(),
    async = first instanceof Promise;
  if (async) await first;
  return { c, run, async, batch: 1, rates: [] };
}

// In a forked child (isolate): the parent names the contender and asks for warmups and slices.
const CHILD = process.env.BENCH_ISOLATED_CONTENDER;
const ask = (p: ChildProcess, m: object) =>
  new Promise<number>((ok, no) => {
    p.once("message", (r: any) => (r?.error ? no(new Error(r.error)) : ok(r.value)));
    p.send(m);
  });

// One slice's rate, here or in the contender's own process (which then runs this same function).
const timed = (s: Slot, ms: number): Promise<number> => (s.child ? ask(s.child, { ms }) : (gc?.(), slice(s, ms)));

async function once(s: Slot): Promise<void> {
  const r = s.run();
  if (s.async) await r;
}

// Runs the contender in batches until `ms` elapsed; returns ops/s. Reading the clock per batch
// rather than per op keeps timer overhead out of fast contenders.
async function slice(s: Slot, ms: number): Promise<number> {
  const { run, batch } = s;
  let n = 0,
    t = 0;
  const t0 = now();
  if (s.async) {
    do {
      for (let i = 0; i < batch; i++) await run();
      n += batch;
      t = now() - t0;
    } while (t < ms);
  } else {
    do {
      for (let i = 0; i < batch; i++) run();
      n += batch;
      t = now() - t0;
    } while (t < ms);
  }
  return (n / t) * 1000;
}

function quantile(sorted: number[], q: number): number {
  const p = (sorted.length - 1) * q,
    lo = Math.floor(p),
    hi = Math.ceil(p);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (p - lo);
}

function fmtRate(x: number): string {
  return x >= 100 ? Math.round(x).toLocaleString("en-US") : x.toFixed(x >= 10 ? 1 : 2);
}

function table(rows: string[][]): string {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows
    .map(
      (r, ri) =>
        r.map((c, i) => (i == 0 || i == 1 ? c.padEnd(w[i]) : c.padStart(w[i]))).join("  ") +
        (ri == 0 ? "\n" + w.map((n) => "-".repeat(n)).join("  ") : ""),
    )
    .join("\n");
}

export async function runBench(name: string, cases: Case[], o: BenchOptions = {}): Promise<CaseResult[]> {
  const rounds = o.rounds ?? 15,
    sliceMs = o.sliceMs ?? 150,
    warmupMs = o.warmupMs ?? 300,
    unit = o.unit ?? "op";
  const slots: Slot[] = [];
  const byCase = new Map<Case, Slot[]>();
  const warm = async (s: Slot) => {
    const t0 = now();
    let n = 0;
    while (now() - t0 < warmupMs) {
      await once(s);
      n++;
    }
    s.batch = Math.max(1, Math.round(n / warmupMs));
  };
  if (CHILD) {
    const [k, c] = JSON.parse(CHILD),
      x = cases.find((y) => y.name == k)?.contenders.find((y) => y.name == c);
    if (!x) throw new Error(`isolated contender ${JSON.stringify(CHILD)} not found`);
    const s = await slotOf(x);
    process.on("message", async (m: any) => {
      try {
        if (m.exit) process.exit(0);
        if (m.warm) await warm(s);
        process.send!({ value: m.warm ? 0 : await timed(s, m.ms) });
      } catch (e) {
        process.send!({ error: String((e as Error)?.stack ?? e) });
      }
    });
    return new Promise<never>(() => {});
  }
  for (const k of cases) {
    const list: Slot[] = [];
    for (const c of k.contenders) {
      // Isolated: this script again, which loads and runs only this contender (its run is there).
      const child = o.isolate
        ? fork(process.argv[1], process.argv.slice(2), {
            execArgv: process.execArgv,
            stdio: ["ignore", "inherit", "inherit", "ipc"],
            env: { ...process.env, BENCH_ISOLATED_CONTENDER: JSON.stringify([k.name, c.name]) },
          })
        : undefined;
      const s: Slot = child ? { c, run: () => {}, async: true, batch: 1, rates: [], child } : await slotOf(c);
      list.push(s);
      slots.push(s);
    }
    byCase.set(k, list);
  }

  process.stdout.write(
    `\n# ${name}: ${rounds} interleaved rounds × ${sliceMs} ms per contender (warmup ${warmupMs} ms each)` +
      `${gc ? ", gc() between slices" : ""}${o.isolate ? ", one process per contender" : ""}\n`,
  );
  const started = now();
  // Warmup also calibrates the batch size to ~1 ms of work.
  for (const s of slots) s.child ? await ask(s.child, { warm: 1 }) : await warm(s);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < slots.length; i++) {
      const s = slots[(i + r) % slots.length];
      s.rates.push(await timed(s, sliceMs));
    }
    process.stdout.write(r == rounds - 1 ? ` done in ${((now() - started) / 1000).toFixed(1)} s\n` : ".");
  }

  for (const s of slots) s.child?.send({ exit: 1 });
  const results: CaseResult[] = [];
  for (const k of cases) {
    const contenders = byCase.get(k)!.map((s): ContenderResult => {
      const sorted = [...s.rates].sort((a, b) => a - b);
      const med = quantile(sorted, 0.5);
      return {
        name: s.c.name,
        opsPerSec: med,
        msPerOp: 1000 / med,
        spreadPct: ((quantile(sorted, 0.75) - quantile(sorted, 0.25)) / med) * 100,
        rounds: s.rates,
      };
    });
    const me = contenders.find((c) => c.name == SUBJECT);
    const ratios: Record<string, number> = {},
      pairedRatios: Record<string, number> = {};
    if (me)
      for (const c of contenders)
        if (c !== me) {
          ratios[c.name] = me.opsPerSec / c.opsPerSec;
          pairedRatios[c.name] = quantile(
            me.rounds.map((x, i) => x / c.rounds[i]).sort((a, b) => a - b),
            0.5,
          );
        }
    const targets = !me
      ? []
      : Object.entries(k.targets ?? {}).map(([vs, min]) => ({ vs, min, ratio: ratios[vs], met: ratios[vs] >= min }));
    results.push({ name: k.name, contenders, ratios, pairedRatios, targets });

    const head =
      unit == "page"
        ? ["case", "contender", "ms/page", "pages/s", "±IQR", "s3-edge is", "(paired)"]
        : ["case", "contender", "ops/s", "µs/op", "±IQR", "s3-edge is", "(paired)"];
    const rows = [head];
    for (const c of contenders) {
      const ratio = c === me ? "—" : me ? `${ratios[c.name].toFixed(2)}× faster` : "";
      const paired = c === me || !me ? "" : `${pairedRatios[c.name].toFixed(2)}×`;
      const a = unit == "page" ? c.msPerOp.toFixed(3) : fmtRate(c.opsPerSec);
      const b = unit == "page" ? fmtRate(c.opsPerSec) : (c.msPerOp * 1000).toFixed(2);
      rows.push([k.name, c.name, a, b, `${c.spreadPct.toFixed(1)}%`, ratio, paired]);
    }
    console.log("\n" + table(rows));
    for (const t of targets)
      console.log(
        `  target: s3-edge ≥ ${t.min}× ${t.vs}: ${t.ratio.toFixed(2)}× (paired ${pairedRatios[t.vs].toFixed(2)}×) ${t.met ? "✓" : "✗ NOT MET"}`,
      );
  }

  const dir = new URL("./results/", import.meta.url);
  mkdirSync(dir, { recursive: true });
  const file = new URL(`${name}.json`, dir);
  writeFileSync(
    file,
    JSON.stringify(
      {
        name,
        date: new Date().toISOString(),
        node: process.version,
        platform: `${process.platform}-${process.arch}`,
        cpu: cpus()[0]?.model,
        cores: cpus().length,
        rounds,
        sliceMs,
        warmupMs,
        gcBetweenSlices: !!gc,
        ...o.meta,
        cases: results,
      },
      null,
      2,
    ) + "\n",
  );
  console.log(`\nJSON: bench/results/${name}.json`);
  return results;
}

/** Throws with a readable message when a contender's one-off output isn't what it should be. */
export function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(`bench validation failed: ${what}`);
}
