// Small, fast, safe XML parser for S3 responses: a DOM-lite tree of elements with decoded text,
// from a string or straight from the response bytes.
// Safe by construction: any <!DOCTYPE / <!ENTITY is rejected (so no XXE and no entity expansion),
// depth and length are bounded, and there is no backtracking regex. Speed: the hot path is
// indexOf + charCodeAt; line:column is computed only when an error is thrown.

export interface XmlElement {
  name: string;
  /** Decoded values. Elements without attributes share one frozen empty object: read it, don't write it. */
  attributes: Record<string, string>;
  /** Elements without children share one frozen empty array: read it, don't write it. */
  children: XmlElement[];
  /** This element's own text and CDATA, decoded and concatenated (not its descendants' text). */
  text: string;
}

export interface XmlOptions {
  /** Deepest allowed element nesting (default 64). */
  maxDepth?: number;
  /** Largest allowed input in UTF-16 code units, or bytes (default 64 MiB). */
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

const EMPTY = Object.freeze({}) as Record<string, string>, NONE = Object.freeze([]) as unknown as XmlElement[];
// ignoreBOM: a U+FEFF is data unless it opens the document (a key may start with one).
const utf8 = /* @__PURE__ */ new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * Bytes as the text the scanner reads: every byte >= 0x80 becomes U+0001, a character XML forbids,
 * so the string is pure ASCII. Why: TextDecoder has a fast path for ASCII on every runtime (Node
 * 20's general UTF-8 path is several times slower), and a single non-ASCII character would make
 * the whole string two-byte, slower to scan. Offsets stay byte offsets, so the few names and texts
 * holding U+0001 are decoded from the original bytes (`str` in parseXml). Returns the text and
 * how many bytes were non-ASCII. Never writes to `raw` (a Node Buffer's slice() is a view: copies
 * are made with new Uint8Array).
 */
// The copy asciiOf writes its stand-ins into, reused across documents up to 1 MiB (a 1000-key
// listing is ~400 KB): only its decoded text is kept, so one buffer serves every parse.
let scratch = new Uint8Array(0);
const asciiOf = (raw: Uint8Array) => {
  // 8 bytes a step: a pair of words with no high bit needs no look (several times faster than
  // bytewise). The copy that gets the U+0001s is made at the first non-ASCII byte.
  let u: Uint8Array | undefined, n = raw.length >> 3, j, k = 0;
  const copy = () => {
    const c = raw.length > 1 << 20 ? new Uint8Array(raw.length) : scratch.length < raw.length ? (scratch = new Uint8Array(Math.max(raw.length, 65536))) : scratch;
    c.set(raw);
    return c;
  };
  const w = new Int32Array(raw.byteOffset & 3 ? new Uint8Array(raw.subarray(0, n * 8)).buffer : raw.buffer, raw.byteOffset & 3 ? 0 : raw.byteOffset, n * 2);
  for (let i = 0; i < n * 2; i += 2) if ((w[i] | w[i + 1]) & -0x7f7f7f80) for (u ||= copy(), j = i * 4; j < i * 4 + 8; j++) if (u[j] > 127) (u[j] = 1), k++;
  for (j = n * 8; j < raw.length; j++) if (raw[j] > 127) ((u ||= copy())[j] = 1), k++;
  return [utf8.decode(u ? u.subarray(0, raw.length) : raw), k] as const;
};

// Out of line: inlined into the scanner, this rare path cost ~30% of its speed (V8 deopts there).
const slow = (raw: Uint8Array, a: number, b: number) => utf8.decode(raw.subarray(a, b));

/** The document as a tree: text, or UTF-8 bytes as they came from the network. */
export function parseXml(input: string | Uint8Array, { maxDepth = 64, maxLength = 1 << 26 }: XmlOptions = {}): XmlElement {
  let raw: Uint8Array | undefined, xml = typeof input == "string" ? input : "";
  // line:column only now, on the error path: the hot path tracks no positions.
  const fail = (message: string, offset: number): never => {
    const lines = (raw ? utf8.decode(raw.subarray(0, offset)) : xml.slice(0, offset)).split("\n"), line = lines.length, column = lines.pop()!.length + 1;
    throw Object.assign(new XmlError(`${message} at line ${line}:${column}`), { line, column, offset });
  };
  // Before any work on the input (UTF-16 units, or bytes).
  if (input.length > maxLength) fail("Input longer than maxLength " + maxLength, 0);
  if (typeof input != "string") {
    // k: the non-ASCII bytes, each standing as U+0001 in xml. More U+0001s than that: the bytes
    // hold a literal 0x01, which can't be told apart, so they are decoded in full. (Counting with
    // indexOf, one jump per non-ASCII byte, is far cheaper than another scan of the bytes.)
    const [a, k] = asciiOf(input);
    let m = 0;
    for (let p = -1; k && (p = a.indexOf("\x01", p + 1)) >= 0 && ++m <= k; );
    xml = m > k ? utf8.decode(input) : a;
    if (k && m <= k) raw = input;
  }
  // End-of-line handling (XML 1.0 §2.11): \r\n and lone \r read as \n; one search when there is none.
  // It moves offsets, so the bytes' text is decoded in full then.
  if (xml.includes("\r")) xml = (raw ? utf8.decode(raw) : xml).replace(/\r\n?/g, "\n"), (raw = undefined);
  // The text of [a, b): from the bytes when a non-ASCII byte stands there as U+0001. hi is the next
  // U+0001 at or after the last a: calls come in document order, so it is searched once per run.
  let hi = raw ? -1 : 2 ** 32;
  const str = (a: number, b: number, s = xml.slice(a, b)) => {
    if (hi < a) hi = xml.indexOf("\x01", a) >>> 0;
    return hi < b ? slow(raw!, a, b) : s;
  };
  const find = (s: string, from: number, at: number): number => {
    const i = xml.indexOf(s, from);
    return i < 0 ? fail("No closing " + s, at) : i;
  };
  // sub: the code standing for a non-ASCII character, 1 for bytes' text (65, an ordinary name
  // char, when there is none). It is below 32 but not white space; in a name it is a name char.
  const sub = raw ? 1 : 65;
  const ws = (i: number, c = 0): number => {
    while ((c = xml.charCodeAt(i)) <= 32 && c != sub) i++;
    return i;
  };
  // Fails at i, or with "No closing >" when the input ended there.
  const bad = (message: string, i: number) => fail(i < xml.length ? message : "No closing >", i);
  // Name chars accepted: ASCII letters and "_" (and a few other >= "A"), "-", ".", digits, ":", non-ASCII.
  // Whatever follows a name is checked by the caller, so junk like <a"b> still fails.
  const nameTail = (i: number, c = 0): number => {
    while ((c = xml.charCodeAt(i)) >= 65 || (c > 44 && c < 59 && c != 47) || c == sub) i++;
    return i;
  };
  const nameEnd = (i: number, c = xml.charCodeAt(i)): number => (c >= 65 || c == 58 || c == sub ? nameTail(i + 1) : bad("Invalid name", i));
  // Only the 5 predefined entities and character references to valid code points (no NUL, no
  // surrogates, <= 0x10FFFF). A bad one fails at once, so a long run of "&" stays linear.
  // Error path: where in xml the "&" at s[j] stands (s, decoded from bytes, is shorter than its bytes).
  const ampAt = (at: number, s: string, j: number) => {
    let p = at - 1;
    for (let m = s.slice(0, j).split("&").length; m--; ) p = xml.indexOf("&", p + 1);
    return p;
  };
  const decode = (s: string, at: number): string => {
    let out = "", i = 0, j, k, r, n: any;
    while ((j = s.indexOf("&", i)) >= 0) {
      // Without ";" (k = 0) r matches nothing, so it fails; the message shows at most 20 chars.
      r = s.slice(j, (k = s.indexOf(";", j) + 1) || j + 20);
      out += s.slice(i, j) + (r == "&quot;" ? '"' : r == "&amp;" ? "&" : r == "&lt;" ? "<" : r == "&gt;" ? ">" : r == "&apos;" ? "'" : (/^&#(\d+|x[\dA-Fa-f]+);$/.test(r) && (n = +("0" + r.slice(2, -1))) && n < 0x110000 && n >> 11 != 27
        ? String.fromCodePoint(n) : fail("Invalid reference " + r.slice(0, 20), raw ? ampAt(at, s, j) : at + j)));
      i = k;
    }
    return out + s.slice(i);
  };
  // The parents of the open elements: its length is the depth.
  const stack: (XmlElement | undefined)[] = [];
  let root: XmlElement | undefined, cur: XmlElement | undefined, el: XmlElement, attrs: any,
    // A leading BOM (U+FEFF, or its 3 bytes standing as U+0001s) is skipped; it counts as a column.
    amp = -1, pos = xml[0] == "\uFEFF" ? 1 : raw && raw[0] == 0xef && raw[1] == 0xbb && raw[2] == 0xbf ? 3 : 0, lt, c, e, t: number, n: string, end: string;

  for (;;) {
    // AWS sends compact XML, where "<" mostly follows ">": skip the search then.
    lt = xml.charCodeAt(pos) == 60 ? pos : xml.indexOf("<", pos);
    e = lt < 0 ? xml.length : lt;
    if (e > pos) {
      // One search per "&" in the whole document instead of one per text node.
      if (amp < pos) amp = xml.indexOf("&", pos) >>> 0;
      if (cur) cur.text += amp < e ? decode(str(pos, e), pos) : str(pos, e);
      else if ((t = ws(pos)) < e) fail("Text outside root", t);
    }
    if (lt < 0) break;
    c = xml.charCodeAt(lt + 1);
    if (c == 47) {
      if (!cur) fail("Unexpected end tag", lt);
      n = cur!.name;
      // By hand: startsWith(n, at) is several times slower in V8, and every element ends here.
      for (t = n.length; t-- > 0 && n.charCodeAt(t) == xml.charCodeAt(lt + 2 + t); );
      e = lt + 2 + n.length;
      // A non-ASCII name stands as U+0001s in the bytes' text: its decoded bytes are compared.
      if (t >= 0 && raw && slow(raw, lt + 2, (e = nameTail(lt + 2))) == n) t = -1;
      if (xml.charCodeAt(e) != 62) e = ws(e);
      if (t >= 0 || xml.charCodeAt(e) != 62) fail(`Expected </${n}>`, lt);
      cur = stack.pop();
      pos = e + 1;
    } else if (c == 33 || c == 63) {
      // <?pi?>, <!--comment-->, <![CDATA[text]]>. A PI has a target and a comment can't end in its own
      // "<!--", so the terminator is searched from the opener's 2nd char + its length.
      end = c == 63 ? "?>" : xml.startsWith("!--", lt + 1) ? "-->" : xml.startsWith("![CDATA[", lt + 1) ? "]]>" : fail("DOCTYPE/ENTITY not allowed", lt);
      pos = (e = find(end, lt + end.length + 1, lt)) + end.length;
      if (end == "]]>") cur ? (cur.text += str(lt + 9, e)) : fail("Text outside root", lt);
    } else {
      if (root && !cur) fail("Second root", lt);
      if (stack.length >= maxDepth) fail("Nesting deeper than maxDepth " + maxDepth, lt);
      n = xml.slice(lt + 1, (t = nameEnd(lt + 1)));
      // Leaves (most elements) share one empty children array until a first child arrives.
      el = { name: str(lt + 1, t, n), attributes: EMPTY, children: NONE, text: "" };
      attrs = undefined;
      // Most tags are bare "<Name>": one look at the next char then.
      while ((c = xml.charCodeAt((e = xml.charCodeAt(t) == 62 ? t : ws(t)))) != 62 && !(c == 47 && xml.charCodeAt(e + 1) == 62)) {
        if (e == t) bad("Malformed tag", e);
        t = nameEnd(e);
        const a = str(e, t);
        if (xml.charCodeAt((e = ws(t))) != 61 || ((c = xml.charCodeAt((e = ws(e + 1)))) != 34 && c != 39)) fail("Malformed attribute " + a, e);
        t = find(xml[e], e + 1, e);
        let v = str(e + 1, t++);
        if (v.includes("<")) fail("< in attribute value", xml.indexOf("<", e + 1));
        // Attribute-value normalization: a literal tab or newline reads as a space (&#10; keeps its newline).
        v = v.replace(/[\t\n]/g, " ");
        // Null prototype: "__proto__" is plain data and `in` sees only attributes.
        if (a in (attrs ||= { __proto__: null })) fail(`Duplicate attribute in <${el.name}>`, lt);
        attrs[a] = v.includes("&") ? decode(v, e + 1) : v;
      }
      // The spread copies as own data properties onto a normal object.
      if (attrs) el.attributes = { ...attrs };
      if (cur) cur.children == NONE ? (cur.children = [el]) : cur.children.push(el);
      else root = el;
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
