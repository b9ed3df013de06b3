// S3 client: endpoint + addressing, credentials, and ONE signed-fetch path (send) shared by every
// operation: sign -> fetch -> status check -> S3 error XML -> S3Error, with retries, per-attempt
// timeouts, caller abort and clock-skew correction.
import { SigV4Signer, encodePath, encodeRfc3986, type Credentials, type SignedRequest } from "./sigv4.ts";
import { parseXml, childText, type XmlElement } from "./xml.ts";
import { InputError, S3Error, NetworkError, TimeoutError, isTransient } from "./errors.ts";
import { anySignal, sleep } from "./abort.ts";

export interface S3ClientOptions {
  /** Default "us-east-1"; "auto" for Cloudflare R2. */
  region?: string;
  /** Default AWS (https://s3.<region>.amazonaws.com); any S3-compatible http(s) URL. */
  endpoint?: string;
  /** Default: virtual-hosted on AWS for DNS-compatible bucket names, path style elsewhere. */
  forcePathStyle?: boolean;
  /** An object, or an async provider called before every request (rotating STS credentials). */
  credentials: Credentials | (() => Promise<Credentials>);
  /** Transport. A function with `rawPath: true` can send "." / ".." key segments unmodified. */
  fetch?: typeof fetch;
  /** Attempts per request, retries included (default 3). */
  maxAttempts?: number;
  /** Per-attempt budget in ms for the response headers (and a buffered body) (default 30000). */
  timeoutMs?: number;
  /** Backoff base in ms: attempt n waits random() * base * 2^(n-1) (default 100). */
  retryBaseMs?: number;
}

export interface S3Object { key: string; lastModified: Date; etag: string; size: number; storageClass?: string; owner?: { id: string; displayName?: string } }

/** Options of every request, sent as x-amz-* headers. */
export interface RequestOptions {
  signal?: AbortSignal;
  /** The request fails (403) unless the bucket belongs to this account id. */
  expectedBucketOwner?: string;
  /** "requester" for Requester Pays buckets. */
  requestPayer?: "requester";
}

/** SSE-C: an object written with your own key needs the same key on every GET and HEAD. */
export interface SseCustomerKey {
  sseCustomerAlgorithm?: "AES256";
  /** base64 of the 256-bit key; a secret: never in messages (redacted in SignatureDoesNotMatch details) */
  sseCustomerKey?: string;
  /** base64 MD5 of the key */
  sseCustomerKeyMD5?: string;
}

export interface ListObjectsV2Params extends RequestOptions {
  bucket: string; prefix?: string; delimiter?: string; continuationToken?: string; startAfter?: string;
  maxKeys?: number; fetchOwner?: boolean; encodingType?: "url";
}

export interface ListObjectsV2Result {
  name: string; prefix?: string; delimiter?: string; startAfter?: string; continuationToken?: string; maxKeys?: number; encodingType?: string;
  contents: S3Object[]; commonPrefixes: string[]; isTruncated: boolean; nextContinuationToken?: string; keyCount: number;
  /** The response Date header: SERVER time. */
  date?: Date;
}

/** ETags are unquoted everywhere. */
export interface ObjectMetadata {
  /** Whole object size (Content-Range total when ranged, else Content-Length). */
  size: number;
  /** Bytes in this response body. */
  contentLength: number;
  etag: string; lastModified: Date; contentType?: string; contentEncoding?: string; cacheControl?: string;
  contentDisposition?: string; contentLanguage?: string; expires?: string; versionId?: string; storageClass?: string;
  contentRange?: { start: number; end: number; size: number };
  /** Base64, as S3 sends them. */
  checksums: { crc32?: string; crc32c?: string; sha1?: string; sha256?: string; crc64nvme?: string };
  checksumType?: string;
  /** x-amz-meta-* with lowercased names, prefix removed. */
  metadata: Record<string, string>;
  date?: Date;
}

export interface GetObjectResult extends ObjectMetadata { body: ReadableStream<Uint8Array>; status: number }

