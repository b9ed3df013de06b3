import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import util from "node:util";
import { child, childText, parseXml, XmlError, type XmlElement, type XmlOptions } from "../src/xml.ts";
import { escapeXml, listObjectsV2Page, prng } from "./support/listxml.ts";

const fixture = (name: string) => readFileSync(new URL(`../fixtures/xml/${name}`, import.meta.url), "utf8");

/** Asserts that parsing throws an XmlError whose message matches `re`, at line:column when given. */
function rejects(
  xml: string,
  re: RegExp,
  line?: number,
  column?: number,
  options?: { maxDepth?: number; maxLength?: number },
): XmlError {
  let err: unknown;
  try {
    parseXml(xml, options);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof XmlError, `expected XmlError for ${JSON.stringify(xml.slice(0, 60))}, got ${err}`);
  assert.equal(err.name, "XmlError");
  assert.match(err.message, re);
  assert.match(err.message, new RegExp(`at line ${err.line}:${err.column}$`));
  if (line !== undefined) assert.deepEqual([err.line, err.column], [line, column], err.message);
  return err;
}

test("elements, attributes in both quotes, text, self-closing tags", () => {
  const root = parseXml(`<r a="1" b='two' c = "x'y" d='x"y'><k>v</k><e/><e />tail</r>`);
  assert.equal(root.name, "r");
  assert.deepEqual(root.attributes, { a: "1", b: "two", c: "x'y", d: 'x"y' });
  assert.deepEqual(
    root.children.map((c) => c.name),
    ["k", "e", "e"],
  );
  assert.equal(root.text, "tail");
  assert.equal(childText(root, "k"), "v");
  assert.equal(child(root, "e")!.text, "");
  assert.deepEqual(child(root, "e")!.children, []);
  assert.deepEqual(child(root, "e")!.attributes, {});
  assert.equal(child(root, "missing"), undefined);
  assert.equal(childText(root, "missing"), undefined);
});

test("qualified names, names with - . _ digits and non-ASCII", () => {
  const root = parseXml(`<s:Envelope xmlns:s="urn:x"><a-b.c_d1 x:y="1"/><_z/><ü/></s:Envelope>`);
  assert.equal(root.name, "s:Envelope");
  assert.deepEqual(
    root.children.map((c) => c.name),
    ["a-b.c_d1", "_z", "ü"],
  );
  assert.deepEqual(root.children[0].attributes, { "x:y": "1" });
});

test("leaf text is exact: no trimming, no type coercion", () => {
  const root = parseXml(`<r><Key>  a  </Key><K2>00123</K2><K3>1e3</K3><K4>true</K4><K5> </K5><K6>\n</K6></r>`);
  assert.equal(childText(root, "Key"), "  a  ");
  assert.equal(childText(root, "K2"), "00123");
  assert.equal(typeof childText(root, "K2"), "string");
  assert.equal(childText(root, "K3"), "1e3");
  assert.equal(childText(root, "K4"), "true");
  assert.equal(childText(root, "K5"), " ");
  assert.equal(childText(root, "K6"), "\n");
});

test("text is the element's own text only, whitespace between children included", () => {
  const root = parseXml(`<r>a<b>inner</b> c <d/>e</r>`);
  assert.equal(root.text, "a c e");
  assert.equal(root.children[0].text, "inner");
});

test("predefined entities and character references in text and attributes", () => {
  const root = parseXml(`<r a="&lt;&gt;&amp;&quot;&apos;&#38;&#x26;" />`);
  assert.equal(root.attributes.a, `<>&"'&&`);
  const t = parseXml(
    `<r>&lt;a&gt; &amp;&amp; &quot;q&quot; &apos;s&apos; &#65;&#x42;&#x000043;&#0068; ` +
      `&#x1F600;&#128512; &#xe9;&#233; &#x10FFFF;</r>`,
  );
  assert.equal(t.text, `<a> && "q" 's' ABCD 😀😀 éé \u{10FFFF}`);
  // &#13; and &#10; survive (they are how S3 sends CR/LF in keys); a literal CR is normalized.
  assert.equal(parseXml(`<k>a&#13;&#10;b</k>`).text, "a\r\nb");
});

test("attribute-value normalization: literal tab/newline read as a space, references keep theirs", () => {
  assert.equal(parseXml(`<r a="x\ty\nz&#10;&#9;"/>`).attributes.a, "x y z\n\t");
});

test("line endings: CRLF and lone CR read as LF (XML 1.0 2.11), in text and CDATA", () => {
  const r = parseXml(`<r>a\r\nb\rc<![CDATA[d\r\ne]]></r>`);
  assert.equal(r.text, "a\nb\ncd\ne");
  rejects(`<r>\r\n<a>\r\n</b>`, /Expected <\/a>/, 3, 1);
});

test("CDATA: raw text, entities not decoded, ]] and < inside, concatenated with text", () => {
  const r = parseXml(`<r>x<![CDATA[<b>&amp; ]] ]> ]]]]><![CDATA[>]]>y<![CDATA[]]></r>`);
  assert.equal(r.text, "x<b>&amp; ]] ]> ]]>y");
  assert.deepEqual(r.children, []);
});

test("comments, processing instructions, XML declaration and BOM are skipped", () => {
  const r = parseXml(
    `\uFEFF<?xml version="1.0" encoding="UTF-8"?>\n<!-- c1 <a> -->\n<?pi x?>` +
      `<r><!-- <x/> -->a<?pi <y/> ?>b</r>\n<!-- after -->\n<?after?>\n`,
  );
  assert.equal(r.name, "r");
  assert.equal(r.text, "ab");
  assert.deepEqual(r.children, []);
});

test("attributes named like Object.prototype members stay plain data", () => {
  const r = parseXml(`<r __proto__="p" constructor="c" toString="t" hasOwnProperty="h"/>`);
  assert.equal(Object.getPrototypeOf(r.attributes), Object.prototype);
  assert.deepEqual(Object.keys(r.attributes), ["__proto__", "constructor", "toString", "hasOwnProperty"]);
  assert.equal(Object.getOwnPropertyDescriptor(r.attributes, "__proto__")!.value, "p");
  assert.equal(r.attributes.toString, "t");
  // An element without attributes has a (shared, frozen) empty object, not an inherited member.
  assert.equal(parseXml("<r/>").attributes.constructor, Object);
  assert.equal(Object.hasOwn(parseXml("<r/>").attributes, "constructor"), false);
});

test("DOCTYPE / ENTITY are rejected: XXE and billion laughs fail at the DOCTYPE", () => {
  const t0 = performance.now();
  rejects(fixture("billion-laughs.xml"), /DOCTYPE\/ENTITY not allowed/, 2, 1);
  // Generous for a loaded CI machine; an expanding parser would take seconds or run out of memory.
  assert.ok(performance.now() - t0 < 1000);
  rejects(fixture("xxe.xml"), /DOCTYPE/, 2, 1);
  rejects(`<!DOCTYPE r><r/>`, /DOCTYPE/, 1, 1);
  rejects(`<r><!ENTITY x "y"></r>`, /DOCTYPE\/ENTITY/, 1, 4);
  rejects(`<r><!ELEMENT r ANY></r>`, /not allowed/, 1, 4);
});

