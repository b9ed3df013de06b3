// S3-specific signing rules: the S3 documentation's published examples, path encoding without
// normalization, payload hashes, presigned URLs with session tokens, query and header
// canonicalization, and typed input errors that never leak a secret.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { encodePath, encodeRfc3986, SigV4Signer } from "../src/sigv4.ts";
import { InputError } from "../src/errors.ts";
import { root } from "./support/sigv4suite.ts";

const docs = JSON.parse(readFileSync(join(root, "fixtures/sigv4/s3-docs.json"), "utf8"));
const date = new Date(docs.date);
const s3 = new SigV4Signer({ ...docs.credentials, region: "us-east-1", service: "s3" });
const SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const TOKEN = "FQoGZXIvYXdzEXAMPLE//token+with/slashes=";
const tokenSigner = new SigV4Signer({
  accessKeyId: "AKIAIOSFODNN7EXAMPLE",
  secretAccessKey: SECRET,
  sessionToken: TOKEN,
  region: "eu-west-1",
  service: "s3",
});
const line = (cr: string, n: number) => cr.split("\n")[n];

for (const c of docs.header) {
  test(`S3 docs example: ${c.name}`, async () => {
    const r = await s3.sign({ method: c.method, url: c.url, headers: c.headers, body: c.body }, { date });
    assert.equal(r.signature, c.signature);
    assert.equal(r.headers.authorization.split("SignedHeaders=")[1].split(",")[0], c.signedHeaders);
    if (c.canonicalPath) assert.equal(line(r.canonicalRequest, 1), c.canonicalPath);
    if (c.canonicalQuery) assert.equal(line(r.canonicalRequest, 2), c.canonicalQuery);
    if (c.payloadHash) assert.equal(r.headers["x-amz-content-sha256"], c.payloadHash);
  });
}
for (const c of docs.presign) {
  test(`S3 docs example: ${c.name}`, async () => {
    const r = await s3.presign({ method: c.method, url: c.url }, { date, expiresIn: c.expiresIn });
    assert.equal(r.signature, c.signature);
    assert.equal(line(r.canonicalRequest, 2), c.canonicalQuery);
    assert.equal(r.url, `${c.url}?${c.canonicalQuery}&X-Amz-Signature=${c.signature}`);
    assert.ok(r.canonicalRequest.endsWith("\nhost\nUNSIGNED-PAYLOAD"));
  });
}

test("encodePath / encodeRfc3986: every byte but A-Za-z0-9-._~ (and / for paths), uppercase hex", () => {
  assert.equal(encodePath("a b+c%d/e~f_g-h.i"), "a%20b%2Bc%25d/e~f_g-h.i");
  assert.equal(encodePath("!'()*$&,;=:@?#[]"), "%21%27%28%29%2A%24%26%2C%3B%3D%3A%40%3F%23%5B%5D");
  assert.equal(encodePath("ሴ/😀/é"), "%E1%88%B4/%F0%9F%98%80/%C3%A9");
  assert.equal(encodePath("e\u0301"), "e%CC%81"); // NFD stays NFD: S3 keys are bytes
  assert.equal(encodeRfc3986("a/b c"), "a%2Fb%20c");
  assert.throws(() => encodePath("bad\uD800"), InputError);
});

test("S3 paths are signed literally: no normalization of . .. // or trailing /", async () => {
  for (const key of ["a/./b", "a/../b", "a//b", "dir/", "./x", "../../etc", "//", "a/b/.."]) {
    const url = `https://bucket.s3.us-east-1.amazonaws.com/${encodePath(key)}`;
    const r = await s3.sign({ method: "GET", url }, { date });
    assert.equal(line(r.canonicalRequest, 1), "/" + encodePath(key), key);
    assert.equal(r.url, url, "url passed through untouched");
    const p = await s3.presign({ method: "GET", url }, { date, expiresIn: 60 });
    assert.ok(p.url.startsWith(url + "?"), `presigned url keeps ${key}`);
  }
});

