// Deterministic, realistic S3 ListObjectsV2 response pages for tests and benchmarks.
// Shape follows AWS: compact XML (no indentation) after the XML declaration, ETags quoted with
// &quot;, keys escaped the way S3 escapes them (&amp; &lt; &gt; &quot; &apos;, and \r/\n as
// character references). Keys mix plain paths with the characters that broke other libraries.

import { seededRandom } from "./util.ts";

export interface ListedObject {
  key: string;
  lastModified: string; // ISO-8601 as S3 writes it, e.g. 2024-03-01T12:34:56.000Z
  etag: string; // with its quotes, as on the wire after decoding: "\"<32 hex>\""
  size: number;
  storageClass: string;
  ownerId?: string;
  ownerName?: string;
}

export interface ListPageOptions {
  count?: number; // number of <Contents> (default 1000)
  seed?: number; // PRNG seed (default 1)
  bucket?: string; // default "example-bucket"
  prefix?: string; // default ""
  owner?: boolean; // include <Owner> (fetch-owner=true); default true
  truncated?: boolean; // IsTruncated + NextContinuationToken; default true
  pretty?: boolean; // indent with newlines and two spaces (as some S3-compatible servers do)
  commonPrefixes?: string[];
}

export interface ListPage {
  xml: string;
  objects: ListedObject[];
  commonPrefixes: string[];
  nextContinuationToken?: string;
}

/** The shared seeded random source (test/support/util.ts) as a bare function: floats in [0, 1). */
export const prng = (seed: number): (() => number) => seededRandom(seed).random;

/** Escapes text for element content or a double- or single-quoted attribute value. */
const XML_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" };
export function escapeXml(text: string): string {
  // \r, \n and \t as character references: raw, an XML parser would normalize them.
  return text.replace(/[&<>"'\r\n\t]/g, (char) => XML_ESCAPES[char] ?? `&#${char.charCodeAt(0)};`);
}

const WORDS = ["logs", "data", "images", "backup", "exports", "reports", "tmp", "raw", "processed", "archive"];
const ODD = [
  "a & b.txt",
  "x<y>z.csv",
  "quote\"d'name.json",
  "café/naïve résumé.pdf",
  "日本語/ファイル.txt",
  "emoji 😀🚀/🎉.png",
  "a+b=c;d,e.txt",
  "100% done/%25 literal.txt",
  "spaces  in   key .txt",
  "tilde~/dots./..x",
  "line\nbreak.txt",
  "00123",
  "  padded  ",
  "trailing/",
  "q?h#f.txt",
  "ünicode NFD e\u0301.txt",
];
const CLASSES = ["STANDARD", "STANDARD", "STANDARD", "STANDARD_IA", "GLACIER_IR", "INTELLIGENT_TIERING"];

/** `length` lowercase hex digits. */
function hex(random: () => number, length: number): string {
  let digits = "";
  while (digits.length < length) digits += ((random() * 0x1_0000_0000) >>> 0).toString(16).padStart(8, "0");
  return digits.slice(0, length);
}

/** Builds one ListObjectsV2 page (default 1000 keys, ~350 KB) and the values a parser must find in it. */
export function listObjectsV2Page(options: ListPageOptions = {}): ListPage {
  const { count = 1000, seed = 1, bucket = "example-bucket", prefix = "", owner = true, truncated = true } = options;
  const random = prng(seed);
  const pick = <T>(list: T[]) => list[(random() * list.length) | 0];
  const objects: ListedObject[] = [];
  const ownerId = hex(random, 64);
  const keys = new Set<string>();
  while (keys.size < count) {
    let key: string;
    if (random() < 0.1) key = `${pick(ODD)}-${keys.size}`;
    else {
      const parts = [
        pick(WORDS),
        String(2020 + ((random() * 5) | 0)),
        String(1 + ((random() * 12) | 0)).padStart(2, "0"),
        String(1 + ((random() * 28) | 0)).padStart(2, "0"),
      ];
      key = `${parts.join("/")}/file-${String(keys.size).padStart(6, "0")}-${hex(random, 8)}.json.gz`;
    }
    keys.add(prefix + key);
  }
  // S3 lists in UTF-8 binary order; for these keys UTF-16 order differs only for astral vs
  // U+E000+ characters, which they do not use.
  const sorted = [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const key of sorted) {
    const time = Date.UTC(2020, 0, 1) + Math.floor(random() * 5 * 365 * 86_400) * 1000;
    const object: ListedObject = {
      key,
      lastModified: new Date(time).toISOString(),
      etag: `"${hex(random, 32)}${random() < 0.1 ? `-${1 + ((random() * 99) | 0)}` : ""}"`,
      size: Math.floor(random() ** 3 * 5e9),
      storageClass: pick(CLASSES),
    };
    if (owner) {
      object.ownerId = ownerId;
      object.ownerName = "dev-team";
    }
    objects.push(object);
  }
  const commonPrefixes = options.commonPrefixes ?? [];
  const token = truncated ? `1${hex(random, 40)}/+=` : undefined;
  const newline = options.pretty ? "\n" : "";
  const indent = (depth: number) => (options.pretty ? "  ".repeat(depth) : "");
  const element = (depth: number, name: string, text: string) =>
    `${indent(depth)}<${name}>${escapeXml(text)}</${name}>${newline}`;
  let head = `<?xml version="1.0" encoding="UTF-8"?>\n`;
  head += `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${newline}`;
  head += element(1, "Name", bucket) + element(1, "Prefix", prefix);
  if (token) head += element(1, "NextContinuationToken", token);
  head += element(1, "KeyCount", String(count + commonPrefixes.length));
  head += element(1, "MaxKeys", "1000") + element(1, "IsTruncated", String(truncated));
  const parts: string[] = [head];
  for (const object of objects) {
    let entry = `${indent(1)}<Contents>${newline}`;
    entry += element(2, "Key", object.key) + element(2, "LastModified", object.lastModified);
    entry += element(2, "ETag", object.etag) + element(2, "ChecksumAlgorithm", "CRC64NVME");
    entry += element(2, "Size", String(object.size));
    if (object.ownerId)
      entry +=
        `${indent(2)}<Owner>${newline}` +
        element(3, "ID", object.ownerId) +
        element(3, "DisplayName", object.ownerName!) +
        `${indent(2)}</Owner>${newline}`;
    parts.push(entry + element(2, "StorageClass", object.storageClass) + `${indent(1)}</Contents>${newline}`);
  }
  for (const commonPrefix of commonPrefixes)
    parts.push(
      `${indent(1)}<CommonPrefixes>${newline}` +
        element(2, "Prefix", commonPrefix) +
        `${indent(1)}</CommonPrefixes>${newline}`,
    );
  parts.push("</ListBucketResult>");
  return { xml: parts.join(""), objects, commonPrefixes, nextContinuationToken: token };
}