test("undefined entities, malformed and out-of-range references", () => {
  rejects(`<r>&foo;</r>`, /Invalid reference &foo;/, 1, 4);
  rejects(`<r>\n  ok &amp; &nbsp;</r>`, /&nbsp;/, 2, 12);
  rejects(`<r a="&copy;"/>`, /&copy;/, 1, 7);
  rejects(`<r>&constructor;</r>`, /&constructor;/, 1, 4);
  rejects(`<r>&__proto__;</r>`, /Invalid reference/, 1, 4);
  rejects(`<r>&LT;</r>`, /&LT;/, 1, 4);
  rejects(`<r>a & b</r>`, /Invalid reference/, 1, 6);
  rejects(`<r>&amp</r>`, /Invalid reference &amp/, 1, 4);
  rejects(`<r>&;</r>`, /Invalid reference/, 1, 4);
  rejects(`<r>&#;</r>`, /Invalid reference/, 1, 4);
  rejects(`<r>&#x;</r>`, /Invalid reference/, 1, 4);
  rejects(`<r>&#12a;</r>`, /Invalid reference/, 1, 4);
  rejects(`<r>&#xG1;</r>`, /Invalid reference/, 1, 4);
  rejects(`<r>&# 65;</r>`, /Invalid reference/, 1, 4);
  rejects(`<r>&#-65;</r>`, /Invalid reference/, 1, 4);
  rejects(`<r>&#0;</r>`, /Invalid reference &#0;/, 1, 4);
  rejects(`<r>&#x0;</r>`, /Invalid reference/, 1, 4);
  rejects(`<r>&#xD800;</r>`, /Invalid reference/, 1, 4);
  rejects(`<r>&#xDFFF;</r>`, /Invalid reference/, 1, 4);
  rejects(`<r>&#55296;</r>`, /Invalid reference/, 1, 4);
  rejects(`<r>&#x110000;</r>`, /Invalid reference/, 1, 4);
  rejects(`<r>&#1114112;</r>`, /Invalid reference/, 1, 4);
  rejects(`<r>&#99999999999999999999999;</r>`, /Invalid reference/, 1, 4);
  rejects(`<r>&lt;&#x;</r>`, /Invalid reference/, 1, 8);
  // a long run of "&" without ";" fails at once (no quadratic rescans)
  rejects(`<r>${"&".repeat(200_000)}</r>`, /Invalid reference/, 1, 4);
});

test("malformed documents: truncation, mismatched tags, two roots, stray text", () => {
  rejects(`<r><a>x</a>`, /Expected <\/r>/, 1, 12);
  rejects(`<r><a>x</a`, /Expected <\/a>/, 1, 8);
  rejects(`<r><a>`, /Expected <\/a>/, 1, 7);
  rejects(`<r>\n  <a>x</b>\n</r>`, /Expected <\/a>/, 2, 7);
  rejects(`<r><ab>x</a></r>`, /Expected <\/ab>/, 1, 9);
  rejects(`<r><a>x</ab></r>`, /Expected <\/a>/, 1, 8);
  rejects(`<r></r></r>`, /Unexpected end tag/, 1, 8);
  rejects(`</r>`, /Unexpected end tag/, 1, 1);
  rejects(`<r/><s/>`, /Second root/, 1, 5);
  rejects(`<r></r>\n<r></r>`, /Second root/, 2, 1);
  rejects(`<r/>text`, /Text outside root/, 1, 5);
  rejects(`text<r/>`, /Text outside root/, 1, 1);
  rejects(`  \n x <r/>`, /Text outside root/, 2, 2);
  rejects(`<![CDATA[x]]><r/>`, /Text outside root/, 1, 1);
  rejects(``, /No root element/, 1, 1);
  rejects(`\uFEFF<?xml version="1.0"?>\n<!-- only a comment -->\n`, /No root element/, 3, 1);
  rejects(`<r>< a/></r>`, /Invalid name/, 1, 5);
  rejects(`<r><1a/></r>`, /Invalid name/, 1, 5);
  rejects(`<r><a"b/></r>`, /Malformed tag/, 1, 6);
  rejects(`<r></ r>`, /Expected <\/r>/, 1, 4);
});

test("unterminated constructs", () => {
  rejects(`<r><!-- never closed </r>`, /No closing -->/, 1, 4);
  rejects(`<r><![CDATA[ never closed </r>`, /No closing \]\]>/, 1, 4);
  rejects(`<?xml version="1.0"\n<r/>`, /No closing \?>/, 1, 1);
  rejects(`<r a="1></r>`, /No closing "/, 1, 6);
  rejects(`<r a='1"></r>`, /No closing '/, 1, 6);
  rejects(`<r>\n<a`, /No closing >/, 2, 3);
  rejects(`<r><a `, /No closing >/, 1, 7);
  rejects(`<r><a b="1"`, /No closing >/, 1, 12);
  rejects(`<r><a/`, /Malformed tag/, 1, 6);
  rejects(`<`, /No closing >/, 1, 2);
});

test("malformed attributes: '<' in value, duplicates, missing quotes/=/whitespace", () => {
  rejects(`<r a="x<y"/>`, /< in attribute value/, 1, 8);
  rejects(`<r a="1" b="x"\n c="2" a='3'/>`, /Duplicate attribute in <r>/, 1, 1);
  rejects(`<r a=1/>`, /Malformed attribute a/, 1, 6);
  rejects(`<r a/>`, /Malformed attribute a/, 1, 5);
  rejects(`<r a="1"b="2"/>`, /Malformed tag/, 1, 9);
  rejects(`<r a="1"/ >`, /Malformed tag/, 1, 9);
  rejects(`<r ="1"/>`, /Invalid name/, 1, 4);
});

test("depth limit: a nesting bomb is rejected quickly, maxDepth configurable", () => {
  const t0 = performance.now();
  rejects("<a>".repeat(1_000_000), /Nesting deeper than maxDepth 64/, 1, 64 * 3 + 1);
  assert.ok(performance.now() - t0 < 1500, "depth bomb took too long"); // a quadratic scan of 3 MB takes far longer
  const deep = (n: number) => "<a>".repeat(n) + "</a>".repeat(n);
  assert.equal(parseXml(deep(64)).name, "a");
  rejects(deep(65), /maxDepth 64/);
  rejects(deep(5), /maxDepth 4/, 1, 13, { maxDepth: 4 });
  assert.doesNotThrow(() => parseXml(deep(4), { maxDepth: 4 }));
  // self-closing elements count as a level too
  rejects("<a><a><a/></a></a>", /maxDepth 2/, 1, 7, { maxDepth: 2 });
  assert.doesNotThrow(() => parseXml(deep(1000), { maxDepth: 1000 }));
});

test("length limit", () => {
  rejects("<r>abc</r>", /longer than maxLength 9/, 1, 1, { maxLength: 9 });
  assert.equal(parseXml("<r>abc</r>", { maxLength: 10 }).text, "abc");
});

test("XmlError carries line, column, offset", () => {
  const err = rejects(`<r>\n\n  <a>\n</r>`, /Expected <\/a>/, 4, 1);
  assert.equal(err.offset, 11);
  assert.ok(err instanceof Error);
});

test("S3 ListBucketResult fixture", () => {
  const r = parseXml(fixture("list-objects-v2.xml"));
  assert.equal(r.name, "ListBucketResult");
  assert.deepEqual(r.attributes, { xmlns: "http://s3.amazonaws.com/doc/2006-03-01/" });
  assert.equal(childText(r, "Name"), "example-bucket");
  assert.equal(childText(r, "NextContinuationToken"), "1wL2xS8zSBbp7xQ4nGkd1eD3c8Nz0vXG+Rk1pQ==");
  assert.equal(childText(r, "KeyCount"), "5");
  assert.equal(childText(r, "IsTruncated"), "true");
  const contents = r.children.filter((c) => c.name == "Contents");
  assert.deepEqual(
    contents.map((c) => childText(c, "Key")),
    [
      "photos/2006/January/sample.jpg",
      `photos/Tom & Jerry <draft> "v2" 'final'.png`,
      "photos/00123",
      "photos/café/日本 😀\r\nx.txt",
    ],
  );
  assert.deepEqual(
    contents.map((c) => childText(c, "ETag")),
    [
      '"bf1d737a4d46a19f3bced6905cc8b902"',
      '"3858f62230ac3c915f300c664312c11f-9"',
      '"d41d8cd98f00b204e9800998ecf8427e"',
      '"0cc175b9c0f1b6a831c399e269772661"',
    ],
  );
  assert.deepEqual(
    contents.map((c) => childText(c, "Size")),
    ["142863", "73400320", "0", "1"],
  );
  assert.equal(childText(child(contents[0], "Owner")!, "DisplayName"), "mtd@amazon.com");
  assert.equal(child(contents[1], "Owner"), undefined);
  assert.equal(childText(child(r, "CommonPrefixes")!, "Prefix"), "photos/2006/");
});

test("S3 Error fixtures", () => {
  const e = parseXml(fixture("error-no-such-key.xml"));
  assert.equal(e.name, "Error");
  assert.equal(childText(e, "Code"), "NoSuchKey");
  assert.equal(childText(e, "Message"), "The specified key does not exist.");
  assert.equal(childText(e, "Key"), "photos/2006/February/Sample.jpg");
  assert.equal(childText(e, "RequestId"), "4442587FB7D0A2F9");
  assert.match(childText(e, "HostId")!, /^fAsHl2Hf\+.*=$/);
  const s = parseXml(fixture("error-signature.xml"));
  assert.equal(childText(s, "Code"), "SignatureDoesNotMatch");
  assert.equal(childText(s, "StringToSign")!.split("\n").length, 4);
  assert.equal(childText(s, "CanonicalRequest")!.split("\n")[0], "GET");
  assert.equal(childText(s, "CanonicalRequest")!.split("\n").length, 10);
});

test("generated 1000-key ListObjectsV2 page (compact and pretty)", () => {
  for (const pretty of [false, true]) {
    const page = listObjectsV2Page({ pretty, commonPrefixes: ["a/", "b & c/"] });
    assert.ok(page.xml.length > 300_000, `page is ${page.xml.length} chars`);
    const r = parseXml(page.xml);
    assert.equal(childText(r, "KeyCount"), "1002");
    assert.equal(childText(r, "NextContinuationToken"), page.nextContinuationToken);
    const contents = r.children.filter((c) => c.name == "Contents");
    assert.equal(contents.length, 1000);
    contents.forEach((c, i) => {
      const o = page.objects[i];
      assert.equal(childText(c, "Key"), o.key);
      assert.equal(childText(c, "ETag"), o.etag);
      assert.equal(childText(c, "Size"), String(o.size));
      assert.equal(childText(c, "LastModified"), o.lastModified);
      assert.equal(childText(c, "StorageClass"), o.storageClass);
      assert.equal(childText(child(c, "Owner")!, "ID"), o.ownerId);
    });
    // the generator really exercises the hard characters
    const keys = page.objects.map((o) => o.key).join("");
    for (const ch of ["&", "<", ">", '"', "'", "\n", "😀", "é"])
      assert.ok(keys.includes(ch), `no ${JSON.stringify(ch)} in keys`);
    assert.deepEqual(
      r.children.filter((c) => c.name == "CommonPrefixes").map((c) => childText(c, "Prefix")),
      ["a/", "b & c/"],
    );
  }
});

// --- randomized round trip ---------------------------------------------------------------------

interface Node {
  name: string;
  attributes: Record<string, string>;
  pieces: (string | Node)[];
}

const CHARS = [
  "a",
  "z",
  "0",
  " ",
  "  ",
  "\t",
  "\n",
  "\r\n",
  "&",
  "<",
  ">",
  '"',
  "'",
  "]]>",
  "]]",
  ";",
  "#",
  "&amp;",
  "é",
  "日",
  "😀",
  "\u{10FFFF}",
  "\uFFFD",
  "x",
];
const NAMES = ["a", "Key", "s3:Contents", "x-y.z_1", "é", "_"];

function randomText(rand: () => number, max: number): string {
  let s = "";
  for (let n = (rand() * max) | 0; n > 0; n--) s += CHARS[(rand() * CHARS.length) | 0];
  return s;
}

function randomNode(rand: () => number, depth: number): Node {
  const attributes: Record<string, string> = {};
  for (let n = (rand() * 3) | 0; n > 0; n--)
    attributes[NAMES[(rand() * NAMES.length) | 0].replace(":", "") + n] = randomText(rand, 6);
  const pieces: (string | Node)[] = [];
  for (let n = (rand() * (depth > 5 ? 2 : 5)) | 0; n > 0; n--)
    pieces.push(rand() < 0.5 || depth > 6 ? randomText(rand, 8) : randomNode(rand, depth + 1));
  return { name: NAMES[(rand() * NAMES.length) | 0], attributes, pieces };
}

function serialize(n: Node, rand: () => number): string {
  let s = `<${n.name}`;
  for (const [k, v] of Object.entries(n.attributes))
    s += rand() < 0.5 ? ` ${k}="${escapeXml(v)}"` : ` ${k} = '${escapeXml(v)}'`;
  if (!n.pieces.length && rand() < 0.5) return s + (rand() < 0.5 ? "/>" : " />");
  s += ">";
  for (const p of n.pieces) {
    if (typeof p != "string") s += serialize(p, rand);
    else if (rand() < 0.2 && !p.includes("\r")) s += `<![CDATA[${p.split("]]>").join("]]]]><![CDATA[>")}]]>`;
    else if (rand() < 0.1) s += `<!--${p.replace(/-/g, "")}-->` + escapeXml(p);
    else s += escapeXml(p);
  }
  return s + `</${n.name}${rand() < 0.2 ? " " : ""}>`;
}

function expected(n: Node): XmlElement {
  return {
    name: n.name,
    attributes: n.attributes,
    children: n.pieces.filter((p): p is Node => typeof p != "string").map(expected),
    text: n.pieces.filter((p): p is string => typeof p == "string").join(""),
  };
}

test("randomized round trip: serialize with escaping, parse, compare (seeded)", () => {
  const rand = prng(0x5eed);
  for (let i = 0; i < 400; i++) {
    const tree = randomNode(rand, 0);
    const xml =
      (rand() < 0.3 ? '<?xml version="1.0" encoding="UTF-8"?>\n' : "") +
      serialize(tree, rand) +
      (rand() < 0.3 ? "\n" : "");
    assert.deepEqual(parseXml(xml), expected(tree), `case ${i}: ${xml}`);
  }
});

test("randomized truncation: every proper prefix of a document throws XmlError", () => {
  const rand = prng(7);
  for (let i = 0; i < 15; i++) {
    const xml = serialize(randomNode(rand, 0), rand);
    for (let n = 0; n < xml.length; n++) {
      assert.throws(
        () => parseXml(xml.slice(0, n)),
        (e) => e instanceof XmlError && e.offset >= 0 && e.offset <= n,
        `prefix ${n} of ${xml}`,
      );
    }
  }
});

// --- UTF-8 bytes: the byte path must read exactly what the string path reads ------------------

const encodeUtf8 = (s: string) => new TextEncoder().encode(s);
/**
 * The bytes as the string a caller would have passed: invalid sequences as U+FFFD (as TextDecoder
 * does), a BOM kept as U+FEFF.
 */
const decodeUtf8 = (b: Uint8Array) => new TextDecoder("utf-8", { ignoreBOM: true }).decode(b);
/** Bytes from parts: strings as UTF-8, number arrays as raw (possibly invalid) bytes. */
const bytesOf = (...parts: (string | number[])[]) =>
  new Uint8Array(parts.flatMap((p) => (typeof p == "string" ? [...encodeUtf8(p)] : p)));

type Outcome = { tree: XmlElement } | { error: string; line: number; column: number };

/**
 * What parsing gives: the tree, or the XmlError's message and position. Anything else thrown is a
 * crash and fails the test.
 */
function outcome(input: string | Uint8Array, options?: XmlOptions): Outcome {
  try {
    return { tree: parseXml(input, options) };
  } catch (e) {
    if (!(e instanceof XmlError)) throw e;
    return { error: e.message, line: e.line, column: e.column };
  }
}

/** The first difference between two trees (as strict as assert.deepEqual, much faster on big trees), or undefined. */
function treeDiff(a: XmlElement, b: XmlElement, path = "/"): string | undefined {
  const at = path + JSON.stringify(a.name);
  if (a.name !== b.name) return `${at}: name ${JSON.stringify(b.name)}`;
  if (a.text !== b.text) return `${at}: text ${JSON.stringify(a.text)} vs ${JSON.stringify(b.text)}`;
  const ka = Object.keys(a.attributes),
    kb = Object.keys(b.attributes);
  if (
    Object.getPrototypeOf(a.attributes) !== Object.getPrototypeOf(b.attributes) ||
    ka.length != kb.length ||
    ka.some((k) => !Object.hasOwn(b.attributes, k) || a.attributes[k] !== b.attributes[k])
  ) {
    return `${at}: attributes ${JSON.stringify(a.attributes)} vs ${JSON.stringify(b.attributes)}`;
  }
  if (a.children.length != b.children.length) return `${at}: ${a.children.length} vs ${b.children.length} children`;
  for (let i = 0; i < a.children.length; i++) {
    const d = treeDiff(a.children[i], b.children[i], `${at}/${i}:`);
    if (d) return d;
  }
}

/** assert.deepEqual for outcomes, fast when they are equal. */
function sameOutcome(actual: Outcome, expected: Outcome, label: string) {
  if (
    "tree" in actual && "tree" in expected
      ? treeDiff(actual.tree, expected.tree) !== undefined
      : !util.isDeepStrictEqual(actual, expected)
  ) {
    assert.deepEqual(actual, expected, label);
  }
}

/**
 * The same bytes as a view at `offset` into a larger buffer whose other bytes are junk ("<" and
 * 0xFF) the parser must never read.
 */
function view(bytes: Uint8Array, offset: number): Uint8Array {
  const buf = new Uint8Array(offset + bytes.length + 7);
  for (let i = 0; i < buf.length; i++) buf[i] = i & 1 ? 0x3c : 0xff;
  buf.set(bytes, offset);
  return new Uint8Array(buf.buffer, offset, bytes.length);
}

/**
 * Asserts that the bytes parse exactly as `text` (default: their UTF-8 decoding) does: same tree,
 * or same XmlError message, line and column.
 */
function sameAsString(
  bytes: Uint8Array,
  text = decodeUtf8(bytes),
  options?: XmlOptions,
  label = JSON.stringify(text.slice(0, 200)),
) {
  sameOutcome(outcome(bytes, options), outcome(text, options), label);
}

/** Asserts that parsing the bytes throws an XmlError whose message matches `re`, at line:column when given. */
function rejectsBytes(bytes: Uint8Array, re: RegExp, line?: number, column?: number, options?: XmlOptions): XmlError {
  let err: unknown;
  try {
    parseXml(bytes, options);
  } catch (e) {
    err = e;
  }
  assert.ok(
    err instanceof XmlError,
    `expected XmlError for ${JSON.stringify(decodeUtf8(bytes).slice(0, 60))}, got ${err}`,
  );
  assert.match(err.message, re);
  assert.match(err.message, new RegExp(`at line ${err.line}:${err.column}$`));
  if (line !== undefined) assert.deepEqual([err.line, err.column], [line, column], err.message);
  return err;
}

const pick = <T>(rand: () => number, a: readonly T[]): T => a[(rand() * a.length) | 0];

// 2-, 3- and 4-byte UTF-8, NFD (e + U+0301), a combining mark on its own, boundaries of each UTF-8 length.
const U_NAMES = [
  "a",
  "Key",
  "s3:Contents",
  "x-y.z_1",
  "é",
  "日本",
  "😀",
  "e\u0301",
  "aé",
  "éa",
  "x日y",
  "ü-ß.1",
  "Ünï:cødé",
  "_😀",
  "\u{10FFFF}",
];
const U_ATOMS = [
  "a",
  "z",
  "0",
  " ",
  "\n",
  "\t",
  "é",
  "ü",
  "日本",
  "語",
  "😀",
  "🚀",
  "e\u0301",
  "\u0301",
  "\u00a0",
  "\u0080",
  "\u07ff",
  "\u0800",
  "\u2028",
  "\uffff",
  "\ufffd",
  "\ufeff",
  "\u{10000}",
  "\u{10ffff}",
  "&",
  "<",
  ">",
  '"',
  "'",
  ";",
  "#",
  "]]>",
  "]]",
  "-",
  "?",
];

const atoms = (rand: () => number, max: number) => {
  let s = "";
  for (let n = (rand() * max) | 0; n > 0; n--) s += pick(rand, U_ATOMS);
  return s;
};

/**
 * Escapes s at random (entities, decimal and hex character references, or literal where allowed):
 * [markup, the value it reads as].
 */
function escapeRandom(rand: () => number, s: string, quote?: string): [string, string] {
  let x = "",
    v = "";
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch == "&" || ch == "<" || ch == quote) x += rand() < 0.7 ? escapeXml(ch) : `&#${cp};`;
    else if (quote && (ch == "\t" || ch == "\n") && rand() < 0.3) {
      x += ch; // attribute-value normalization reads it as a space
      v += " ";
      continue;
    } else if (quote && (ch == "\t" || ch == "\n")) x += `&#${cp};`;
    else if (cp > 127 ? rand() < 0.15 : rand() < 0.03) x += rand() < 0.5 ? `&#${cp};` : `&#x${cp.toString(16)};`;
    else if ((ch == ">" || ch == '"' || ch == "'") && rand() < 0.3) x += escapeXml(ch);
    else x += ch;
    v += ch;
  }
  return [x, v];
}

