// S3Client: construction (endpoint, region, credentials), addressing and the S3 operations. Every
// request goes through `request` -> signedFetch (src/request.ts), the one signed-fetch path.
// Where the rest lives: shapes in types.ts, parameters -> headers/query in wire.ts, bucket + key ->
// URL in address.ts, response decoding and error building in responses.ts.
import type { SigV4Signer } from "./sigv4.ts";
import { InputError, S3Error } from "./errors.ts";
import { requestUrl } from "./address.ts";
import { redactSecrets, signedFetch, signersFor, type Clock } from "./request.ts";
import { amzHeaders, json, listQuery, objectRequest, wireParams, words, type StringMap } from "./wire.ts";
import { decodeListing, objectMetadata, s3Error, unquoteEtag, type RequestContext } from "./responses.ts";
import type {
  GetObjectParams,
  GetObjectResult,
  ListObjectsV2Params,
  ListObjectsV2Result,
  ObjectMetadata,
  ObjectParams,
  PutObjectParams,
  S3ClientOptions,
} from "./types.ts";

export type * from "./types.ts";

// S3 may return empty truncated pages while it skips over many delete markers (1000 per page), so
// a run of them is legal; 1000 in a row (a million skipped entries) means a server that hands out
// fresh tokens for ever.
const MAX_EMPTY_PAGES = 1000;
// A region name as AWS writes them; a server-named region must match it before it goes into a host name.
const REGION = /^[a-z0-9-]+$/;

/**
 * Every page of a listing, following continuation tokens; a truncated page that repeats an earlier
 * token or has none, or MAX_EMPTY_PAGES empty truncated pages in a row, is an S3Error
 * (InvalidResponse), not an endless loop. Shared by listAll and the trigger.
 */
export async function* listPages(
  client: Pick<S3Client, "listObjectsV2">,
  params: Omit<ListObjectsV2Params, "continuationToken">,
): AsyncGenerator<ListObjectsV2Result> {
  const seen = new Set<string>();
  for (let token: string | undefined, emptyPages = 0; ;) {
    const page = await client.listObjectsV2({ ...params, continuationToken: token });
    yield page;
    if (!page.isTruncated) return;
    emptyPages = page.contents.length || page.commonPrefixes.length ? 0 : emptyPages + 1;
    token = page.nextContinuationToken;
    const problem = !token
      ? "has no token"
      : seen.has(token)
        ? "repeats its token"
        : emptyPages >= MAX_EMPTY_PAGES && `is empty, the ${emptyPages}th in a row`;
    if (problem)
      throw new S3Error(
        "InvalidResponse",
        200,
        `listing ${json(params.bucket)}: truncated page ${problem}, stopped instead of looping`,
        { bucket: params.bucket },
      );
    seen.add(token!);
  }
}

/** One request of an operation, before addressing and signing. */
interface S3Request extends RequestContext {
  signal?: AbortSignal;
  query?: string;
  headers?: StringMap;
  body?: string | Uint8Array;
  /** Leave the body of a success unread (getObject). */
  stream?: boolean;
}

export class S3Client {
  // #private: not API, and esbuild's minifier shortens these names (it keeps public ones).
  #options: S3ClientOptions;
  #region: string;
  #endpoint!: URL;
  /** Server clock minus local clock, learned from the Date of a skew error (request.ts). */
  #clock: Clock = { skewMs: 0 };
  /** signerOf(region): the signer of the current credentials, rebuilt only when they change. */
  #signerOf: (region: string) => Promise<SigV4Signer>;
  /** The region S3 named for a bucket (a redirect or a 400 with x-amz-bucket-region). */
  #bucketRegions = new Map<string, string>();

