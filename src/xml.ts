// Small, fast, safe XML parser for S3 responses: a DOM-lite tree of elements with decoded text,
// from a string or straight from the response bytes.
// Safe by construction: any <!DOCTYPE / <!ENTITY is rejected (so no XXE and no entity expansion),
// depth and length are bounded, and there is no backtracking regex. Speed: the hot path is
// indexOf on the text and loads from its bytes; line:column is computed only when an error is thrown.

import { utf8 } from "./hash.ts";

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
 * 0-based in the input's units (UTF-16 code units for a string, bytes for bytes), counted after
 * CRLF/CR were normalized to LF (identical for inputs without CR).
 */
export class XmlError extends Error {
  declare line: number;
  declare column: number;
  declare offset: number;
}
XmlError.prototype.name = "XmlError";
const xmlError = (message: string, line: number, column: number, offset: number) =>
  Object.assign(new XmlError(`${message} at line ${line}:${column}`), { line, column, offset });

const EMPTY = Object.freeze({}) as Record<string, string>, NONE = Object.freeze([]) as unknown as XmlElement[];
// ignoreBOM: a U+FEFF is data unless it opens the document (a key may start with one).
const dec = /* @__PURE__ */ new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * Bytes as the text's bytes: every byte >= 0x80 becomes U+0001, a character XML forbids, so the
 * text decodes as pure ASCII. Why: TextDecoder has a fast path for ASCII on every runtime (Node
 * 20's general UTF-8 path is several times slower), and a single non-ASCII character would make
 * the string two-byte, slower to slice and compare. Offsets stay byte offsets, so the few names
 * and texts holding U+0001 are decoded from the original bytes (`str` in parseXml). Returns `raw`
 * itself when it is all ASCII. Never writes to `raw` (a Node Buffer's slice() is a view: copies
 * are made with new Uint8Array).
 */
// The copy asciiOf writes its stand-ins into, reused across documents up to 1 MiB (a 1000-key
// listing is ~350 KB): a parse is synchronous, so one buffer serves every parse.
let scratch = new Uint8Array(0);
const asciiOf = (raw: Uint8Array): Uint8Array => {
  // 8 bytes a step: a pair of words with no high bit needs no look (several times faster than
  // bytewise). The copy that gets the U+0001s is made at the first non-ASCII byte.
  let u: Uint8Array | undefined, n = raw.length >> 3, j;
  const copy = () => {
    const c = raw.length > 1 << 20 ? new Uint8Array(raw.length) : scratch.length < raw.length ? (scratch = new Uint8Array(Math.max(raw.length, 65536))) : scratch;
    c.set(raw);
    return c;
  };
  const w = new Int32Array(raw.byteOffset & 3 ? new Uint8Array(raw.subarray(0, n * 8)).buffer : raw.buffer, raw.byteOffset & 3 ? 0 : raw.byteOffset, n * 2);
  for (let i = 0; i < n * 2; i += 2) if ((w[i] | w[i + 1]) & -0x7f7f7f80) for (u ||= copy(), j = i * 4; j < i * 4 + 8; j++) if (u[j] > 127) u[j] = 1;
  for (j = n * 8; j < raw.length; j++) if (raw[j] > 127) (u ||= copy())[j] = 1;
  return u ? u.subarray(0, raw.length) : raw;
};

// The text is made in pieces of at most this many bytes: V8 puts a string over 128 KiB in its
// large-object space, and making one there costs ~10x more than making the same text in 64 KiB
// pieces (a 1000-key listing is ~350 KB: 0.34 ms against 0.035 ms in one measurement).
const PIECE = 65536;

/**
 * What the scanner works on: the UTF-8 bytes (`R`: structure is read from them, as a typed-array
 * load is several times cheaper than charCodeAt, which dispatches on the string's representation
 * on every call; names compare as bytes), the text in pieces (one char per byte, for slicing)
 * with each piece's end offset, and whether any byte was non-ASCII. A string is read as its UTF-8
 * bytes, so both inputs take one path; an ASCII string is its own text. Pieces end just before a
 * "<", so no text node and no tag straddles two; only a comment, CDATA or PI can, and those are
 * decoded from the bytes. (A non-ASCII byte is >= 0x80 in R and U+0001 in the text: the scanner
 * treats both as a name char that is not white space, so it needs no copy of its own.)
 */
const load = (input: string | Uint8Array): [string[], number[], Uint8Array, boolean] => {
  for (let R = utf8(input); ; ) {
    // tb: the bytes the text is decoded from (each non-ASCII byte standing as U+0001).
    const ascii = typeof input == "string" && R.length == input.length, tb = ascii ? R : asciiOf(R), L = R.length, text: string[] = [], ends: number[] = [];
    if (ascii) text.push(input as string), ends.push(L);
    else for (let a = 0, b; a < L || !text.length; a = b) {
      if ((b = a + PIECE) >= L) b = L;
      else {
        while (b > a + PIECE / 2 && R[b] != 60) b--;
        // No "<" in the last half: a text node this long gets a piece to itself, however long.
        if (R[b] != 60) for (b = a + PIECE; b < L && R[b] != 60; b++);
      }
      text.push(dec.decode(tb.subarray(a, b)));
      ends.push(b);
    }
    // End-of-line handling (XML 1.0 §2.11): \r\n and lone \r read as \n, in the bytes (offsets stay
    // byte offsets); one search per piece when there is none.
    if (!text.some((t) => t.includes("\r"))) return [text, ends, R, tb != R];
    R = utf8((input = dec.decode(R).replace(/\r\n?/g, "\n")));
  }
};

// Out of line: inlined into the scanner, this rare path cost ~30% of its speed (V8 deopts there).
const slow = (raw: Uint8Array, a: number, b: number) => dec.decode(raw.subarray(a, b));

/** The document as a tree: text, or UTF-8 bytes as they came from the network. */
export function parseXml(input: string | Uint8Array, { maxDepth = 64, maxLength = 1 << 26 }: XmlOptions = {}): XmlElement {
  // Before any work on the input (UTF-16 units, or bytes).
  if (input.length > maxLength) throw xmlError("Input longer than maxLength " + maxLength, 1, 1, 0);
  const [text, ends, R, nonAscii] = load(input), L = R.length, raw = nonAscii ? R : undefined;
  // line:column only now, on the error path: the hot path tracks no positions. The offset is
  // counted in the input's own units (UTF-16 for a string).
  const fail = (message: string, offset: number): never => {
    const before = dec.decode(R.subarray(0, offset)), lines = before.split("\n"), line = lines.length, column = lines.pop()!.length + 1;
    throw xmlError(message, line, column, typeof input == "string" ? before.length : offset);
  };
  // The piece being read: its text, start and end. Reads come in document order, so it only moves on.
  let pi = 0, ps = text[0], p0 = 0, p1 = ends[0];
  const to = (a: number) => {
    while (a >= p1 && pi < text.length - 1) (p0 = p1), (p1 = ends[++pi]), (ps = text[pi]);
  };
  // Where the next ch is at or after a, in this piece; the piece's end if it has none.
  const next = (ch: string, a: number, i = ps.indexOf(ch, a - p0)) => (i < 0 ? p1 : i + p0);
  // The text of [a, b): from the bytes when a non-ASCII byte stands there as U+0001 (or it straddles
  // pieces). hi: the next U+0001 at or after the last a, or the piece's end: searched once per run.
  let hi = raw ? -1 : 2 ** 32;
  const str = (a: number, b: number) => {
    if (a >= p1) to(a);
    if (hi < a) hi = next("\x01", a);
    return hi < b || b > p1 ? slow(R, a, b) : ps.slice(a - p0, b - p0);
  };
  // The first s (1 to 3 ASCII chars) at or after from.
  const find = (s: string, from: number, at: number): number => {
    for (let i = from, n = s.length; i + n <= L; i++) if (R[i] == s.charCodeAt(0) && (n < 2 || R[i + 1] == s.charCodeAt(1)) && (n < 3 || R[i + 2] == s.charCodeAt(2))) return i;
    return fail("No closing " + s, at);
  };
  const is = (s: string, i: number) => {
    for (let j = 0; j < s.length; j++) if (R[i + j] != s.charCodeAt(j)) return false;
    return true;
  };
  const ws = (i: number, c = 0): number => {
    while ((c = R[i]) <= 32) i++;
    return i;
  };
  // Fails at i, or with "No closing >" when the input ended there.
  const bad = (message: string, i: number) => fail(i < L ? message : "No closing >", i);
  // Name chars accepted: ASCII letters and "_" (and a few other >= "A"), "-", ".", digits, ":", and
  // every byte of a non-ASCII character (all >= 0x80).
  // Whatever follows a name is checked by the caller, so junk like <a"b> still fails.
  const nameTail = (i: number, c = 0): number => {
    while ((c = R[i]) >= 65 || (c > 44 && c < 59 && c != 47)) i++;
    return i;
  };
  const nameEnd = (i: number, c = R[i]): number => (c >= 65 || c == 58 ? nameTail(i + 1) : bad("Invalid name", i));
  // Only the 5 predefined entities and character references to valid code points (no NUL, no
  // surrogates, <= 0x10FFFF). A bad one fails at once, so a long run of "&" stays linear.
  // Error path: where in the bytes the "&" at s[j] stands (s, decoded from bytes, is shorter than its bytes).
  const ampAt = (at: number, s: string, j: number) => {
    let p = at - 1;
    for (let m = s.slice(0, j).split("&").length; m--; ) for (p++; p < L && R[p] != 38; p++);
    return p;
  };
  const decode = (s: string, at: number): string => {
    let out = "", i = 0, j, k, r, n: any;
    while ((j = s.indexOf("&", i)) >= 0) {
      // Without ";" (k = 0) r matches nothing, so it fails; the message shows at most 20 chars.
      r = s.slice(j, (k = s.indexOf(";", j) + 1) || j + 20);
      out += s.slice(i, j) + (r == "&quot;" ? '"' : r == "&amp;" ? "&" : r == "&lt;" ? "<" : r == "&gt;" ? ">" : r == "&apos;" ? "'" : (/^&#(\d+|x[\dA-Fa-f]+);$/.test(r) && (n = +("0" + r.slice(2, -1))) && n < 0x110000 && n >> 11 != 27
        ? String.fromCodePoint(n) : fail("Invalid reference " + r.slice(0, 20), ampAt(at, s, j))));
      i = k;
    }
    return out + s.slice(i);
  };
  // The parents of the open elements: its length is the depth. at: their names' [start, length) in
  // the bytes, pairwise; ns, nl: the open element's.
  const stack: (XmlElement | undefined)[] = [], at: number[] = [];
  let root: XmlElement | undefined, cur: XmlElement | undefined, el: XmlElement, attrs: any, ns = 0, nl = 0, te = 0,
    // A leading BOM (its 3 bytes) is skipped; it counts as a column.
    amp = -1, pos = R[0] == 0xef && R[1] == 0xbb && R[2] == 0xbf ? 3 : 0, lt, c, e, t: number, n: string, end: string;

  for (;;) {
    // AWS sends compact XML, where "<" mostly follows ">": skip the search then. Else it is in this
    // piece, or it is the next piece's first char (or the end).
    if (R[pos] == 60) lt = pos;
    else {
      if (pos >= p1) to(pos);
      lt = next("<", pos);
      // One search per "&" in a piece instead of one per text node.
      if (amp < pos) amp = next("&", pos);
      if (cur) cur.text += amp < lt ? decode(str(pos, lt), pos) : str(pos, lt);
      else if ((t = ws(pos)) < lt) fail("Text outside root", t);
    }
    if (lt >= L) break;
    c = R[lt + 1];
    if (c == 47) {
      if (!cur) fail("Unexpected end tag", lt);
      n = cur!.name;
      // The UTF-8 bytes of the start tag's name, by hand (every element ends here): exact for
      // non-ASCII names too, and no string is touched.
      for (t = nl; t-- > 0 && R[ns + t] == R[lt + 2 + t]; );
      e = lt + 2 + nl;
      // Different bytes may still decode alike (invalid UTF-8 reads as U+FFFD): compare as text then.
      if (t >= 0 && raw && slow(raw, lt + 2, (e = nameTail(lt + 2))) == n) t = -1;
      if (R[e] != 62) e = ws(e);
      if (t >= 0 || R[e] != 62) fail(`Expected </${n}>`, lt);
      cur = stack.pop();
      nl = at.pop()!;
      ns = at.pop()!;
      pos = e + 1;
    } else if (c == 33 || c == 63) {
      // <?pi?>, <!--comment-->, <![CDATA[text]]>. A PI has a target and a comment can't end in its own
      // "<!--", so the terminator is searched from the opener's 2nd char + its length.
      end = c == 63 ? "?>" : is("!--", lt + 1) ? "-->" : is("![CDATA[", lt + 1) ? "]]>" : fail("DOCTYPE/ENTITY not allowed", lt);
      pos = (e = find(end, lt + end.length + 1, lt)) + end.length;
      if (end == "]]>") cur ? (cur.text += str(lt + 9, e)) : fail("Text outside root", lt);
    } else {
      if (root && !cur) fail("Second root", lt);
      if (stack.length >= maxDepth) fail("Nesting deeper than maxDepth " + maxDepth, lt);
      // Leaves (most elements) share one empty children array until a first child arrives.
      el = { name: str(lt + 1, (te = t = nameEnd(lt + 1))), attributes: EMPTY, children: NONE, text: "" };
      attrs = undefined;
      // Most tags are bare "<Name>": one look at the next char then.
      while ((c = R[(e = R[t] == 62 ? t : ws(t))]) != 62 && !(c == 47 && R[e + 1] == 62)) {
        if (e == t) bad("Malformed tag", e);
        t = nameEnd(e);
        const a = str(e, t);
        if (R[(e = ws(t))] != 61 || ((c = R[(e = ws(e + 1))]) != 34 && c != 39)) fail("Malformed attribute " + a, e);
        t = find(c == 34 ? '"' : "'", e + 1, e);
        let v = str(e + 1, t++);
        if (v.includes("<")) fail("< in attribute value", find("<", e + 1, e));
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
      if (c == 62) stack.push(cur), at.push(ns, nl), (ns = lt + 1), (nl = te - ns), (cur = el), (pos = e + 1);
      else pos = e + 2;
    }
  }
  if (cur) fail(`Expected </${cur.name}>`, L);
  return root ?? fail("No root element", L);
}

/** The first direct child element called `name`. */
export const child = (el: XmlElement, name: string): XmlElement | undefined => el.children.find((c) => c.name == name);

/** The text of the first direct child element called `name`. */
export const childText = (el: XmlElement, name: string): string | undefined => child(el, name)?.text;
