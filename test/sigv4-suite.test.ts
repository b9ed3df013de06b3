// AWS's published SigV4 test suite, every case, header and query signing, with each case's
// context.json flags honoured. Without ../shared (a bare clone), the subset in
// fixtures/sigv4/aws-suite-subset.json still runs; in CI the full suite must be present.
// Then the vectors of other implementations' own tests (fixtures/sigv4/peer-vectors.json).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SigV4Signer } from "../src/sigv4.ts";
import { sha256Hex } from "../src/hash.ts";
import {
  loadLegacy,
  loadPeerVectors,
  loadV4,
  notS3,
  root,
  suiteDir,
  type PeerVector,
  type SuiteCase,
} from "./support/sigv4suite.ts";

async function check(c: SuiteCase, s3Rules = false) {
  const signer = new SigV4Signer({
    // omit_session_token: the token stays out of the signature and is appended afterwards (as
    // aws-c-auth does for services that want that; S3 never does), so the signer never sees it.
    accessKeyId: c.accessKeyId,
    secretAccessKey: c.secretAccessKey,
    sessionToken: c.omitSessionToken ? undefined : c.sessionToken,
    region: c.region,
    service: c.service,
    // aws-c-auth's harness double-encodes every case; S3 rules encode once and never normalize.
    doubleEncodePath: !s3Rules,
    normalizePath: s3Rules ? false : c.normalize,
  });
  // Headers as the file lists them, repeated names kept in order.
  const headers: Record<string, string[]> = {};
  for (const [k, v] of c.headers) (headers[k.toLowerCase()] ??= []).push(v);
  // sign_body: the payload hash is the body's and x-amz-content-sha256 is added and signed.
  // Legacy cases hash their body without adding the header.
  if (c.signBody) headers["x-amz-content-sha256"] = [await sha256Hex(c.body ?? "")];
  const body = c.signBody || c.name.startsWith("legacy/") ? c.body : undefined;
  const req = { method: c.method, url: c.url, headers, body };
  const date = new Date(c.date);
  const opts = { date };

  const h = await signer.sign(req, opts);
  assert.equal(h.canonicalRequest, c.header.canonicalRequest, `${c.name}: header canonical request`);
  assert.equal(h.stringToSign, c.header.stringToSign, `${c.name}: header string to sign`);
  assert.equal(h.signature, c.header.signature, `${c.name}: header signature`);
  assert.match(h.headers.authorization, new RegExp(`Signature=${c.header.signature}$`));
  if (c.sessionToken && !c.omitSessionToken) assert.equal(h.headers["x-amz-security-token"], c.sessionToken);

  if (c.query) {
    const payloadHash = await sha256Hex(c.signBody ? (c.body ?? "") : "");
    // Query signing carries the payload hash in the canonical request only, not as a header.
    const { "x-amz-content-sha256": _, ...qheaders } = headers;
    const q = await signer.presign({ ...req, headers: qheaders }, { ...opts, payloadHash, expiresIn: c.expiresIn! });
    assert.equal(q.canonicalRequest, c.query.canonicalRequest, `${c.name}: query canonical request`);
    assert.equal(q.stringToSign, c.query.stringToSign, `${c.name}: query string to sign`);
    assert.equal(q.signature, c.query.signature, `${c.name}: query signature`);
    assert.ok(q.url.endsWith(`X-Amz-Signature=${c.query.signature}`));
  }
}

const dir = suiteDir();
if (!dir && process.env.CI) {
  test("AWS SigV4 test suite is present in CI", () => {
    assert.fail("../shared/sigv4-test-suite (or $SIGV4_TEST_SUITE) not found: CI must run the full suite");
  });
}

if (dir) {
  const v4 = loadV4(dir),
    legacy = loadLegacy(dir);
  test("suite has the published case counts", () => {
    assert.equal(v4.length, 38);
    assert.equal(legacy.length, 5);
  });
  for (const c of [...v4, ...legacy]) test(`AWS suite ${c.name}`, () => check(c));
  // The same cases under S3's rules (single encoding, no normalization): the suite README says
  // 32 v4 cases apply to S3 as they are; the legacy ones have nothing to normalize either.
  for (const c of [...v4, ...legacy].filter((c) => !notS3(c)))
    test(`AWS suite ${c.name} under S3 path rules`, () => check(c, true));
}

// Always: the project's own copy of a representative subset (facts: inputs + expected values).
const subset: { source: string; cases: SuiteCase[] } = JSON.parse(
  readFileSync(join(root, "fixtures/sigv4/aws-suite-subset.json"), "utf8"),
);
for (const c of subset.cases) test(`fixture ${c.name}`, () => check(c));
test("fixture subset agrees with the suite when both are present", { skip: !dir && "suite not present" }, () => {
  const all = new Map([...loadV4(dir!), ...loadLegacy(dir!)].map((c) => [c.name, c]));
  for (const c of subset.cases) assert.deepEqual(c, JSON.parse(JSON.stringify(all.get(c.name))), c.name);
});

// Other implementations' own test vectors: each checks what its source test asserts.
const peers = loadPeerVectors();
const line = (canonicalRequest: string, n: number) => canonicalRequest.split("\n")[n];
async function checkPeer(vector: PeerVector) {
  const signer = new SigV4Signer(peers.signers[vector.signer]);
  const options = { date: new Date(vector.date ?? "2015-08-30T12:36:00Z") };
  const signed = vector.presign
    ? await signer.presign(vector.request, { ...options, ...vector.presign })
    : await signer.sign(vector.request, options);
  const { expect } = vector,
    canonical = signed.canonicalRequest;
  const signedHeaders = canonical.split("\n").at(-2)!.split(";");
  if (expect.canonicalRequest !== undefined) assert.equal(canonical, expect.canonicalRequest);
  if (expect.authorization !== undefined) assert.equal(signed.headers.authorization, expect.authorization);
  if (expect.signature !== undefined) assert.equal(signed.signature, expect.signature);
  if (expect.url !== undefined) assert.equal(signed.url, expect.url);
  if (expect.canonicalPath !== undefined) assert.equal(line(canonical, 1), expect.canonicalPath);
  if (expect.canonicalQuery !== undefined) assert.equal(line(canonical, 2), expect.canonicalQuery);
  if (expect.canonicalHeader !== undefined) {
    const name = expect.canonicalHeader.slice(0, expect.canonicalHeader.indexOf(":"));
    assert.equal(
      canonical.split("\n").find((l) => l.startsWith(name + ":")),
      expect.canonicalHeader,
    );
  }
  if (expect.unsignedHeader !== undefined) {
    const name = expect.unsignedHeader;
    assert.ok(!signedHeaders.includes(name), `${name} is not in SignedHeaders ${signedHeaders.join(";")}`);
    assert.ok(!canonical.includes(`\n${name}:`), `${name} is not in the canonical request`);
    assert.equal(signed.headers[name], vector.request.headers![name], `${name} is still sent`);
  }
}
test("peer vectors: the fixture names a source for each and checks something", () => {
  assert.ok(peers.vectors.length >= 70, `${peers.vectors.length} vectors`);
  for (const vector of peers.vectors) {
    assert.ok(vector.source.repo && vector.source.file && vector.source.test, vector.name);
    assert.ok(Object.keys(vector.expect).length > 0, vector.name);
    assert.ok(peers.signers[vector.signer], `${vector.name}: signer preset ${vector.signer}`);
  }
});
for (const vector of peers.vectors) test(`peer vector (${vector.rule}): ${vector.name}`, () => checkPeer(vector));
