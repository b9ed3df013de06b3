// The S3 client's public shapes: options, operation parameters and results. Types only (no code),
// so every module can import them without pulling anything into a bundle.
import type { Credentials } from "./sigv4.ts";

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
  /** Per-attempt budget in ms for the response headers (and a buffered body) (default 30_000). */
  timeoutMs?: number;
  /** Backoff base in ms: attempt n waits random() * base * 2^(n-1) (default 100). */
  retryBaseMs?: number;
}

export interface S3Object {
  key: string;
  lastModified: Date;
  etag: string;
  size: number;
  storageClass?: string;
  owner?: { id: string; displayName?: string };
}

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
  /** base64 of the 256-bit key; a secret: never in an error's message or fields (redacted). */
  sseCustomerKey?: string;
  /** base64 MD5 of the key */
  sseCustomerKeyMD5?: string;
}

export interface ListObjectsV2Params extends RequestOptions {
  bucket: string;
  prefix?: string;
  delimiter?: string;
  continuationToken?: string;
  startAfter?: string;
  maxKeys?: number;
  fetchOwner?: boolean;
  encodingType?: "url";
}

export interface ListObjectsV2Result {
  name: string;
  prefix?: string;
  delimiter?: string;
  startAfter?: string;
  continuationToken?: string;
  maxKeys?: number;
  encodingType?: string;
  contents: S3Object[];
  commonPrefixes: string[];
  isTruncated: boolean;
  nextContinuationToken?: string;
  keyCount: number;
  /** The response Date header: SERVER time. */
  date?: Date;
}

/** ETags are unquoted everywhere. */
export interface ObjectMetadata {
  /** Whole object size (Content-Range total when ranged, else Content-Length). */
  size: number;
  /** Bytes in this response body. */
  contentLength: number;
  etag: string;
  lastModified: Date;
  contentType?: string;
  contentEncoding?: string;
  cacheControl?: string;
  contentDisposition?: string;
  contentLanguage?: string;
  expires?: string;
  versionId?: string;
  storageClass?: string;
  contentRange?: { start: number; end: number; size: number };
  /** Base64, as S3 sends them. */
  checksums: { crc32?: string; crc32c?: string; sha1?: string; sha256?: string; crc64nvme?: string };
  checksumType?: string;
  /** x-amz-meta-* with lowercased names, prefix removed. */
  metadata: Record<string, string>;
  date?: Date;
}

export interface GetObjectResult extends ObjectMetadata {
  body: ReadableStream<Uint8Array>;
  status: number;
}

export interface ObjectParams extends RequestOptions, SseCustomerKey {
  bucket: string;
  key: string;
  versionId?: string;
  responseContentType?: string;
  responseContentDisposition?: string;
  responseContentEncoding?: string;
  responseContentLanguage?: string;
  responseCacheControl?: string;
  responseExpires?: string | Date;
}

export interface GetObjectParams extends ObjectParams {
  /** e.g. "bytes=0-99" */
  range?: string;
  /** Quoted or unquoted; "*" allowed. */
  ifMatch?: string;
  ifNoneMatch?: string;
  ifModifiedSince?: Date;
  ifUnmodifiedSince?: Date;
  partNumber?: number;
  checksumMode?: boolean;
}

export interface PutObjectParams extends RequestOptions, SseCustomerKey {
  bucket: string;
  key: string;
  body: string | Uint8Array;
  contentType?: string;
  cacheControl?: string;
  contentDisposition?: string;
  contentEncoding?: string;
  metadata?: Record<string, string>;
}
