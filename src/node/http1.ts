// The HTTP/1.1 response reader of nodeFetch: the response head (status line and header lines) and
// the body's framing (RFC 9112 section 6: no body, Content-Length, chunked, or until the close).
// Pure byte and text work: no sockets here (pool.ts) and no streams (fetch.ts).

/** The most bytes a response head may take, status line and header lines together. */
export const MAX_HEAD_BYTES = 64 * 1024;
/** The longest chunk-size or trailer line of a chunked body. */
const MAX_CHUNK_LINE = 4096;

const LF = 0x0a; // '\n'

/** RFC 9110 token: header names and methods. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A header value (or reason phrase) holds tabs, visible ASCII and obs-text bytes only. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: ([\t\x20-\x7e\x80-\xff]*))?$/;
const HEADER_LINE = /^([^:]*):[\t ]*(.*?)[\t ]*$/;
const CHUNK_SIZE_LINE = /^([0-9a-fA-F]{1,12})[\t ]*(;.*)?$/;
/** A Connection header (or any comma list) holding the token `close`. */
export const CONNECTION_CLOSE = /(^|,)\s*close\s*(,|$)/i;

/** An error for a response that breaks the protocol; nodeFetch wraps it as fetch does. */
export function invalidResponse(what: string): Error {
  return Object.assign(new Error(`invalid HTTP response: ${what}`), { code: "ERR_INVALID_HTTP_RESPONSE" });
}

/** bytes[start..end) as a string of one char per byte (the wire's bytes, ASCII or obs-text). */
export function latin1(bytes: Uint8Array, start: number, end: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString("latin1");
}

const quote = (text: string) => JSON.stringify(text.slice(0, 100));

export interface ResponseHead {
  status: number;
  statusText: string;
  /** Name and value pairs as received (a HeadersInit). */
  headers: [string, string][];
  /** HTTP/1.1 without `Connection: close`: the server keeps the connection open after this response. */
  keepAlive: boolean;
}

/** Parses a response head: the text before the empty line, without it. */
export function parseResponseHead(text: string): ResponseHead {
  const lines = text.split(/\r?\n/);
  const statusLine = STATUS_LINE.exec(lines[0]);
  if (!statusLine) throw invalidResponse(`bad status line ${quote(lines[0])}`);
  const headers: [string, string][] = [];
  let keepAlive = statusLine[1] == "1";
  for (const line of lines.slice(1)) {
    const header = HEADER_LINE.exec(line);
    if (!header || !TOKEN.test(header[1]) || !FIELD_VALUE.test(header[2]))
      throw invalidResponse(`bad header line ${quote(line)}`);
    const [, name, value] = header;
    headers.push([name, value]);
    if (/^connection$/i.test(name) && CONNECTION_CLOSE.test(value)) keepAlive = false;
  }
  return { status: Number(statusLine[2]), statusText: statusLine[3] ?? "", headers, keepAlive };
}

/** Gathers a response head that may arrive over several reads, then parses it. */
export class ResponseHeadReader {
  #text = "";

