// Small, fast, safe XML parser for S3 responses: a DOM-lite tree of elements with decoded text.
// Safe by construction: any <!DOCTYPE / <!ENTITY is rejected (so no XXE and no entity expansion),
// depth and length are bounded, and there is no backtracking regex. Speed: the hot path is
// indexOf + charCodeAt; line:column is computed only when an error is thrown.

export interface XmlElement {
  name: string;
  /** Decoded values. Elements without attributes share one frozen empty object: read it, don't write it. */
  attributes: Record<string, string>;
  children: XmlElement[];
  /** This element's own text and CDATA, decoded and concatenated (not its descendants' text). */
  text: string;
}

export interface XmlOptions {
  /** Deepest allowed element nesting (default 64). */
  maxDepth?: number;
  /** Largest allowed input in UTF-16 code units (default 64 MiB). */
  maxLength?: number;
}

/**
 * Malformed or rejected XML. line and column are 1-based (column in UTF-16 code units); offset is
 * 0-based, counted after CRLF/CR were normalized to LF (identical for inputs without CR).
 */
export class XmlError extends Error {
  declare line: number;
  declare column: number;
  declare offset: number;
}
XmlError.prototype.name = "XmlError";

const EMPTY = Object.freeze({}) as Record<string, string>;

export function parseXml(xml: string, options: XmlOptions = {}): XmlElement {
  const { maxDepth = 64, maxLength = 1 << 26 } = options;
  // line:column only now, on the error path: the hot path tracks no positions.
  const fail = (message: string, offset: number): never => {
    let start = 0, i, line = 1;
    while ((i = xml.indexOf("\n", start)) >= 0 && i < offset) line++, start = i + 1;
    const column = offset - start + 1;
    throw Object.assign(new XmlError(`${message} at line ${line}:${column}`), { line, column, offset });
  };
  if (xml.length > maxLength) fail("Input longer than maxLength " + maxLength, 0);
  // End-of-line handling (XML 1.0 §2.11): \r\n and lone \r read as \n; one search when there is none.
  if (xml.includes("\r")) xml = xml.replace(/\r\n?/g, "\n");
  const find = (s: string, from: number, what: string, at: number): number => {
    const i = xml.indexOf(s, from);
    return i < 0 ? fail("Unterminated " + what, at) : i;
  };
  const ws = (i: number): number => {
    while (xml.charCodeAt(i) <= 32) i++;
    return i;
  };
  // Name chars accepted: ASCII letters and "_" (and a few other >= "A"), "-", ".", digits, ":", non-ASCII.
  // Whatever follows a name is checked by the caller, so junk like <a"b> still fails.
  const nameEnd = (i: number): number => {
    let c = xml.charCodeAt(i);
    if (!(c >= 65 || c == 58)) fail(i < xml.length ? "Invalid name" : "Unterminated tag", i);
    while ((c = xml.charCodeAt(++i)) >= 65 || (c > 44 && c < 59 && c != 47));
    return i;
  };
  // Decodes the references in s (which starts at offset `at`): only the 5 predefined entities and
  // character references to valid code points (no NUL, no surrogates, <= 0x10FFFF).
  const decode = (s: string, at: number): string => {
    let out = "", i = 0, j, k, r: string | number;
    while ((j = s.indexOf("&", i)) >= 0) {
      k = s.indexOf(";", j);
      r = s.slice(j + 1, k);
      r = k < 0 ? "" : r == "quot" ? '"' : r == "amp" ? "&" : r == "lt" ? "<" : r == "gt" ? ">" : r == "apos" ? "'" : r[0] != "#" ? ""
        : /^#(\d+|x[\dA-Fa-f]+)$/.test(r) && (r = +("0" + r.slice(1))) && r < 0x110000 && (r < 0xd800 || r > 0xdfff) ? String.fromCodePoint(r) : "";
      if (!r) fail("Undefined or invalid reference " + s.slice(j, k < 0 || k - j > 20 ? j + 20 : k + 1), at + j);
      out += s.slice(i, j) + r;
      i = k + 1;
    }
    return out + s.slice(i);
  };
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined, cur: XmlElement | undefined, amp = -1, pos = xml.charCodeAt(0) == 0xfeff ? 1 : 0, lt, c, e, t: any;

  for (;;) {
    // AWS sends compact XML, where "<" mostly follows ">": skip the search then.
    lt = xml.charCodeAt(pos) == 60 ? pos : xml.indexOf("<", pos);
    e = lt < 0 ? xml.length : lt;
    if (e > pos) {
      // One search per "&" in the whole document instead of one per text node.
      if (amp < pos) amp = xml.indexOf("&", pos) >>> 0;
      if (cur) cur.text += amp < e ? decode(xml.slice(pos, e), pos) : xml.slice(pos, e);
      else if ((t = ws(pos)) < e) fail("Text outside root element", t);
    }
    if (lt < 0) break;
    c = xml.charCodeAt(lt + 1);
    if (c == 47) {
      if (!cur) fail("Unexpected end tag", lt);
      e = lt + 2 + cur!.name.length;
      if (!xml.startsWith(cur!.name, lt + 2) || xml.charCodeAt(xml.charCodeAt(e) == 62 ? e : (e = ws(e))) != 62)
        fail(`Expected </${cur!.name}>`, lt);
      stack.pop();
      cur = stack[stack.length - 1];
      pos = e + 1;
    } else if (c == 33) {
      if (xml.startsWith("!--", lt + 1)) pos = find("-->", lt + 4, "comment", lt) + 3;
      else if (xml.startsWith("![CDATA[", lt + 1)) {
        if (!cur) fail("CDATA outside root element", lt);
        e = find("]]>", lt + 9, "CDATA", lt);
        cur!.text += xml.slice(lt + 9, e);
        pos = e + 3;
      } else fail("DOCTYPE/ENTITY not allowed (no DTDs: XXE-safe)", lt);
    } else if (c == 63) pos = find("?>", lt + 2, "processing instruction", lt) + 2;
    else {
      if (root && !cur) fail("Second root element", lt);
      if (stack.length >= maxDepth) fail("Nesting deeper than maxDepth " + maxDepth, lt);
      e = nameEnd(lt + 1);
      const el: XmlElement = { name: xml.slice(lt + 1, e), attributes: EMPTY, children: [], text: "" };
      let attrs: string[][] | undefined;
      // Most tags are bare "<Name>": skip the attribute scan then.
      for (t = e, c = xml.charCodeAt(e); c != 62; ) {
        t = ws(e);
        c = xml.charCodeAt(t);
        if (c == 62 || (c == 47 && xml.charCodeAt(t + 1) == 62)) break;
        if (t == e) fail(t < xml.length ? "Malformed tag" : "Unterminated tag", t);
        e = nameEnd(t);
        const n = xml.slice(t, e);
        if (xml.charCodeAt((e = ws(e))) != 61) fail("Malformed attribute " + n, e);
        c = xml.charCodeAt((e = ws(e + 1)));
        if (c != 34 && c != 39) fail("Malformed attribute " + n, e);
        const q = find(c == 34 ? '"' : "'", e + 1, "attribute value", e);
        let v = xml.slice(e + 1, q);
        if ((t = v.indexOf("<")) >= 0) fail("< in attribute value", e + 1 + t);
        // Attribute-value normalization: a literal tab or newline reads as a space (&#10; keeps its newline).
        v = v.replace(/[\t\n]/g, " ");
        (attrs ||= []).push([n, v.includes("&") ? decode(v, e + 1) : v]);
        e = q + 1;
      }
      // fromEntries creates own data properties, so an attribute named "__proto__" stays plain data.
      if (attrs && Object.keys((el.attributes = Object.fromEntries(attrs))).length < attrs.length) fail(`Duplicate attribute in <${el.name}>`, lt);
      pos = c == 62 ? t + 1 : t + 2;
      if (cur) cur.children.push(el);
      else root = el;
      if (c == 62) stack.push((cur = el));
    }
  }
  if (cur) fail(`Unclosed <${cur.name}>`, xml.length);
  return root ?? fail("No root element", xml.length);
}

/** The first direct child element called `name`. */
export function child(el: XmlElement, name: string): XmlElement | undefined {
  return el.children.find((c) => c.name == name);
}

/** The text of the first direct child element called `name`. */
export function childText(el: XmlElement, name: string): string | undefined {
  return child(el, name)?.text;
}