/** A random element as markup and as the tree parseXml must build from it. crlf: CR LF / lone CR in tags and text. */
function randomElement(rand: () => number, depth: number, crlf: boolean): { xml: string; el: XmlElement } {
  const name = pick(rand, U_NAMES);
  const sp = () => pick(rand, crlf ? [" ", "\r\n", "\r", "\t"] : [" ", "  ", "\n", "\t"]);
  const attributes: Record<string, string> = {},
    children: XmlElement[] = [];
  let xml = "<" + name,
    text = "";
  for (let n = (rand() * 4) | 0; n > 0; n--) {
    const a = pick(rand, U_NAMES) + (rand() < 0.3 ? pick(rand, U_NAMES) : "");
    if (Object.hasOwn(attributes, a)) continue;
    const q = rand() < 0.5 ? '"' : "'";
    const [x, v] = escapeRandom(rand, atoms(rand, 6), q);
    xml += sp() + a + (rand() < 0.8 ? "=" : sp() + "=" + sp()) + q + x + q;
    attributes[a] = v;
  }
  const pieces = (rand() * (depth > 3 ? 3 : 6)) | 0;
  if (!pieces && rand() < 0.5)
    return { xml: xml + (rand() < 0.5 ? "/>" : sp() + "/>"), el: { name, attributes, children, text } };
  xml += rand() < 0.1 ? sp() + ">" : ">";
  for (let n = pieces; n > 0; n--) {
    const r = rand(),
      s = atoms(rand, 8);
    if (r < 0.35) {
      const [x, v] = escapeRandom(rand, s);
      xml += x;
      text += v;
      if (crlf && rand() < 0.3) ((xml += pick(rand, ["\r\n", "\r"])), (text += "\n"));
    } else if (r < 0.5) ((xml += `<![CDATA[${s.split("]]>").join("]]]]><![CDATA[>")}]]>`), (text += s));
    else if (r < 0.6) xml += `<!--${s.replace(/-/g, "")}-->`;
    else if (r < 0.68) xml += `<?${pick(rand, ["pi", "é", "日本"])} ${s.replace(/\?/g, "")}?>`;
    else {
      const c = randomElement(rand, depth + 1, crlf);
      xml += c.xml;
      children.push(c.el);
    }
  }
  return { xml: xml + `</${name}${rand() < 0.2 ? sp() : ""}>`, el: { name, attributes, children, text } };
}

