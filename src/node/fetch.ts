// nodeFetch: a small HTTP/1.1 client over node:net / node:tls, with fetch's signature.
// Why not node:http: every socket read there is a fresh 64 KiB Buffer and the body goes through two
// stream layers. Here all sockets read into one buffer (net's `onread`, pool.ts), and the body bytes
// are copied once, into exactly sized Uint8Arrays of at most CHUNK bytes that belong to the consumer.
import {
  bodyFraming,
  CONNECTION_CLOSE,
  invalidResponse,
  ResponseHeadReader,
  TOKEN,
  type BodyDecoder,
  type ResponseHead,
} from "./http1.ts";
import { dial, release, takeIdle, type Connection, type Origin } from "./pool.ts";
import { NodeHeaders, NodeResponse } from "./web.ts";

// Body chunks handed to the consumer: at most 16 KiB (a TLS record's worth), each a new array. Measured
// on 100 MiB downloads through downloadFile (bench/download.ts): peak RSS +26 MiB above bare node with
// 16 KiB chunks, +32 with 32 KiB, +40 with 64 KiB, at 80-90% of the 64 KiB throughput. Every chunk is
// garbage once consumed and V8 frees array buffers only at a GC; a GC of the young generation comes
// after 32 MiB of new array buffers at the latest, or sooner when the per-chunk work of the stream
// and its consumer fills the young generation, which is what smaller chunks make happen sooner.
const CHUNK = 16 * 1024;
// Body bytes queued in a response stream before its socket is paused (the kernel buffers the rest).
const QUEUED_BYTES = 128 * 1024;
// Methods that may be sent again when a kept-alive connection turns out closed (RFC 9110 9.2.2).
const IDEMPOTENT = /^(GET|HEAD|PUT|DELETE|OPTIONS|TRACE)$/;
const PRINTABLE_ASCII_ONLY = /^[\x21-\x7e]*$/;

// A copy in an exactly sized array of its own: the consumer keeps it for good (never a view of the
// read buffer, nor of a pooled Buffer whose .buffer would expose other bytes).
const copyOf = (bytes: Uint8Array, start: number, end: number) => Uint8Array.prototype.slice.call(bytes, start, end);

/** A request checked and encoded, ready for the wire. */
interface WireRequest {
  /** The URL without its fragment: the response's `url`. */
  url: string;
  origin: Origin;
  method: string;
  /** Request line, header lines and the empty line. */
  head: string;
  body: Uint8Array | null;
  /** The caller sent `Connection: close`. */
  closeAfter: boolean;
  signal: AbortSignal | null;
}

/**
 * A fetch over node:net / node:tls (HTTP/1.1, keep-alive), for Node only. Why it exists:
 * - fetch parses every URL with WHATWG URL, which collapses "." and ".." path segments (even as
 *   %2E), so S3 keys like `a/../b` or `./x` cannot be addressed. nodeFetch sends the path and query
 *   exactly as written in the URL string (`rawPath: true` tells S3Client so).
 * - Node's fetch (undici) and node:http are slower and hold more memory on big downloads.
 * The body is a pull-based stream: the socket is paused while QUEUED_BYTES wait unread. Each chunk
 * (at most CHUNK bytes) is the consumer's own Uint8Array, never a view of a buffer that is reused.
 * Idle connections are kept alive per origin (closed after 5 s), except after a response without
 * body bytes (HEAD, 204, 304, Content-Length: 0), whose connection is closed; a GET/HEAD/PUT/DELETE
 * that finds its kept-alive connection closed by the server before any response byte is sent once
 * more on a new connection.
 * Differences from fetch: no redirects followed, no Content-Encoding decoding (the stored bytes),
 * no cookies, cache, proxies or HTTP/2; a Request input works but its URL is already normalized;
 * it resolves to a NodeResponse (Response's reading API, not `instanceof Response`), so that
 * undici is never loaded.
 * Errors like fetch: TypeError "fetch failed" (cause: the socket error, or an invalid response)
 * before the headers, TypeError "terminated" for a body cut short; an abort rejects with
 * signal.reason.
 */
export const nodeFetch = Object.assign(
  async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const request = await toWireRequest(input, init);
    return new Exchange(request).response;
  },
  { rawPath: true as const },
) as typeof fetch & { rawPath: true };

