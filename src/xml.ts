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

// Character codes the scanner reads from the bytes.
const SPACE = 0x20; // ' ' (every byte up to it is white space or a control character)
const DOUBLE_QUOTE = 0x22; // '"'
const AMPERSAND = 0x26; // '&'
const SINGLE_QUOTE = 0x27; // "'"
const HYPHEN = 0x2d; // '-'
const SLASH = 0x2f; // '/'
const COLON = 0x3a; // ':'
const LT = 0x3c; // '<'
const EQUALS = 0x3d; // '='
const GT = 0x3e; // '>'
const QUESTION = 0x3f; // '?'
const BANG = 0x21; // '!'
const UPPER_A = 0x41; // 'A'
const STAND_IN = 0x01; // U+0001, a character XML forbids: stands for each non-ASCII byte in the text
const HIGH_BITS = 0x80808080 | 0; // the top bit of each byte of a 32-bit word

const EMPTY = Object.freeze({}) as Record<string, string>;
const NONE = Object.freeze([]) as unknown as XmlElement[];
// ignoreBOM: a U+FEFF is data unless it opens the document (a key may start with one).
const decoder = /* @__PURE__ */ new TextDecoder("utf-8", { ignoreBOM: true });

// The copy asciiOf writes its stand-ins into, reused across documents up to 1 MiB (a 1000-key
// listing is ~350 KB): a parse is synchronous, so one buffer serves every parse.
let scratch = new Uint8Array(0);
const SCRATCH_MAX = 1 << 20;
const SCRATCH_MIN = 64 * 1024;

/**
 * Bytes as the text's bytes: every byte >= 0x80 becomes U+0001, a character XML forbids, so the
 * text decodes as pure ASCII. Why: TextDecoder has a fast path for ASCII on every runtime (Node
 * 20's general UTF-8 path is several times slower), and a single non-ASCII character would make
 * the string two-byte, slower to slice and compare. Offsets stay byte offsets, so the few names
 * and texts holding U+0001 are decoded from the original bytes (`textOf` in parseXml). Returns
 * `raw` itself when it is all ASCII. Never writes to `raw` (a Node Buffer's slice() is a view:
 * copies are made with new Uint8Array).
 */
const asciiOf = (raw: Uint8Array): Uint8Array => {
  // 8 bytes a step: a pair of words with no high bit needs no look (several times faster than
  // bytewise). The copy that gets the U+0001s is made at the first non-ASCII byte.
  let copy: Uint8Array | undefined, i: number;
  const makeCopy = () => {
    const target =
      raw.length > SCRATCH_MAX
        ? new Uint8Array(raw.length)
        : scratch.length < raw.length
          ? (scratch = new Uint8Array(Math.max(raw.length, SCRATCH_MIN)))
          : scratch;
    target.set(raw);
    return target;
  };
  const steps = raw.length >> 3;
  // Int32Array needs a 4-byte aligned offset: an unaligned view is read from a copy of its bytes.
  const aligned = !(raw.byteOffset & 3);
  const words = new Int32Array(
    aligned ? raw.buffer : new Uint8Array(raw.subarray(0, steps * 8)).buffer,
    aligned ? raw.byteOffset : 0,
    steps * 2,
  );
  for (let word = 0; word < steps * 2; word += 2)
    if ((words[word] | words[word + 1]) & HIGH_BITS)
      for (copy ||= makeCopy(), i = word * 4; i < word * 4 + 8; i++) if (copy[i] > 0x7f) copy[i] = STAND_IN;
  for (i = steps * 8; i < raw.length; i++) if (raw[i] > 0x7f) (copy ||= makeCopy())[i] = STAND_IN;
  return copy ? copy.subarray(0, raw.length) : raw;
};

// The text is made in pieces of at most this many bytes: V8 puts a string over 128 KiB in its
// large-object space, and making one there costs ~10x more than making the same text in 64 KiB
// pieces (a 1000-key listing is ~350 KB: 0.34 ms against 0.035 ms in one measurement).
const PIECE = 64 * 1024;

/**
 * What the scanner works on: the UTF-8 `bytes` (structure is read from them, as a typed-array
 * load is several times cheaper than charCodeAt, which dispatches on the string's representation
 * on every call; names compare as bytes), the text in `pieces` (one char per byte, for slicing)
 * with each piece's end offset, and whether any byte was non-ASCII. A string is read as its UTF-8
 * bytes, so both inputs take one path; an ASCII string is its own text. Pieces end just before a
 * "<", so no text node and no tag straddles two; only a comment, CDATA or PI can, and those are
 * decoded from the bytes. (A non-ASCII byte is >= 0x80 in the bytes and U+0001 in the text: the
 * scanner treats both as a name char that is not white space, so it needs no copy of its own.)
 */
