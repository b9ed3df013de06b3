// Reading S3's answers: object metadata from headers, the ListObjectsV2 page decoder (speed-tuned:
// a page has 1000 entries), and error responses -> S3Error with hints and, for
// SignatureDoesNotMatch, both canonical requests and their differences.
import { parseXml, childText, type XmlElement } from "./xml.ts";
import { S3Error } from "./errors.ts";
import type { SignedRequest } from "./sigv4.ts";
import { CONTENT_HEADERS, json, kebabCase, words, type StringMap } from "./wire.ts";
import type { ListObjectsV2Params, ListObjectsV2Result, ObjectMetadata, S3Object } from "./types.ts";

const QUOTE = 0x22; // '"'
const DIGIT_ZERO = 0x30; // '0'

/** What a request was about, for error messages and fields. */
export interface RequestContext {
  method: string;
  bucket: string;
  key?: string;
}

// ETags come quoted ("abc"; W/"abc" is not S3): strip the quotes without a regex, it runs per listed object.
export const unquoteEtag = (etag?: string | null) =>
  etag
    ? etag.length > 1 && etag.charCodeAt(0) == QUOTE && etag.charCodeAt(etag.length - 1) == QUOTE
      ? etag.slice(1, -1)
      : etag
    : "";

export const httpDate = (text?: string | null) => (text ? new Date(text) : undefined);

/** The decimal number in text[start, end), NaN unless all digits (Number() would take " 1e3 ", "0x1f", ""). */
const decimal = (text: string, start: number, end: number) => {
  let value = 0;
  for (let digit; start < end; start++)
    value = (digit = text.charCodeAt(start) - DIGIT_ZERO) >= 0 && digit < 10 ? value * 10 + digit : NaN;
  return value;
};

/**
 * A listing's LastModified in ms since 1970, NaN when unreadable. S3 writes
 * "2024-05-01T10:00:00.000Z": read by hand and given to Date.UTC that is 2-3 times faster than
 * Date.parse (a page has 1000; measured on Node 20). Only plainly valid values are read so (year
 * 1000-9999, day up to 28, so nothing overflows into the next month, hour or year); any other form
 * or value goes to Date.parse, so the result is always what Date makes of the text.
 */
const S3_TIMESTAMP = /^[1-9]\d{3}-(0[1-9]|1[0-2])-(0[1-9]|1\d|2[0-8])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z$/;
const listTimestamp = (text: string) =>
  S3_TIMESTAMP.test(text)
    ? Date.UTC(
        decimal(text, 0, 4),
        decimal(text, 5, 7) - 1,
        decimal(text, 8, 10),
        decimal(text, 11, 13),
        decimal(text, 14, 16),
        decimal(text, 17, 19),
        decimal(text, 20, 23),
      )
    : Date.parse(text);

/** The metadata headers of a GET or HEAD response. */
export const objectMetadata = (response: Response): ObjectMetadata => {
  const headers = response.headers,
    header = (name: string) => headers.get(name) ?? undefined;
  const contentLength = +(header("content-length") ?? 0);
  const range = /(\d+)-(\d+)\/(\d+)/.exec(header("content-range") ?? "");
  const metadata: Record<string, unknown> & ObjectMetadata = {
    size: range ? +range[3] : contentLength,
    contentLength,
    etag: unquoteEtag(header("etag")),
    lastModified: httpDate(header("last-modified"))!,
    metadata: {},
    checksums: {},
    date: httpDate(header("date")),
  };
  if (range) metadata.contentRange = { start: +range[1], end: +range[2], size: +range[3] };
  for (const name of CONTENT_HEADERS) metadata[name] = header(kebabCase(name));
  for (const name of words("versionId storageClass checksumType")) metadata[name] = header("x-amz-" + kebabCase(name));
  headers.forEach((value, name) => {
    if (name.startsWith("x-amz-meta-")) metadata.metadata[name.slice("x-amz-meta-".length)] = value;
    else if (/^x-amz-checksum-(?!type$)/.test(name))
      (metadata.checksums as StringMap)[name.slice("x-amz-checksum-".length)] = value;
  });
  return metadata;
};

