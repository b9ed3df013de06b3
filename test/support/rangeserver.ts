// A tiny S3-ish GET server on loopback for download fault tests. It serves in-memory objects
// path-style (/bucket/key), honours Range, If-Match and x-amz-checksum-mode, and can misbehave on
// demand: cut the connection at given offsets, lie about Content-Length, send a wrong checksum.
// It verifies no signatures (any credentials work).
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { crc32 as zcrc32 } from "node:zlib";
import { crc32c } from "../../src/checksum.ts"; // verified against RFC 3720 vectors in checksum.test.ts

export interface StoredObject {
  data: Uint8Array;
  etag: string;
  lastModified: Date;
  contentType?: string;
  contentEncoding?: string;
  /** Header values sent with checksum mode on full-object reads (name -> base64). Default: crc32. */
  checksums: Record<string, string>;
  checksumType?: string;
}

export interface Faults {
  /** Absolute object offsets: the first response whose body spans one is cut there (socket destroyed); each fires once. */
  cuts: number[];
  /** Added to the declared Content-Length: > 0 declares more than is sent (then closes), < 0 sends more than declared. */
  lieLength: number;
  /** Send a checksum header that does not match the bytes. */
  badChecksum: boolean;
  /** Called before each GET is answered (n = 1-based GET count): a hook to change objects mid-download. */
  onGet?: (n: number, req: IncomingMessage) => void;
  /** Body write size. */
  chunk: number;
  /** Absolute object offsets: the first response whose body spans one stops sending there and holds the connection open (a stall); each fires once. */
  stalls?: number[];
}

export interface LoggedRequest { method: string; key: string; query: string; range?: string; ifMatch?: string; checksumMode?: string }

export interface RangeServer {
  endpoint: string;
  objects: Map<string, StoredObject>;
  faults: Faults;
  requests: LoggedRequest[];
  /** Body bytes handed to sockets so far (all responses). */
  bytesSent: number;
  /** Store (or replace, with a new ETag) an object; checksums default to crc32 (+ crc32c, sha256 when `all`). */
  put(key: string, data: Uint8Array, o?: Partial<StoredObject> & { all?: boolean }): StoredObject;
  /** Close idle keep-alive connections (a fresh connection has small, untuned socket buffers). */
  dropIdle(): void;
  stop(): Promise<void>;
}

const b64crc = (c: number) => Buffer.from([c >>> 24, (c >>> 16) & 255, (c >>> 8) & 255, c & 255]).toString("base64");

