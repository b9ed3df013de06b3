// nodeFetch: a small HTTP/1.1 client over node:net / node:tls.
import { copy, invalid, latin1, MAX_HEAD, MAX_LINE, parseHead, TOKEN } from "./http1.ts";
import { dial, release, take, type Conn } from "./pool.ts";
import { NodeHeaders, NodeResponse } from "./web.ts";

// Why not node:http: every socket read there is a fresh 64 KiB Buffer and the body goes through two
// stream layers. Here all sockets read into one buffer (net's `onread`), and the body bytes are
// copied once, into exactly sized Uint8Arrays of at most CHUNK bytes that belong to the consumer.

// Body chunks handed to the consumer: at most 16 KiB (a TLS record's worth), each a new array. Measured
// on 100 MiB downloads through downloadFile (bench/download.ts): peak RSS +26 MiB above bare node with
// 16 KiB chunks, +32 with 32 KiB, +40 with 64 KiB, at 80-90% of the 64 KiB throughput. Every chunk is
// garbage once consumed and V8 frees array buffers only at a GC; a GC of the young generation comes
// after 32 MiB of new array buffers at the latest, or sooner when the per-chunk work of the stream
// and its consumer fills the young generation, which is what smaller chunks make happen sooner.
const CHUNK = 16 * 1024;
// Body bytes queued in a response stream before its socket is paused (the kernel buffers the rest).
const QUEUED_BYTES = 128 * 1024;
const IDEMPOTENT = /^(GET|HEAD|PUT|DELETE|OPTIONS|TRACE)$/;

