// The one scenario every bundled runtime row runs (workerd, edge-runtime, Node 18, Node 20): the
// library as users get it (esbuild bundle of src/index.ts, platform neutral) against a real S3
// server (Ceph RGW on loopback). Web APIs only: this file is bundled, never run by tsx.
// Each check records pass/fail with the reason; the runner requires every name in CHECKS to pass,
// so a check that is skipped or never reached fails the row.
import { S3Client, S3Error, SigV4Signer, downloadFile, newFileTrigger } from "../../src/index.ts";

export interface ScenarioEnv {
  S3_ENDPOINT: string;
  S3_REGION: string;
  S3_ACCESS_KEY_ID: string;
  S3_SECRET_ACCESS_KEY: string;
  /** A fresh bucket name for this run. */
  S3_BUCKET: string;
}
export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  ms: number;
}
export interface Report {
  crypto: string;
  subtle: string;
  userAgent: string;
  checks: Check[];
}

export const CHECKS = [
  "signer: AWS S3 doc vector (GET /test.txt with Range)",
  "createBucket",
  "putObject x7 (incl. 300 KB binary, UTF-8 keys)",
  "sign + fetch: GET object with the raw signer",
  "presign: presignGetObject URL fetched with plain fetch",
  "presign: SigV4Signer.presign URL fetched with plain fetch",
  "listObjectsV2: 4 pages of maxKeys 2, keys exact and in order",
  "listAll with delimiter: direct children of in/",
  "getObject: byte-exact, etag/size/contentType/metadata",
  "getObject ranged: bytes=1000-1999",
  "getObject missing key: S3Error NoSuchKey",
  "trigger: first poll (since before uploads) emits every new file once",
  "trigger: second poll (JSON round-tripped state) emits nothing",
  "downloadFile: byte-exact, size/etag, progress up to total",
];

// Deterministic bytes (no crypto.getRandomValues: Node 18 has no crypto global).
function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 255;
  }
  return b;
}
const eq = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);
async function readAll(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [],
    r = s.getReader();
  let n = 0;
  for (let x; !(x = await r.read()).done;) (parts.push(x.value), (n += x.value.length));
  const out = new Uint8Array(n);
  n = 0;
  for (const p of parts) (out.set(p, n), (n += p.length));
  return out;
}
function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}
const js = JSON.stringify;