test("S3 paths are encoded once: wire escapes are canonicalized, not double-encoded", async () => {
  const sig = async (path: string) =>
    line((await s3.sign({ method: "GET", url: `https://b.s3.amazonaws.com${path}` }, { date })).canonicalRequest, 1);
  assert.equal(await sig("/a%2bb"), "/a%2Bb");
  assert.equal(await sig("/a+b"), "/a%2Bb");
  assert.equal(await sig("/a b"), "/a%20b");
  assert.equal(await sig("/100%25"), "/100%25");
  assert.equal(await sig("/100%"), "/100%25"); // a lone % is a literal percent
  assert.equal(await sig("/%E1%88%B4"), "/%E1%88%B4");
  assert.equal(await sig("/ሴ"), "/%E1%88%B4");
  // Another service double-encodes and normalizes (switchable both ways).
  const other = new SigV4Signer({ ...docs.credentials, region: "us-east-1", service: "execute-api" });
  const o = await other.sign({ method: "GET", url: "https://x.example/a%20b/./c/../d" }, { date });
  assert.equal(line(o.canonicalRequest, 1), "/a%2520b/d");
  const lit = new SigV4Signer({
    ...docs.credentials,
    region: "us-east-1",
    service: "execute-api",
    normalizePath: false,
    doubleEncodePath: false,
  });
  assert.equal(
    line((await lit.sign({ method: "GET", url: "https://x.example/a%20b/./c" }, { date })).canonicalRequest, 1),
    "/a%20b/./c",
  );
});

