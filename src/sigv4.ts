// AWS Signature Version 4: canonical request -> string to sign -> signature, for the
// Authorization header (sign) and for query strings (presign).
// https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
import { hex, hmac, hmacKey, sha256, sha256Hex, utf8, type HmacKey } from "./hash.ts";
import { InputError } from "./errors.ts";

export interface Credentials { accessKeyId: string; secretAccessKey: string; sessionToken?: string }

export interface SignerOptions extends Credentials {
  region: string;
  /** "s3" selects S3's path rules: encode once, never normalize. */
  service: string;
  /** Encode the wire path once more (default: service !== "s3"). */
  doubleEncodePath?: boolean;
  /** Remove "." / ".." segments and merge "//" (default: service !== "s3"). */
  normalizePath?: boolean;
}

export interface SignableRequest {
  method: string;
  /** Path and query exactly as they go on the wire (already percent-encoded). */
  url: string | URL;
  headers?: Record<string, string | string[]> | Headers;
  body?: string | Uint8Array | ArrayBuffer | null;
}

export interface SignOptions {
  /** Signing time; default now. */
  date?: Date;
  /** Hex SHA-256 of the body, or "UNSIGNED-PAYLOAD". Default: hash of the body (header auth), "UNSIGNED-PAYLOAD" for S3 presign. */
  payloadHash?: string;
}

export interface SignedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  signature: string;
  canonicalRequest: string;
  stringToSign: string;
}

const ALGO = "AWS4-HMAC-SHA256";
// Headers a proxy or the runtime may rewrite; signing them would break the signature.
const UNSIGNED = /^(authorization|user-agent|x-amzn-trace-id)$/;
const NONEMPTY = "must be a non-empty string";
const PLAIN = /^[\w\-.~/]*$/;
const isHex = (c: number) => (c > 47 && c < 58) || ((c | 32) > 96 && (c | 32) < 103);

/**
 * RFC 3986 encoding of a raw (unencoded) string: every UTF-8 byte but A-Za-z0-9-._~ as %XX
 * with uppercase hex. encodeURIComponent leaves !'()* alone, which AWS does not.
 */
export function encodeRfc3986(s: string): string {
  try {
    return encodeURIComponent(s).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
  } catch {
    throw new InputError(`${JSON.stringify(s.slice(0, 80))} has a lone surrogate: not UTF-8`, "key");
  }
}

/** A raw object key (or key path) as an S3 wire path: like encodeRfc3986 but "/" stays. */
export const encodePath = (s: string): string => (PLAIN.test(s) ? s : encodeRfc3986(s).replace(/%2F/g, "/"));

/**
 * Canonical form of a wire string: valid %XX escapes are decoded to bytes, then every byte
 * but the unreserved set is %XX-encoded, so "%2b", "+" and a raw space all end up in the
 * one form AWS computes. Bytewise, so an escape that is not UTF-8 ("%FF") survives.
 */
function canon(s: string, slash: boolean): string {
  if (PLAIN.test(s) && (slash || !s.includes("/"))) return s;
  const b = utf8(s);
  let out = "";
  for (let i = 0; i < b.length; i++) {
    let c = b[i];
    if (c === 37 && isHex(b[i + 1]) && isHex(b[i + 2])) {
      c = parseInt(String.fromCharCode(b[i + 1], b[i + 2]), 16);
      i += 2;
    }
    const ch = String.fromCharCode(c);
    out += PLAIN.test(ch) && (slash || c !== 47) ? ch : "%" + (c + 256).toString(16).slice(1).toUpperCase();
  }
  return out;
}

/** RFC 3986 remove_dot_segments plus merging of empty segments (what non-S3 services sign). */
function normalize(p: string): string {
  const out: string[] = [];
  for (const s of p.split("/")) s === ".." ? out.pop() : s && s !== "." && out.push(s);
  return "/" + out.join("/") + (out.length && /\/\.{0,2}$/.test(p) ? "/" : "");
}

const fail = (field: string, what: string): never => {
  throw new InputError(`${field} ${what}`, field);
};

// Derived signing keys, per (secret, day, region, service). Bounded: oldest entry evicted.
const keys = new Map<string, HmacKey>();

export class SigV4Signer {
  private readonly o: SignerOptions;
  private k?: [string, HmacKey, string];
  private t?: string;

  constructor(options: SignerOptions) {
    const o = { ...options };
    for (const f of ["accessKeyId", "secretAccessKey", "region", "service"] as const)
      if (typeof o[f] !== "string" || !o[f]) fail(f, NONEMPTY);
    const s3 = o.service === "s3";
    o.doubleEncodePath ??= !s3;
    o.normalizePath ??= !s3;
    this.o = o;
    this.t = o.sessionToken && encodeRfc3986(o.sessionToken);
  }

  /** Authorization-header signing. */
  async sign(request: SignableRequest, options: SignOptions = {}): Promise<SignedRequest> {
    return this.run(request, options);
  }

  /** Query-string signing; the returned `url` is the presigned URL. */
  async presign(request: SignableRequest, options: SignOptions & { expiresIn: number }): Promise<SignedRequest> {
    const e = options?.expiresIn;
    if (!Number.isInteger(e) || e < 1 || e > 604800)
      fail("expiresIn", `must be whole seconds, 1 to 604800 (7 days), not ${e}`);
    return this.run(request, options, e);
  }

