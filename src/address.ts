// Addressing: THE one place where a bucket and a raw key become a URL. Bucket names are checked
// here, before any request, because a name is part of the URL: with virtual-hosted addressing a
// "bucket" such as `127.0.0.1:18128/#` would become the host the signed request goes to.
import { encodePath, encodeRfc3986 } from "./sigv4.ts";
import { InputError } from "./errors.ts";

export interface Addressing {
  /** The endpoint (for AWS: the bucket's regional endpoint). */
  endpoint: URL;
  /** undefined: virtual-hosted on AWS for DNS-label names, path style elsewhere. */
  forcePathStyle?: boolean;
  /** The transport sends the path as given (nodeFetch), so "." and ".." key segments are safe. */
  rawPath?: boolean;
}

const json = JSON.stringify;
// S3's rules for names in a host name: 3-63 lowercase letters, digits, dots and hyphens, starting
// and ending with a letter or digit, no ".." / ".-" / "-.", not an IP address.
const HOST_NAME_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const HOST_NAME_FORBIDDEN = /\.\.|\.-|-\.|^\d+\.\d+\.\d+\.\d+$/;
// Path style: the looser names of legacy us-east-1 buckets and S3-compatible servers (upper case,
// underscores, up to 255), but nothing that could change the URL's host or path (/ ? # @ : % and
// white space) and no "." or ".." segment (a URL parser collapses it: another bucket, another path).
const PATH_BUCKET = /^[\w.-]{1,255}$/;
// Virtual-hosted on AWS only for DNS-label names without dots (dots break the TLS wildcard certificate).
const DNS_LABEL = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const DOT_SEGMENT = /(^|\/)\.\.?(\/|$)/;

export const isAwsEndpoint = (endpoint: URL) => /\.amazonaws\.com$/.test(endpoint.hostname);

/**
 * The URL of a bucket (key undefined) or of an object: `query` is already encoded. Throws an
 * InputError naming the field for a bucket name the addressing cannot carry safely, an empty key,
 * or a "." / ".." key segment that fetch's URL parser would collapse into another key.
 */
export function requestUrl(addressing: Addressing, bucket: string, key?: string, query?: string): string {
  const { endpoint, forcePathStyle } = addressing;
  if (!bucket) throw new InputError("bucket must be a non-empty string", "bucket");
  const virtualHosted = forcePathStyle == null ? isAwsEndpoint(endpoint) && DNS_LABEL.test(bucket) : !forcePathStyle;
  if (
    virtualHosted
      ? !HOST_NAME_BUCKET.test(bucket) || HOST_NAME_FORBIDDEN.test(bucket)
      : !PATH_BUCKET.test(bucket) || bucket == "." || bucket == ".."
  )
    throw new InputError(
      `bucket ${json(bucket)} is not a valid name: ` +
        (virtualHosted
          ? "virtual-hosted addressing needs 3-63 lowercase letters, digits, dots and hyphens, " +
            "starting and ending with a letter or digit, not an IP address"
          : 'path style allows 1-255 letters, digits, ".", "_" and "-"'),
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
