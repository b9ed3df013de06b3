// AWS Signature Version 4: canonical request -> string to sign -> signature, for the
// Authorization header (sign) and for query strings (presign).
// https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
import { hex, hmac, hmacKey, sha256, sha256Hex, utf8, type HmacKey } from "./hash.ts";
import { InputError } from "./errors.ts";

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

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
  /**
   * Hex SHA-256 of the body, or "UNSIGNED-PAYLOAD". Default: hash of the body (header auth),
   * "UNSIGNED-PAYLOAD" for S3 presign.
   */
  payloadHash?: string;
}

export interface SignedRequest {
  method: string;
  url: string;
  /**
   * What to send: the caller's header values as given (repeated names joined with ","), plus the
   * signing headers. The signature covers their canonical form (white space trimmed and
   * collapsed), which is what the server computes from them, so a value such as "a  b" arrives
   * unchanged.
   */
  headers: Record<string, string>;
  signature: string;
  canonicalRequest: string;
  stringToSign: string;
}

const ALGORITHM = "AWS4-HMAC-SHA256";
// Never signed: what the runtime sets or a proxy may rewrite on the way (user-agent, trace ids)
// and the hop-by-hop headers of RFC 9110 §7.6.1, which a proxy or runtime may add, drop or change
// (plus expect and proxy-*). Signing one breaks the signature when it changes; botocore,
// aws-c-auth and smithy leave them out too.
const UNSIGNED = /^(authorization|user-agent|x-amzn-trace-id)$/;
const HOP_BY_HOP = /^(connection|expect|keep-alive|proxy-.*|te|trailer|transfer-encoding|upgrade)$/;
// A value's edges lose HTTP's white space (SP, HTAB, CR, LF), as fetch's Headers trims them on the
// wire. Inside, runs of spaces and line folds (a newline and the white space after it: AWS's
// get-header-value-multiline case) read as one space. Tabs inside are data: S3 collapses only
// spaces (smithy-rs), and Ceph RGW 16 accepts a lone tab only signed as a tab (measured); U+00A0
// and U+3000 are data too, not white space as \s would have them.
const EDGE_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;
const SPACE_RUN = /( |\r?\n[\t ]*)+/g;
const NONEMPTY = "must be a non-empty string";
const UNRESERVED = /^[\w\-.~/]*$/;
const MAX_EXPIRES = 604_800; // 7 days, S3's limit for a presigned URL

/**
 * RFC 3986 encoding of a raw (unencoded) string: every UTF-8 byte but A-Za-z0-9-._~ as %XX
 * with uppercase hex. encodeURIComponent leaves !'()* alone, which AWS does not.
 */
export function encodeRfc3986(text: string): string {
  try {
    return encodeURIComponent(text).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
  } catch {
    throw new InputError(`${JSON.stringify(text.slice(0, 80))} has a lone surrogate: not UTF-8`, "key");
  }
}

/** A raw object key (or key path) as an S3 wire path: like encodeRfc3986 but "/" stays. */
export const encodePath = (key: string): string =>
  UNRESERVED.test(key) ? key : encodeRfc3986(key).replace(/%2F/g, "/");

/**
 * Canonical form of a wire string: valid %XX escapes are decoded to bytes, then every byte
 * but the unreserved set is %XX-encoded, so "%2b", "+" and a raw space all end up in the
 * one form AWS computes. An escape stays an escape unless its byte is unreserved, so one that
 * is not UTF-8 ("%FF") survives. The "u" flag makes a raw character one match, whole code point.
 */
const canonicalize = (wire: string, keepSlash?: boolean): string =>
  wire.replace(/%[\dA-Fa-f]{2}|[^\w.~-]/gu, (match) => {
    if (match.length < 3) return keepSlash && match == "/" ? match : encodeRfc3986(match);
    const char = String.fromCharCode(parseInt(match.slice(1), 16));
    return /[\w.~-]/.test(char) || (keepSlash && char == "/") ? char : match.toUpperCase();
  });