interface Document {
  pieces: string[];
  pieceEnds: number[];
  bytes: Uint8Array;
  nonAscii: boolean;
}

const load = (input: string | Uint8Array): Document => {
  for (let bytes = utf8(input); ;) {
    const ascii = typeof input == "string" && bytes.length == input.length;
    // The bytes the text is decoded from (each non-ASCII byte standing as U+0001).
    const textBytes = ascii ? bytes : asciiOf(bytes);
    const length = bytes.length;
    const pieces: string[] = [];
    const pieceEnds: number[] = [];
    if (ascii) (pieces.push(input as string), pieceEnds.push(length));
    else
      for (let start = 0, end = 0; start < length || !pieces.length; start = end) {
        if ((end = start + PIECE) >= length) end = length;
        else {
          while (end > start + PIECE / 2 && bytes[end] != LT) end--;
          // No "<" in the last half: a text node this long gets a piece to itself, however long.
          if (bytes[end] != LT) for (end = start + PIECE; end < length && bytes[end] != LT; end++);
        }
        pieces.push(decoder.decode(textBytes.subarray(start, end)));
        pieceEnds.push(end);
      }
    // End-of-line handling (XML 1.0 §2.11): \r\n and lone \r read as \n, in the bytes (offsets stay
    // byte offsets); one search per piece when there is none.
    if (!pieces.some((piece) => piece.includes("\r")))
      return { pieces, pieceEnds, bytes, nonAscii: textBytes != bytes };
    bytes = utf8((input = decoder.decode(bytes).replace(/\r\n?/g, "\n")));
  }
};

// Out of line: inlined into the scanner, this rare path cost ~30% of its speed (V8 deopts there).
const decodeBytes = (bytes: Uint8Array, start: number, end: number) => decoder.decode(bytes.subarray(start, end));

