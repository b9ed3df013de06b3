// SigV4 signing speed (issue 2): header-auth GET with a session token and UNSIGNED-PAYLOAD, and a
// presigned GET (1 h, session token), for s3-edge vs aws4fetch, @smithy/signature-v4 and aws4.
// Before timing, every contender signs the same request at a fixed date and the signatures are
// compared: s3-edge must equal @smithy/signature-v4 (the AWS SDK's signer) or the run fails.
import { AwsClient } from "aws4fetch";
import { SignatureV4 } from "@smithy/signature-v4";
import { HttpRequest } from "@smithy/protocol-http";
import { Hash } from "@smithy/hash-node";
import aws4 from "aws4";
import { runBench, check, type Contender } from "./harness.ts";
import { importSubject } from "./subject.ts";

const creds = {
  accessKeyId: "AKIAIOSFODNN7EXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  // Realistic length for an STS token (they run ~400–1000 chars); it is hashed into every header signature.
  sessionToken:
    "IQoJb3JpZ2luX2VjEBAaCXVzLWVhc3QtMSJHMEUCIQD" + "bench0Token1For2S3edge3Comparison4".repeat(12) + "Zm9vYmFy/+==",
};
const region = "us-east-1",
  service = "s3";
const host = "examplebucket.s3.us-east-1.amazonaws.com";
const path = "/some/key%20with%20space.txt";
const url = `https://${host}${path}`;
const UNSIGNED = "UNSIGNED-PAYLOAD";
const FIXED = new Date("2013-05-24T00:00:00Z");
const FIXED_AMZ = "20130524T000000Z";

// ---- contenders ------------------------------------------------------------------------------
const a4f = new AwsClient({ ...creds, service, region }); // once: its signing-key cache is shared across calls
const a4fSign = (datetime?: string) =>
  a4f.sign(url, { method: "GET", headers: { "x-amz-content-sha256": UNSIGNED }, aws: datetime ? { datetime } : {} });
const a4fPresign = (datetime?: string) =>
  a4f.sign(`${url}?X-Amz-Expires=3600`, {
    method: "GET",
    aws: datetime ? { signQuery: true, datetime } : { signQuery: true },
  });

const smithy = new SignatureV4({
  credentials: creds,
  region,
  service,
  sha256: Hash.bind(null, "sha256"),
  uriEscapePath: false,
});
const smithyReq = () =>
  new HttpRequest({
    method: "GET",
    protocol: "https:",
    hostname: host,
    path,
    headers: { host, "x-amz-content-sha256": UNSIGNED },
  });
const smithySign = (signingDate?: Date) => smithy.sign(smithyReq(), signingDate ? { signingDate } : {});
// As @aws-sdk/s3-request-presigner does: payload UNSIGNED-PAYLOAD, and that header neither hoisted nor signed.
const noSha = new Set(["x-amz-content-sha256"]);
const smithyPresign = (signingDate?: Date) =>
  smithy.presign(smithyReq(), {
    expiresIn: 3600,
    unhoistableHeaders: noSha,
    unsignableHeaders: noSha,
    ...(signingDate ? { signingDate } : {}),
  });

const aws4Sign = (date?: string) =>
  aws4.sign(
    {
      host,
      path,
      service,
      region,
      method: "GET",
      headers: date ? { "X-Amz-Content-Sha256": UNSIGNED, "X-Amz-Date": date } : { "X-Amz-Content-Sha256": UNSIGNED },
    },
    creds,
  );
const aws4Presign = (date?: string) =>
  aws4.sign(
    {
      host,
      service,
      region,
      method: "GET",
      signQuery: true,
      path: `${path}?X-Amz-Expires=3600${date ? `&X-Amz-Date=${date}` : ""}`,
    },
    creds,
  );

const sigOfAuth = (a: string | null | undefined) => /Signature=([0-9a-f]{64})/.exec(a ?? "")?.[1];
const sigOfUrl = (u: string) => /[?&]X-Amz-Signature=([0-9a-f]{64})/.exec(u)?.[1];
const smithyUrl = (r: { path: string; query?: Record<string, unknown> }) =>
  `https://${host}${r.path}?` + new URLSearchParams(r.query as Record<string, string>).toString();

