// Node-only helpers (not part of the edge bundle).
import { randomBytes } from "node:crypto";
import { open, rename, rm, type FileHandle } from "node:fs/promises";
import * as http from "node:http";
import * as https from "node:https";
import { basename, dirname, join } from "node:path";
import type { S3Client } from "./client.ts";
import { downloadFile, type Download, type DownloadOptions } from "./download.ts";

/**
 * Write `path` atomically: `write` fills a temp file beside it (`.<name>.<random>.part`, same
 * directory so the rename cannot cross file systems), which is fsynced and renamed over `path`.
 * On any failure the temp file is removed and `path` is left as it was: a reader never sees a
 * partial file under the final name.
 */
export async function writeFileAtomic(path: string, write: (fh: FileHandle) => Promise<void>): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.part`);
  try {
    const fh = await open(tmp, "wx");
    try {
      await write(fh);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Download an object to `path` atomically (writeFileAtomic): a failed or aborted download, or one
 * that fails verification, leaves nothing under the final name.
 */
export async function downloadToFile(
  client: Pick<S3Client, "getObject">,
  o: DownloadOptions & { path: string },
): Promise<Omit<Download, "body"> & { path: string }> {
  const { body, ...d } = await downloadFile(client, o);
  try {
    // Each chunk is written before the next is pulled: backpressure end to end, the network is
    // read only as fast as the disk writes. (pipeline into fh.createWriteStream({autoClose:false})
    // never settles on Node 20: it waits for a 'close' that never comes.)
    await writeFileAtomic(o.path, async (fh) => {
      for await (const c of body as unknown as AsyncIterable<Uint8Array>) for (let n = 0; n < c.length; ) n += (await fh.write(c, n)).bytesWritten;
    });
  } catch (e) {
    await body.cancel(e).catch(() => {}); // releases the connection if the body was never read
    throw e;
  }
  return { ...d, path: o.path };
}

// Keep-alive per protocol, like Node's global agents (free sockets are unref'd and closed after 5 s
// idle, before typical server idle timeouts), but our own so a caller's global agent settings don't leak in.
const agents = { "http:": new http.Agent({ keepAlive: true, timeout: 5000 }), "https:": new https.Agent({ keepAlive: true, timeout: 5000 }) };
// Chunks queued in the body stream before the socket is paused: a few 64 KiB socket reads at most.
const QUEUED_CHUNKS = 4;

/**
 * A fetch over node:http / node:https, for Node only. Why it exists:
 * - fetch parses every URL with WHATWG URL, which collapses "." and ".." path segments (even as
 *   %2E), so S3 keys like `a/../b` or `./x` cannot be addressed. nodeFetch sends the path and query
 *   exactly as written in the URL string (`rawPath: true` tells S3Client so).
 * - Node 20's fetch (undici) is slower and holds more memory on big downloads than node:http.
 * The body is a pull-based stream: the socket is paused while a few chunks wait unread.
 * Differences from fetch: no redirects followed, no Content-Encoding decoding (the stored bytes),
 * no cookies or cache; a Request input works but its URL is already normalized.
 */
export const nodeFetch = Object.assign(
  async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    if (input instanceof Request) {
      const r = input;
      init = { method: r.method, headers: r.headers, signal: r.signal, body: r.body ? new Uint8Array(await r.arrayBuffer()) : null, ...init };
      input = r.url;
    }
    const href = String(input), m = /^(https?:)\/\/([^/?#]*)([^#]*)/i.exec(href), signal = init.signal;
    signal?.throwIfAborted();
    if (!m) throw new TypeError(`nodeFetch: only absolute http(s) URLs, got ${JSON.stringify(href)}`);
    // WHATWG URL only for the origin (host, port, IPv6 brackets); the path is kept byte for byte.
    const o = new URL(m[1] + "//" + m[2]), proto = o.protocol as keyof typeof agents, path = m[3][0] == "/" ? m[3] : "/" + m[3];
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => (headers[k] = v));
    let body = init.body as unknown;
    if (body instanceof ArrayBuffer) body = new Uint8Array(body);
    if (body != null && typeof body != "string" && !(body instanceof Uint8Array)) throw new TypeError("nodeFetch: body must be a string, Uint8Array, ArrayBuffer or null");
    const method = (init.method ?? "GET").toUpperCase();
    return new Promise<Response>((resolve, reject) => {
      let ctl: ReadableStreamDefaultController<Uint8Array> | undefined, done = false;
      const fail = (e: unknown) => {
        done = true;
        signal?.removeEventListener("abort", abort);
        ctl ? ctl.error(e) : reject(e);
      };
      const abort = () => (fail(signal!.reason), req.destroy());
      let req: http.ClientRequest;
      try {
        req = (proto == "https:" ? https : http).request({
          protocol: proto, hostname: o.hostname.replace(/^\[|\]$/g, ""), port: o.port, path, method, headers, agent: agents[proto],
          auth: o.username ? decodeURIComponent(o.username) + ":" + decodeURIComponent(o.password) : undefined,
        });
      } catch (e) {
        // Node refuses e.g. a space or control character in the path, or a bad header value.
        return reject(new TypeError(`nodeFetch: ${(e as Error).message}`, { cause: e }));
      }
      signal?.addEventListener("abort", abort);
      // Like fetch: a failed connection is a TypeError with the node error as cause.
      req.on("error", (e) => done || fail(new TypeError("fetch failed", { cause: e })));
      req.on("response", (r) => {
        const h = new Headers(), raw = r.rawHeaders, st = r.statusCode!;
        for (let i = 0; i < raw.length; i += 2) h.append(raw[i], raw[i + 1]);
        // The Response constructor refuses a body for these statuses.
        const none = method == "HEAD" || st == 204 || st == 205 || st == 304;
        const stream = none
          ? null
          : new ReadableStream<Uint8Array>(
              {
                start(c) {
                  ctl = c;
                  r.on("data", (b: Buffer) => {
                    // A view, not a copy; Buffer's own methods (slice shares memory) don't leak to callers.
                    c.enqueue(new Uint8Array(b.buffer, b.byteOffset, b.length));
                    if (c.desiredSize! <= 0) r.pause();
                  });
                  r.on("end", () => done || ((done = true), signal?.removeEventListener("abort", abort), c.close()));
                  r.on("error", (e) => done || fail(new TypeError("terminated", { cause: e })));
                  r.on("close", () => done || fail(new TypeError("terminated", { cause: new Error("connection closed before the end of the body") })));
                },
                pull: () => void r.resume(),
                cancel() {
                  done = true;
                  signal?.removeEventListener("abort", abort);
                  r.destroy();
                },
              },
              { highWaterMark: QUEUED_CHUNKS },
            );
        if (none) {
          done = true;
          signal?.removeEventListener("abort", abort);
          r.resume();
        }
        try {
          resolve(new Response(stream, { status: st, statusText: r.statusMessage ?? "", headers: h }));
        } catch (e) {
          r.destroy();
          reject(new TypeError(`nodeFetch: unusable response (HTTP ${st})`, { cause: e }));
        }
      });
      req.end(body as string | Uint8Array | undefined);
    });
  },
  { rawPath: true as const },
) as typeof fetch & { rawPath: true };
