// Operation parameters (camelCase) -> what goes on the wire: header names, query parameters, HTTP
// dates. Names map by rule (kebab-case), so adding a parameter is adding a word to a list.
import { encodeRfc3986 } from "./sigv4.ts";
import type { GetObjectParams, ListObjectsV2Params } from "./types.ts";

export type StringMap = Record<string, string>;

/** A value quoted for a message: JSON.stringify under a short name. */
export const json = JSON.stringify;

export const kebabCase = (name: string) => name.replace(/[A-Z]/g, (letter) => "-" + letter.toLowerCase());
/** A list written as one space-separated string (shorter in the bundle than an array literal). */
export const words = (text: string) => text.split(" ");

/**
 * The parameters named in `names` that are set, under their wire names (kebab-case unless
 * `wireName` says otherwise); Dates become HTTP dates, everything else its string form.
 */
export const wireParams = (params: object, names: string[], wireName = kebabCase, out: StringMap = {}) => {
  for (const name of names) {
    const value = (params as Record<string, unknown>)[name];
    if (value != null) out[wireName(name)] = value instanceof Date ? value.toUTCString() : "" + value;
  }
  return out;
};

// x-amz-* headers from RequestOptions and SseCustomerKey
// (sseCustomerKeyMD5 -> x-amz-server-side-encryption-customer-key-md5).
const AMZ_PARAMS = words("expectedBucketOwner requestPayer sseCustomerAlgorithm sseCustomerKey sseCustomerKeyMD5");
export const amzHeaders = (params: object, headers?: StringMap) =>
  wireParams(
    params,
    AMZ_PARAMS,
    (name) => "x-amz-" + kebabCase(name.replace("sse", "serverSideEncryption").replace("MD5", "Md5")),
    headers,
  );

/** A query string, values RFC 3986 encoded, in the order given. */
export const queryString = (query: StringMap) =>
  Object.keys(query)
    .map((name) => name + "=" + encodeRfc3986(query[name]))
    .join("&");

/** The object headers a GET response carries and a PUT can set (camelCase of their names). */
export const CONTENT_HEADERS = words(
  "contentType contentEncoding contentDisposition contentLanguage cacheControl expires",
);
/** GetObject's response-* query overrides of those headers. */
const RESPONSE_OVERRIDES = CONTENT_HEADERS.map((name) => "response" + name[0].toUpperCase() + name.slice(1));
const LIST_PARAMS = words("prefix delimiter continuationToken startAfter maxKeys fetchOwner encodingType");

export const listQuery = (params: ListObjectsV2Params) =>
  queryString({ "list-type": "2", ...wireParams(params, LIST_PARAMS) });

/** Query and headers of a GET or HEAD object request. */
export const objectRequest = (params: GetObjectParams) => {
  const headers = amzHeaders(params, wireParams(params, words("range ifModifiedSince ifUnmodifiedSince")));
  for (const name of ["ifMatch", "ifNoneMatch"] as const) {
    const etag = params[name];
    // S3 compares quoted ETags; "*" and already quoted (or weak) values go as given.
    if (etag) headers[kebabCase(name)] = /^(\*|"|W\/)/.test(etag) ? etag : `"${etag}"`;
  }
  if (params.checksumMode) headers["x-amz-checksum-mode"] = "ENABLED";
  const query = queryString({
    ...wireParams(params, ["versionId", "partNumber"], String),
    ...wireParams(params, RESPONSE_OVERRIDES),
  });
  return { query, headers };
};