/** The document as a tree: text, or UTF-8 bytes as they came from the network. */
export function parseXml(
  input: string | Uint8Array,
  { maxDepth = 64, maxLength = 1 << 26 }: XmlOptions = {},
): XmlElement {
  // Before any work on the input (UTF-16 units, or bytes).
  if (input.length > maxLength) throw xmlError("Input longer than maxLength " + maxLength, 1, 1, 0);
  const { pieces, pieceEnds, bytes, nonAscii } = load(input);
  const length = bytes.length;
  // line:column only now, on the error path: the hot path tracks no positions. The offset is
  // counted in the input's own units (UTF-16 for a string).
  const throwXmlError = (message: string, offset: number): never => {
    const before = decoder.decode(bytes.subarray(0, offset));
    const lines = before.split("\n");
    throw xmlError(message, lines.length, lines.pop()!.length + 1, typeof input == "string" ? before.length : offset);
  };
  // The piece being read: its text, start and end. Reads come in document order, so it only moves on.
  let pieceIndex = 0,
    piece = pieces[0],
    pieceStart = 0,
    pieceEnd = pieceEnds[0];
  const moveToPieceOf = (offset: number) => {
    while (offset >= pieceEnd && pieceIndex < pieces.length - 1) {
      pieceStart = pieceEnd;
      pieceEnd = pieceEnds[++pieceIndex];
      piece = pieces[pieceIndex];
    }
  };
  // Where the next `char` is at or after `from`, in this piece; the piece's end if it has none.
  const nextInPiece = (char: string, from: number, index = piece.indexOf(char, from - pieceStart)) =>
    index < 0 ? pieceEnd : index + pieceStart;
  // The text of [start, end): from the bytes when a non-ASCII byte stands there as U+0001 (or it
  // straddles pieces). nextStandIn: the next U+0001 at or after the last start, or the piece's end:
  // searched once per run.
  let nextStandIn = nonAscii ? -1 : 2 ** 32;
  const textOf = (start: number, end: number) => {
    if (start >= pieceEnd) moveToPieceOf(start);
    if (nextStandIn < start) nextStandIn = nextInPiece("\x01", start);
    return nextStandIn < end || end > pieceEnd
      ? decodeBytes(bytes, start, end)
      : piece.slice(start - pieceStart, end - pieceStart);
  };
  const asciiAt = (ascii: string, offset: number) => {
    for (let i = 0; i < ascii.length; i++) if (bytes[offset + i] != ascii.charCodeAt(i)) return false;
    return true;
  };
  // The first `ascii` at or after `from`; fails at `errorOffset` without one. Off the hot path
  // (terminators of comments, CDATA and PIs, attribute quotes).
  const findAscii = (ascii: string, from: number, errorOffset: number): number => {
    for (let i = from; i + ascii.length <= length; i++) if (asciiAt(ascii, i)) return i;
    return throwXmlError("No closing " + ascii, errorOffset);
  };
  const skipSpace = (offset: number): number => {
    while (bytes[offset] <= SPACE) offset++;
    return offset;
  };
  // Fails at `offset`, or with "No closing >" when the input ended there.
  const failInTag = (message: string, offset: number) =>
    throwXmlError(offset < length ? message : "No closing >", offset);
  // Name chars accepted: ASCII letters and "_" (and a few other >= "A"), "-", ".", digits, ":", and
  // every byte of a non-ASCII character (all >= 0x80).
  // Whatever follows a name is checked by the caller, so junk like <a"b> still fails.
  const nameCharsEnd = (offset: number): number => {
    for (let code; (code = bytes[offset]) >= UPPER_A || (code >= HYPHEN && code <= COLON && code != SLASH);) offset++;
    return offset;
  };
  const nameEnd = (offset: number, code = bytes[offset]): number =>
    code >= UPPER_A || code == COLON ? nameCharsEnd(offset + 1) : failInTag("Invalid name", offset);
  // Error path: where in the bytes the "&" at text[index] stands (text, decoded from bytes, is
  // shorter than its bytes).
  const ampersandOffset = (textStart: number, text: string, index: number) => {
    let offset = textStart - 1;
    for (let count = text.slice(0, index).split("&").length; count--;)
      for (offset++; offset < length && bytes[offset] != AMPERSAND; offset++);
    return offset;
  };
  // Only the 5 predefined entities and character references to valid code points (no NUL, no
  // surrogates, <= 0x10FFFF). A bad one fails at once, so a long run of "&" stays linear.
  const decodeReferences = (text: string, textStart: number): string => {
    let out = "",
      from = 0,
      ampersand,
      semicolon,
      reference,
      codePoint = 0;
    while ((ampersand = text.indexOf("&", from)) >= 0) {
      // Without ";" (semicolon = 0) the reference matches nothing, so it fails; the message shows
      // at most 20 chars.
      reference = text.slice(ampersand, (semicolon = text.indexOf(";", ampersand) + 1) || ampersand + 20);
      out +=
        text.slice(from, ampersand) +
        (reference == "&quot;"
          ? '"'
          : reference == "&amp;"
            ? "&"
            : reference == "&lt;"
              ? "<"
              : reference == "&gt;"
                ? ">"
                : reference == "&apos;"
                  ? "'"
                  : // "&#65;" and "&#x41;" alike: "0" + "65" or "0" + "x41" is a number literal.
                    /^&#(\d+|x[\dA-Fa-f]+);$/.test(reference) &&
                      (codePoint = +("0" + reference.slice(2, -1))) &&
                      codePoint < 0x11_0000 &&
                      codePoint >> 11 != 0xd800 >> 11 // not a surrogate, 0xD800-0xDFFF
                    ? String.fromCodePoint(codePoint)
                    : throwXmlError(
                        "Invalid reference " + reference.slice(0, 20),
                        ampersandOffset(textStart, text, ampersand),
                      ));
      from = semicolon;
    }
    return out + text.slice(from);
  };
  // The open elements: `parents` holds each one's parent (its length is the depth), and the
  // start and length in the bytes of each one's name, so its end tag is compared as bytes.
  const parents: (XmlElement | undefined)[] = [];
  const openNameStarts: number[] = [];
  const openNameLengths: number[] = [];
  let root: XmlElement | undefined,
    current: XmlElement | undefined,
    openNameStart = 0,
    openNameLength = 0,
    // The next "&" in the current piece, searched once per "&" instead of once per text node.
    nextAmpersand = -1,
    // A leading BOM (its 3 bytes, EF BB BF) is skipped; it counts as a column.
    position = bytes[0] == 0xef && bytes[1] == 0xbb && bytes[2] == 0xbf ? 3 : 0;

  for (;;) {
    // AWS sends compact XML, where "<" mostly follows ">": skip the search then. Else it is in this
    // piece, or it is the next piece's first char (or the end).
    let tagStart: number;
    if (bytes[position] == LT) tagStart = position;
    else {
      if (position >= pieceEnd) moveToPieceOf(position);
      tagStart = nextInPiece("<", position);
      if (nextAmpersand < position) nextAmpersand = nextInPiece("&", position);
      if (current)
        current.text +=
          nextAmpersand < tagStart
            ? decodeReferences(textOf(position, tagStart), position)
            : textOf(position, tagStart);
      else {
        const nonSpace = skipSpace(position);
        if (nonSpace < tagStart) throwXmlError("Text outside root", nonSpace);
      }
    }
    if (tagStart >= length) break;
    let code = bytes[tagStart + 1];
    if (code == SLASH) {
      if (!current) throwXmlError("Unexpected end tag", tagStart);
      const name = current!.name;
      // The UTF-8 bytes of the start tag's name, by hand (every element ends here): exact for
      // non-ASCII names too, and no string is touched.
      let i = openNameLength;
      while (i-- > 0 && bytes[openNameStart + i] == bytes[tagStart + 2 + i]);
      let end = tagStart + 2 + openNameLength;
      // Different bytes may still decode alike (invalid UTF-8 reads as U+FFFD): compare as text then.
      if (i >= 0 && nonAscii && decodeBytes(bytes, tagStart + 2, (end = nameCharsEnd(tagStart + 2))) == name) i = -1;
      if (bytes[end] != GT) end = skipSpace(end);
      if (i >= 0 || bytes[end] != GT) throwXmlError(`Expected </${name}>`, tagStart);
      current = parents.pop();
      openNameLength = openNameLengths.pop()!;
      openNameStart = openNameStarts.pop()!;
      position = end + 1;
    } else if (code == BANG || code == QUESTION) {
      // <?pi?>, <!--comment-->, <![CDATA[text]]>. A PI has a target and a comment can't end in its own
      // "<!--", so the terminator is searched from the opener's 2nd char + its length.
      const terminator =
        code == QUESTION
          ? "?>"
          : asciiAt("!--", tagStart + 1)
            ? "-->"
            : asciiAt("![CDATA[", tagStart + 1)
              ? "]]>"
              : throwXmlError("DOCTYPE/ENTITY not allowed", tagStart);
      const end = findAscii(terminator, tagStart + terminator.length + 1, tagStart);
      position = end + terminator.length;
      if (terminator == "]]>")
        current
          ? (current.text += textOf(tagStart + "<![CDATA[".length, end))
          : throwXmlError("Text outside root", tagStart);
    } else {
      if (root && !current) throwXmlError("Second root", tagStart);
      if (parents.length >= maxDepth) throwXmlError("Nesting deeper than maxDepth " + maxDepth, tagStart);
      const tagNameEnd = nameEnd(tagStart + 1);
      // Leaves (most elements) share one empty children array until a first child arrives.
      const element: XmlElement = {
        name: textOf(tagStart + 1, tagNameEnd),
        attributes: EMPTY,
        children: NONE,
        text: "",
      };
      let attributes: Record<string, string> | undefined;
      let scan = tagNameEnd,
        cursor: number;
      // Most tags are bare "<Name>": one look at the next char then.
      while (
        (code = bytes[(cursor = bytes[scan] == GT ? scan : skipSpace(scan))]) != GT &&
        !(code == SLASH && bytes[cursor + 1] == GT)
      ) {
        if (cursor == scan) failInTag("Malformed tag", cursor);
        scan = nameEnd(cursor);
        const attributeName = textOf(cursor, scan);
        if (
          bytes[(cursor = skipSpace(scan))] != EQUALS ||
          ((code = bytes[(cursor = skipSpace(cursor + 1))]) != DOUBLE_QUOTE && code != SINGLE_QUOTE)
        )
          throwXmlError("Malformed attribute " + attributeName, cursor);
        scan = findAscii(code == DOUBLE_QUOTE ? '"' : "'", cursor + 1, cursor);
        let value = textOf(cursor + 1, scan++);
        if (value.includes("<")) throwXmlError("< in attribute value", findAscii("<", cursor + 1, cursor));
        // Attribute-value normalization: a literal tab or newline reads as a space (&#10; keeps its newline).
        value = value.replace(/[\t\n]/g, " ");
        // Null prototype: "__proto__" is plain data and `in` sees only attributes.
        if (attributeName in (attributes ||= { __proto__: null } as unknown as Record<string, string>))
          throwXmlError(`Duplicate attribute in <${element.name}>`, tagStart);
        attributes[attributeName] = value.includes("&") ? decodeReferences(value, cursor + 1) : value;
      }
      // The spread copies as own data properties onto a normal object.
      if (attributes) element.attributes = { ...attributes };
      if (current) current.children == NONE ? (current.children = [element]) : current.children.push(element);
      else root = element;
      if (code == GT) {
        parents.push(current);
        openNameStarts.push(openNameStart);
        openNameLengths.push(openNameLength);
        openNameStart = tagStart + 1;
        openNameLength = tagNameEnd - openNameStart;
        current = element;
        position = cursor + 1;
      } else position = cursor + 2;
    }
  }
  if (current) throwXmlError(`Expected </${current.name}>`, length);
  return root ?? throwXmlError("No root element", length);
}

/** The first direct child element called `name`. */
export const child = (element: XmlElement, name: string): XmlElement | undefined =>
  element.children.find((candidate) => candidate.name == name);

/** The text of the first direct child element called `name`. */
export const childText = (element: XmlElement, name: string): string | undefined => child(element, name)?.text;