/** A random document: optional BOM, XML declaration, comments and PIs (with non-ASCII) around the root. */
function randomDocument(rand: () => number): { xml: string; el: XmlElement; crlf: boolean } {
  const crlf = rand() < 0.1,
    nl = crlf ? "\r\n" : "\n";
  const misc = () =>
    pick(rand, [
      "",
      nl,
      " ",
      "<!--é 日本 😀-->",
      "<?pi 😀 e\u0301?>",
      `${nl}<!-- ${atoms(rand, 5).replace(/-/g, "")} -->${nl}`,
    ]);
  const root = randomElement(rand, 0, crlf);
  const xml =
    (rand() < 0.1 ? "\uFEFF" : "") +
    (rand() < 0.3 ? '<?xml version="1.0" encoding="UTF-8"?>' + nl : "") +
    misc() +
    root.xml +
    misc();
  return { xml, el: root.el, crlf };
}

test("UTF-8 bytes: randomized differential, bytes parse exactly like the string (seeded)", () => {
  const rand = prng(0xb17e5);
  let viaBytes = 0;
  for (let i = 0; i < 300; i++) {
    const { xml, el, crlf } = randomDocument(rand);
    const s = parseXml(xml);
    sameOutcome({ tree: s }, { tree: el }, `generator/string case ${i}: ${JSON.stringify(xml)}`);
    const bytes = encodeUtf8(xml);
    if (!crlf && bytes.some((b) => b > 127)) viaBytes++;
    sameOutcome(
      outcome(i & 7 ? view(bytes, i & 7) : bytes),
      { tree: s },
      `case ${i} (byteOffset ${i & 7}): ${JSON.stringify(xml)}`,
    );
  }
  // most cases really take the byte path (non-ASCII, no CR)
  assert.ok(viaBytes > 200, `only ${viaBytes} cases on the byte path`);
});

