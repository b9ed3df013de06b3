// SHA-256 against FIPS 180-4 / NIST examples, HMAC-SHA256 against all RFC 4231 cases, and
// both against node:crypto on random inputs split at random points (the incremental path).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { hex, hmac, hmacKey, sha256, sha256Digest, sha256Hex, sha256Init, sha256Update } from "../src/hash.ts";
import { repoRoot, seededRandom } from "./support/util.ts";

const fromHex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));

test("SHA-256: FIPS 180-4 / NIST example messages", () => {
  assert.equal(hex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert.equal(hex(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert.equal(
    hex(sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  );
  assert.equal(
    hex(
      sha256(
        "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno" +
          "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
      ),
    ),
    "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
  );
  assert.equal(hex(sha256("a".repeat(1_000_000))), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
});

// RFC 4231 section 4: test cases 1-7 (case 5 is truncated to 128 bits). Keys and data in hex,
// or as the ASCII text the RFC gives them as.
const ascii = (text: string) => new TextEncoder().encode(text);
const rfc4231: { key: Uint8Array; data: Uint8Array; mac: string }[] = [
  {
    key: fromHex("0b".repeat(20)),
    data: ascii("Hi There"),
    mac: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
  },
  {
    key: ascii("Jefe"),
    data: ascii("what do ya want for nothing?"),
    mac: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
  },
  {
    key: fromHex("aa".repeat(20)),
    data: fromHex("dd".repeat(50)),
    mac: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
  },
  {
    key: fromHex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
    data: fromHex("cd".repeat(50)),
    mac: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
  },
  { key: fromHex("0c".repeat(20)), data: ascii("Test With Truncation"), mac: "a3b6167473100ee06e0c796c2955552b" },
  {
    key: fromHex("aa".repeat(131)),
    data: ascii("Test Using Larger Than Block-Size Key - Hash Key First"),
    mac: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
  },
  {
    key: fromHex("aa".repeat(131)),
    data: ascii(
      "This is a test using a larger than block-size key and a larger than block-size data. " +
        "The key needs to be hashed before being used by the HMAC algorithm.",
    ),
    mac: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
  },
];
test("HMAC-SHA256: RFC 4231 test cases 1-7", () => {
  rfc4231.forEach(({ key, data, mac }, i) => {
    const out = hex(hmac(hmacKey(key), data));
    assert.equal(out.slice(0, mac.length), mac, `case ${i + 1}`);
  });
});

test("SHA-256 and HMAC agree with node:crypto on random inputs and random splits", () => {
  const random = seededRandom(42);
  for (let round = 0; round < 300; round++) {
    const data = random.bytes(random.int(300));
    const want = createHash("sha256").update(data).digest("hex");
    assert.equal(hex(sha256(data)), want);
    const state = sha256Init();
    for (let i = 0; i < data.length;) {
      const size = 1 + random.int(70);
      sha256Update(state, data.subarray(i, i + size));
      i += size;
    }
    assert.equal(hex(sha256Digest(state)), want, `split, length ${data.length}`);
    const key = data.subarray(0, random.int(data.length + 1));
    assert.equal(hex(hmac(hmacKey(key), data)), createHmac("sha256", key).update(data).digest("hex"));
  }
});

test("sha256Hex: UTF-8 strings and large payloads (crypto.subtle path) hash the same", async () => {
  assert.equal(await sha256Hex("ሴ😀"), createHash("sha256").update("ሴ😀").digest("hex"));
  const big = new Uint8Array(300_000).map((_, i) => i * 7);
  assert.equal(await sha256Hex(big), createHash("sha256").update(big).digest("hex"));
  assert.equal(await sha256Hex(big.buffer), createHash("sha256").update(big).digest("hex"));
});

test("a bundle of the XML parser alone (which uses only utf8) leaves SHA-256 out", async () => {
  const { build } = await import("esbuild");
  const bundle = await build({
    stdin: { contents: `export { parseXml } from "./src/xml.ts";`, resolveDir: repoRoot, loader: "ts" },
    bundle: true,
    minify: true,
    format: "esm",
    platform: "neutral",
    write: false,
  });
  const code = bundle.outputFiles[0].text;
  assert.ok(code.includes("XmlError"), "the parser is there");
  for (const trace of ["Math.cbrt", "Math.sqrt"]) assert.ok(!code.includes(trace), `no ${trace}`);
});
