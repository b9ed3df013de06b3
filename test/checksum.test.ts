import assert from "node:assert/strict";
import { crc32 as zlibCrc32 } from "node:zlib";
import { test } from "node:test";
import { crc32 as crc32s, crc32c as crc32cs, crcBytes } from "../src/checksum.ts";
import { base64 as b64 } from "../src/hash.ts";

const crcBase64 = (c: number) => b64(crcBytes(c));

const crc32 = (b: Uint8Array) => crc32s(0, b),
  crc32c = (b: Uint8Array) => crc32cs(0, b);
import { randomData, rng } from "./support/rangeserver.ts";
import { crc64Bytes, crc64nvme } from "../src/crc64.ts";
import { combineCrc, CRC32_SPEC, CRC32C_SPEC, CRC64NVME_SPEC } from "../src/crc-combine.ts";

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
  for (let n = 0; n <= 300; n++)
    for (let off = 0; off < 8; off++) {
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
      for (let i = 0; i < data.length;) {
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
  const d = randomData(100_000, 9),
    before = crc32c(d);
  d[54321] ^= 8;
  assert.notEqual(crc32c(d), before);
});

test("CRC64NVME: the NVMe check value of '123456789', its S3 base64, empty input", () => {
  assert.equal(crc64nvme(0n, ascii("123456789")), 0xae8b14860a799888n);
  assert.equal(b64(crc64Bytes(crc64nvme(0n, ascii("123456789")))), "rosUhgp5mIg=");
  assert.equal(crc64nvme(0n, new Uint8Array(0)), 0n);
  assert.equal(b64(crc64Bytes(0n)), "AAAAAAAAAAA=");
});

test("CRC64NVME equals a bit-at-a-time BigInt reference at every length 0..100 and on random splits", () => {
  const POLY = 0x9a6c9329ac4bc9b5n,
    ALL = (1n << 64n) - 1n;
  const reference = (bytes: Uint8Array) => {
    let crc = ALL;
    for (const byte of bytes) {
      crc ^= BigInt(byte);
      for (let bit = 0; bit < 8; bit++) crc = crc & 1n ? (crc >> 1n) ^ POLY : crc >> 1n;
    }
    return crc ^ ALL;
  };
  const data = randomData(4096, 64);
  for (let n = 0; n <= 100; n++)
    assert.equal(crc64nvme(0n, data.subarray(3, 3 + n)), reference(data.subarray(3, 3 + n)), `length ${n}`);
  const r = rng(65),
    whole = reference(data);
  for (let round = 0; round < 20; round++) {
    let state = 0n;
    for (let at = 0; at < data.length;) {
      const n = Math.floor(r() * 300);
      state = crc64nvme(state, data.subarray(at, (at += n)));
    }
    assert.equal(state, whole);
  }
});

test("CRC combination equals the one-pass CRC on random data and random splits, for CRC32, CRC32C and CRC64NVME", () => {
  const r = rng(66);
  const crcs = [
    { spec: CRC32_SPEC, crc: (b: Uint8Array) => BigInt(crc32(b)) },
    { spec: CRC32C_SPEC, crc: (b: Uint8Array) => BigInt(crc32c(b)) },
    { spec: CRC64NVME_SPEC, crc: (b: Uint8Array) => crc64nvme(0n, b) },
  ];
  for (let round = 0; round < 30; round++) {
    const data = randomData(Math.floor(r() * 300_000), 200 + round);
    const cuts = [
      0,
      ...Array.from({ length: 1 + Math.floor(r() * 6) }, () => Math.floor(r() * data.length)).sort((a, b) => a - b),
      data.length,
    ];
    for (const { spec, crc } of crcs) {
      let combined = crc(data.subarray(0, cuts[1]));
      for (let i = 1; i < cuts.length - 1; i++) {
        const piece = data.subarray(cuts[i], cuts[i + 1]);
        combined = combineCrc(spec, combined, crc(piece), piece.length);
      }
      assert.equal(combined, crc(data), `round ${round}, width ${spec.width}, cuts ${cuts}`);
    }
  }
});