/** A broken listing: a typed error naming the bucket, the key and the field. */
export const invalidListing = (bucket: string, key: string, field: string, value: string) =>
  new S3Error(
    "InvalidResponse",
    200,
    `listing ${json(bucket)}: key ${json(key)} has an invalid ${field} ${json(value)}`,
    { bucket, key },
  );

/** One <Contents> entry; every field checked, so no Invalid Date or NaN reaches a caller. */
const listedObject = (entry: XmlElement, bucket: string): S3Object => {
  // All fields up front: one object shape for the whole page.
  const object: S3Object = { key: "", lastModified: undefined!, etag: "", size: NaN, storageClass: undefined };
  let lastModified = "",
    size = "";
  for (const field of entry.children) {
    const text = field.text,
      name = field.name;
    if (name == "Key") object.key = text;
    else if (name == "LastModified") lastModified = text;
    else if (name == "ETag") object.etag = unquoteEtag(text);
    else if (name == "Size") size = text;
    else if (name == "StorageClass") object.storageClass = text;
    else if (name == "Owner") {
      const owner: S3Object["owner"] = (object.owner = { id: "" });
      for (const part of field.children)
        if (part.name == "ID") owner.id = part.text;
        else if (part.name == "DisplayName") owner.displayName = part.text;
    }
  }
  const time = listTimestamp(lastModified),
    key = object.key;
  object.size = size ? decimal(size, 0, size.length) : NaN;
  // A missing or unreadable field is a broken response, named: not an Invalid Date or NaN passed on.
  if (!key) throw invalidListing(bucket, key, "Key", key);
  if (time != time) throw invalidListing(bucket, key, "LastModified", lastModified);
  if (object.size != object.size) throw invalidListing(bucket, key, "Size", size);
  object.lastModified = new Date(time);
  return object;
};

/**
 * A ListObjectsV2 page, or undefined when the body is not a ListBucketResult. Keys and common
 * prefixes are decoded when the response says EncodingType url (some servers ignore the
 * parameter). Prefix, Delimiter and StartAfter are echoes of the request, and RGW echoes them
 * unencoded even then, so with EncodingType url the request's own values are returned.
 */
export const decodeListing = (
  body: Uint8Array,
  params: ListObjectsV2Params,
  response: Response,
): ListObjectsV2Result | undefined => {
  let root: XmlElement | undefined;
  try {
    root = parseXml(body);
  } catch {}
  if (root?.name != "ListBucketResult") return;
  const bucket = params.bucket;
  // One pass over the children (a page has thousands): the top-level fields are kept as met.
  const fields: StringMap = Object.create(null),
    contents: S3Object[] = [],
    commonPrefixes: string[] = [];
  for (const element of root.children)
    if (element.name == "Contents") contents.push(listedObject(element, bucket));
    else if (element.name == "CommonPrefixes") commonPrefixes.push(childText(element, "Prefix") ?? "");
    else fields[element.name] ??= element.text;
  const urlEncoded = fields.EncodingType == "url";
  if (urlEncoded) {
    // "+" is a space in this encoding; a malformed escape is a broken response, not a URIError.
    const decode = (text: string, field: string) => {
      try {
        return decodeURIComponent(text.replace(/\+/g, " "));
      } catch {
        throw invalidListing(bucket, text, field, text);
      }
    };
    for (const object of contents) object.key = decode(object.key, "Key");
    for (let i = 0; i < commonPrefixes.length; i++) commonPrefixes[i] = decode(commonPrefixes[i], "CommonPrefix");
  }
  return {
    name: fields.Name,
    prefix: urlEncoded ? params.prefix : fields.Prefix,
    delimiter: urlEncoded ? params.delimiter : fields.Delimiter,
    startAfter: urlEncoded ? params.startAfter : fields.StartAfter,
    continuationToken: fields.ContinuationToken,
    maxKeys: +fields.MaxKeys || undefined,
    encodingType: fields.EncodingType,
    contents,
    commonPrefixes,
    isTruncated: fields.IsTruncated == "true",
    nextContinuationToken: fields.NextContinuationToken,
    keyCount: +(fields.KeyCount ?? contents.length + commonPrefixes.length),
    date: httpDate(response.headers.get("date")),
  };
};

