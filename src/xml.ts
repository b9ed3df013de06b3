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

export function parseXml(xml: string, { maxDepth = 64, maxLength = 1 << 26 }: XmlOptions = {}): XmlElement {
  // line:column only now, on the error path: the hot path tracks no positions.
  const fail = (message: string, offset: number): never => {
    const lines = xml.slice(0, offset).split("\n"), line = lines.length, column = lines.pop()!.length + 1;
    throw Object.assign(new XmlError(`${message} at line ${line}:${column}`), { line, column, offset });
  };
  if (xml.length > maxLength) fail("Input longer than maxLength " + maxLength, 0);
  // End-of-line handling (XML 1.0 §2.11): \r\n and lone \r read as \n; one search when there is none.
  if (xml.includes("\r")) xml = xml.replace(/\r\n?/g, "\n");
  const find = (s: string, from: number, at: number): number => {
    const i = xml.indexOf(s, from);
    return i < 0 ? fail("No closing " + s, at) : i;
  };
  const ws = (i: number): number => {
    while (xml.charCodeAt(i) <= 32) i++;
    return i;
  };
  // Fails at i, or with "No closing >" when the input ended there.
  const bad = (message: string, i: number) => fail(i < xml.length ? message : "No closing >", i);
  // Name chars accepted: ASCII letters and "_" (and a few other >= "A"), "-", ".", digits, ":", non-ASCII.
  // Whatever follows a name is checked by the caller, so junk like <a"b> still fails.
  const nameEnd = (i: number): number => {
    let c = xml.charCodeAt(i);
    if (!(c >= 65 || c == 58)) bad("Invalid name", i);
    while ((c = xml.charCodeAt(++i)) >= 65 || (c > 44 && c < 59 && c != 47));
    return i;
  };
  // Only the 5 predefined entities and character references to valid code points (no NUL, no
  // surrogates, <= 0x10FFFF). A bad one fails at once, so a long run of "&" stays linear.
  const decode = (s: string, at: number): string => {
    let out = "", i = 0, j, k, r, n: any;
    while ((j = s.indexOf("&", i)) >= 0) {
      // Without ";" (k = 0) r matches nothing, so it fails; the message shows at most 20 chars.
      r = s.slice(j, (k = s.indexOf(";", j) + 1) || j + 20);
      out += s.slice(i, j) + (r == "&quot;" ? '"' : r == "&amp;" ? "&" : r == "&lt;" ? "<" : r == "&gt;" ? ">" : r == "&apos;" ? "'" : (/^&#(\d+|x[\dA-Fa-f]+);$/.test(r) && (n = +("0" + r.slice(2, -1))) && n < 0x110000 && n >> 11 != 27
        ? String.fromCodePoint(n) : fail("Invalid reference " + r.slice(0, 20), at + j)));
      i = k;
    }
    return out + s.slice(i);
  };
  // The parents of the open elements: its length is the depth.
  const stack: (XmlElement | undefined)[] = [];
  let root: XmlElement | undefined, cur: XmlElement | undefined, el: XmlElement, attrs: any,
    amp = -1, pos = +(xml[0] == "\uFEFF"), lt, c, e, t: any;

  for (;;) {
    // AWS sends compact XML, where "<" mostly follows ">": skip the search then.
    lt = xml.charCodeAt(pos) == 60 ? pos : xml.indexOf("<", pos);
    e = lt < 0 ? xml.length : lt;
    if (e > pos) {
      // One search per "&" in the whole document instead of one per text node.
      if (amp < pos) amp = xml.indexOf("&", pos) >>> 0;
      if (cur) cur.text += amp < e ? decode(xml.slice(pos, e), pos) : xml.slice(pos, e);
      else if ((t = ws(pos)) < e) fail("Text outside root", t);
    }
    if (lt < 0) break;
    c = xml.charCodeAt(lt + 1);
    if (c == 47) {
      if (!cur) fail("Unexpected end tag", lt);
      e = ws(lt + 2 + cur!.name.length);
      if (!xml.startsWith(cur!.name, lt + 2) || xml.charCodeAt(e) != 62) fail(`Expected </${cur!.name}>`, lt);
      cur = stack.pop();
      pos = e + 1;
    } else if (c == 33 || c == 63) {
      // <?pi?>, <!--comment-->, <![CDATA[text]]>. A PI has a target and a comment can't end in its own
      // "<!--", so the terminator is searched from the opener's 2nd char + its length.
      t = c == 63 ? "?>" : xml.startsWith("!--", lt + 1) ? "-->" : xml.startsWith("![CDATA[", lt + 1) ? "]]>" : fail("DOCTYPE/ENTITY not allowed", lt);
      pos = (e = find(t, lt + t.length + 1, lt)) + t.length;
      if (t == "]]>") cur ? (cur.text += xml.slice(lt + 9, e)) : fail("Text outside root", lt);
    } else {
      if (root && !cur) fail("Second root", lt);
      if (stack.length >= maxDepth) fail("Nesting deeper than maxDepth " + maxDepth, lt);
      t = nameEnd(lt + 1);
      el = { name: xml.slice(lt + 1, t), attributes: EMPTY, children: [], text: "" };
      attrs = undefined;
      // Most tags are bare "<Name>": one look at the next char then.
      while ((c = xml.charCodeAt((e = ws(t)))) != 62 && !(c == 47 && xml.charCodeAt(e + 1) == 62)) {
        if (e == t) bad("Malformed tag", e);
        t = nameEnd(e);
        const n = xml.slice(e, t);
        if (xml.charCodeAt((e = ws(t))) != 61 || ((c = xml.charCodeAt((e = ws(e + 1)))) != 34 && c != 39)) fail("Malformed attribute " + n, e);
        t = find(xml[e], e + 1, e);
        let v = xml.slice(e + 1, t++);
        if ((c = v.indexOf("<")) >= 0) fail("< in attribute value", e + 1 + c);
        // Attribute-value normalization: a literal tab or newline reads as a space (&#10; keeps its newline).
        v = v.replace(/[\t\n]/g, " ");
        // Null prototype: "__proto__" is plain data and `in` sees only attributes.
        if (n in (attrs ||= { __proto__: null })) fail(`Duplicate attribute in <${el.name}>`, lt);
        attrs[n] = v.includes("&") ? decode(v, e + 1) : v;
      }
      // The spread copies as own data properties onto a normal object.
      if (attrs) el.attributes = { ...attrs };
      cur ? cur.children.push(el) : (root = el);
      if (c == 62) stack.push(cur), (cur = el), (pos = e + 1);
      else pos = e + 2;
    }
  }
  if (cur) fail(`Expected </${cur.name}>`, xml.length);
  return root ?? fail("No root element", xml.length);
}

/** The first direct child element called `name`. */
export const child = (el: XmlElement, name: string): XmlElement | undefined => el.children.find((c) => c.name == name);

/** The text of the first direct child element called `name`. */
export const childText = (el: XmlElement, name: string): string | undefined => child(el, name)?.text;
