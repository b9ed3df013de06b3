// Addressing: THE one place where a bucket and a raw key become a URL. Bucket names are checked
// here, before any request, because a name is part of the URL: with virtual-hosted addressing a
// "bucket" such as `127.0.0.1:18128/#` would become the host the signed request goes to.
import { encodePath, encodeRfc3986 } from "./sigv4.ts";
import { InputError } from "./errors.ts";
import { json } from "./wire.ts";

export interface Addressing {
  /** The endpoint (for AWS: the bucket's regional endpoint). */
  endpoint: URL;
  /** undefined: virtual-hosted on AWS for DNS-label names, path style elsewhere. */
  forcePathStyle?: boolean;
  /** The transport sends the path as given (nodeFetch), so "." and ".." key segments are safe. */
  rawPath?: boolean;
}

// S3's rules for names in a host name: 3-63 lowercase letters, digits, dots and hyphens, starting
// and ending with a letter or digit, no ".." / ".-" / "-.", not an IP address.
const HOST_NAME_BUCKET = /^(?!\d+\.\d+\.\d+\.\d+$)(?!.*(\.\.|\.-|-\.))[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
// Path style: the looser names of legacy us-east-1 buckets and S3-compatible servers (upper case,
// underscores, up to 255), but nothing that could change the URL's host or path (/ ? # @ : % and
// white space) and no "." or ".." (a URL parser collapses such a segment: another path).
const PATH_BUCKET = /^(?!\.\.?$)[\w.-]{1,255}$/;
const DOT_SEGMENT = /(^|\/)\.\.?(\/|$)/;

export const isAwsEndpoint = (endpoint: URL) => /\.amazonaws\.com$/.test(endpoint.hostname);

/**
 * The URL of a bucket (key undefined) or of an object: `query` is already encoded. Throws an
 * InputError naming the field for a bucket name the addressing cannot carry safely, an empty key,
 * or a "." / ".." key segment that fetch's URL parser would collapse into another key.
 */
export function requestUrl(addressing: Addressing, bucket: string, key?: string, query?: string): string {
  const { endpoint, forcePathStyle } = addressing;
  // Virtual-hosted on AWS only for names without dots (dots break the TLS wildcard certificate).
  const virtualHosted =
    forcePathStyle == null
      ? isAwsEndpoint(endpoint) && HOST_NAME_BUCKET.test(bucket) && !/\./.test(bucket)
      : !forcePathStyle;
  if (!bucket || (virtualHosted ? !HOST_NAME_BUCKET.test(bucket) : !PATH_BUCKET.test(bucket)))
    throw new InputError(
      `bucket ${json(bucket)}: ` +
        (virtualHosted
          ? "a virtual-hosted name is 3-63 of a-z 0-9 . -, starts and ends with a letter or digit, not an IP"
          : "a path-style name is 1-255 of A-Z a-z 0-9 . _ -"),
      "bucket",
    );
  if (key != null) {
    if (!key) throw new InputError("key must be a non-empty string", "key");
    if (DOT_SEGMENT.test(key) && !addressing.rawPath)
      throw new InputError(
        `key ${json(key)} has a "." or ".." segment, which fetch's URL parser collapses (another key!): ` +
          "use nodeFetch from s3-edge/node",
        "key",
      );
  }
  const basePath = endpoint.pathname.replace(/\/$/, "");
  return (
    endpoint.protocol +
    "//" +
    (virtualHosted ? bucket + "." : "") +
    endpoint.host +
    basePath +
    (virtualHosted ? "" : "/" + encodeRfc3986(bucket)) +
    (key != null ? "/" + encodePath(key) : virtualHosted ? "/" : "") +
    (query ? "?" + query : "")
  );
}