export interface ObjectParams extends RequestOptions, SseCustomerKey {
  bucket: string; key: string; versionId?: string;
  responseContentType?: string; responseContentDisposition?: string; responseContentEncoding?: string;
  responseContentLanguage?: string; responseCacheControl?: string; responseExpires?: string | Date;
}

export interface GetObjectParams extends ObjectParams {
  /** e.g. "bytes=0-99" */
  range?: string;
  /** Quoted or unquoted; "*" allowed. */
  ifMatch?: string; ifNoneMatch?: string; ifModifiedSince?: Date; ifUnmodifiedSince?: Date;
  partNumber?: number; checksumMode?: boolean;
}

export interface PutObjectParams extends RequestOptions, SseCustomerKey {
  bucket: string; key: string; body: string | Uint8Array; contentType?: string; cacheControl?: string;
  contentDisposition?: string; contentEncoding?: string; metadata?: Record<string, string>;
}

type Ctx = { bucket: string; key?: string; signal?: AbortSignal };
type Str = Record<string, string>;

const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
const list = (s: string) => s.split(" ");
/** Parameters named in camelCase -> wire names (kebab-case by default), Dates as HTTP dates. */
const pick = (p: any, ks: string[], f = kebab, o: Str = {}) => {
  for (const k of ks) if (p[k] != null) o[f(k)] = p[k] instanceof Date ? p[k].toUTCString() : "" + p[k];
  return o;
};
// x-amz-* headers from RequestOptions and SseCustomerKey (sseCustomerKeyMD5 -> x-amz-server-side-encryption-customer-key-md5).
const AMZ = list("expectedBucketOwner requestPayer sseCustomerAlgorithm sseCustomerKey sseCustomerKeyMD5");
const amz = (p: any, h?: Str) => pick(p, AMZ, (k) => "x-amz-" + kebab(k.replace("sse", "serverSideEncryption").replace("MD5", "Md5")), h);
const qs = (o: Str) => Object.keys(o).map((k) => k + "=" + encodeRfc3986(o[k])).join("&");
// ETags come quoted ("abc" or W/"abc" is not S3): strip the quotes without a regex, it runs per listed object.
const unq = (s?: string | null) => (s ? (s.charCodeAt(0) == 34 && s.charCodeAt(s.length - 1) == 34 && s.length > 1 ? s.slice(1, -1) : s) : "");
const dt = (s?: string | null) => (s ? new Date(s) : undefined);
// num: the decimal number in s[a, b), NaN unless all digits.
const num = (s: string, a: number, b: number, x = 0, c = 0) => {
  for (; a < b; a++) x = (c = s.charCodeAt(a) - 48) >= 0 && c < 10 ? x * 10 + c : NaN;
  return x;
};
/**
 * A listing's LastModified. S3 writes "2024-05-01T10:00:00.000Z"; read by hand that is several
 * times faster than Date's parser, and the day count by arithmetic (days from 1970 of a proleptic
 * Gregorian date, years counted from March so the leap day falls last) is several times faster
 * than Date.UTC (a page has 1000). Only plainly valid values are read so (day up to 28, so no
 * month overflows); any other form or value goes to Date.
 */
