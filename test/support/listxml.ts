// Deterministic, realistic S3 ListObjectsV2 response pages for tests and benchmarks.
// Shape follows AWS: compact XML (no indentation) after the XML declaration, ETags quoted with
// &quot;, keys escaped the way S3 escapes them (&amp; &lt; &gt; &quot; &apos;, and \r/\n as
// character references). Keys mix plain paths with the characters that broke other libraries.

export interface ListedObject {
  key: string;
  lastModified: string; // ISO-8601 as S3 writes it, e.g. 2024-03-01T12:34:56.000Z
  etag: string;         // with its quotes, as on the wire after decoding: "\"<32 hex>\""
  size: number;
  storageClass: string;
  ownerId?: string;
  ownerName?: string;
}

export interface ListPageOptions {
  count?: number;          // number of <Contents> (default 1000)
  seed?: number;           // PRNG seed (default 1)
  bucket?: string;         // default "example-bucket"
  prefix?: string;         // default ""
  owner?: boolean;         // include <Owner> (fetch-owner=true); default true
  truncated?: boolean;     // IsTruncated + NextContinuationToken; default true
  pretty?: boolean;        // indent with newlines and two spaces (as some S3-compatible servers do)
  commonPrefixes?: string[];
}

export interface ListPage {
  xml: string;
  objects: ListedObject[];
  commonPrefixes: string[];
  nextContinuationToken?: string;
}

/** Mulberry32: small seeded PRNG, returns floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Escapes text for element content or a double- or single-quoted attribute value. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"'\r\n\t]/g, (c) =>
    c == "&" ? "&amp;" : c == "<" ? "&lt;" : c == ">" ? "&gt;" : c == '"' ? "&quot;" : c == "'" ? "&apos;" : `&#${c.charCodeAt(0)};`);
}

const WORDS = ["logs", "data", "images", "backup", "exports", "reports", "tmp", "raw", "processed", "archive"];
const ODD = [
  "a & b.txt", "x<y>z.csv", "quote\"d'name.json", "café/naïve résumé.pdf", "日本語/ファイル.txt",
  "emoji 😀🚀/🎉.png", "a+b=c;d,e.txt", "100% done/%25 literal.txt", "spaces  in   key .txt", "tilde~/dots./..x",
  "line\nbreak.txt", "00123", "  padded  ", "trailing/", "q?h#f.txt", "ünicode NFD e\u0301.txt",
];
const CLASSES = ["STANDARD", "STANDARD", "STANDARD", "STANDARD_IA", "GLACIER_IR", "INTELLIGENT_TIERING"];

function hex(rand: () => number, n: number): string {
  let s = "";
  while (s.length < n) s += ((rand() * 0x100000000) >>> 0).toString(16).padStart(8, "0");
  return s.slice(0, n);
}

/** Builds one ListObjectsV2 page (default 1000 keys, ~350 KB) and the values a parser must find in it. */
export function listObjectsV2Page(options: ListPageOptions = {}): ListPage {
  const { count = 1000, seed = 1, bucket = "example-bucket", prefix = "", owner = true, truncated = true, pretty = false } = options;
  const rand = prng(seed);
  const objects: ListedObject[] = [];
  const ownerId = hex(rand, 64);
  const keys = new Set<string>();
  while (keys.size < count) {
    const r = rand();
    let key: string;
    if (r < 0.1) key = `${ODD[(rand() * ODD.length) | 0]}-${keys.size}`;
    else {
      const parts = [WORDS[(rand() * WORDS.length) | 0], String(2020 + ((rand() * 5) | 0)),
        String(1 + ((rand() * 12) | 0)).padStart(2, "0"), String(1 + ((rand() * 28) | 0)).padStart(2, "0")];
      key = `${parts.join("/")}/file-${String(keys.size).padStart(6, "0")}-${hex(rand, 8)}.json.gz`;
    }
    keys.add(prefix + key);
  }
  // S3 lists in UTF-8 binary order; for these keys UTF-16 order differs only for astral vs U+E000+ chars, which we don't use.
  const sorted = [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const key of sorted) {
    const t = Date.UTC(2020, 0, 1) + Math.floor(rand() * 5 * 365 * 86400) * 1000;
    const o: ListedObject = {
      key,
      lastModified: new Date(t).toISOString(),
      etag: `"${hex(rand, 32)}${rand() < 0.1 ? `-${1 + ((rand() * 99) | 0)}` : ""}"`,
      size: Math.floor(rand() ** 3 * 5e9),
      storageClass: CLASSES[(rand() * CLASSES.length) | 0],
    };
    if (owner) { o.ownerId = ownerId; o.ownerName = "dev-team"; }
    objects.push(o);
  }
  const commonPrefixes = options.commonPrefixes ?? [];
  const token = truncated ? `1${hex(rand, 40)}/+=` : undefined;
  const nl = pretty ? "\n" : "", ind = (n: number) => (pretty ? "  ".repeat(n) : "");
  const el = (n: number, name: string, text: string) => `${ind(n)}<${name}>${escapeXml(text)}</${name}>${nl}`;
  let xml = `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${nl}`;
  xml += el(1, "Name", bucket) + el(1, "Prefix", prefix);
  if (token) xml += el(1, "NextContinuationToken", token);
  xml += el(1, "KeyCount", String(count + commonPrefixes.length)) + el(1, "MaxKeys", "1000") + el(1, "IsTruncated", String(truncated));
  const parts: string[] = [xml];
  for (const o of objects) {
    let c = `${ind(1)}<Contents>${nl}` + el(2, "Key", o.key) + el(2, "LastModified", o.lastModified) +
      el(2, "ETag", o.etag) + el(2, "ChecksumAlgorithm", "CRC64NVME") + el(2, "Size", String(o.size));
    if (o.ownerId) c += `${ind(2)}<Owner>${nl}` + el(3, "ID", o.ownerId) + el(3, "DisplayName", o.ownerName!) + `${ind(2)}</Owner>${nl}`;
    parts.push(c + el(2, "StorageClass", o.storageClass) + `${ind(1)}</Contents>${nl}`);
  }
  for (const p of commonPrefixes) parts.push(`${ind(1)}<CommonPrefixes>${nl}${el(2, "Prefix", p)}${ind(1)}</CommonPrefixes>${nl}`);
  parts.push("</ListBucketResult>");
  return { xml: parts.join(""), objects, commonPrefixes, nextContinuationToken: token };
}