async function toWireRequest(input: string | URL | Request, init: RequestInit): Promise<WireRequest> {
  // A Request, recognized without touching the global (see NodeHeaders).
  if (typeof input == "object" && !(input instanceof URL) && typeof input?.url == "string") {
    const request = input as Request;
    const body = request.body ? new Uint8Array(await request.arrayBuffer()) : null;
    init = { method: request.method, headers: request.headers, signal: request.signal, body, ...init };
    input = request.url;
  }
  const href = String(input);
  const signal = init.signal ?? null;
  signal?.throwIfAborted();
  const parts = /^(https?:)\/\/([^/?#]*)([^#]*)/i.exec(href);
  if (!parts) throw new TypeError(`nodeFetch: only absolute http(s) URLs, got ${JSON.stringify(href)}`);
  const [, scheme, authority, rawPath] = parts;
  // WHATWG URL only for the origin (host, port, IPv6 brackets); the path is kept byte for byte.
  const originUrl = new URL(scheme + "//" + authority);
  const path = rawPath[0] == "/" ? rawPath : "/" + rawPath;
  if (!PRINTABLE_ASCII_ONLY.test(path))
    throw new TypeError(
      "nodeFetch: the path must be printable ASCII (percent-encode spaces and the rest), " +
        `got ${JSON.stringify(path.slice(0, 200))}`,
    );
  const method = (init.method ?? "GET").toUpperCase();
  if (!TOKEN.test(method)) throw new TypeError(`nodeFetch: invalid method ${JSON.stringify(method)}`);

  let body = init.body as unknown;
  if (body instanceof ArrayBuffer) body = new Uint8Array(body);
  if (typeof body == "string") body = Buffer.from(body);
  if (body != null && !(body instanceof Uint8Array))
    throw new TypeError("nodeFetch: body must be a string, Uint8Array, ArrayBuffer or null");
  const bodyBytes = (body as Uint8Array | null | undefined) ?? null;

  const headers = new NodeHeaders(init.headers as HeadersInit); // validates names and values
  if (!headers.has("host")) headers.set("host", originUrl.host);
  if (originUrl.username && !headers.has("authorization")) {
    const userPass = decodeURIComponent(originUrl.username) + ":" + decodeURIComponent(originUrl.password);
    headers.set("authorization", "Basic " + Buffer.from(userPass).toString("base64"));
  }
  const framed = headers.has("content-length") || headers.has("transfer-encoding");
  if (!framed && (bodyBytes || /^(POST|PUT|PATCH)$/.test(method)))
    headers.set("content-length", String(bodyBytes?.length ?? 0));
  const closeAfter = CONNECTION_CLOSE.test(headers.get("connection") ?? "");
  if (!headers.has("connection")) headers.set("connection", "keep-alive");
  let head = `${method} ${path} HTTP/1.1\r\n`;
  headers.forEach((value, name) => (head += `${name}: ${value}\r\n`));
  head += "\r\n";

  const secure = originUrl.protocol == "https:";
  const hostname = originUrl.hostname.replace(/^\[|\]$/g, "");
  const port = Number(originUrl.port) || (secure ? 443 : 80);
  const origin = { secure, hostname, port, key: `${originUrl.protocol}//${hostname}:${port}` };
  return { url: href.replace(/#.*/s, ""), origin, method, head, body: bodyBytes, closeAfter, signal };
}

/**
 * Where an exchange stands: waiting for the response head, reading the body (the response is out),
 * or done (complete, failed, aborted or cancelled; nothing more is read).
 */
type ExchangeState = "awaiting-head" | "body" | "done";

/** One request and its response on one connection (two, when a stale kept-alive one is replaced). */
class Exchange {
  readonly response: Promise<Response>;
  #resolve!: (response: Response) => void;
  #reject!: (error: unknown) => void;
  #state: ExchangeState = "awaiting-head";
  #connection!: Connection;
  /** Whether any response byte came (a stale connection is retried only before the first). */
  #receivedAny = false;
  #retried = false;
  #headReader = new ResponseHeadReader();
  #decoder: BodyDecoder | null = null;
  /** The body's data ranges of the current read (reused: one array per exchange). */
  #dataRanges: number[] = [];
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  /** The body's bytes are read and dropped (205: fetch gives it a null body). */
  #discardBody = false;
  #socketPaused = false;
  /** The connection may carry the next request once this response is complete. */
  #reusable = false;

  constructor(readonly request: WireRequest) {
    this.response = new Promise<Response>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    const idle = takeIdle(request.origin);
    try {
      this.#send(idle ?? dial(request.origin), idle != null);
    } catch (error) {
      idle?.socket.destroy();
      this.#state = "done";
      this.#reject(new TypeError("fetch failed", { cause: error }));
      return;
    }
    request.signal?.addEventListener("abort", this.#abort);
  }

  #abort = () => this.#fail(this.request.signal!.reason);

  #unlisten() {
    this.request.signal?.removeEventListener("abort", this.#abort);
  }

  #send(connection: Connection, reused: boolean): void {
    this.#connection = connection;
    connection.onData = (bytes, length) => this.#onData(bytes, length);
    connection.onEnd = (error) => this.#onEnd(error, reused);
    const { socket } = connection;
    socket.cork();
    socket.write(this.request.head, "latin1");
    if (this.request.body?.length) socket.write(this.request.body);
    socket.uncork();
  }

  #fail(error: unknown): void {
    if (this.#state == "done") return;
    this.#unlisten();
    if (this.#state == "body") this.#controller?.error(error);
    else this.#reject(error);
    this.#state = "done";
    this.#connection.socket.destroy();
  }

  #finish(): void {
    this.#state = "done";
    this.#unlisten();
    this.#controller?.close();
    // A request body still being written (the server answered before reading it all) would be
    // read as the next request: such a connection is not reused.
    release(this.#connection, this.#reusable && !this.#connection.socket.writableLength);
  }

  #onData(bytes: Uint8Array, length: number): void {
    if (this.#state == "done") return;
    this.#receivedAny = true;
    try {
      let bodyStart = 0;
      if (this.#state == "awaiting-head" && (bodyStart = this.#onHeadBytes(bytes, length)) < 0) return;
      if (this.#state == "body") this.#onBodyBytes(bytes, bodyStart, length);
    } catch (error) {
      this.#fail(new TypeError(this.#state == "body" ? "terminated" : "fetch failed", { cause: error }));
    }
  }

  /** Response head(s) from bytes[0..length); returns where the body starts, or -1. */
  #onHeadBytes(bytes: Uint8Array, length: number): number {
    let offset = 0;
    while (offset < length) {
      const read = this.#headReader.read(bytes, offset, length);
      if (!read) return -1;
      offset = read.bodyStart;
      const { status } = read.head;
      if (status == 101) throw invalidResponse("101 Switching Protocols was not asked for");
      if (status < 200) continue; // 100 Continue, 103 Early Hints...: the real response follows
      // fetch's Response takes 200-599 only
      if (status > 599) throw invalidResponse(`unusable (HTTP ${status}): status outside 200-599`);
      this.#respond(read.head);
      return offset;
    }
    return -1;
  }

  /** The final head is in: the response goes out, with a body stream unless fetch gives it none. */
  #respond(head: ResponseHead): void {
    const { method } = this.request;
    const headers = new NodeHeaders(head.headers); // repeats joined with ", "
    const framing = bodyFraming(method, head.status, headers.get("transfer-encoding"), headers.get("content-length"));
    this.#decoder = framing.decoder;
    this.#reusable = head.keepAlive && framing.reusable && !this.request.closeAfter;
    // fetch gives HEAD, 204, 205 and 304 a null body; 205's body, if any, is read and dropped.
    this.#discardBody = head.status == 205;
    const nullBody = method == "HEAD" || head.status == 204 || head.status == 304 || this.#discardBody;
    const body = nullBody
      ? null
      : new ReadableStream<Uint8Array>(
          {
            start: (controller) => void (this.#controller = controller),
            pull: () => {
              if (!this.#socketPaused) return;
              this.#socketPaused = false;
              this.#connection.socket.resume();
            },
            cancel: () => {
              if (this.#state == "done") return;
              this.#state = "done";
              this.#unlisten();
              this.#connection.socket.destroy();
            },
          },
          { highWaterMark: QUEUED_BYTES, size: (chunk) => chunk.length },
        );
    this.#state = "body";
    this.#resolve(
      new NodeResponse(body, head.status, head.statusText, headers, this.request.url) as unknown as Response,
    );
    if (this.#decoder) return;
    // No body bytes follow this head (an empty body's stream closes at once). The connection is
    // closed, not reused (issue 13): a server that sends bytes anyway (a HEAD answered with the
    // GET's body, a 204 with one) would have them read as the answer to the next request on this
    // socket whenever they arrive after it was sent, and no reader can tell them apart. One new
    // connection per HEAD, 204, 304 or empty response is the price.
    this.#reusable = false;
    this.#finish();
  }

  #onBodyBytes(bytes: Uint8Array, start: number, end: number): void {
    const dataRanges = this.#dataRanges;
    dataRanges.length = 0;
    const bodyEnd = this.#decoder!.read(bytes, start, end, dataRanges);
    if (!this.#discardBody) this.#deliver(bytes, dataRanges);
    if (bodyEnd < 0) return;
    if (bodyEnd < end) this.#reusable = false; // bytes beyond the body: the connection is not reusable
    this.#finish();
  }

  /**
   * Body bytes (dataRanges: start and end offsets in pairs) copied out in chunks of CHUNK bytes at
   * most (the last may be shorter); then the socket is paused if the stream's queue is full.
   */
  #deliver(bytes: Uint8Array, dataRanges: number[]): void {
    const controller = this.#controller!;
    if (dataRanges.length == 2) {
      // One range (every Content-Length or close-delimited read): slice, one uninitialized
      // allocation per chunk. Building it with new Uint8Array + set instead (as below) measured
      // +3 to +5 MiB of peak RSS on the 100 MiB download.
      const [rangeStart, rangeEnd] = dataRanges;
      for (let start = rangeStart; start < rangeEnd; start += CHUNK)
        controller.enqueue(copyOf(bytes, start, Math.min(rangeEnd, start + CHUNK)));
    } else if (dataRanges.length) {
      // Several ranges (the chunks of a chunked body): joined into arrays of CHUNK bytes.
      let remaining = 0;
      for (let index = 0; index < dataRanges.length; index += 2) remaining += dataRanges[index + 1] - dataRanges[index];
      let out: Uint8Array | undefined;
      let filled = 0;
      for (let index = 0; index < dataRanges.length; index += 2) {
        for (let start = dataRanges[index], end = dataRanges[index + 1]; start < end;) {
          out ??= new Uint8Array(Math.min(CHUNK, remaining));
          const take = Math.min(end - start, out.length - filled);
          out.set(bytes.subarray(start, start + take), filled);
          start += take;
          filled += take;
          remaining -= take;
          if (filled == out.length) {
            controller.enqueue(out);
            out = undefined;
            filled = 0;
          }
        }
      }
    }
    if (controller.desiredSize! <= 0 && !this.#socketPaused) {
      this.#socketPaused = true;
      this.#connection.socket.pause();
    }
  }

  /** The connection ended: EOF (no error), a socket error, or the close. */
  #onEnd(error: Error | undefined, reused: boolean): void {
    if (this.#state == "done") return;
    if (this.#state == "body" && this.#decoder?.endsAtClose && !error) return this.#finish(); // the body's end
    // A kept-alive socket the server closed before answering: once more on a new one.
    const { method, origin } = this.request;
    const retry = reused && !this.#retried && !this.#receivedAny && IDEMPOTENT.test(method);
    if (this.#state == "awaiting-head" && retry) {
      this.#retried = true;
      this.#connection.onData = this.#connection.onEnd = () => {};
      this.#connection.socket.destroy();
      try {
        return this.#send(dial(origin), false);
      } catch (dialError) {
        error = dialError as Error;
      }
    }
    const inBody = this.#state == "body";
    const cause =
      error ??
      Object.assign(
        new Error(
          inBody ? "connection closed before the end of the body" : "connection closed before the response headers",
        ),
        { code: "ECONNRESET" },
      );
    this.#fail(new TypeError(inBody ? "terminated" : "fetch failed", { cause }));
  }
}