const iso = (s: string) => {
  const y = num(s, 0, 4), mo = num(s, 5, 7), d = num(s, 8, 10), h = num(s, 11, 13), mi = num(s, 14, 16), se = num(s, 17, 19), Y = y - +(mo < 3);
  return s.length == 24 && s[4] == "-" && s[7] == "-" && s[10] == "T" && s[13] == ":" && s[16] == ":" && s[19] == "." && s[23] == "Z" &&
    y > 999 && mo > 0 && mo < 13 && d > 0 && d < 29 && h < 24 && mi < 60 && se < 60
    ? new Date(((Y * 365 + Math.floor(Y / 4) - Math.floor(Y / 100) + Math.floor(Y / 400) + ((153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 | 0) + d - 719469) * 24 + h) * 36e5 + mi * 6e4 + se * 1e3 + num(s, 20, 23))
    : new Date(s);
};
const json = JSON.stringify;
const NO_BODY = new Uint8Array();
const HEADS = list("contentType contentEncoding contentDisposition contentLanguage cacheControl expires");
const RESP = HEADS.map((k) => "response" + k[0].toUpperCase() + k.slice(1));
const EXACT = "Names are exact and case-sensitive (check case, spaces, slashes, Unicode form).";
const HINTS: Str = {
  NoSuchKey: EXACT,
  NoSuchBucket: EXACT,
  NotModified: "If-None-Match / If-Modified-Since: not modified.",
  PreconditionFailed: "If-Match / If-Unmodified-Since failed: the object changed.",
  SignatureDoesNotMatch: "Check the secret key and region.",
};
// Secrets in a canonical request: the session token (a header line or a presign query parameter)
// and an SSE-C key.
const redact = (s?: string) => s?.replace(/(x-amz-(security-token|server-side-encryption-customer-key)[:=])[^\n&]*/gi, "$1<redacted>");
const diff = (a: string, b = "") => {
  const x = a.split("\n"), y = b.split("\n"), o: string[] = [];
  for (let i = 0; i < x.length || i < y.length; i++) x[i] != y[i] && o.push(`  line ${i + 1}: ours ${json(x[i])}, server ${json(y[i])}`);
  return o.join("\n");
};
/** The metadata headers of a GET or HEAD response. */
const meta = (r: Response): ObjectMetadata => {
  const h = r.headers, g = (n: string) => h.get(n) ?? undefined, n = +(g("content-length") ?? 0);
  const cr = /(\d+)-(\d+)\/(\d+)/.exec(g("content-range") ?? "");
  const m: any = { size: cr ? +cr[3] : n, contentLength: n, etag: unq(g("etag")), lastModified: dt(g("last-modified")), metadata: {}, checksums: {}, date: dt(g("date")) };
  if (cr) m.contentRange = { start: +cr[1], end: +cr[2], size: +cr[3] };
  for (const k of HEADS) m[k] = g(kebab(k));
  for (const k of list("versionId storageClass checksumType")) m[k] = g("x-amz-" + kebab(k));
  h.forEach((v, k) => {
    if (k.startsWith("x-amz-meta-")) m.metadata[k.slice(11)] = v;
    else if (/^x-amz-checksum-(?!type$)/.test(k)) m.checksums[k.slice(15)] = v;
  });
  return m;
};

/**
 * Every page of a listing, following continuation tokens; a truncated page that repeats an
 * earlier token or has none is an S3Error, not an endless loop. Shared by listAll and the trigger.
 */
export async function* listPages(c: Pick<S3Client, "listObjectsV2">, p: Omit<ListObjectsV2Params, "continuationToken">): AsyncGenerator<ListObjectsV2Result> {
  const seen = new Set<string>();
  for (let tok: string | undefined; ; ) {
    const r = await c.listObjectsV2({ ...p, continuationToken: tok });
    yield r;
    if (!r.isTruncated) return;
    if (!(tok = r.nextContinuationToken) || seen.has(tok))
      throw new S3Error("InvalidResponse", 200, `listing ${json(p.bucket)}: truncated page ${tok ? "repeats its token" : "has no token"}, stopped instead of looping`, { bucket: p.bucket });
    seen.add(tok);
  }
}

export class S3Client {
  private o: S3ClientOptions;
  private region: string;
  private u!: URL;
  /** Server clock minus local clock, learned from the Date of a RequestTimeTooSkewed (or any far-off) response. */
  private skew = 0;
  private s?: [Credentials, SigV4Signer];

  constructor(options: S3ClientOptions) {
    const o = (this.o = { ...options }), r = (this.region = o.region ?? "us-east-1");
    if (!/^[a-z0-9-]+$/.test(r)) throw new InputError(`region must look like "us-east-1" ("auto" for R2), not ${json(r)}`, "region");
    try {
      this.u = new URL(o.endpoint ?? `https://s3.${r}.amazonaws.com`);
    } catch {}
    if (!/^https?:$/.test(this.u?.protocol)) throw new InputError(`endpoint must be an http(s) URL like "http://127.0.0.1:9000", not ${json(o.endpoint)}`, "endpoint");
  }

  /** The one place a bucket and raw key become a URL (keys only through encodePath). */
  private url(p: Ctx, key?: string, q?: string) {
    const b = p.bucket, u = this.u, fp = this.o.forcePathStyle;
    if (!b) throw new InputError("bucket must be a non-empty string", "bucket");
    if (key != null) {
      if (!key) throw new InputError("key must be a non-empty string", "key");
      if (/(^|\/)\.\.?(\/|$)/.test(key) && !(this.o.fetch as any)?.rawPath)
        throw new InputError(`key ${json(key)} has a "." or ".." segment, which fetch's URL parser collapses (another key!): use nodeFetch from s3-edge/node`, "key");
    }
    // Virtual-hosted on AWS only for DNS-label names (dots break the TLS wildcard certificate).
    const vh = fp == null ? /\.amazonaws\.com$/.test(u.hostname) && /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(b) : !fp;
    return u.protocol + "//" + (vh ? b + "." : "") + u.host + u.pathname.replace(/\/$/, "") + (vh ? "" : "/" + encodeRfc3986(b)) + (key != null ? "/" + encodePath(key) : vh ? "/" : "") + (q ? "?" + q : "");
  }

  /**
   * The signer for the current credentials (the provider is asked every time). It is rebuilt only
   * when they change, so its signing-key cache stays warm on the hot path.
   */
  private async signer() {
    const c = this.o.credentials, k = typeof c == "function" ? await c() : c, l = this.s?.[0];
    if (!l || l.accessKeyId != k?.accessKeyId || l.secretAccessKey != k.secretAccessKey || l.sessionToken != k.sessionToken)
      this.s = [{ ...k }, new SigV4Signer({ ...k, region: this.region, service: "s3" })];
    return this.s![1];
  }

  /** Signing time: the local clock corrected by what the server's Date taught us. */
  private now = () => new Date(Date.now() + this.skew);

  /**
   * Every request goes through here. Returns the response and its body's bytes, or with the
   * body unread when `stream` (then the timeout covers only the headers).
   */
  private async send(m: string, p: Ctx, url: string, headers: Str = {}, body?: string | Uint8Array, stream?: boolean): Promise<[Response, Uint8Array]> {
    const { signal } = p, o = this.o, max = o.maxAttempts ?? 3, ms = o.timeoutMs ?? 3e4;
    let err: unknown, timedOut, skewed;
    for (let n = 1; ; n++) {
      const s = await (await this.signer()).sign({ method: m, url, headers, body }, { date: this.now(), payloadHash: body == null ? "UNSIGNED-PAYLOAD" : undefined });
      signal?.throwIfAborted();
      const c = new AbortController(), t = setTimeout(() => ((timedOut = 1), c.abort()), ms), { host, ...h } = s.headers;
      let res: Response | undefined, data = NO_BODY;
      timedOut = 0;
      try {
        res = await (o.fetch ?? fetch)(url, { method: m, headers: h, body: body as BodyInit, signal: signal ? anySignal(signal, c.signal) : c.signal });
        if (!(res.ok && stream)) data = m == "HEAD" || res.status == 304 ? (res.body?.cancel().catch(() => {}), NO_BODY) : new Uint8Array(await res.arrayBuffer());
      } catch (e) {
        if (signal?.aborted) throw signal.reason;
        err = e;
        res = undefined;
      } finally {
        clearTimeout(t);
      }
      if (res) {
        const sd = Date.parse(res.headers.get("date")!), off = Math.abs(sd - Date.now() - this.skew) > 3e5;
        if (off) this.skew = sd - Date.now();
        if (res.ok) return [res, data];
        const e = this.err(res, data, m, p, s), st = res.status;
        // Once: a request signed with our wrong clock, now corrected from the server's Date.
        if (!skewed && (e.code == "RequestTimeTooSkewed" || (off && st == 403))) {
          skewed = n--;
          continue;
        }
        if (!isTransient(e)) throw e;
        err = e;
      }
      if (n >= max) break;
      await sleep(Math.random() * (o.retryBaseMs ?? 100) * 2 ** (n - 1), signal);
    }
    if (err instanceof S3Error) throw err;
    throw new (timedOut ? TimeoutError : NetworkError)(`${m} ${url} failed after ${max} attempts: ${timedOut ? `no response within timeoutMs=${ms}` : (err as Error)?.message ?? err}`, max, err);
  }

  /** An error response (or, with `code`, a 200 that is not what was asked) as an S3Error. */
  private err(res: Response, body: Uint8Array, m: string, p: Ctx, s?: SignedRequest, code?: string): S3Error {
    let x: XmlElement | undefined;
    try {
      x = parseXml(body);
    } catch {}
    if (x?.name != "Error") x = undefined;
    const t = (n: string) => (x && childText(x, n)) || undefined, st = res.status, hd = (n: string) => t(n) ?? res.headers.get(n) ?? undefined;
    code = t("Code") || code || ({ 304: "NotModified", 403: "Forbidden", 412: "PreconditionFailed" } as Str)[st] || (st == 404 ? (p.key ? "NoSuchKey" : "NoSuchBucket") : "HTTP" + st);
    const f: Partial<S3Error> = { requestId: hd("RequestId") ?? hd("x-amz-request-id"), hostId: hd("HostId") ?? hd("x-amz-id-2"), bucket: p.bucket, key: p.key, resource: t("Resource") };
    let msg = [
      `${code} (HTTP ${st}) on ${m} bucket ${json(p.bucket)}${p.key != null ? " key " + json(p.key) : ""}:`,
      t("Message") ?? (x ? "" : body.length ? "unexpected response body: " + new TextDecoder().decode(body.subarray(0, 400)).replace(/\s+/g, " ").slice(0, 100) : "no response body."),
      HINTS[code],
    ].join(" ").replace(/ +/g, " ").trim();
    if (code == "SignatureDoesNotMatch" && s) {
      const cr = (f.canonicalRequest = redact(s.canonicalRequest)!), scr = (f.serverCanonicalRequest = redact(t("CanonicalRequest")));
      f.stringToSign = s.stringToSign;
      f.serverStringToSign = t("StringToSign");
      msg += scr
        ? "\nCanonical request differences:\n" + (diff(cr, scr) || diff(s.stringToSign, f.serverStringToSign) || "  none: the secret key differs")
        : "\nServer sent no canonical request; ours: error.canonicalRequest";
    }
    return new S3Error(code, st, msg, f);
  }

  async listObjectsV2(p: ListObjectsV2Params): Promise<ListObjectsV2Result> {
    const [res, data] = await this.send("GET", p, this.url(p, undefined, qs({ "list-type": "2", ...pick(p, list("prefix delimiter continuationToken startAfter maxKeys fetchOwner encodingType")) })), amz(p));
    let x: XmlElement | undefined;
    try {
      x = parseXml(data);
    } catch {}
    if (x?.name != "ListBucketResult") throw this.err(res, data, "GET", p, undefined, "InvalidResponse");
    // One pass over the children (a page has thousands): the top-level fields are kept as met.
    const t: Str = Object.create(null), contents: S3Object[] = [], cps: string[] = [];
    for (const c of x.children)
      if (c.name == "Contents") {
        // All fields up front: one object shape for the whole page.
        const o: S3Object = { key: "", lastModified: undefined!, etag: "", size: NaN, storageClass: undefined };
        for (const f of c.children) {
          const v = f.text, n = f.name;
          if (n == "Key") o.key = v;
          else if (n == "LastModified") o.lastModified = iso(v);
          else if (n == "ETag") o.etag = unq(v);
          else if (n == "Size") o.size = +v;
          else if (n == "StorageClass") o.storageClass = v;
          else if (n == "Owner") {
            const w: any = (o.owner = { id: "" });
            for (const g of f.children) if (g.name == "ID") w.id = g.text; else if (g.name == "DisplayName") w.displayName = g.text;
          }
        }
        o.lastModified ??= new Date(NaN);
        contents.push(o);
      } else if (c.name == "CommonPrefixes") cps.push(childText(c, "Prefix")!);
      else t[c.name] ??= c.text;
    // Decode only when the response says EncodingType url (some servers ignore the parameter); "+" is a space there.
    const url = t.EncodingType == "url", d = (s?: string) => (url && s ? decodeURIComponent(s.replace(/\+/g, " ")) : s);
    if (url) for (const o of contents) o.key = d(o.key)!;
    return {
      name: t.Name, prefix: d(t.Prefix), delimiter: d(t.Delimiter), startAfter: d(t.StartAfter),
      continuationToken: t.ContinuationToken, maxKeys: +t.MaxKeys || undefined, encodingType: t.EncodingType,
      contents, commonPrefixes: cps.map(d) as string[], isTruncated: t.IsTruncated == "true", nextContinuationToken: t.NextContinuationToken,
      keyCount: +(t.KeyCount ?? contents.length + cps.length), date: dt(res.headers.get("date")),
    };
  }

  /** Every object, page after page; throws (instead of looping) if a truncated page repeats or omits its token. */
  async *listAll(p: Omit<ListObjectsV2Params, "continuationToken">): AsyncIterable<S3Object> {
    for await (const r of listPages(this, p)) yield* r.contents;
  }

  /** URL and headers of a GET/HEAD object request. */
  private obj(p: GetObjectParams): [string, Str] {
    const h = amz(p, pick(p, list("range ifModifiedSince ifUnmodifiedSince")));
    for (const k of ["ifMatch", "ifNoneMatch"] as const) if (p[k]) h[kebab(k)] = /^(\*|"|W\/)/.test(p[k]!) ? p[k]! : `"${p[k]}"`;
    if (p.checksumMode) h["x-amz-checksum-mode"] = "ENABLED";
    return [this.url(p, p.key, qs({ ...pick(p, ["versionId", "partNumber"], String), ...pick(p, RESP) })), h];
  }

  /** The body streams from the response, never buffered; the per-attempt timeout covers only the headers. */
  async getObject(p: GetObjectParams): Promise<GetObjectResult> {
    const [res] = await this.send("GET", p, ...this.obj(p), undefined, true);
    return { ...meta(res), body: res.body ?? new ReadableStream({ start: (c) => c.close() }), status: res.status };
  }

  async headObject(p: GetObjectParams): Promise<ObjectMetadata> {
    return meta((await this.send("HEAD", p, ...this.obj(p)))[0]);
  }

  /** A URL that plain fetch/curl can GET for expiresIn seconds (max 604800). */
  async presignGetObject(p: ObjectParams & { expiresIn: number }): Promise<string> {
    return (await (await this.signer()).presign({ method: "GET", url: this.obj(p)[0] }, { date: this.now(), expiresIn: p.expiresIn })).url;
  }

  async putObject(p: PutObjectParams): Promise<{ etag: string; versionId?: string }> {
    const h = amz(p, pick(p, list("contentType cacheControl contentDisposition contentEncoding"))), md = p.metadata ?? {};
    for (const k in md) {
      // fetch rejects such headers with a TypeError that looks like a network error.
      if (/[^\w-]/.test(k) || /[^ -~]/.test(md[k])) throw new InputError(`metadata ${json(k)}: names [A-Za-z0-9_-], values printable ASCII`, "metadata");
      h["x-amz-meta-" + k] = md[k];
    }
    const r = (await this.send("PUT", p, this.url(p, p.key), h, p.body))[0].headers;
    return { etag: unq(r.get("etag")), versionId: r.get("x-amz-version-id") ?? undefined };
  }

  async deleteObject(p: { bucket: string; key: string; signal?: AbortSignal }): Promise<void> {
    await this.send("DELETE", p, this.url(p, p.key));
  }

  /** PUT /bucket, for tests and demos. AWS wants the region named unless it is us-east-1. */
  async createBucket(p: { bucket: string; signal?: AbortSignal }): Promise<void> {
    const r = this.region;
    await this.send("PUT", p, this.url(p), {}, /^(us-east-1|auto)$/.test(r) ? undefined : `<CreateBucketConfiguration><LocationConstraint>${r}</LocationConstraint></CreateBucketConfiguration>`);
  }
}
