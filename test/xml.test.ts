import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { child, childText, parseXml, XmlError, type XmlElement } from "../src/xml.ts";
import { escapeXml, listObjectsV2Page, prng } from "./support/listxml.ts";

const fixture = (name: string) => readFileSync(new URL(`../fixtures/xml/${name}`, import.meta.url), "utf8");

/** Asserts that parsing throws an XmlError whose message matches `re`, at line:column when given. */
function rejects(xml: string, re: RegExp, line?: number, column?: number, options?: { maxDepth?: number; maxLength?: number }): XmlError {
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
  assert.deepEqual(root.children.map((c) => c.name), ["k", "e", "e"]);
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
  assert.deepEqual(root.children.map((c) => c.name), ["a-b.c_d1", "_z", "ü"]);
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
  const t = parseXml(`<r>&lt;a&gt; &amp;&amp; &quot;q&quot; &apos;s&apos; &#65;&#x42;&#x000043;&#0068; &#x1F600;&#128512; &#xe9;&#233; &#x10FFFF;</r>`);
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
  const r = parseXml(`\uFEFF<?xml version="1.0" encoding="UTF-8"?>\n<!-- c1 <a> -->\n<?pi x?><r><!-- <x/> -->a<?pi <y/> ?>b</r>\n<!-- after -->\n<?after?>\n`);
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
  assert.deepEqual(contents.map((c) => childText(c, "Key")), [
    "photos/2006/January/sample.jpg",
    `photos/Tom & Jerry <draft> "v2" 'final'.png`,
    "photos/00123",
    "photos/café/日本 😀\r\nx.txt",
  ]);
  assert.deepEqual(contents.map((c) => childText(c, "ETag")), [
    '"bf1d737a4d46a19f3bced6905cc8b902"',
    '"3858f62230ac3c915f300c664312c11f-9"',
    '"d41d8cd98f00b204e9800998ecf8427e"',
    '"0cc175b9c0f1b6a831c399e269772661"',
  ]);
  assert.deepEqual(contents.map((c) => childText(c, "Size")), ["142863", "73400320", "0", "1"]);
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
    for (const ch of ["&", "<", ">", '"', "'", "\n", "😀", "é"]) assert.ok(keys.includes(ch), `no ${JSON.stringify(ch)} in keys`);
    assert.deepEqual(r.children.filter((c) => c.name == "CommonPrefixes").map((c) => childText(c, "Prefix")), ["a/", "b & c/"]);
  }
});

// --- randomized round trip ---------------------------------------------------------------------

interface Node { name: string; attributes: Record<string, string>; pieces: (string | Node)[] }

const CHARS = ["a", "z", "0", " ", "  ", "\t", "\n", "\r\n", "&", "<", ">", '"', "'", "]]>", "]]", ";", "#", "&amp;", "é", "日", "😀", "\u{10FFFF}", "\uFFFD", "x"];
const NAMES = ["a", "Key", "s3:Contents", "x-y.z_1", "é", "_"];

function randomText(rand: () => number, max: number): string {
  let s = "";
  for (let n = (rand() * max) | 0; n > 0; n--) s += CHARS[(rand() * CHARS.length) | 0];
  return s;
}

function randomNode(rand: () => number, depth: number): Node {
  const attributes: Record<string, string> = {};
  for (let n = (rand() * 3) | 0; n > 0; n--) attributes[NAMES[(rand() * NAMES.length) | 0].replace(":", "") + n] = randomText(rand, 6);
  const pieces: (string | Node)[] = [];
  for (let n = (rand() * (depth > 5 ? 2 : 5)) | 0; n > 0; n--) pieces.push(rand() < 0.5 || depth > 6 ? randomText(rand, 8) : randomNode(rand, depth + 1));
  return { name: NAMES[(rand() * NAMES.length) | 0], attributes, pieces };
}

function serialize(n: Node, rand: () => number): string {
  let s = `<${n.name}`;
  for (const [k, v] of Object.entries(n.attributes)) s += rand() < 0.5 ? ` ${k}="${escapeXml(v)}"` : ` ${k} = '${escapeXml(v)}'`;
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
    const xml = (rand() < 0.3 ? '<?xml version="1.0" encoding="UTF-8"?>\n' : "") + serialize(tree, rand) + (rand() < 0.3 ? "\n" : "");
    assert.deepEqual(parseXml(xml), expected(tree), `case ${i}: ${xml}`);
  }
});

test("randomized truncation: every proper prefix of a document throws XmlError", () => {
  const rand = prng(7);
  for (let i = 0; i < 15; i++) {
    const xml = serialize(randomNode(rand, 0), rand);
    for (let n = 0; n < xml.length; n++) {
      assert.throws(() => parseXml(xml.slice(0, n)), (e) => e instanceof XmlError && e.offset >= 0 && e.offset <= n, `prefix ${n} of ${xml}`);
    }
  }
});