test("UTF-8 bytes: randomized corruption, bytes parse or fail exactly like their decoded text (seeded)", () => {
  const rand = prng(0xbad);
  const junk = [
    0x3c, 0x3e, 0x26, 0x2f, 0x3d, 0x22, 0x27, 0x20, 0x0a, 0x01, 0x3b, 0x23, 0x21, 0x3f, 0x5d, 0x2d, 0x80, 0xbf, 0xc3,
    0xe6, 0xf0, 0xff, 0x61,
  ];
  for (let i = 0; i < 200; i++) {
    const b = [...encodeUtf8(randomDocument(rand).xml)];
    for (let k = 1 + ((rand() * 3) | 0); k > 0; k--) {
      const p = (rand() * b.length) | 0,
        r = rand();
      if (r < 0.4) b.splice(p, 1);
      else if (r < 0.8) b.splice(p, 0, pick(rand, junk));
      else b[p] = pick(rand, junk);
    }
    const bytes = new Uint8Array(b);
    sameAsString(bytes, undefined, undefined, `case ${i}: ${JSON.stringify(decodeUtf8(bytes))}`);
  }
});

test("UTF-8 bytes: every byte prefix (cut inside characters too) fails exactly like its decoded text", () => {
  const docs = [
    `<?xml version="1.0"?>\n<日本 é="😀&amp;e\u0301" a='x'><é>ü&lt;日</é>` +
      `<![CDATA[😀]]><!--é--><?pi 語?>e\u0301&#233;<a/>😀</日本>`,
    `<ListBucketResult><Contents><Key>café/日本 😀&#13;&#10;x.txt</Key><Size>1</Size></Contents></ListBucketResult>`,
  ];
  for (const xml of docs) {
    const b = encodeUtf8(xml);
    for (let n = 0; n < b.length; n++) {
      const p = b.subarray(0, n),
        o = outcome(p);
      assert.ok("error" in o, `prefix ${n} parsed`);
      assert.deepEqual(o, outcome(decodeUtf8(p)), `prefix ${n}: ${JSON.stringify(decodeUtf8(p))}`);
    }
  }
});

test("UTF-8 bytes: generated ListObjectsV2 pages parse the same from bytes (seeds, compact and pretty, CRLF)", () => {
  for (const seed of [1, 2, 3, 4]) {
    for (const pretty of [false, true]) {
      if (seed == 1 && pretty) continue; // the 1000-key page once; the others are whole pages with fewer keys
      const page = listObjectsV2Page({
        seed,
        pretty,
        count: seed == 1 ? 1000 : 120,
        commonPrefixes: ["日本/", "é & 😀/", "e\u0301/"],
      });
      const bytes = encodeUtf8(page.xml),
        s = parseXml(page.xml);
      assert.ok(
        page.objects.some((o) => /[^\x00-\x7f]/.test(o.key)),
        `seed ${seed}: no non-ASCII key`,
      );
      const r = parseXml(seed == 3 ? view(bytes, 3) : bytes);
      assert.equal(treeDiff(r, s), undefined, `seed ${seed} pretty ${pretty}`);
      assert.deepEqual(
        r.children.filter((c) => c.name == "Contents").map((c) => childText(c, "Key")),
        page.objects.map((o) => o.key),
      );
      assert.deepEqual(
        r.children.filter((c) => c.name == "CommonPrefixes").map((c) => childText(c, "Prefix")),
        ["日本/", "é & 😀/", "e\u0301/"],
      );
    }
  }
  const crlf = listObjectsV2Page({ seed: 2, pretty: true, count: 120 }).xml.replace(/\n/g, "\r\n");
  assert.equal(treeDiff(parseXml(encodeUtf8(crlf)), parseXml(crlf)), undefined);
});

test("UTF-8 bytes: non-ASCII next to '<', '&', '>' and quotes, and at both ends of text, names and values", () => {
  for (const c of ["é", "日本", "😀", "e\u0301", "\u0301", "\u{10FFFF}"]) {
    const docs = [
      `<r>${c}<a/>${c}</r>`,
      `<r>${c}&amp;${c}&#233;${c}&#x1F600;</r>`,
      `<r>&lt;${c}&gt;${c}>${c}</r>`,
      `<r a="${c}&amp;${c}" b='${c}'>${c}</r>`,
      `<${c}>${c}</${c}>`,
      `<${c} ${c}="${c}"/>`,
      `<r><![CDATA[${c}]]>${c}<!--${c}-->${c}<?pi ${c}?>${c}</r>`,
      `<!--${c}--><?${c}?><r/><!--${c}-->`,
      `<r><${c}a${c}/>${c}</r>`,
      `<r a="${c}"\n${c}='${c}"${c}'/>`,
    ];
    for (const d of docs) {
      const s = parseXml(d),
        b = parseXml(encodeUtf8(d));
      assert.deepEqual(b, s, JSON.stringify(d));
    }
    assert.equal(parseXml(encodeUtf8(`<r>${c}&amp;${c}<a/>${c}<![CDATA[${c}]]></r>`)).text, `${c}&${c}${c}${c}`);
    assert.deepEqual(parseXml(encodeUtf8(`<r ${c}="${c}&lt;"/>`)).attributes, { [c]: `${c}<` });
  }
});

