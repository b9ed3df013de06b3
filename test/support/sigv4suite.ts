// Loads AWS's published SigV4 test suite (../shared/sigv4-test-suite, or $SIGV4_TEST_SUITE)
// into one case format, which is also the format of fixtures/sigv4/aws-suite-subset.json.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export interface Expect {
  canonicalRequest: string;
  stringToSign: string;
  signature: string;
}
export interface SuiteCase {
  name: string;
  method: string;
  url: string; // https://<host><target>, target raw as in request.txt
  headers: [string, string][]; // in file order, duplicates kept
  body?: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  region: string;
  service: string;
  date: string;
  expiresIn?: number;
  normalize: boolean;
  signBody: boolean;
  omitSessionToken: boolean;
  header: Expect;
  query?: Expect;
}

export function suiteDir(): string | undefined {
  const dir = process.env.SIGV4_TEST_SUITE || join(root, "../shared/sigv4-test-suite");
  return existsSync(join(dir, "v4")) ? dir : undefined;
}

function parseRequest(text: string) {
  const lines = text.split("\n");
  const first = lines[0];
  const sp = first.indexOf(" ");
  const method = first.slice(0, sp);
  // The target may hold a literal space (get-space-*), so cut " HTTP/1.1" off the end.
  const target = first.slice(sp + 1, first.lastIndexOf(" HTTP/"));
  const headers: [string, string][] = [];
  let i = 1;
  for (; i < lines.length && lines[i] !== ""; i++) {
    const l = lines[i];
    if (/^\s/.test(l))
      headers[headers.length - 1][1] += "\n" + l; // folded continuation line
    else {
      const c = l.indexOf(":");
      headers.push([l.slice(0, c), l.slice(c + 1)]);
    }
  }
  const body = i < lines.length - 1 ? lines.slice(i + 1).join("\n") : undefined;
  const host = headers.find(([k]) => k.toLowerCase() === "host")![1].trim();
  return { method, url: `https://${host}${target}`, headers, body: body || undefined };
}

const read = (p: string) => readFileSync(p, "utf8");

export function loadV4(dir: string): SuiteCase[] {
  return readdirSync(join(dir, "v4"))
    .sort()
    .map((name) => {
      const d = join(dir, "v4", name);
      const ctx = JSON.parse(read(join(d, "context.json")));
      const exp = (m: string): Expect => ({
        canonicalRequest: read(join(d, `${m}-canonical-request.txt`)),
        stringToSign: read(join(d, `${m}-string-to-sign.txt`)),
        signature: read(join(d, `${m}-signature.txt`)),
      });
      return {
        name: `v4/${name}`,
        ...parseRequest(read(join(d, "request.txt"))),
        accessKeyId: ctx.credentials.access_key_id,
        secretAccessKey: ctx.credentials.secret_access_key,
        sessionToken: ctx.credentials.token,
        region: ctx.region,
        service: ctx.service,
        date: ctx.timestamp,
        expiresIn: ctx.expiration_in_seconds,
        normalize: ctx.normalize,
        signBody: !!ctx.sign_body,
        omitSessionToken: !!ctx.omit_session_token,
        header: exp("header"),
        query: exp("query"),
      };
    });
}

export function loadLegacy(dir: string): SuiteCase[] {
  const out: SuiteCase[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const p = join(d, e.name),
        f = join(p, e.name);
      if (!existsSync(f + ".req")) {
        walk(p);
        continue;
      }
      const req = parseRequest(read(f + ".req"));
      out.push({
        name: `legacy/${e.name}`,
        ...req,
        accessKeyId: "AKIDEXAMPLE",
        secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        region: "us-east-1",
        service: "service",
        date: "2015-08-30T12:36:00Z",
        // Legacy cases hash the body they carry and add no x-amz-content-sha256 header.
        normalize: true,
        signBody: false,
        omitSessionToken: false,
        header: {
          canonicalRequest: read(f + ".creq"),
          stringToSign: read(f + ".sts"),
          signature: /Signature=([0-9a-f]{64})/.exec(read(f + ".authz"))![1],
        },
      });
    }
  };
  walk(join(dir, "legacy"));
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** The 6 cases whose expectations assume a normalized path, which S3 never does (suite README). */
export const notS3 = (c: SuiteCase) =>
  /^v4\/get-(relative|relative-relative|slash|slash-dot-slash|slash-pointless-dot|slashes)-normalized$/.test(c.name) ||
  c.name === "v4/post-sts-header-after";

/** A vector from another SigV4 implementation's own tests (fixtures/sigv4/peer-vectors.json). */
export interface PeerVector {
  name: string;
  rule: string;
  source: { repo: string; commit?: string; file: string; test: string };
  note?: string;
  /** A preset of the file's `signers`, by name. */
  signer: string;
  date?: string;
  presign?: { expiresIn: number };
  request: { method: string; url: string; headers?: Record<string, string> };
  /** Each given field is checked; a vector gives what its source test asserts. */
  expect: {
    canonicalRequest?: string;
    authorization?: string;
    signature?: string;
    /** The presigned URL. */
    url?: string;
    canonicalPath?: string;
    canonicalQuery?: string;
    /** A "name:value" line of the canonical headers. */
    canonicalHeader?: string;
    /** A header that is sent but not signed. */
    unsignedHeader?: string;
  };
}

export interface PeerVectors {
  signers: Record<string, import("../../src/sigv4.ts").SignerOptions>;
  vectors: PeerVector[];
}

export const loadPeerVectors = (): PeerVectors =>
  JSON.parse(readFileSync(join(root, "fixtures/sigv4/peer-vectors.json"), "utf8"));
