// Client CPU per ListObjectsV2 page (issue 3): one op = build + sign the request, "receive" a
// 1000-key page from a stubbed transport (no network), parse it and return typed objects.
// s3-edge vs @aws-sdk/client-s3 vs s3mini, all answered with the same bytes and headers. Each runs
// in a process of its own (harness isolate): one library's heap and garbage never slow another.
import { Readable } from "node:stream";
import type { HttpRequest } from "@smithy/protocol-http";
import { listObjectsV2Page } from "../test/support/listxml.ts";
import { runBench, check, type Contender } from "./harness.ts";
import { importSubject } from "./subject.ts";

const bucket = "examplebucket",
  prefix = "reports/",
  region = "us-east-1";
// No session token here: s3mini has no option for one, so all three sign the same header set.
const credentials = {
  accessKeyId: "AKIAIOSFODNN7EXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
};
const { xml, objects } = listObjectsV2Page({ count: 1000, seed: 1, prefix, truncated: false });
const body = new TextEncoder().encode(xml); // the transport delivers bytes; each client decodes them itself
const headers = () => ({
  "content-type": "application/xml",
  "content-length": String(body.length),
  "x-amz-request-id": "BENCH0000000001",
  "x-amz-id-2": "benchHostId",
  date: new Date().toUTCString(),
  server: "AmazonS3",
});

// Records what each client sent once, to prove it really signed a ListObjectsV2 request.
const seen: Record<string, { url: string; auth: string | null }> = {};
const fetchStub = (who: string) =>
  (async (input: RequestInfo | URL, init?: RequestInit) => {
    if (!seen[who]) {
      const url = typeof input == "string" ? input : input instanceof URL ? input.href : input.url;
      seen[who] = { url, auth: new Headers(init?.headers ?? (input as Request).headers).get("authorization") };
    }
    return new Response(body, { status: 200, headers: headers() });
  }) as typeof fetch;

// ---- contenders: each loaded (imported, built, checked once) only in the process that times it ---
const signed = (who: string) => {
  const sent = seen[who];
  check(
    sent && /list-type=2/.test(sent.url) && sent.auth?.startsWith("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/"),
    `${who}: sent a signed ListObjectsV2 request`,
  );
};
const contenders: Contender[] = [
  {
    name: "@aws-sdk/client-s3",
    async load() {
      const [{ S3Client, ListObjectsV2Command }, { HttpResponse }] = await Promise.all([
        import("@aws-sdk/client-s3"),
        import("@smithy/protocol-http"),
      ]);
      const sdk = new S3Client({
        region,
        credentials,
        // A stub request handler, as the SDK's own tests do: the same bytes, as a Node Readable (as
        // node-http-handler gives them).
        requestHandler: {
          async handle(request: HttpRequest) {
            const query = new URLSearchParams(request.query as Record<string, string>);
            if (!seen.sdk)
              seen.sdk = {
                url: `${request.protocol}//${request.hostname}${request.path}?${query}`,
                auth: request.headers.authorization ?? null,
              };
            return {
              response: new HttpResponse({
                statusCode: 200,
                headers: headers(),
                body: Readable.from([Buffer.from(body)]),
              }),
            };
          },
          updateHttpClientConfig() {},
          httpHandlerConfigs: () => ({}),
        } as any,
      });
      const run = () => sdk.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
      const result = await run();
      signed("sdk");
      check(
        result.Contents?.length == 1000 &&
          result.Contents.every(
            (object, i) =>
              object.ETag == objects[i].etag &&
              object.Size == objects[i].size &&
              object.LastModified?.toISOString() == objects[i].lastModified,
          ),
        "@aws-sdk/client-s3: 1000 typed objects",
      );
      const bad = result.Contents.filter((object, i) => object.Key != objects[i].key).length;
      if (bad) console.log(`note: @aws-sdk/client-s3 returned ${bad} keys that differ from the page`);
      return run;
    },
  },
  {
    name: "s3mini",
    async load() {
      const { S3mini } = await import("s3mini");
      const mini = new S3mini({
        ...credentials,
        region,
        endpoint: `https://${bucket}.s3.${region}.amazonaws.com`,
        fetch: fetchStub("s3mini"),
      });
      const run = () => mini.listObjectsPaged("/", prefix, 1000);
      const result = await run();
      signed("s3mini");
      const list = result?.objects ?? [];
      check(
        list.length == 1000 &&
          list.every(
            (object, i) =>
              object.Size == objects[i].size && object.LastModified.toISOString() == objects[i].lastModified,
          ),
        "s3mini: 1000 typed objects",
      );
      const wrong = list.filter((object, i) => object.Key != objects[i].key);
      if (wrong.length)
        console.log(
          `note: s3mini returned ${wrong.length} of 1000 keys that differ from the page ` +
            `(e.g. ${JSON.stringify(wrong[0].Key)})`,
        );
      return run;
    },
  },
];
if (await importSubject("../src/client.ts"))
  contenders.unshift({
    name: "s3-edge",
    async load() {
      const { S3Client } = await import("../src/client.ts");
      const edge = new S3Client({ region, credentials, fetch: fetchStub("s3-edge") });
      const run = () => edge.listObjectsV2({ bucket, prefix });
      const result = await run();
      signed("s3-edge");
      check(result.contents.length == 1000 && result.keyCount == 1000 && !result.isTruncated, "s3-edge: 1000 objects");
      check(
        result.contents.every(
          (object, i) =>
            object.key == objects[i].key &&
            `"${object.etag}"` == objects[i].etag &&
            object.size == objects[i].size &&
            object.lastModified.toISOString() == objects[i].lastModified &&
            object.storageClass == objects[i].storageClass,
        ),
        "s3-edge: typed objects equal the page",
      );
      return run;
    },
  });
if (!process.env.BENCH_ISOLATED_CONTENDER)
  console.log(
    `page: 1000 keys, ${body.length.toLocaleString("en-US")} bytes; each client checked against it in its own process`,
  );

// ---- timing ------------------------------------------------------------------------------------
await runBench(
  "list",
  [{ name: "ListObjectsV2 page (stubbed)", contenders, targets: { "@aws-sdk/client-s3": 8, s3mini: 3 } }],
  {
    rounds: 15,
    sliceMs: 250,
    warmupMs: 600,
    unit: "page",
    isolate: true,
    meta: { pageBytes: body.length, keys: 1000 },
  },
);