test("UTF-8 bytes: malformed documents, non-ASCII before the error, fail as the string does, same line:column", () => {
  const broken = [
    `<日本><é>x</日本>`,
    `<r>é\n  <a>日本</b></r>`,
    `<é>\n\t日本 😀 e\u0301\n<a>`,
    `<é><a>😀</a`,
    `<r>é</r></r>`,
    `<é></é><s/>`,
    `<r>é</r>😀`,
    `😀<r/>`,
    `<r>日本&foo;</r>`,
    `<r>😀😀&bad;</r>`,
    `<r>\n  é &amp; &nbsp;</r>`,
    `<r>é&amp;&#xD800;</r>`,
    `<r>é&#0;</r>`,
    `<r>ü & b</r>`,
    `<r>日本&amp</r>`,
    `<r a="日本&nbsp;"/>`,
    `<r a="日本<"/>`,
    `<r é="1" b="😀<"/>`,
    `<r a="é" a="è"/>`,
    `<é é="1" é="2"/>`,
    `<r>é<!-- never closed</r>`,
    `<r>é<![CDATA[ never closed</r>`,
    `<r>é<?pi`,
    `<r a="é></r>`,
    `<r a='é"></r>`,
    `<r>é<a`,
    `<r>é<a `,
    `<r>é<a b="😀"`,
    `<r>é<a/`,
    `<r>é<1/></r>`,
    `<r>é< a/></r>`,
    `<r>é<a"b/></r>`,
    `<r>é</ r>`,
    `<r>😀\n😀<!DOCTYPE x></r>`,
    `<r>é<!ENTITY x "y"></r>`,
    `<r a="1"é="2"/>`,
    `<r a=é"1"/>`,
    `<r a="1" é/>`,
    `<r a é="1"/>`,
    `<r é=1/>`,
    `<é></è>`,
    `<日></本>`,
    `<a></aé>`,
    `<aé></a>`,
    `<r>é</r>\n<r/>`,
    `<é>x</é>\n 日本 <r/>`,
    `<![CDATA[é]]><r/>`,
  ];
  const diffs: unknown[] = [];
  for (const doc of broken) {
    for (const d of doc.includes("\n") ? [doc, doc.replace(/\n/g, "\r\n")] : [doc]) {
      const s = outcome(d),
        b = outcome(encodeUtf8(d));
      assert.ok("error" in s, `the string ${JSON.stringify(d)} should be rejected`);
      if (!util.isDeepStrictEqual(b, s)) diffs.push({ doc: d, string: s, bytes: "error" in b ? b : "parsed" });
    }
  }
  assert.deepEqual(diffs, []);
  rejectsBytes(encodeUtf8(`<é>\n\t日本 😀 e\u0301\n<a>`), /^Expected <\/a> at line 3:4$/, 3, 4);
  rejectsBytes(encodeUtf8(`<é><é><é/></é></é>`), /maxDepth 2/, 1, 7, { maxDepth: 2 });
});

test("UTF-8 bytes: an end tag must match its start tag's non-ASCII name", () => {
  const cases: [string, string, number][] = [
    ["<é></è>", "é", 4],
    ["<日></本>", "日", 4],
    ["<a></aé>", "a", 4],
    ["<aé></a>", "aé", 5],
    ["<😀></😁>", "😀", 5],
    ["<e\u0301></e\u0300>", "e\u0301", 5],
    ["<r><é>x</è></r>", "é", 8],
    ["<é><日>\n</本></é>", "日", 1],
  ];
  for (const [doc, name, column] of cases) {
    const re = new RegExp(`^Expected </${name}> at line \\d+:${column}$`);
    rejects(doc, re);
    rejectsBytes(encodeUtf8(doc), re);
  }
  for (const doc of ["<é></é>", "<😀 ></😀 >", "<e\u0301><日本/></e\u0301\n>"])
    assert.deepEqual(parseXml(encodeUtf8(doc)), parseXml(doc));
});

test("UTF-8 bytes: non-ASCII attribute names, and non-ASCII where a tag wants whitespace, '=' or a quote", () => {
  const doc = `<r é="1" 日本='2' a="3"\n😀="4" e\u0301 = "5"><x y="z"/></r>`;
  assert.deepEqual(parseXml(encodeUtf8(doc)).attributes, { é: "1", 日本: "2", a: "3", "😀": "4", "e\u0301": "5" });
  for (const d of [
    doc,
    `<r a="1"é="2"/>`,
    `<r a=é"1"/>`,
    `<r a="1" é/>`,
    `<r a é="1"/>`,
    `<r a="1"😀/>`,
    `<r a="x"\u00a0b="y"/>`,
  ])
    sameAsString(encodeUtf8(d));
});

test("UTF-8 bytes: non-ASCII text outside the root is rejected as in a string", () => {
  rejects("é<r/>", /^Text outside root at line 1:1$/);
  rejectsBytes(encodeUtf8("é<r/>"), /^Text outside root at line 1:1$/, 1, 1);
  rejectsBytes(encodeUtf8("<r/>é"), /^Text outside root at line 1:5$/, 1, 5);
  rejectsBytes(encodeUtf8("<r/>\n 日本"), /^Text outside root at line 2:2$/, 2, 2);
  rejectsBytes(encodeUtf8("😀"), /^Text outside root at line 1:1$/, 1, 1);
  rejectsBytes(encodeUtf8(`<?xml version="1.0"?>\né<r/>`), /^Text outside root at line 2:1$/, 2, 1);
  rejectsBytes(encodeUtf8("\u00a0<r/>"), /^Text outside root at line 1:1$/, 1, 1); // NBSP is not XML whitespace
  rejectsBytes(bytesOf("<r/>", [0xff]), /^Text outside root at line 1:5$/, 1, 5);
});

test("UTF-8 bytes: errors inside text and attribute values after non-ASCII are located as in the string", () => {
  rejects("<r>日本&foo;</r>", /^Invalid reference &foo; at line 1:6$/, 1, 6);
  rejectsBytes(encodeUtf8("<r>日本&foo;</r>"), /^Invalid reference &foo; at line 1:6$/, 1, 6);
  rejectsBytes(encodeUtf8("<r>😀é&amp;&bad;</r>"), /^Invalid reference &bad; at line 1:12$/, 1, 12);
  rejectsBytes(encodeUtf8("<r>\n  é &amp; &nbsp;</r>"), /&nbsp; at line 2:11$/, 2, 11);
  rejectsBytes(encodeUtf8(`<r a="日本&copy;"/>`), /^Invalid reference &copy; at line 1:9$/, 1, 9);
  rejectsBytes(encodeUtf8(`<r a="日本<"/>`), /^< in attribute value at line 1:9$/, 1, 9);
  rejectsBytes(encodeUtf8(`<r a="😀&amp;<"/>`), /^< in attribute value at line 1:14$/, 1, 14);
});