const sigv4 = await importSubject<typeof import("../src/sigv4.ts")>("../src/sigv4.ts");
const edge = sigv4 && new sigv4.SigV4Signer({ ...creds, region, service });
const edgeSign = (date?: Date) =>
  edge!.sign({ method: "GET", url, headers: {} }, date ? { payloadHash: UNSIGNED, date } : { payloadHash: UNSIGNED });
const edgePresign = (date?: Date) =>
  edge!.presign({ method: "GET", url }, date ? { expiresIn: 3600, date } : { expiresIn: 3600 });

// ---- validation + cross-check at a fixed date -------------------------------------------------
const header: Record<string, string | undefined> = {
  aws4fetch: sigOfAuth((await a4fSign(FIXED_AMZ)).headers.get("authorization")),
  "@smithy/signature-v4": sigOfAuth((await smithySign(FIXED)).headers.authorization as string),
  aws4: sigOfAuth(aws4Sign(FIXED_AMZ).headers!.Authorization as string),
};
const presign: Record<string, string | undefined> = {
  aws4fetch: sigOfUrl((await a4fPresign(FIXED_AMZ)).url),
  "@smithy/signature-v4": sigOfUrl(smithyUrl((await smithyPresign(FIXED)) as any)),
  aws4: sigOfUrl(aws4Presign(FIXED_AMZ).path!),
};
if (edge) {
  const s = await edgeSign(FIXED),
    p = await edgePresign(FIXED);
  check(
    s.headers.authorization?.startsWith(
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request",
    ),
    "s3-edge authorization header",
  );
  check(s.headers["x-amz-security-token"] == creds.sessionToken, "s3-edge x-amz-security-token");
  check(sigOfAuth(s.headers.authorization) == s.signature, "s3-edge signature in header");
  check(
    sigOfUrl(p.url) == p.signature && p.url.includes("X-Amz-Security-Token=") && p.url.includes("X-Amz-Expires=3600"),
    "s3-edge presigned URL",
  );
  header["s3-edge"] = s.signature;
  presign["s3-edge"] = p.signature;
}
console.log("Cross-check at 2013-05-24T00:00:00Z (same request, same credentials):");
let failed = false;
for (const [what, sigs] of [
  ["header-auth GET", header],
  ["presigned GET", presign],
] as const) {
  const ref = sigs["@smithy/signature-v4"];
  for (const [name, sig] of Object.entries(sigs)) {
    check(sig && /^[0-9a-f]{64}$/.test(sig), `${name} produced no signature for ${what}`);
    if (name == "@smithy/signature-v4") continue;
    const same = sig == ref;
    // s3-edge must match the AWS SDK's signer; other competitors are shown for information.
    if (!same && name == "s3-edge") failed = true;
    const verdict = same ? "✓ equals" : "✗ differs from";
    console.log(`  ${what.padEnd(16)} ${name.padEnd(10)} ${verdict} @smithy/signature-v4  ${sig.slice(0, 16)}…`);
  }
}
if (failed) {
  console.error("FAIL: s3-edge's signature differs from @smithy/signature-v4's");
  process.exit(1);
}
if (!edge) console.log("  (s3-edge: src/sigv4.ts not present yet — competitors only)");

// ---- timing ------------------------------------------------------------------------------------
const signC: Contender[] = [
  { name: "aws4fetch", run: () => a4fSign() },
  { name: "@smithy/signature-v4", run: () => smithySign() },
  { name: "aws4", run: () => aws4Sign() },
];
const presignC: Contender[] = [
  { name: "aws4fetch", run: () => a4fPresign() },
  { name: "@smithy/signature-v4", run: () => smithyPresign() },
  { name: "aws4", run: () => aws4Presign() },
];
if (edge) {
  signC.unshift({ name: "s3-edge", run: () => edgeSign() });
  presignC.unshift({ name: "s3-edge", run: () => edgePresign() });
}
await runBench(
  "sign",
  [
    { name: "header-auth GET", contenders: signC, targets: { aws4fetch: 5 } },
    { name: "presigned GET", contenders: presignC, targets: { aws4fetch: 5 } },
  ],
  {
    rounds: 15,
    sliceMs: 150,
    warmupMs: 300,
    meta: {
      request: `GET ${url}`,
      sessionTokenLength: creds.sessionToken.length,
      note: "aws4 and @smithy/hash-node use node:crypto (native); aws4fetch and s3-edge use no node: API",
    },
  },
);