export async function scenario(env: ScenarioEnv): Promise<Report> {
  const g = globalThis as { crypto?: Crypto; navigator?: { userAgent?: string } };
  const report: Report = {
    crypto: typeof g.crypto,
    subtle: typeof g.crypto?.subtle,
    userAgent: g.navigator?.userAgent ?? "",
    checks: [],
  };
  const check = async (name: string, fn: () => Promise<string | void>) => {
    const t = Date.now();
    try {
      report.checks.push({ name, ok: true, detail: (await fn()) || "", ms: Date.now() - t });
    } catch (e) {
      const err = e as Error;
      report.checks.push({
        name,
        ok: false,
        detail: `${err?.name}: ${err?.message}\n${err?.stack ?? ""}`.slice(0, 1500),
        ms: Date.now() - t,
      });
    }
  };
  const creds = { accessKeyId: env.S3_ACCESS_KEY_ID, secretAccessKey: env.S3_SECRET_ACCESS_KEY };
  const region = env.S3_REGION,
    endpoint = env.S3_ENDPOINT.replace(/\/+$/, ""),
    bucket = env.S3_BUCKET;
  const client = new S3Client({
    endpoint,
    region,
    credentials: creds,
    forcePathStyle: true,
    maxAttempts: 2,
    timeoutMs: 20000,
  });
  const signer = new SigV4Signer({ ...creds, region, service: "s3" });

  await check(CHECKS[0], async () => {
    // https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html (GET Object example)
    const s = await new SigV4Signer({
      accessKeyId: "AKIAIOSFODNN7EXAMPLE",
      secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
      region: "us-east-1",
      service: "s3",
    }).sign(
      { method: "GET", url: "https://examplebucket.s3.amazonaws.com/test.txt", headers: { range: "bytes=0-9" } },
      { date: new Date("2013-05-24T00:00:00Z") },
    );
    assert(
      s.signature === "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
      `signature ${s.signature}`,
    );
  });

  await check(CHECKS[1], async () => {
    await client.createBucket({ bucket });
  });

  // The trigger's `since`: server time (Date header, whole seconds) before any upload, minus a second
  // so an object stamped in the same second is never below it.
  let since = new Date(Date.now() - 5000);
  try {
    const d = (await client.listObjectsV2({ bucket })).date;
    if (d) since = new Date(d.getTime() - 1000);
  } catch {}

  const big = bytes(300_000, 7);
  const files: Record<string, string | Uint8Array> = {
    "in/a.txt": "alpha",
    "in/b c.txt": "bravo with space",
    "in/ünïcödé-ключ.txt": "unicode key",
    "in/big.bin": big,
    "in/z+plus&amp.txt": "zulu",
    "in/sub/deep.txt": "not a direct child",
    "other.txt": "outside the folder",
  };
  const keys = Object.keys(files);
  const put: Record<string, string> = {};
  await check(CHECKS[2], async () => {
    for (const k of keys) {
      const meta = k === "in/big.bin" ? { contentType: "application/x-test", metadata: { run: "matrix" } } : {};
      put[k] = (await client.putObject({ bucket, key: k, body: files[k], ...meta })).etag;
      assert(/^[0-9a-f]{32}$/.test(put[k]), `etag of ${k}: ${js(put[k])} (expected unquoted hex MD5)`);
    }
  });

  const objUrl = (k: string) => `${endpoint}/${bucket}/${k.split("/").map(encodeURIComponent).join("/")}`;
  await check(CHECKS[3], async () => {
    const s = await signer.sign({ method: "GET", url: objUrl("in/b c.txt") });
    const { host, ...headers } = s.headers;
    const r = await fetch(s.url, { headers });
    const t = await r.text();
    assert(r.status === 200 && t === files["in/b c.txt"], `status ${r.status}: ${t.slice(0, 300)}`);
  });

  await check(CHECKS[4], async () => {
    const url = await client.presignGetObject({ bucket, key: "in/ünïcödé-ключ.txt", expiresIn: 300 });
    assert(/X-Amz-Signature=[0-9a-f]{64}/.test(url), `no signature in ${url}`);
    const r = await fetch(url);
    const t = await r.text();
    assert(r.status === 200 && t === files["in/ünïcödé-ключ.txt"], `status ${r.status}: ${t.slice(0, 300)}`);
    // The URL must not work once tampered with: proves the server checked the signature.
    const bad = await fetch(url.replace(/X-Amz-Signature=./, (m) => m.slice(0, -1) + (m.endsWith("0") ? "1" : "0")));
    await bad.body?.cancel();
    assert(bad.status === 403, `tampered presigned URL answered ${bad.status}, expected 403`);
  });

  await check(CHECKS[5], async () => {
    const s = await signer.presign({ method: "GET", url: objUrl("in/big.bin") }, { expiresIn: 60 });
    const r = await fetch(s.url);
    const b = new Uint8Array(await r.arrayBuffer());
    assert(r.status === 200 && eq(b, big), `status ${r.status}, ${b.length} bytes`);
  });

  const want = keys.slice().sort((a, b) => (a < b ? -1 : 1)); // S3 lists in UTF-8 byte order; these keys sort the same in UTF-16
  await check(CHECKS[6], async () => {
    const got: string[] = [];
    let tok: string | undefined,
      pages = 0;
    do {
      const r = await client.listObjectsV2({ bucket, maxKeys: 2, continuationToken: tok });
      pages++;
      assert(
        r.contents.length <= 2 && r.keyCount === r.contents.length,
        `page ${pages}: ${r.contents.length} objects, keyCount ${r.keyCount}`,
      );
      for (const o of r.contents) {
        got.push(o.key);
        const f = files[o.key];
        const size = typeof f === "string" ? new TextEncoder().encode(f).length : f?.length;
        assert(
          o.size === size && o.etag === put[o.key] && o.lastModified instanceof Date && !isNaN(+o.lastModified),
          `object ${js(o)}`,
        );
      }
      tok = r.isTruncated ? r.nextContinuationToken : undefined;
      assert(!r.isTruncated || tok, "truncated page without NextContinuationToken");
    } while (tok && pages < 20);
    assert(js(got) === js(want), `keys ${js(got)}, expected ${js(want)}`);
    assert(pages === 4, `${pages} pages for ${got.length} keys at maxKeys 2`);
  });

  const direct = want.filter((k) => /^in\/[^/]+$/.test(k));
  await check(CHECKS[7], async () => {
    const got: string[] = [];
    for await (const o of client.listAll({ bucket, prefix: "in/", delimiter: "/", maxKeys: 2 })) got.push(o.key);
    assert(js(got) === js(direct), `keys ${js(got)}, expected ${js(direct)}`);
  });

  await check(CHECKS[8], async () => {
    const r = await client.getObject({ bucket, key: "in/big.bin" });
    const b = await readAll(r.body);
    assert(eq(b, big), `body differs (${b.length} bytes)`);
    assert(
      r.status === 200 && r.size === big.length && r.contentLength === big.length,
      `status ${r.status} size ${r.size} contentLength ${r.contentLength}`,
    );
    assert(r.etag === put["in/big.bin"], `etag ${r.etag}, put said ${put["in/big.bin"]}`);
    assert(
      r.contentType === "application/x-test" && r.metadata.run === "matrix",
      `contentType ${r.contentType}, metadata ${js(r.metadata)}`,
    );
  });

  await check(CHECKS[9], async () => {
    const r = await client.getObject({ bucket, key: "in/big.bin", range: "bytes=1000-1999" });
    const b = await readAll(r.body);
    assert(r.status === 206 && eq(b, big.subarray(1000, 2000)), `status ${r.status}, ${b.length} bytes`);
    assert(
      r.size === big.length && r.contentRange?.start === 1000 && r.contentRange.end === 1999,
      `size ${r.size}, contentRange ${js(r.contentRange)}`,
    );
  });

  await check(CHECKS[10], async () => {
    try {
      await client.getObject({ bucket, key: "in/missing.txt" });
    } catch (e) {
      assert(
        e instanceof S3Error && e.code === "NoSuchKey" && e.status === 404,
        `got ${(e as Error)?.name} ${(e as S3Error)?.code}: ${(e as Error)?.message}`,
      );
      assert(!String(e.message).includes(creds.secretAccessKey), "secret key in the error message");
      return;
    }
    throw new Error("getObject of a missing key resolved");
  });

  // The trigger holds back objects newer than the server time of its listing (the Date header, whole
  // seconds): let the clock pass the last upload's second so the first poll sees every file.
  await new Promise((r) => setTimeout(r, 1500));
  const trigger = newFileTrigger(client, { bucket, folder: "in", since });
  let state: unknown;
  await check(CHECKS[11], async () => {
    const r = await trigger.poll();
    const got = r.events.map((e) => e.key).sort();
    assert(js(got) === js(direct), `events ${js(got)}, expected ${js(direct)} (since ${since.toISOString()})`);
    const e = r.events.find((x) => x.key === "in/big.bin")!;
    assert(
      e.bucket === bucket &&
        e.name === "big.bin" &&
        e.size === big.length &&
        e.etag === put["in/big.bin"] &&
        e.lastModified instanceof Date,
      `event ${js(e)}`,
    );
    assert(!r.hasMore, "hasMore after a complete poll");
    state = JSON.parse(JSON.stringify(r.state));
  });

  await check(CHECKS[12], async () => {
    assert(state, "no state from the first poll");
    const r = await trigger.poll(state as any);
    assert(r.events.length === 0 && !r.hasMore, `second poll: ${js(r.events.map((e) => e.key))}, hasMore ${r.hasMore}`);
  });

  await check(CHECKS[13], async () => {
    let last = { loaded: -1, total: -1 };
    const d = await downloadFile(client, { bucket, key: "in/big.bin", onProgress: (p) => (last = p) });
    assert(
      d.size === big.length && d.etag === put["in/big.bin"] && d.lastModified instanceof Date,
      `size ${d.size}, etag ${d.etag}`,
    );
    const b = await readAll(d.body);
    assert(eq(b, big), `body differs (${b.length} bytes)`);
    assert(last.loaded === big.length && last.total === big.length, `last progress ${js(last)}`);
  });

  return report;
}