test("UTF-8 bytes: a BOM (EF BB BF) is stripped, as a string's U+FEFF is skipped", () => {
  const doc = `<r a="é">日本</r>`;
  assert.deepEqual(parseXml(bytesOf([0xef, 0xbb, 0xbf], doc)), parseXml(doc));
  assert.deepEqual(parseXml(bytesOf([0xef, 0xbb, 0xbf], "<r>x</r>")), parseXml("<r>x</r>")); // ASCII after the BOM
  assert.deepEqual(parseXml(bytesOf([0xef, 0xbb, 0xbf], `<?xml version="1.0"?>\n<r>é</r>`)).text, "é");
  assert.deepEqual(parseXml(view(bytesOf([0xef, 0xbb, 0xbf], doc), 1)), parseXml(doc));
  assert.deepEqual(parseXml(bytesOf([0xef, 0xbb, 0xbf], "<r>\r\né</r>")).text, "\né");
  // Only the first one: a second U+FEFF is text outside the root. Errors: the same line:column as the
  // string with its U+FEFF.
  for (const d of [
    "\uFEFF",
    "\uFEFF<é>",
    "\uFEFF<r>",
    "\uFEFF<r>\n</é>",
    "\uFEFF<r>\r\n</é>",
    "\uFEFF\uFEFF<r/>",
    "\uFEFF\uFEFF<r/>\r\n",
    "\uFEFF\uFEFF<é/>",
    "\uFEFF<r/>é",
  ]) {
    sameAsString(encodeUtf8(d));
  }
});

test("UTF-8 bytes: U+FEFF inside the document (start of text, attribute value, CDATA) is kept", () => {
  assert.equal(parseXml(encodeUtf8("<r>\uFEFFx</r>")).text, "\uFEFFx");
  assert.equal(parseXml(encodeUtf8("<r>a<b/>\uFEFF</r>")).text, "a\uFEFF");
  assert.equal(parseXml(encodeUtf8(`<r a="\uFEFF"/>`)).attributes.a, "\uFEFF");
  assert.equal(parseXml(encodeUtf8("<r><![CDATA[\uFEFFé]]></r>")).text, "\uFEFFé");
  assert.equal(parseXml(encodeUtf8("<r><\uFEFFa/></r>")).children[0].name, "\uFEFFa");
  assert.equal(parseXml(encodeUtf8("<r>\uFEFF\r\n</r>")).text, "\uFEFF\n");
  sameAsString(encodeUtf8("<r>\uFEFF&bad;</r>"));
});

test("UTF-8 bytes: CRLF and lone CR normalize as in a string, errors at the same line:column", () => {
  const doc = `<r é="1\r\n2">日本\r\nb\rc<![CDATA[d\r\ne]]>😀</r>\r\n`;
  const r = parseXml(encodeUtf8(doc));
  assert.deepEqual(r, parseXml(doc));
  assert.equal(r.text, "日本\nb\ncd\ne😀");
  assert.deepEqual(r.attributes, { é: "1 2" });
  rejectsBytes(encodeUtf8("<r>\r\n<é>\r\n</b>"), /^Expected <\/é> at line 3:1$/, 3, 1);
  rejectsBytes(encodeUtf8("<r>日本\r\n😀 &bad;</r>"), /^Invalid reference &bad; at line 2:4$/, 2, 4);
  rejectsBytes(encodeUtf8("<r>\r\r😀<"), /No closing >/, 3, 4);
  for (const d of ["<é>\r</è>", "é\r\n<r/>", "<r a='\r\né'\r\nb='😀'/>"]) sameAsString(encodeUtf8(d));
});

test("UTF-8 bytes: views at any byteOffset, lengths not a multiple of 4, bytes outside the view untouched", () => {
  for (let k = 0; k < 8; k++) {
    const a = "a".repeat(k);
    for (const d of [
      `<r>${a}é</r>`,
      `<r>${a}é`,
      `<é>${a}</é>`,
      `<r>${a}</r>`,
      `<r x="${a}😀"/>`,
      `<r>${a}日</r>  `,
      `<r>${a}</r><!--é-->`,
      `<r>${a}é`.slice(0, 3 + k),
    ]) {
      const b = encodeUtf8(d),
        expect = outcome(d);
      for (let off = 0; off < 8; off++) {
        const v = view(b, off),
          before = new Uint8Array(v.buffer).slice();
        assert.deepEqual(outcome(v), expect, `${JSON.stringify(d)} at byteOffset ${off}`);
        assert.deepEqual(new Uint8Array(v.buffer), before, "the buffer was modified");
      }
    }
  }
  const buf = encodeUtf8("xyz<r a='日本'>é😀</r>\n");
  const sub = new Uint8Array(buf.buffer, 3, buf.length - 3); // byteOffset 3, length 24 - 3
  assert.deepEqual(parseXml(sub), parseXml("<r a='日本'>é😀</r>\n"));
  for (let n = 0; n <= sub.length; n++) sameAsString(sub.subarray(0, n)); // every length, cut inside characters too
});

test("UTF-8 bytes: empty input throws No root element", () => {
  rejectsBytes(new Uint8Array(0), /^No root element at line 1:1$/, 1, 1);
  rejectsBytes(new Uint8Array(new ArrayBuffer(8), 5, 0), /^No root element at line 1:1$/, 1, 1);
  rejectsBytes(bytesOf([0xef, 0xbb, 0xbf]), /^No root element at line 1:\d$/);
  rejectsBytes(encodeUtf8(" \n\t"), /^No root element at line 2:2$/, 2, 2);
  rejectsBytes(encodeUtf8("<!-- é -->"), /^No root element at line 1:11$/, 1, 11);
});

test("UTF-8 bytes: invalid UTF-8 reads as U+FFFD exactly as TextDecoder decodes it, never a crash", () => {
  assert.deepEqual(parseXml(bytesOf("<r>a", [0xff], "b</r>")), {
    name: "r",
    attributes: {},
    children: [],
    text: "a\uFFFDb",
  });
  assert.equal(parseXml(bytesOf("<r>", [0xe6, 0x97], "</r>")).text, "\uFFFD"); // truncated 日
  assert.equal(parseXml(bytesOf("<r>", [0xed, 0xa0, 0x80], "</r>")).text, "\uFFFD\uFFFD\uFFFD"); // an encoded surrogate
  const cases = [
    bytesOf("<r>", [0xff], "</r>"),
    bytesOf("<r a='", [0xff], "'/>"),
    bytesOf("<r", [0xff], "/>"),
    bytesOf("<", [0xff], "/>"),
    bytesOf("<r>", [0xe6, 0x97], "<a/></r>"),
    bytesOf("<r>", [0xc0, 0xaf], "</r>"),
    bytesOf("<r>", [0xf4, 0x90, 0x80, 0x80], "</r>"),
    bytesOf("<r>", [0x80], "é", [0xbf], "</r>"),
    bytesOf("<r>", [0xf0, 0x9f, 0x98], "</r>"),
    bytesOf("<r><![CDATA[", [0xff, 0xc3], "]]></r>"),
    bytesOf("<r><!--", [0xff], "--></r>"),
    bytesOf("<r>", [0xff], "&amp;", [0xfe], "</r>"),
    bytesOf("<r>", [0xff], "&bad;</r>"),
    bytesOf("<r>", [0xff]),
    bytesOf("<r>", [0xc3]),
    bytesOf("<", [0xc3], "></", [0xc3], ">"),
    bytesOf("<", [0xc3], "></", [0xc4], ">"),
    bytesOf("<r a=", [0xff], "'1'/>"),
    bytesOf("<r a='1'", [0xff], "/>"),
    bytesOf("<r ", [0xff], "='1'/>"),
  ];
  for (const b of cases) sameAsString(b);
});

test("UTF-8 bytes: a literal U+0001 byte reads as the string path reads U+0001", () => {
  assert.equal(parseXml(encodeUtf8("<r>é\x01</r>")).text, "é\x01");
  for (const d of [
    "<r>\x01</r>",
    "<r>é\x01</r>",
    "<r>\x01é\x01</r>",
    "<r a='\x01é'/>",
    "<r><![CDATA[\x01é]]></r>",
    "<r><a\x01b/></r>",
    "<r>é<a\x01b/></r>",
    "<é\x01/>",
    "<r\x01a='é'/>",
    "<é>\x01</é>",
    "\x01<é/>",
    "<é></é\x01>",
    "<r a='1'\x01b='é'/>",
  ]) {
    sameAsString(encodeUtf8(d));
  }
});