/**
 * A fetch over node:net / node:tls (HTTP/1.1, keep-alive), for Node only. Why it exists:
 * - fetch parses every URL with WHATWG URL, which collapses "." and ".." path segments (even as
 *   %2E), so S3 keys like `a/../b` or `./x` cannot be addressed. nodeFetch sends the path and query
 *   exactly as written in the URL string (`rawPath: true` tells S3Client so).
 * - Node's fetch (undici) and node:http are slower and hold more memory on big downloads.
 * The body is a pull-based stream: the socket is paused while QUEUED_BYTES wait unread. Each chunk
 * (at most CHUNK bytes) is the consumer's own Uint8Array, never a view of a buffer that is reused.
 * Idle connections are kept alive per origin (closed after 5 s); a GET/HEAD/PUT/DELETE that finds
 * its kept-alive connection closed by the server before any response byte is sent once more on a
 * new connection.
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
    // A Request, recognized without touching the global (see NodeHeaders).
    if (typeof input == "object" && !(input instanceof URL) && typeof input?.url == "string") {
      const r = input as Request;
      init = { method: r.method, headers: r.headers, signal: r.signal, body: r.body ? new Uint8Array(await r.arrayBuffer()) : null, ...init };
      input = r.url;
    }
    const href = String(input), m = /^(https?:)\/\/([^/?#]*)([^#]*)/i.exec(href), signal = init.signal;
    signal?.throwIfAborted();
    if (!m) throw new TypeError(`nodeFetch: only absolute http(s) URLs, got ${JSON.stringify(href)}`);
    // WHATWG URL only for the origin (host, port, IPv6 brackets); the path is kept byte for byte.
    const o = new URL(m[1] + "//" + m[2]), secure = o.protocol == "https:", path = m[3][0] == "/" ? m[3] : "/" + m[3];
    if (/[^\x21-\x7e]/.test(path)) throw new TypeError(`nodeFetch: the path must be printable ASCII (percent-encode spaces and the rest), got ${JSON.stringify(path.slice(0, 200))}`);
    const method = (init.method ?? "GET").toUpperCase();
    if (!TOKEN.test(method)) throw new TypeError(`nodeFetch: invalid method ${JSON.stringify(method)}`);
    let body = init.body as unknown;
    if (body instanceof ArrayBuffer) body = new Uint8Array(body);
    if (typeof body == "string") body = Buffer.from(body);
    if (body != null && !(body instanceof Uint8Array)) throw new TypeError("nodeFetch: body must be a string, Uint8Array, ArrayBuffer or null");
    const bytes = body as Uint8Array | null | undefined, headers = new NodeHeaders(init.headers as HeadersInit); // validates names and values
    if (!headers.has("host")) headers.set("host", o.host);
    if (o.username && !headers.has("authorization"))
      headers.set("authorization", "Basic " + Buffer.from(decodeURIComponent(o.username) + ":" + decodeURIComponent(o.password)).toString("base64"));
    if (!headers.has("content-length") && !headers.has("transfer-encoding") && (bytes || /^(POST|PUT|PATCH)$/.test(method)))
      headers.set("content-length", String(bytes?.length ?? 0));
    const closing = /(^|,)\s*close\s*(,|$)/i.test(headers.get("connection") ?? "");
    if (!headers.has("connection")) headers.set("connection", "keep-alive");
    let head = `${method} ${path} HTTP/1.1\r\n`;
    headers.forEach((v, k) => (head += `${k}: ${v}\r\n`));
    head += "\r\n";
    const hostname = o.hostname.replace(/^\[|\]$/g, ""), port = +o.port || (secure ? 443 : 80), key = `${o.protocol}//${hostname}:${port}`;

    return new Promise<Response>((resolve, reject) => {
      // phase: 0 = waiting for the response head, 1 = body, 2 = over (complete, failed or aborted).
      let c: Conn, phase = 0, got = false, retried = false, ctl: ReadableStreamDefaultController<Uint8Array> | undefined, paused = false;
      let text = "", framing = 0, left = 0, keep = false, discard = false; // framing: 1 length, 2 chunked, 3 until close
      let cs = 0, line = ""; // chunked: 0 size line, 1 data, 2 CRLF after data, 3 trailer lines
      const unlisten = () => signal?.removeEventListener("abort", abort);
      const fail = (e: unknown) => {
        if (phase == 2) return;
        unlisten();
        phase ? ctl?.error(e) : reject(e);
        phase = 2;
        c.s.destroy();
      };
      const abort = () => fail(signal!.reason);
      const finish = () => {
        phase = 2;
        unlisten();
        ctl?.close();
        // A request body still being written (the server answered before reading it all) would be
        // read as the next request: such a connection is not reused.
        release(c, keep && !c.s.writableLength);
      };
      // Body bytes b[segs[0]..segs[1]), b[segs[2]..segs[3]), ...: copied out in chunks of CHUNK bytes
      // at most (the last may be shorter), then the socket is paused if the queue is full.
      const deliver = (b: Uint8Array, segs: number[]) => {
        if (discard) return;
        // One segment (every Content-Length or close-delimited read): slice, one uninitialized
        // allocation per chunk. Building it with new Uint8Array + set instead (as below) measured
        // +3 to +5 MiB of peak RSS on the 100 MiB download.
        if (segs.length == 2) for (let f = segs[0], t = segs[1]; f < t; f += CHUNK) ctl!.enqueue(copy(b, f, Math.min(t, f + CHUNK)));
        else {
          let total = 0, out: Uint8Array | undefined, p = 0;
          for (let j = 0; j < segs.length; j += 2) total += segs[j + 1] - segs[j];
          for (let j = 0; j < segs.length; j += 2)
            for (let f = segs[j], t = segs[j + 1]; f < t; ) {
              out ??= new Uint8Array(Math.min(CHUNK, total));
              const k = Math.min(t - f, out.length - p);
              out.set(b.subarray(f, f + k), p);
              (f += k), (p += k), (total -= k);
              if (p == out.length) ctl!.enqueue(out), (out = undefined), (p = 0);
            }
        }
        if (ctl!.desiredSize! <= 0 && !paused) {
          paused = true;
          c.s.pause();
        }
      };
      // Response head(s) from b[i..n); returns where the body starts, or -1.
      const onHead = (b: Uint8Array, i: number, n: number): number => {
        while (i < n) {
          const prev = text.length, upto = Math.min(n, i + MAX_HEAD + 4 - prev);
          text += latin1(b, i, upto);
          const re = /\r?\n\r?\n/g;
          re.lastIndex = Math.max(0, prev - 3);
          const e = re.exec(text);
          if (!e) {
            if (text.length >= MAX_HEAD) throw invalid(`headers larger than ${MAX_HEAD} bytes`);
            return -1;
          }
          i += e.index + e[0].length - prev;
          const h = parseHead(text.slice(0, e.index));
          text = "";
          if (h.status == 101) throw invalid("101 Switching Protocols was not asked for");
          if (h.status < 200) continue; // 100 Continue, 103 Early Hints...: the real response follows
          if (h.status > 599) throw invalid(`unusable (HTTP ${h.status}): status outside 200-599`); // as fetch's Response
          const hd = new NodeHeaders(h.headers), te = hd.get("transfer-encoding"), cl = hd.get("content-length"); // repeats joined with ", "
          keep = h.keepAlive && !closing;
          // No body bytes on the wire after these; 205's body is read and dropped (fetch gives 204,
          // 205 and 304 a null body).
          const noBytes = method == "HEAD" || h.status == 204 || h.status == 304;
          if (noBytes) framing = 0;
          else if (te != null) {
            // RFC 9112 6.3: chunked as the last coding is chunked; anything else lasts until close.
            framing = /(^|,)\s*chunked\s*$/i.test(te) ? 2 : 3;
            if (framing == 3 || cl != null) keep = false;
          } else if (cl != null) {
            const vs = new Set(cl.split(",").map((x) => x.trim()));
            const [v] = vs;
            if (vs.size != 1 || !/^\d{1,15}$/.test(v)) throw invalid(`bad Content-Length ${JSON.stringify(cl.slice(0, 100))}`);
            framing = 1;
            left = +v;
          } else (framing = 3), (keep = false);
          if (framing == 1 && !left) framing = 0; // an empty body (a stream that is closed at once)
          discard = h.status == 205;
          const stream =
            noBytes || discard
              ? null
              : new ReadableStream<Uint8Array>(
                  {
                    start: (x) => void (ctl = x),
                    pull() {
                      if (paused) (paused = false), c.s.resume();
                    },
                    cancel() {
                      if (phase == 2) return;
                      phase = 2;
                      unlisten();
                      c.s.destroy();
                    },
                  },
                  { highWaterMark: QUEUED_BYTES, size: (x) => x.length },
                );
          const res = new NodeResponse(stream, h.status, h.statusText, hd, href.replace(/#.*/s, "")) as unknown as Response;
          phase = 1;
          resolve(res);
          if (!framing) {
            if (i < n) keep = false; // bytes after a response without a body
            finish();
          }
          return i;
        }
        return -1;
      };
      const onBody = (b: Uint8Array, i: number, n: number) => {
        if (framing == 3) return deliver(b, [i, n]);
        if (framing == 1) {
          const k = Math.min(left, n - i);
          deliver(b, [i, i + k]);
          if ((left -= k)) return;
          if (i + k < n) keep = false; // bytes beyond the body: the connection is not reusable
          return finish();
        }
        // chunked: the data segments of this read, delivered together
        const segs: number[] = [];
        while (i < n && phase == 1) {
          if (cs == 1) {
            const k = Math.min(left, n - i);
            segs.push(i, i + k);
            i += k;
            if (!(left -= k)) (cs = 2), (line = "");
            continue;
          }
          const f = b.indexOf(10, i), nl = f < n ? f : -1, to = nl < 0 ? n : nl; // b is longer than n
          line += latin1(b, i, to);
          if (line.length > MAX_LINE) throw invalid("chunked encoding line too long");
          i = to;
          if (nl < 0) break;
          i++;
          const l = line.replace(/\r$/, "");
          line = "";
          if (cs == 2) {
            if (l) throw invalid("chunk data not followed by CRLF");
            cs = 0;
          } else if (cs == 0) {
            const sz = /^([0-9a-fA-F]{1,12})[\t ]*(;.*)?$/.exec(l);
            if (!sz) throw invalid(`bad chunk size line ${JSON.stringify(l.slice(0, 100))}`);
            left = parseInt(sz[1], 16);
            cs = left ? 1 : 3;
          } else if (!l) {
            // the empty line after the trailers: the end
            if (i < n) keep = false;
            phase = 3; // leaves the loop; finish below after the last data is delivered
          }
        }
        deliver(b, segs);
        if ((phase as number) == 3) finish();
      };
      const start = (conn: Conn, reused: boolean) => {
        c = conn;
        c.data = (b, n) => {
          if (phase == 2) return;
          got = true;
          try {
            let i = 0;
            if (phase == 0 && (i = onHead(b, 0, n)) < 0) return;
            if (phase == 1) onBody(b, i, n);
          } catch (e) {
            fail(phase ? new TypeError("terminated", { cause: e }) : new TypeError("fetch failed", { cause: e }));
          }
        };
        c.end = (e) => {
          if (phase == 2) return;
          if (phase == 1 && framing == 3 && !e) return finish(); // a body delimited by the close
          // A kept-alive socket the server closed before answering: once more on a new one.
          if (phase == 0 && !got && reused && !retried && IDEMPOTENT.test(method)) {
            retried = true;
            c.data = c.end = () => {};
            c.s.destroy();
            try {
              return start(dial(secure, hostname, port, key), false);
            } catch (x) {
              e = x as Error;
            }
          }
          const cause = e ?? Object.assign(new Error(phase ? "connection closed before the end of the body" : "connection closed before the response headers"), { code: "ECONNRESET" });
          fail(phase ? new TypeError("terminated", { cause }) : new TypeError("fetch failed", { cause }));
        };
        c.s.cork();
        c.s.write(head, "latin1");
        if (bytes?.length) c.s.write(bytes);
        c.s.uncork();
      };
      const reuse = take(key);
      try {
        start(reuse ?? dial(secure, hostname, port, key), !!reuse);
      } catch (e) {
        reuse?.s.destroy();
        return reject(new TypeError("fetch failed", { cause: e }));
      }
      signal?.addEventListener("abort", abort);
    });
  },
  { rawPath: true as const },
) as typeof fetch & { rawPath: true };