/**
 * RFC 3986 remove_dot_segments plus merging of empty segments, as non-S3 services sign it. A
 * trailing slash stays only when the wire path ends in "/": "/a/b/.." signs as "/a", not the
 * RFC's "/a/" (botocore, aws-c-auth, smithy and aws4 agree).
 */
function normalizePath(path: string): string {
  const segments: string[] = [];
  for (const segment of path.split("/"))
    segment === ".." ? segments.pop() : segment && segment !== "." && segments.push(segment);
  return "/" + segments.join("/") + (segments.length && path.endsWith("/") ? "/" : "");
}

const throwInputError = (field: string, problem: string): never => {
  throw new InputError(`${field} ${problem}`, field);
};

// Derived signing keys, per (secret, day, region, service). Bounded: oldest entry evicted.
const signingKeys = new Map<string, HmacKey>();
const MAX_SIGNING_KEYS = 32;

/** The options a signer was made with, defaults filled in, and the session token encoded once. */
interface SignerSettings extends SignerOptions {
  encodedToken?: string;
}

export class SigV4Signer {
  declare private readonly settings: SignerSettings;

  constructor(options: SignerOptions) {
    const copy: SignerSettings = { ...options };
    for (const field of ["accessKeyId", "secretAccessKey", "region", "service"] as const)
      if (typeof copy[field] !== "string" || !copy[field]) throwInputError(field, NONEMPTY);
    const s3 = copy.service === "s3";
    copy.doubleEncodePath ??= !s3;
    copy.normalizePath ??= !s3;
    copy.encodedToken = copy.sessionToken && encodeRfc3986(copy.sessionToken);
    this.settings = copy;
  }

  /** Authorization-header signing. */
  async sign(request: SignableRequest, options: SignOptions = {}): Promise<SignedRequest> {
    return signRequest(this.settings, request, options);
  }

  /** Query-string signing; the returned `url` is the presigned URL. */
  async presign(request: SignableRequest, options: SignOptions & { expiresIn: number }): Promise<SignedRequest> {
    const expiresIn = options?.expiresIn;
    if (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > MAX_EXPIRES)
      throwInputError("expiresIn", `must be whole seconds, 1 to ${MAX_EXPIRES} (7 days), not ${expiresIn}`);
    return signRequest(this.settings, request, options, expiresIn);
  }
}