test("UTF-8 bytes: maxLength counts bytes", () => {
  const b = encodeUtf8("<r>日本</r>"); // 13 bytes, 9 UTF-16 code units
  assert.equal(b.length, 13);
  rejectsBytes(b, /^Input longer than maxLength 12 at line 1:1$/, 1, 1, { maxLength: 12 });
  rejectsBytes(view(b, 3), /maxLength 12/, 1, 1, { maxLength: 12 });
  assert.equal(parseXml(b, { maxLength: 13 }).text, "日本");
  assert.equal(parseXml("<r>日本</r>", { maxLength: 9 }).text, "日本");
  rejectsBytes(encodeUtf8("<r>😀</r>"), /maxLength 10/, 1, 1, { maxLength: 10 }); // 11 bytes
  rejectsBytes(encodeUtf8("<r>abc</r>"), /maxLength 9/, 1, 1, { maxLength: 9 });
  assert.equal(parseXml(encodeUtf8("<r>abc</r>"), { maxLength: 10 }).text, "abc");
  // with a CR the bytes are decoded and normalized, but the limit is still on the bytes given
  const c = encodeUtf8("<r>é\r\n</r>"); // 11 bytes, 9 code units once decoded and normalized
  rejectsBytes(c, /^Input longer than maxLength 10 at line 1:1$/, 1, 1, { maxLength: 10 });
  assert.equal(parseXml(c, { maxLength: 11 }).text, "é\n");
});

test("UTF-8 bytes: a Node Buffer (whose slice() is a view, not a copy) parses the same and is left unmodified", () => {
  const doc = `<r a="é">日本<😀/></r>`;
  const buf = Buffer.from(doc);
  assert.deepEqual(parseXml(buf), parseXml(doc));
  assert.equal(buf.toString(), doc, "parseXml modified its input");
  const sub = Buffer.from("xyz" + doc).subarray(3); // byteOffset not a multiple of 4
  assert.deepEqual(parseXml(sub), parseXml(doc));
  assert.equal(sub.toString(), doc, "parseXml modified its input");
  const file = readFileSync(new URL("../fixtures/xml/list-objects-v2.xml", import.meta.url));
  assert.deepEqual(parseXml(file), parseXml(fixture("list-objects-v2.xml")));
});

// --- documents larger than one text piece -------------------------------------------------------
// parseXml makes its text in pieces of 64 KiB that end before a "<" (V8 makes a string over 128 KiB
// in its large-object space, far slower). No text node or tag may straddle two pieces; CDATA,
// comments and PIs may, and long text nodes with no "<" at all get a piece of their own.

/**
 * A root holding random nodes and long runs of text, CDATA and comments (up to ~90 KB each, often
 * with "<" inside) until the document passes `size` chars.
 */
function bigDocument(rand: () => number, size: number, ascii: boolean): { xml: string; tree: XmlElement } {
  const clean = (s: string) => (ascii ? s.replace(/[^\x00-\x7f]/gu, "x") : s);
  const long = () => {
    let s = "";
    for (let n = (rand() * 9000) | 0; n > 0; n--) s += CHARS[(rand() * CHARS.length) | 0];
    return clean(s.replace(/\r/g, ""));
  };
  const root: Node = { name: "ListBucketResult", attributes: {}, pieces: [] };
  let xml = "";
  const parts: string[] = [];
  while (xml.length < size) {
    const r = rand();
    let part: string;
    if (r < 0.6) {
      const node = randomNode(rand, 1);
      const fix = (n: Node): Node => ({
        name: clean(n.name) || "x",
        attributes: Object.fromEntries(Object.entries(n.attributes).map(([k, v]) => [clean(k), clean(v)])),
        pieces: n.pieces.map((p) => (typeof p == "string" ? clean(p) : fix(p))),
      });
      const n = fix(node);
      root.pieces.push(n);
      part = serialize(n, rand);
    } else {
      const t = long();
      root.pieces.push(t);
      part =
        r < 0.75
          ? escapeXml(t)
          : r < 0.9
            ? `<![CDATA[${t.split("]]>").join("]]]]><![CDATA[>")}]]>`
            : `<!--${t.replace(/-/g, "")}-->` + escapeXml(t);
    }
    parts.push(part);
    xml += part;
  }
  xml = `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult>${xml}</ListBucketResult>`;
  return { xml, tree: expected(root) };
}

test("documents over 64 KiB: text, tags, CDATA and comments on every side of a piece boundary (seeded)", () => {
  const rand = prng(0xb16);
  for (let i = 0; i < 8; i++) {
    const ascii = i % 3 == 0,
      { xml, tree } = bigDocument(rand, 150_000 + ((rand() * 250_000) | 0), ascii);
    const bytes = encodeUtf8(xml);
    assert.equal(bytes.length == xml.length, ascii);
    for (const input of [xml, bytes]) {
      const d = treeDiff(parseXml(input), tree);
      assert.equal(
        d,
        undefined,
        `document ${i} (${ascii ? "ASCII" : "non-ASCII"}, ${typeof input}, ${xml.length} chars): ${d}`,
      );
    }
  }
});

test('documents over 64 KiB: one text node or CDATA of 300 KB (no "<" to end a piece at, or only in CDATA)', () => {
  for (const body of ["a&amp;é".repeat(50_000), "x".repeat(300_000) + "é", "é".repeat(150_000)]) {
    const text = body.replace(/&amp;/g, "&");
    for (const input of [`<r>${body}</r>`, encodeUtf8(`<r>${body}</r>`)]) assert.equal(parseXml(input).text, text);
  }
  const cdata = "<a>é</a>".repeat(40_000);
  for (const input of [
    `<r><![CDATA[${cdata}]]><k>v</k></r>`,
    encodeUtf8(`<r><!-- ${cdata} --><![CDATA[${cdata}]]><k>v</k></r>`),
  ]) {
    const r = parseXml(input);
    assert.equal(r.text, cdata);
    assert.equal(childText(r, "k"), "v");
  }
});

test("documents over 64 KiB: an error deep in the document is at the line:column the string shows", () => {
  const rand = prng(0xe77);
  for (let i = 0; i < 6; i++) {
    const { xml } = bigDocument(rand, 200_000, i % 2 == 0);
    // A mismatched end tag just before one of the root's children, somewhere past the first piece.
    const cut = xml.indexOf("<", 70_000 + ((rand() * 100_000) | 0));
    const bad = xml.slice(0, cut) + "\n<oops></oopz>" + xml.slice(cut),
      at = cut + 1 + "<oops>".length;
    // Comments keep literal CRLFs, so positions count as after end-of-line normalization.
    const before = bad.slice(0, at).replace(/\r\n?/g, "\n"),
      lines = before.split("\n"),
      line = lines.length,
      column = lines.pop()!.length + 1;
    for (const input of [bad, encodeUtf8(bad)]) {
      const err = rejects(typeof input == "string" ? input : bad, /Expected <\/oops>/, line, column);
      if (typeof input != "string") rejectsBytes(input, /Expected <\/oops>/, line, column);
      assert.equal(err.offset, before.length);
    }
  }
});

test("documents over 64 KiB: CRLF line ends read as LF in every piece", () => {
  const { xml, tree } = bigDocument(prng(0xc71f), 200_000, false);
  const crlf = xml.replace(/>\n/g, ">\r\n");
  assert.ok(crlf.includes("\r\n"));
  assert.equal(treeDiff(parseXml(encodeUtf8(crlf)), tree), undefined);
});