  /**
   * Reads bytes[start..end). Returns the parsed head and the offset just past its empty line, or
   * null when the head is not complete yet (the bytes read are kept for the next call).
   */
  read(bytes: Uint8Array, start: number, end: number): { head: ResponseHead; bodyStart: number } | null {
    const before = this.#text.length;
    // Never more than one head's worth plus its end marker, so a huge read is not copied whole.
    const upTo = Math.min(end, start + MAX_HEAD_BYTES + 4 - before);
    this.#text += latin1(bytes, start, upTo);
    const emptyLine = /\r?\n\r?\n/g;
    emptyLine.lastIndex = Math.max(0, before - 3); // the marker may straddle the previous read
    const found = emptyLine.exec(this.#text);
    if (!found) {
      if (this.#text.length >= MAX_HEAD_BYTES) throw invalidResponse(`headers larger than ${MAX_HEAD_BYTES} bytes`);
      return null;
    }
    const head = parseResponseHead(this.#text.slice(0, found.index));
    const bodyStart = start + found.index + found[0].length - before;
    this.#text = "";
    return { head, bodyStart };
  }
}

/**
 * Reads a body's framing from the bytes of one socket read. `read` appends the ranges of body data
 * in bytes[start..end) to `dataRanges` (start and end offsets, in pairs) and returns the offset just
 * past the body's end when the body ends in this read, or -1 when more is to come.
 */
export interface BodyDecoder {
  read(bytes: Uint8Array, start: number, end: number, dataRanges: number[]): number;
  /** Whether the connection's end completes the body (rather than cutting it short). */
  readonly endsAtClose: boolean;
}

/** A body of Content-Length bytes. */
export class LengthDelimitedBody implements BodyDecoder {
  readonly endsAtClose = false;
  constructor(private remaining: number) {}
  read(bytes: Uint8Array, start: number, end: number, dataRanges: number[]): number {
    const take = Math.min(this.remaining, end - start);
    if (take) dataRanges.push(start, start + take);
    this.remaining -= take;
    return this.remaining ? -1 : start + take;
  }
}

/** A body that lasts until the server closes the connection. */
export class CloseDelimitedBody implements BodyDecoder {
  readonly endsAtClose = true;
  read(bytes: Uint8Array, start: number, end: number, dataRanges: number[]): number {
    if (end > start) dataRanges.push(start, end);
    return -1;
  }
}

/** Where a chunked body's decoder stands (RFC 9112 section 7.1). */
type ChunkedState =
  | "size-line" // reading "<hex size>[;extensions]" CRLF
  | "data" // inside a chunk's data: `remaining` bytes to go
  | "data-end" // the CRLF after a chunk's data
  | "trailers" // after the last (zero-size) chunk: trailer lines up to an empty one
  | "done";

/** A Transfer-Encoding: chunked body. Chunk extensions and trailers are read and dropped. */
export class ChunkedBody implements BodyDecoder {
  readonly endsAtClose = false;
  #state: ChunkedState = "size-line";
  #remaining = 0;
  /** The line being read (size, data end or trailer), across reads. */
  #line = "";

  read(bytes: Uint8Array, start: number, end: number, dataRanges: number[]): number {
    let offset = start;
    while (offset < end && this.#state != "done") {
      if (this.#state == "data") {
        const take = Math.min(this.#remaining, end - offset);
        dataRanges.push(offset, offset + take);
        offset += take;
        this.#remaining -= take;
        if (!this.#remaining) this.#state = "data-end";
        continue;
      }
      // `bytes` may be longer than `end` (the shared read buffer): a line feed past it is not ours.
      const lineFeed = bytes.indexOf(LF, offset);
      const lineEnd = lineFeed >= 0 && lineFeed < end ? lineFeed : -1;
      this.#line += latin1(bytes, offset, lineEnd < 0 ? end : lineEnd);
      if (this.#line.length > MAX_CHUNK_LINE) throw invalidResponse("chunked encoding line too long");
      if (lineEnd < 0) return -1;
      offset = lineEnd + 1;
      const line = this.#line.replace(/\r$/, "");
      this.#line = "";
      this.#endOfLine(line);
    }
    return this.#state == "done" ? offset : -1;
  }

  #endOfLine(line: string): void {
    switch (this.#state) {
      case "data-end":
        if (line) throw invalidResponse("chunk data not followed by CRLF");
        this.#state = "size-line";
        break;
      case "size-line": {
        const size = CHUNK_SIZE_LINE.exec(line);
        if (!size) throw invalidResponse(`bad chunk size line ${quote(line)}`);
        this.#remaining = parseInt(size[1], 16);
        this.#state = this.#remaining ? "data" : "trailers";
        break;
      }
      case "trailers":
        if (!line) this.#state = "done"; // the empty line after the trailers
        break;
    }
  }
}

/** How a response's body is framed on the wire, and whether the connection survives it. */
export interface BodyFraming {
  /** null: no body bytes follow the head (HEAD, 204, 304, Content-Length: 0). */
  decoder: BodyDecoder | null;
  /** The framing lets the connection carry another request (before the server's own say). */
  reusable: boolean;
}

/** RFC 9112 section 6.3, in its order. Throws for a Content-Length that is not one number. */
export function bodyFraming(
  method: string,
  status: number,
  transferEncoding: string | null,
  contentLength: string | null,
): BodyFraming {
  if (method == "HEAD" || status == 204 || status == 304) return { decoder: null, reusable: true };
  if (transferEncoding != null) {
    // Chunked as the last coding is chunked; anything else lasts until the close. Both headers at
    // once is how request smuggling starts: the connection is not reused.
    if (/(^|,)\s*chunked\s*$/i.test(transferEncoding))
      return { decoder: new ChunkedBody(), reusable: contentLength == null };
    return { decoder: new CloseDelimitedBody(), reusable: false };
  }
  if (contentLength == null) return { decoder: new CloseDelimitedBody(), reusable: false };
  // Repeats ("5, 5", joined by the headers) are allowed when they agree.
  const lengths = new Set(contentLength.split(",").map((length) => length.trim()));
  const [length] = lengths;
  if (lengths.size != 1 || !/^\d{1,15}$/.test(length))
    throw invalidResponse(`bad Content-Length ${quote(contentLength)}`);
  const bytes = Number(length);
  return { decoder: bytes ? new LengthDelimitedBody(bytes) : null, reusable: true };
}