const EXACT_NAMES = "Names are exact and case-sensitive (check case, spaces, slashes, Unicode form).";
/** Codes whose usual cause the message can name. */
const HINTS: StringMap = {
  NoSuchKey: EXACT_NAMES,
  NoSuchBucket: EXACT_NAMES,
  NotModified: "If-None-Match / If-Modified-Since: not modified.",
  PreconditionFailed: "If-Match / If-Unmodified-Since failed: the object changed.",
  SignatureDoesNotMatch: "Check the secret key and region.",
};
const STATUS_CODES: StringMap = { 304: "NotModified", 403: "Forbidden", 412: "PreconditionFailed" };

/** The lines where two texts differ, for the SignatureDoesNotMatch message. */
const lineDiff = (ours: string, theirs = "") => {
  const ourLines = ours.split("\n"),
    theirLines = theirs.split("\n"),
    out: string[] = [];
  for (let i = 0; i < ourLines.length || i < theirLines.length; i++)
    if (ourLines[i] != theirLines[i])
      out.push(`  line ${i + 1}: ours ${json(ourLines[i])}, server ${json(theirLines[i])}`);
  return out.join("\n");
};

/**
 * An error response (or, with `code`, a 200 that is not what was asked) as an S3Error. `body` is
 * at most the first bytes of the response (see ERROR_BODY_LIMIT). Secrets are not removed here:
 * signedFetch redacts every error it returns by the request's actual secret values.
 */
export function s3Error(
  response: Response,
  body: Uint8Array,
  context: RequestContext,
  signed?: SignedRequest,
  code?: string,
): S3Error {
  let root: XmlElement | undefined;
  try {
    root = parseXml(body);
  } catch {}
  if (root?.name != "Error") root = undefined;
  const status = response.status,
    headers = response.headers;
  const text = (name: string) => (root && childText(root, name)) || undefined;
  const textOrHeader = (name: string, header: string) => text(name) ?? headers.get(header) ?? undefined;
  code =
    text("Code") ||
    code ||
    STATUS_CODES[status] ||
    (status == 404 ? (context.key ? "NoSuchKey" : "NoSuchBucket") : "HTTP" + status);
  // S3 names the bucket's region on a 301 PermanentRedirect, a 307 and a 400 AuthorizationHeaderMalformed.
  const region = headers.get("x-amz-bucket-region") ?? text("Region");
  const fields: Partial<S3Error> = {
    requestId: textOrHeader("RequestId", "x-amz-request-id"),
    hostId: textOrHeader("HostId", "x-amz-id-2"),
    bucket: context.bucket,
    key: context.key,
    resource: text("Resource"),
    region,
  };
  const snippet = () =>
    body.length
      ? "unexpected response body: " +
        new TextDecoder().decode(body.subarray(0, 400)).replace(/\s+/g, " ").slice(0, 100)
      : "no response body.";
  let message = [
    `${code} (HTTP ${status}) on ${context.method} bucket ${json(context.bucket)}` +
      (context.key != null ? " key " + json(context.key) : "") +
      ":",
    text("Message") ?? (root ? "" : snippet()),
    HINTS[code],
    region && `The bucket is in region ${json(region)}.`,
  ]
    .join(" ")
    .replace(/ +/g, " ")
    .trim();
  if (code == "SignatureDoesNotMatch" && signed) {
    const serverCanonical = (fields.serverCanonicalRequest = text("CanonicalRequest"));
    fields.canonicalRequest = signed.canonicalRequest;
    fields.stringToSign = signed.stringToSign;
    fields.serverStringToSign = text("StringToSign");
    message += serverCanonical
      ? "\nCanonical request differences:\n" +
        (lineDiff(signed.canonicalRequest, serverCanonical) ||
          lineDiff(signed.stringToSign, fields.serverStringToSign) ||
          "  none: the secret key differs")
      : "\nServer sent no canonical request; ours: error.canonicalRequest";
  }
  return new S3Error(code, status, message, fields);
}