test("x-amz-content-sha256 is always added and signed for S3 header auth", async () => {
  const url = "https://b.s3.amazonaws.com/k";
  const empty = await s3.sign({ method: "GET", url }, { date });
  assert.equal(
    empty.headers["x-amz-content-sha256"],
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
  const body = await s3.sign({ method: "PUT", url, body: new TextEncoder().encode("abc") }, { date });
  assert.equal(
    body.headers["x-amz-content-sha256"],
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  const unsigned = await s3.sign({ method: "PUT", url, body: "abc" }, { date, payloadHash: "UNSIGNED-PAYLOAD" });
  assert.equal(unsigned.headers["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
  assert.ok(unsigned.canonicalRequest.endsWith("\nUNSIGNED-PAYLOAD"));
  for (const r of [empty, body, unsigned])
    assert.match(r.headers.authorization, /SignedHeaders=host;x-amz-content-sha256;x-amz-date,/);
});

test("session token: signed in header auth and in presigned URLs", async () => {
  const url = "https://b.s3.eu-west-1.amazonaws.com/my%20file.txt";
  const h = await tokenSigner.sign({ method: "GET", url }, { date, payloadHash: "UNSIGNED-PAYLOAD" });
  assert.equal(h.headers["x-amz-security-token"], TOKEN);
  assert.match(h.headers.authorization, /SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,/);
  assert.ok(h.canonicalRequest.includes(`\nx-amz-security-token:${TOKEN}\n`));

  const p = await tokenSigner.presign({ method: "GET", url }, { date, expiresIn: 3600 });
  const q = p.url.split("?")[1];
  assert.ok(q.includes("X-Amz-Security-Token=" + encodeRfc3986(TOKEN)));
  // What goes on the wire is exactly what was signed: no "+", no re-escaping.
  assert.equal(q, line(p.canonicalRequest, 2) + "&X-Amz-Signature=" + p.signature);
  assert.ok(!q.includes("+"));
});

test("presigned URL of a key full of reserved characters carries the signed encoding", async () => {
  const key = "dir/a b+c&d=e?f#g%25h;i,j:k@l$m ö😀.txt";
  const disposition = encodeRfc3986('attachment; filename="x y.txt"');
  const url = `https://b.s3.amazonaws.com/${encodePath(key)}?response-content-disposition=${disposition}`;
  const p = await s3.presign({ method: "GET", url }, { date, expiresIn: 900 });
  assert.equal(p.url.split("?")[0], `https://b.s3.amazonaws.com/${encodePath(key)}`);
  assert.equal(line(p.canonicalRequest, 1), "/" + encodePath(key));
  assert.ok(p.url.includes("response-content-disposition=attachment%3B%20filename%3D%22x%20y.txt%22"));
  assert.ok(!p.url.includes("+"));
});

test("query canonicalization: decode and re-encode, sort by name, then value, repeats kept, 'a' is 'a='", async () => {
  const r = await s3.sign(
    { method: "GET", url: "https://b.s3.amazonaws.com/?b=2&a-b=1&a=z&a=Y&versions&x=%7e%2f&y=a+b&z=%41" },
    { date },
  );
  assert.equal(line(r.canonicalRequest, 2), "a=Y&a=z&a-b=1&b=2&versions=&x=~%2F&y=a%2Bb&z=A");
});

test("headers: Headers or object, lowercased, trimmed, white space collapsed, repeats joined in order", async () => {
  const url = "https://b.s3.amazonaws.com/k";
  const plain = await s3.sign(
    {
      method: "GET",
      url,
      headers: { "X-Amz-Meta-A": ["  v1 ", "v2  x"], "x-amz-meta-a": "v3", "X-Amz-Meta-B": "a  \n   b   c" },
    },
    { date },
  );
  assert.ok(plain.canonicalRequest.includes("\nx-amz-meta-a:v1,v2 x,v3\nx-amz-meta-b:a b c\n"));
  const hs = new Headers({ "X-Amz-Meta-B": "a   b c", Range: "bytes=0-9" });
  const viaHeaders = await s3.sign({ method: "GET", url, headers: hs }, { date });
  assert.ok(viaHeaders.canonicalRequest.includes("\nrange:bytes=0-9\nx-amz-content-sha256:"));
  // Headers that proxies and runtimes rewrite are sent but not signed.
  const ua = await s3.sign({ method: "GET", url, headers: { "User-Agent": "x/1" } }, { date });
  assert.equal(ua.headers["user-agent"], "x/1");
  assert.ok(!ua.canonicalRequest.includes("user-agent"));
});

test("host: from the URL, default port dropped, other ports and IPv6 brackets kept", async () => {
  const host = async (url: string) => (await s3.sign({ method: "GET", url }, { date })).headers.host;
  assert.equal(await host("https://B.S3.amazonaws.com:443/k"), "b.s3.amazonaws.com");
  assert.equal(await host("http://127.0.0.1:80/k"), "127.0.0.1");
  assert.equal(await host("http://127.0.0.1:9000/k"), "127.0.0.1:9000");
  assert.equal(await host("https://127.0.0.1:80/k"), "127.0.0.1:80");
  assert.equal(await host("http://[::1]:9000/bucket/k"), "[::1]:9000");
  assert.equal(await host("https://b.s3.amazonaws.com"), "b.s3.amazonaws.com");
});

test("signing keys are cached per secret/day/region/service, never mixed up", async () => {
  const url = "https://b.s3.amazonaws.com/k";
  const a = await s3.sign({ method: "GET", url }, { date });
  const other = new SigV4Signer({
    ...docs.credentials,
    secretAccessKey: SECRET + "x",
    region: "us-east-1",
    service: "s3",
  });
  const b = await other.sign({ method: "GET", url }, { date });
  assert.notEqual(a.signature, b.signature);
  for (let i = 0; i < 80; i++)
    await new SigV4Signer({ ...docs.credentials, region: `r${i}`, service: "s3" }).sign(
      { method: "GET", url },
      { date },
    );
  assert.equal((await s3.sign({ method: "GET", url }, { date })).signature, a.signature);
  const nextDay = await s3.sign({ method: "GET", url }, { date: new Date(+date + 86400e3) });
  assert.notEqual(nextDay.signature, a.signature);
});

test("bad input: typed InputError naming the field, secrets never in the message", async () => {
  const base = { accessKeyId: "AK", secretAccessKey: SECRET, sessionToken: TOKEN, region: "us-east-1", service: "s3" };
  const cases: [() => unknown, string][] = [
    [() => new SigV4Signer({ ...base, accessKeyId: "" }), "accessKeyId"],
    [() => new SigV4Signer({ ...base, secretAccessKey: undefined as never }), "secretAccessKey"],
    [() => new SigV4Signer({ ...base, region: "" }), "region"],
    [() => new SigV4Signer({ ...base, service: "" }), "service"],
  ];
  const signer = new SigV4Signer(base);
  const url = "https://b.s3.amazonaws.com/k";
  const async: [() => Promise<unknown>, string][] = [
    [() => signer.sign({ method: "GET", url: "ftp://b/k" }), "url"],
    [() => signer.sign({ method: "GET", url: "/relative/path" }), "url"],
    [() => signer.sign({ method: "GET", url: "https://user:pw@b/k" }), "url"],
    [() => signer.sign({ method: "", url }), "method"],
    [() => signer.sign({ method: "GET", url }, { date: new Date("nope") }), "date"],
    [() => signer.presign({ method: "GET", url }, { expiresIn: 0 }), "expiresIn"],
    [() => signer.presign({ method: "GET", url }, { expiresIn: 604801 }), "expiresIn"],
    [() => signer.presign({ method: "GET", url }, { expiresIn: 1.5 }), "expiresIn"],
    [() => signer.presign({ method: "GET", url }, {} as never), "expiresIn"],
  ];
  const checkErr = (e: unknown, field: string) => {
    assert.ok(e instanceof InputError, `expected InputError for ${field}, got ${e}`);
    assert.equal(e.field, field);
    assert.ok(!e.message.includes(SECRET) && !e.message.includes(TOKEN), "no secret in message");
    return true;
  };
  for (const [fn, field] of cases) assert.throws(fn, (e) => checkErr(e, field));
  for (const [fn, field] of async) await assert.rejects(fn, (e) => checkErr(e, field));
  assert.equal(
    (await signer.presign({ method: "GET", url }, { expiresIn: 604800 })).url.includes("X-Amz-Expires=604800"),
    true,
  );
  assert.equal((await signer.presign({ method: "GET", url }, { expiresIn: 1 })).url.includes("X-Amz-Expires=1&"), true);
});

test("a URL object is accepted (taken as already normalized by its parser)", async () => {
  const r = await s3.sign({ method: "GET", url: new URL("https://b.s3.amazonaws.com/a%20b?x=1") }, { date });
  assert.equal(line(r.canonicalRequest, 1), "/a%20b");
  assert.equal(line(r.canonicalRequest, 2), "x=1");
});

test("header values go out as the caller gave them; the signature covers their canonical form", async () => {
  const url = "https://b.s3.amazonaws.com/k";
  const headers = {
    "X-Amz-Meta-A": "a  b",
    "Content-Disposition": 'attachment;  filename="x  y.txt"',
    "X-Amz-Meta-List": ["  v1 ", "v2  x"],
    "X-Amz-Meta-Tab": "p\t\tq",
  };
  const signed = await s3.sign({ method: "PUT", url, headers, body: "x" }, { date });
  assert.equal(signed.headers["x-amz-meta-a"], "a  b");
  assert.equal(signed.headers["content-disposition"], 'attachment;  filename="x  y.txt"');
  // Repeats are joined with "," and each value's edges are trimmed, as fetch's Headers trims a value.
  assert.equal(signed.headers["x-amz-meta-list"], "v1,v2  x");
  assert.equal(signed.headers["x-amz-meta-tab"], "p\t\tq");
  assert.ok(signed.canonicalRequest.includes('\ncontent-disposition:attachment; filename="x y.txt"\n'));
  assert.ok(signed.canonicalRequest.includes("\nx-amz-meta-a:a b\nx-amz-meta-list:v1,v2 x\nx-amz-meta-tab:p\t\tq\n"));
  // What a server computes from the headers it receives is what was signed.
  const { authorization: _, ...sent } = signed.headers;
  const again = await s3.sign({ method: "PUT", url, headers: sent, body: "x" }, { date });
  assert.equal(again.canonicalRequest, signed.canonicalRequest);
  assert.equal(again.signature, signed.signature);
});

test("canonical header values: edges trimmed, space runs collapsed; tabs inside, U+00A0, U+3000 are data", async () => {
  const url = "https://b.s3.amazonaws.com/k";
  const canonicalOf = async (value: string) => {
    const signed = await s3.sign({ method: "GET", url, headers: { "x-amz-meta-v": value } }, { date });
    return signed.canonicalRequest
      .split("\n")
      .find((l) => l.startsWith("x-amz-meta-v:"))!
      .slice(13);
  };
  assert.equal(await canonicalOf("\u00a0a\u3000\u3000b  \u00a0  c\u00a0"), "\u00a0a\u3000\u3000b \u00a0 c\u00a0");
  assert.equal(await canonicalOf(" \t a   b \t "), "a b");
  // S3 collapses only spaces (smithy-rs); Ceph RGW 16 accepts "a\tb" only signed as "a\tb".
  assert.equal(await canonicalOf("a\tb"), "a\tb");
  assert.equal(await canonicalOf("a  \t  b"), "a \t b");
  // Obsolete line folds read as one space: AWS's get-header-value-multiline case.
  assert.equal(await canonicalOf("a\r\n  b\n\tc"), "a b c");
});

test("path normalization (non-S3): a trailing slash only when the wire path ends in one", async () => {
  const other = new SigV4Signer({ ...docs.credentials, region: "us-east-1", service: "execute-api" });
  const path = async (p: string) =>
    line((await other.sign({ method: "GET", url: `https://x.example${p}` }, { date })).canonicalRequest, 1);
  const cases: [string, string][] = [
    ["/a/b/..", "/a"],
    ["/a/b/../", "/a/"],
    ["/a/.", "/a"],
    ["/a/./", "/a/"],
    ["/a/b/c/./../../g", "/a/g"],
    ["//a//b//", "/a/b/"],
    ["/..", "/"],
    ["/a/..", "/"],
    ["/a/../", "/"],
  ];
  for (const [wire, canonical] of cases) assert.equal(await path(wire), canonical, wire);
  // S3 never normalizes.
  const s3Path = (await s3.sign({ method: "GET", url: "https://b.s3.amazonaws.com/a/b/.." }, { date }))
    .canonicalRequest;
  assert.equal(line(s3Path, 1), "/a/b/..");
});

test("hop-by-hop headers (and proxy-*) are sent but never signed", async () => {
  const hopByHop = [
    "connection",
    "expect",
    "keep-alive",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
  ];
  const headers = Object.fromEntries(hopByHop.map((name) => [name, "v"]));
  const signed = await s3.sign({ method: "PUT", url: "https://b.s3.amazonaws.com/k", headers, body: "x" }, { date });
  assert.match(signed.headers.authorization, /SignedHeaders=host;x-amz-content-sha256;x-amz-date,/);
  for (const name of hopByHop) {
    assert.equal(signed.headers[name], "v", name);
    assert.ok(!signed.canonicalRequest.includes(`\n${name}:`), name);
  }
  // A header that merely starts like one is signed.
  const near = await s3.sign(
    { method: "GET", url: "https://b.s3.amazonaws.com/k", headers: { "x-te": "1", tea: "2" } },
    { date },
  );
  assert.ok(near.canonicalRequest.includes("\ntea:2\n") && near.canonicalRequest.includes("\nx-te:1\n"));
});