  private async run(req: SignableRequest, opt: SignOptions, expires?: number): Promise<SignedRequest> {
    const o = this.o, s3 = o.service === "s3";
    const method = req?.method;
    if (typeof method !== "string" || !method) fail("method", NONEMPTY);
    const date = opt.date ?? new Date();
    if (!(date instanceof Date) || isNaN(+date)) fail("date", "must be a valid Date");

    // Split the URL by hand: new URL() would drop "." / ".." segments and re-escape the path.
    const m = /^(https?):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?/i.exec(String(req.url));
    if (!m || !m[2] || m[2].includes("@")) fail("url", `must be http(s)://host/path (no user:password@), not ${JSON.stringify(String(req.url).slice(0, 99))}`);
    const [, scheme, authority, rawPath, rawQuery = ""] = m!;
    const path = rawPath || "/";

    const amzDate = date.toISOString().replace(/[-:]|\.\d+/g, "");
    const day = amzDate.slice(0, 8);
    const scope = `${day}/${o.region}/${o.service}/aws4_request`;
    // One-entry cache per signer, then the shared map: a hot signer skips even the map lookup.
    if (this.k?.[0] !== scope) {
      let key: HmacKey | undefined;
      const ck = `${o.secretAccessKey}\n${scope}`;
      if (!(key = keys.get(ck))) {
        let k = utf8("AWS4" + o.secretAccessKey);
        for (const part of [day, o.region, o.service, "aws4_request"]) k = hmac(hmacKey(k), part);
        if (keys.size > 31) keys.delete(keys.keys().next().value!);
        keys.set(ck, (key = hmacKey(k)));
      }
      this.k = [scope, key, encodeRfc3986(`${o.accessKeyId}/${scope}`)];
    }
    const [, key, cred] = this.k!;

    // Headers: lowercase names, trim and collapse whitespace (folded lines included),
    // repeated names joined with "," in their original order.
    const h: Record<string, string> = {};
    const add = (k: string, v: string | string[]) => {
      k = k.toLowerCase();
      v = (Array.isArray(v) ? v : [v]).map((x) => String(x).trim().replace(/\s+/g, " ")).join(",");
      h[k] = k in h ? h[k] + "," + v : v;
    };
    const hs = req.headers;
    if (typeof (hs as Headers)?.forEach === "function") (hs as Headers).forEach((v, k) => add(k, v));
    else if (hs) for (const k of Object.keys(hs)) add(k, (hs as Record<string, string>)[k]);
    h.host ??= authority.toLowerCase().replace(scheme.toLowerCase() === "https" ? /:443$/ : /:80$/, "");

    const token = o.sessionToken;
    let payload = opt.payloadHash;
    if (expires) payload ??= s3 ? "UNSIGNED-PAYLOAD" : undefined;
    payload ??= await sha256Hex(req.body ?? "");

    // Pairs are kept as "name\0value": "\0" sorts below every character of an encoded name, so
    // a plain sort orders by name, then value, in byte order (all ASCII once encoded). Sorting
    // "name=value" instead would put "a-b=1" before "a=1".
    const query: string[] = [];
    for (const p of rawQuery.split("&")) {
      if (!p) continue;
      const i = p.indexOf("=");
      query.push(canon(i < 0 ? p : p.slice(0, i), false) + "\0" + (i < 0 ? "" : canon(p.slice(i + 1), false)));
    }

    if (!expires) {
      h["x-amz-date"] = amzDate;
      // S3 requires it on every header-signed request; other services take it when given.
      if (s3) h["x-amz-content-sha256"] = payload;
      if (token) h["x-amz-security-token"] = token;
    }
    const names = Object.keys(h).filter((k) => !UNSIGNED.test(k)).sort();
    const signedHeaders = names.join(";");
    if (expires) {
      query.push(
        "X-Amz-Algorithm\0" + ALGO,
        "X-Amz-Credential\0" + cred,
        "X-Amz-Date\0" + amzDate,
        "X-Amz-Expires\0" + expires,
        "X-Amz-SignedHeaders\0" + encodeRfc3986(signedHeaders),
      );
      if (token) query.push("X-Amz-Security-Token\0" + this.t);
    }
    const cq = query.sort().join("&").replace(/\0/g, "=");

    // Non-S3 services sign the wire path encoded once more ("double encoding").
    let cpath = o.normalizePath ? normalize(path) : path;
    cpath = o.doubleEncodePath ? encodePath(cpath) : canon(cpath, true);

    let canonicalRequest = `${method}\n${cpath}\n${cq}\n`;
    for (const k of names) canonicalRequest += `${k}:${h[k]}\n`;
    canonicalRequest += `\n${signedHeaders}\n${payload}`;
    const stringToSign = `${ALGO}\n${amzDate}\n${scope}\n${hex(sha256(canonicalRequest))}`;

    const signature = hex(hmac(key, stringToSign));

    const base = `${scheme}://${authority}`;
    let url = base + path + (rawQuery ? "?" + rawQuery : "");
    if (expires) {
      // The URL carries exactly the query that was signed (no "+" for spaces, no re-escaping),
      // and for S3 the path in its canonical encoding, which S3 decodes to the same key.
      url = base + (s3 ? cpath : path) + "?" + cq + "&X-Amz-Signature=" + signature;
    } else {
      h.authorization = `${ALGO} Credential=${o.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
    }
    return { method, url, headers: h, signature, canonicalRequest, stringToSign };
  }
}
