import assert from "node:assert/strict";
import { crc32 as zlibCrc32 } from "node:zlib";
import { test } from "node:test";
import { base64 as b64, crc32 as crc32s, crc32c as crc32cs, crcBytes } from "../src/checksum.ts";

const crcBase64 = (c: number) => b64(crcBytes(c));

const crc32 = (b: Uint8Array) => crc32s(0, b), crc32c = (b: Uint8Array) => crc32cs(0, b);
import { randomData, rng } from "./support/rangeserver.ts";

const ascii = (s: string) => new TextEncoder().encode(s);

test("check values of the CRC catalogue: '123456789'", () => {
  assert.equal(crc32(ascii("123456789")), 0xcbf43926);
  assert.equal(crc32c(ascii("123456789")), 0xe3069283);
});

test("empty input is 0", () => {
  assert.equal(crc32(new Uint8Array(0)), 0);
  assert.equal(crc32c(new Uint8Array(0)), 0);
  assert.equal(crcBase64(0), "AAAAAA==");
});

test("RFC 3720 B.4 CRC32C vectors", () => {
  const inc = Uint8Array.from({ length: 32 }, (_, i) => i);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(inc), 0x46dd794e);
  assert.equal(crc32c(inc.slice().reverse()), 0x113fdb5c);
});

test("base64 of the big-endian bytes, as in x-amz-checksum-crc32 / -crc32c", () => {
  // S3 documentation examples for the body "123456789"-style values: 0xCBF43926 -> y/Q5Jg==.
  assert.equal(crcBase64(0xcbf43926), "y/Q5Jg==");
  assert.equal(crcBase64(0xe3069283), "4waSgw==");
  assert.equal(crcBase64(0xffffffff), "/////w==");
});

test("CRC32 matches node:zlib on random data of every length 0..300 and at every alignment", () => {
  const d = randomData(4096, 7);
  for (let n = 0; n <= 300; n++) for (let off = 0; off < 8; off++) {
    const v = d.subarray(off, off + n);
    assert.equal(crc32(v), zlibCrc32(v), `len ${n} offset ${off}`);
  }
});

test("incremental equals one-shot on random splits (both polynomials)", () => {
  const r = rng(42);
  for (let round = 0; round < 50; round++) {
    const data = randomData(1 + Math.floor(r() * 20000), round);
    for (const crc of [crc32s, crc32cs]) {
      const whole = crc(0, data);
      let s = 0;
      for (let i = 0; i < data.length; ) {
        const n = Math.floor(r() * 700);
        s = crc(s, data.subarray(i, i + n));
        i += n;
      }
      assert.equal(s, whole, `round ${round} ${crc === crc32s ? "crc32" : "crc32c"}`);
    }
    assert.equal(crc32(data), zlibCrc32(data));
  }
});

test("a 1-bit change changes the CRC", () => {
  const d = randomData(100_000, 9), before = crc32c(d);
  d[54321] ^= 8;
  assert.notEqual(crc32c(d), before);
});