async function signRequest(
  settings: SignerSettings,
  request: SignableRequest,
  options: SignOptions,
  expiresIn?: number,
): Promise<SignedRequest> {
  const { accessKeyId, secretAccessKey, sessionToken, encodedToken, region, service } = settings;
  const s3 = service === "s3";
  const method = request?.method;
  if (typeof method !== "string" || !method) throwInputError("method", NONEMPTY);
  const date = options.date ?? new Date();
  if (!(date instanceof Date) || isNaN(+date)) throwInputError("date", "must be a valid Date");

  // Split the URL by hand: new URL() would drop "." / ".." segments and re-escape the path.
  const parts = /^(https?):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?/i.exec(String(request.url));
  if (!parts || !parts[2] || parts[2].includes("@"))
    throwInputError(
      "url",
      `must be http(s)://host/path (no user:password@), not ${JSON.stringify(String(request.url).slice(0, 99))}`,
    );
  const [, scheme, authority, rawPath, rawQuery = ""] = parts!;
  const path = rawPath || "/";

  const amzDate = date.toISOString().replace(/[-:]|\.\d+/g, "");
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${region}/${service}/aws4_request`;
  const cacheKey = `${secretAccessKey}\n${scope}`;
  let signingKey = signingKeys.get(cacheKey);
  if (!signingKey) {
    let key = utf8("AWS4" + secretAccessKey);
    for (const part of [day, region, service, "aws4_request"]) key = hmac(hmacKey(key), part);
    if (signingKeys.size >= MAX_SIGNING_KEYS) signingKeys.delete(signingKeys.keys().next().value!);
    signingKeys.set(cacheKey, (signingKey = hmacKey(key)));
  }

  // Headers as they will be sent: lowercase names, each value with only its edges trimmed (as
  // fetch's Headers would), repeated names joined with "," in their original order. The
  // canonical value (runs of spaces and line folds read as one space) is made when signing; the server
  // makes the same from what it receives.
  const headers: Record<string, string> = {};
  const addHeader = (name: string, value: string | string[]) => {
    name = name.toLowerCase();
    value = (Array.isArray(value) ? value : [value]).map((v) => String(v).replace(EDGE_WHITESPACE, "")).join(",");
    headers[name] = name in headers ? headers[name] + "," + value : value;
  };
  const given = request.headers;
  if (typeof (given as Headers)?.forEach === "function")
    (given as Headers).forEach((value, name) => addHeader(name, value));
  else if (given) for (const name of Object.keys(given)) addHeader(name, (given as Record<string, string>)[name]);
  headers.host ??= authority.toLowerCase().replace(scheme.toLowerCase() === "https" ? /:443$/ : /:80$/, "");

  let payloadHash = options.payloadHash;
  if (expiresIn) payloadHash ??= s3 ? "UNSIGNED-PAYLOAD" : undefined;
  payloadHash ??= await sha256Hex(request.body ?? "");

  // Pairs are kept as "name\0value": "\0" sorts below every character of an encoded name, so
  // a plain sort orders by name, then value, in byte order (all ASCII once encoded). Sorting
  // "name=value" instead would put "a-b=1" before "a=1".
  const query: string[] = [];
  for (const pair of rawQuery.split("&")) {
    if (!pair) continue;
    // Split at the first "=" only: a value may hold more.
    const [name, value = ""] = pair.split(/=(.*)/s);
    query.push(canonicalize(name) + "\0" + canonicalize(value));
  }

  const credential = `${accessKeyId}/${scope}`;
  if (!expiresIn) {
    headers["x-amz-date"] = amzDate;
    // S3 requires it on every header-signed request; other services take it when given.
    if (s3) headers["x-amz-content-sha256"] = payloadHash;
    if (sessionToken) headers["x-amz-security-token"] = sessionToken;
  }
  const names = Object.keys(headers)
    .filter((name) => !UNSIGNED.test(name) && !HOP_BY_HOP.test(name))
    .sort();
  const signedHeaders = names.join(";");
  if (expiresIn) {
    query.push(
      "X-Amz-Algorithm\0" + ALGORITHM,
      "X-Amz-Credential\0" + encodeRfc3986(credential),
      "X-Amz-Date\0" + amzDate,
      "X-Amz-Expires\0" + expiresIn,
      "X-Amz-SignedHeaders\0" + encodeRfc3986(signedHeaders),
    );
    if (sessionToken) query.push("X-Amz-Security-Token\0" + encodedToken);
  }
  const canonicalQuery = query.sort().join("&").replace(/\0/g, "=");

  // Non-S3 services sign the wire path encoded once more ("double encoding").
  let canonicalPath = settings.normalizePath ? normalizePath(path) : path;
  canonicalPath = settings.doubleEncodePath ? encodePath(canonicalPath) : canonicalize(canonicalPath, true);

  let canonicalRequest = `${method}\n${canonicalPath}\n${canonicalQuery}\n`;
  for (const name of names) canonicalRequest += `${name}:${headers[name].replace(SPACE_RUN, " ")}\n`;
  canonicalRequest += `\n${signedHeaders}\n${payloadHash}`;
  const stringToSign = `${ALGORITHM}\n${amzDate}\n${scope}\n${hex(sha256(canonicalRequest))}`;

  const signature = hex(hmac(signingKey, stringToSign));

  const origin = `${scheme}://${authority}`;
  let url = origin + path + (rawQuery ? "?" + rawQuery : "");
  if (expiresIn) {
    // The URL carries exactly the query that was signed (no "+" for spaces, no re-escaping),
    // and for S3 the path in its canonical encoding, which S3 decodes to the same key.
    url = origin + (s3 ? canonicalPath : path) + "?" + canonicalQuery + "&X-Amz-Signature=" + signature;
  } else {
    headers.authorization =
      `${ALGORITHM} Credential=${credential}, ` + `SignedHeaders=${signedHeaders}, Signature=${signature}`;
  }
  return { method, url, headers, signature, canonicalRequest, stringToSign };
}
