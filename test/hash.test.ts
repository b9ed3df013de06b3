// SHA-256 against FIPS 180-4 / NIST examples, HMAC-SHA256 against all RFC 4231 cases, and
// both against node:crypto on random inputs split at random points (the incremental path).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { hex, hmac, hmacKey, sha256, sha256Digest, sha256Hex, sha256Init, sha256Update } from "../src/hash.ts";

const fromHex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));

test("SHA-256: FIPS 180-4 / NIST example messages", () => {
  assert.equal(hex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert.equal(hex(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert.equal(hex(sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  assert.equal(hex(sha256("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu")),
    "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  assert.equal(hex(sha256("a".repeat(1_000_000))), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
});

// RFC 4231 section 4: test cases 1-7 (case 5 is truncated to 128 bits).
const rfc4231: [string, string, string][] = [
  ["0b".repeat(20), "4869205468657265", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"],
  ["4a656665", "7768617420646f2079612077616e7420666f72206e6f7468696e673f", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"],
  ["aa".repeat(20), "dd".repeat(50), "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"],
  ["0102030405060708090a0b0c0d0e0f10111213141516171819", "cd".repeat(50), "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"],
  ["0c".repeat(20), "546573742057697468205472756e636174696f6e", "a3b6167473100ee06e0c796c2955552b"],
  ["aa".repeat(131), "54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a65204b6579202d2048617368204b6579204669727374", "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"],
  ["aa".repeat(131), "5468697320697320612074657374207573696e672061206c6172676572207468616e20626c6f636b2d73697a65206b657920616e642061206c6172676572207468616e20626c6f636b2d73697a6520646174612e20546865206b6579206e6565647320746f20626520686173686564206265666f7265206265696e6720757365642062792074686520484d414320616c676f726974686d2e", "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"],
];
test("HMAC-SHA256: RFC 4231 test cases 1-7", () => {
  rfc4231.forEach(([k, d, mac], i) => {
    const out = hex(hmac(hmacKey(fromHex(k)), fromHex(d)));
    assert.equal(out.slice(0, mac.length), mac, `case ${i + 1}`);
  });
});

test("SHA-256 and HMAC agree with node:crypto on random inputs and random splits", () => {
  let seed = 42;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
  for (let t = 0; t < 300; t++) {
    const data = Uint8Array.from({ length: rnd(300) }, () => rnd(256));
    const want = createHash("sha256").update(data).digest("hex");
    assert.equal(hex(sha256(data)), want);
    const s = sha256Init();
    for (let i = 0; i < data.length;) { const n = 1 + rnd(70); sha256Update(s, data.subarray(i, i + n)); i += n; }
    assert.equal(hex(sha256Digest(s)), want, `split, length ${data.length}`);
    const key = data.subarray(0, rnd(data.length + 1));
    assert.equal(hex(hmac(hmacKey(key), data)), createHmac("sha256", key).update(data).digest("hex"));
  }
});

test("sha256Hex: UTF-8 strings and large payloads (crypto.subtle path) hash the same", async () => {
  assert.equal(await sha256Hex("ሴ😀"), createHash("sha256").update("ሴ😀").digest("hex"));
  const big = new Uint8Array(300_000).map((_, i) => i * 7);
  assert.equal(await sha256Hex(big), createHash("sha256").update(big).digest("hex"));
  assert.equal(await sha256Hex(big.buffer), createHash("sha256").update(big).digest("hex"));
});