  constructor(options: S3ClientOptions) {
    this.#options = { ...options };
    this.#signerOf = signersFor(options.credentials, "s3");
    const region = (this.#region = options.region ?? "us-east-1");
    if (!REGION.test(region))
      throw new InputError(`region must look like "us-east-1" ("auto" for R2), not ${json(region)}`, "region");
    try {
      this.#endpoint = new URL(options.endpoint ?? `https://s3.${region}.amazonaws.com`);
    } catch {}
    if (!/^https?:$/.test(this.#endpoint?.protocol))
      throw new InputError(
        `endpoint must be an http(s) URL like "http://127.0.0.1:9000", not ${json(options.endpoint)}`,
        "endpoint",
      );
  }

  /** The region a bucket's requests are signed for: the one S3 named for it, else the client's. */
  #regionOf(bucket: string) {
    return this.#bucketRegions.get(bucket) ?? this.#region;
  }

  /** The URL of a bucket or object (address.ts: the one URL builder), at the bucket's region's endpoint. */
  #url(bucket: string, key?: string, query?: string) {
    const rawPath = (this.#options.fetch as { rawPath?: boolean } | undefined)?.rawPath,
      region = this.#regionOf(bucket);
    let endpoint = this.#endpoint;
    // On AWS the region is part of the host name (s3.<region>.amazonaws.com, s3-<region>..., s3.amazonaws.com).
    if (region != this.#region && /^s3[.-]([\w-]+\.)?amazonaws\.com$/.test(endpoint.hostname))
      endpoint = new URL(`${endpoint.protocol}//s3.${region}.amazonaws.com`);
    return requestUrl({ endpoint, forcePathStyle: this.#options.forcePathStyle, rawPath }, bucket, key, query);
  }

  /**
   * Every S3 request goes through here, then through signedFetch. When S3 names the bucket's
   * region (301 PermanentRedirect, 307, 400 AuthorizationHeaderMalformed: x-amz-bucket-region),
   * the request is signed for that region (at its endpoint on AWS) once more, and the region is
   * kept for the bucket; otherwise the S3Error says which region the bucket is in.
   */
  async #request(request: S3Request, redirected?: boolean): ReturnType<typeof signedFetch> {
    const { body, bucket } = request,
      region = this.#regionOf(bucket);
    try {
      return await signedFetch({
        // maxAttempts, timeoutMs, retryBaseMs and fetch as the caller gave them; method, headers,
        // body, signal and stream as the operation set them.
        ...this.#options,
        ...request,
        signer: () => this.#signerOf(region),
        url: this.#url(bucket, request.key, request.query),
        payloadHash: body == null ? "UNSIGNED-PAYLOAD" : undefined,
        toError: (response, errorBody, signed) => s3Error(response, errorBody, request, signed),
        clock: this.#clock,
      });
    } catch (error) {
      const named = (error as S3Error).region;
      if (redirected || !named || named == region || !REGION.test(named)) throw error;
      this.#bucketRegions.set(bucket, named);
      return this.#request(request, true);
    }
  }

  async listObjectsV2(params: ListObjectsV2Params): Promise<ListObjectsV2Result> {
    const context = { method: "GET", bucket: params.bucket };
    const { response, body, signed } = await this.#request({
      ...context,
      signal: params.signal,
      query: listQuery(params),
      headers: amzHeaders(params),
    });
    // A 200 that is not a listing (a captive portal, a proxy's echo) says what came back, secrets redacted.
    return (
      decodeListing(body, params, response) ??
      throwError(redactSecrets(s3Error(response, body, context, signed, "InvalidResponse"), signed))
    );
  }

  /** Every object, page after page; throws (instead of looping) if a truncated page repeats or omits its token. */
  async *listAll(params: Omit<ListObjectsV2Params, "continuationToken">) {
    for await (const page of listPages(this, params)) yield* page.contents;
  }

  /** The body streams from the response, never buffered; the per-attempt timeout covers only the headers. */
  async getObject(params: GetObjectParams): Promise<GetObjectResult> {
    const { response } = await this.#request({ method: "GET", ...params, ...objectRequest(params), stream: true });
    return {
      ...objectMetadata(response),
      body: response.body ?? new ReadableStream({ start: (controller) => controller.close() }),
      status: response.status,
    };
  }

  async headObject(params: GetObjectParams): Promise<ObjectMetadata> {
    return objectMetadata((await this.#request({ method: "HEAD", ...params, ...objectRequest(params) })).response);
  }

  /** A URL that plain fetch/curl can GET for expiresIn seconds (max 604800). */
  async presignGetObject(params: ObjectParams & { expiresIn: number }): Promise<string> {
    const url = this.#url(params.bucket, params.key, objectRequest(params).query);
    const date = new Date(Date.now() + this.#clock.skewMs);
    return (
      await (
        await this.#signerOf(this.#regionOf(params.bucket))
      ).presign({ method: "GET", url }, { date, expiresIn: params.expiresIn })
    ).url;
  }

  async putObject(params: PutObjectParams): Promise<{ etag: string; versionId?: string }> {
    const headers = amzHeaders(
      params,
      wireParams(params, words("contentType cacheControl contentDisposition contentEncoding")),
    );
    const metadata = params.metadata ?? {};
    for (const name in metadata) {
      // fetch rejects such headers with a TypeError that looks like a network error.
      if (/[^\w-]/.test(name) || /[^ -~]/.test(metadata[name]))
        throw new InputError(`metadata ${json(name)}: names [A-Za-z0-9_-], values printable ASCII`, "metadata");
      headers["x-amz-meta-" + name] = metadata[name];
    }
    const { response } = await this.#request({ method: "PUT", ...params, headers });
    return {
      etag: unquoteEtag(response.headers.get("etag")),
      versionId: response.headers.get("x-amz-version-id") ?? undefined,
    };
  }

  async deleteObject(params: { bucket: string; key: string; signal?: AbortSignal }): Promise<void> {
    await this.#request({ method: "DELETE", ...params });
  }

  /** PUT /bucket, for tests and demos. AWS wants the region named unless it is us-east-1. */
  async createBucket(params: { bucket: string; signal?: AbortSignal }): Promise<void> {
    const region = this.#region;
    await this.#request({
      method: "PUT",
      bucket: params.bucket,
      signal: params.signal,
      body: /^(us-east-1|auto)$/.test(region)
        ? undefined
        : `<CreateBucketConfiguration><LocationConstraint>${region}</LocationConstraint></CreateBucketConfiguration>`,
    });
  }
}

const throwError = (error: Error): never => {
  throw error;
};