const xmlError = (res: ServerResponse, status: number, code: string, key: string) => {
  res.writeHead(status, { "content-type": "application/xml" });
  res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code}</Message><Key>${key}</Key><RequestId>rs</RequestId></Error>`);
};

export async function startRangeServer(): Promise<RangeServer> {
  let gets = 0;
  const s: RangeServer = {
    endpoint: "",
    objects: new Map(),
    faults: { cuts: [], lieLength: 0, badChecksum: false, chunk: 64 * 1024 },
    requests: [],
    bytesSent: 0,
    put(key, data, o = {}) {
      const { all, ...rest } = o;
      const checksums: Record<string, string> = { crc32: b64crc(zcrc32(data)) };
      if (all) {
        checksums.crc32c = b64crc(crc32c(0, data));
        checksums.sha256 = createHash("sha256").update(data).digest("base64");
      }
      const obj: StoredObject = { data, etag: randomBytes(16).toString("hex"), lastModified: new Date(), checksums, ...rest };
      s.objects.set(key, obj);
      return obj;
    },
    dropIdle: () => server.closeIdleConnections(),
    stop: () => new Promise((ok) => { server.closeAllConnections(); server.close(() => ok()); }),
  };

  const server = createServer(async (req, res) => {
    const url = new URL(req.url!, "http://x");
    const key = decodeURIComponent(url.pathname.split("/").slice(2).join("/"));
    const h = (n: string) => req.headers[n] as string | undefined;
    s.requests.push({ method: req.method!, key, query: url.search, range: h("range"), ifMatch: h("if-match"), checksumMode: h("x-amz-checksum-mode") });
    if (req.method === "PUT") {
      const parts: Buffer[] = [];
      for await (const c of req) parts.push(c);
      const o = s.put(key, new Uint8Array(Buffer.concat(parts)));
      res.writeHead(200, { etag: `"${o.etag}"` }).end();
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") return xmlError(res, 405, "MethodNotAllowed", key);
    if (req.method === "GET") s.faults.onGet?.(++gets, req);
    const o = s.objects.get(key);
    if (!o) return xmlError(res, 404, "NoSuchKey", key);
    const im = h("if-match");
    if (im && im !== "*" && im.replace(/"/g, "") !== o.etag) return xmlError(res, 412, "PreconditionFailed", key);

    const size = o.data.length;
    let start = 0, end = size - 1, status = 200;
    const rh = h("range");
    if (rh) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(rh);
      if (m && (m[1] || m[2])) {
        if (m[1]) { start = +m[1]; if (m[2]) end = Math.min(+m[2], size - 1); }
        else start = Math.max(0, size - +m[2]);
        if (start >= size || start > end) {
          res.setHeader("content-range", `bytes */${size}`);
          return xmlError(res, 416, "InvalidRange", key);
        }
        status = 206;
      }
    }
    const f = s.faults, len = end - start + 1;
    const headers: Record<string, string> = {
      etag: `"${o.etag}"`,
      "last-modified": o.lastModified.toUTCString(),
      "content-type": o.contentType ?? "application/octet-stream",
      "content-length": String(len + f.lieLength),
      "accept-ranges": "bytes",
    };
    // S3's response-content-encoding override (signed requests only; this server checks no signature).
    const ce = url.searchParams.get("response-content-encoding") ?? o.contentEncoding;
    if (ce) headers["content-encoding"] = ce;
    if (status === 206) headers["content-range"] = `bytes ${start}-${end}/${size}`;
    if (h("x-amz-checksum-mode") === "ENABLED" && status === 200) {
      for (const [n, v] of Object.entries(o.checksums)) headers["x-amz-checksum-" + n] = f.badChecksum ? b64crc(~zcrc32(o.data) >>> 0) : v;
      if (o.checksumType) headers["x-amz-checksum-type"] = o.checksumType;
    }
    if (f.lieLength) headers.connection = "close";
    res.writeHead(status, headers);
    res.flushHeaders();
    if (req.method === "HEAD") return res.end();

    const ci = f.cuts.findIndex((c) => c >= start && c <= end);
    const si = ci < 0 ? (f.stalls ?? []).findIndex((c) => c >= start && c <= end) : -1;
    const stopAt = ci >= 0 ? f.cuts.splice(ci, 1)[0] : si >= 0 ? f.stalls!.splice(si, 1)[0] : end + 1;
    const sock = res.socket!;
    for (let p = start; p < stopAt; ) {
      const n = Math.min(f.chunk, stopAt - p);
      s.bytesSent += n;
      const ok = res.write(o.data.subarray(p, p + n));
      p += n;
      if (!ok) await new Promise<void>((r) => {
        const f = () => (res.off("drain", f), res.off("close", f), r());
        res.on("drain", f).on("close", f);
      });
      if (res.destroyed) return;
    }
    if (si >= 0) {
      // Stalled: bytes up to the stall point were sent (cuts and stalls are not combined here);
      // the connection stays open and silent until the client gives up on it.
      return;
    }
    if (ci >= 0 || f.lieLength) {
      // Let the written bytes leave, then drop the connection without finishing the response.
      await new Promise<void>((r) => (res.writableNeedDrain ? res.once("drain", r) : r()));
      sock.destroy();
    } else res.end();
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  s.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return s;
}

/** Deterministic bytes / numbers for tests (mulberry32). */
export function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomData(n: number, seed: number): Uint8Array {
  const r = rng(seed), b = new Uint8Array(n), w = new Uint32Array(b.buffer, 0, n >> 2);
  for (let i = 0; i < w.length; i++) w[i] = r() * 4294967296;
  for (let i = w.length * 4; i < n; i++) b[i] = r() * 256;
  return b;
}
