// A tiny S3-ish GET server on loopback for download fault tests. It serves in-memory objects
// path-style (/bucket/key), honours Range, If-Match and x-amz-checksum-mode, and can misbehave on
// demand: cut the connection at given offsets, lie about Content-Length, send a wrong checksum.
// It verifies no signatures (any credentials work).
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { crc32 as zcrc32 } from "node:zlib";
import { crc32c, crcBytes } from "../../src/checksum.ts"; // verified against RFC 3720 vectors in checksum.test.ts
import { crc64Bytes, crc64nvme } from "../../src/crc64.ts";
import { base64 } from "../../src/hash.ts";
import { seededRandom } from "./util.ts"; // verified against the NVMe check value in checksum.test.ts

export interface StoredObject {
  data: Uint8Array;
  etag: string;
  lastModified: Date;
  contentType?: string;
  contentEncoding?: string;
  /** Header values sent with checksum mode on full-object reads (name -> base64). Default: crc32. */
  checksums: Record<string, string>;
  checksumType?: string;
  /** A multipart upload's part sizes: GET/HEAD ?partNumber=N answers that part (206) with its own checksums. */
  parts?: { size: number; checksums: Record<string, string> }[];
}

export interface Faults {
  /** Absolute object offsets: the first response whose body spans one is cut there (socket destroyed); each fires once. */
  cuts: number[];
  /** Added to the declared Content-Length: > 0 declares more than is sent (then closes), < 0 sends more than declared. */
  lieLength: number;
  /** Send a checksum header that does not match the bytes. */
  badChecksum: boolean;
  /** Called before each GET is answered (n = 1-based GET count since these faults were set): a hook to change objects mid-download. */
  onGet?: (n: number, req: IncomingMessage) => void;
  /** Body write size. */
  chunk: number;
  /** Absolute object offsets: the first response whose body spans one stops sending there and holds the connection open (a stall); each fires once. */
  stalls?: number[];
  /** Every body sends this many bytes, then waits everyMs, and so on (a trickle). */
  trickle?: { bytes: number; everyMs: number };
  /** Answer a ranged GET with 200 and the whole object, as a server without Range support does. */
  ignoreRange?: boolean;
  /** Answer a ranged GET with a Content-Range shifted by this many bytes (and those bytes). */
  shiftContentRange?: number;
  /** Do not check If-Match. */
  ignoreIfMatch?: boolean;
  /** Send bodies chunked, without Content-Length: "all", or "ranged" (206 responses only). */
  chunked?: "all" | "ranged";
}

export interface LoggedRequest {
  method: string;
  key: string;
  query: string;
  range?: string;
  ifMatch?: string;
  checksumMode?: string;
}

export interface RangeServer {
  endpoint: string;
  objects: Map<string, StoredObject>;
  faults: Faults;
  requests: LoggedRequest[];
  /** Body bytes handed to sockets so far (all responses). */
  bytesSent: number;
  /** GET bodies being sent right now, and the most at once. */
  activeGets: number;
  peakActiveGets: number;
  /** Store (or replace, with a new ETag) an object; checksums default to crc32 (+ crc32c, sha256, crc64nvme when `all`). */
  put(key: string, data: Uint8Array, o?: Partial<StoredObject> & { all?: boolean }): StoredObject;
  /** Close idle keep-alive connections (a fresh connection has small, untuned socket buffers). */
  dropIdle(): void;
  stop(): Promise<void>;
}

const b64crc = (c: number) => base64(crcBytes(c));

/** The x-amz-checksum-* values of a multipart object's parts, and its COMPOSITE value ("<base64>-N"). */
export function compositeChecksums(data: Uint8Array, partSizes: number[], algorithm: "crc32" | "crc32c") {
  const crc = (bytes: Uint8Array) => (algorithm === "crc32" ? zcrc32(bytes) : crc32c(0, bytes));
  let at = 0;
  const parts = partSizes.map((size) => {
    const part = data.subarray(at, (at += size));
    return { size, checksums: { [algorithm]: b64crc(crc(part)) } };
  });
  // S3: the checksum of the concatenated binary part checksums, then "-" and the part count.
  const joined = Buffer.concat(parts.map((part) => Buffer.from(part.checksums[algorithm], "base64")));
  return { parts, checksums: { [algorithm]: `${b64crc(crc(joined))}-${parts.length}` }, checksumType: "COMPOSITE" };
}

const xmlError = (res: ServerResponse, status: number, code: string, key: string) => {
  res.writeHead(status, { "content-type": "application/xml" });
  res.end(
    `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code}</Message><Key>${key}</Key><RequestId>rs</RequestId></Error>`,
  );
};

export async function startRangeServer(): Promise<RangeServer> {
  let gets = 0;
  let countedFaults: Faults | undefined;
  const s: RangeServer = {
    endpoint: "",
    objects: new Map(),
    faults: { cuts: [], lieLength: 0, badChecksum: false, chunk: 64 * 1024 },
    requests: [],
    bytesSent: 0,
    activeGets: 0,
    peakActiveGets: 0,
    put(key, data, o = {}) {
      const { all, ...rest } = o;
      const checksums: Record<string, string> = { crc32: b64crc(zcrc32(data)) };
      if (all) {
        checksums.crc32c = b64crc(crc32c(0, data));
        checksums.sha256 = createHash("sha256").update(data).digest("base64");
        checksums.crc64nvme = base64(crc64Bytes(crc64nvme(0n, data)));
      }
      const obj: StoredObject = {
        data,
        etag: randomBytes(16).toString("hex"),
        lastModified: new Date(),
        checksums,
        ...rest,
      };
      s.objects.set(key, obj);
      return obj;
    },
    dropIdle: () => server.closeIdleConnections(),
    stop: () =>
      new Promise((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };

  const server = createServer(async (req, res) => {
    const url = new URL(req.url!, "http://x");
    const key = decodeURIComponent(url.pathname.split("/").slice(2).join("/"));
    const h = (n: string) => req.headers[n] as string | undefined;
    s.requests.push({
      method: req.method!,
      key,
      query: url.search,
      range: h("range"),
      ifMatch: h("if-match"),
      checksumMode: h("x-amz-checksum-mode"),
    });
    if (req.method === "PUT") {
      const parts: Buffer[] = [];
      for await (const c of req) parts.push(c);
      const o = s.put(key, new Uint8Array(Buffer.concat(parts)));
      res.writeHead(200, { etag: `"${o.etag}"` }).end();
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") return xmlError(res, 405, "MethodNotAllowed", key);
    // GETs are counted from the last time the faults were replaced (each test sets its own).
    if (s.faults !== countedFaults) ((countedFaults = s.faults), (gets = 0));
    if (req.method === "GET") s.faults.onGet?.(++gets, req);
    const o = s.objects.get(key);
    if (!o) return xmlError(res, 404, "NoSuchKey", key);
    const im = h("if-match");
    if (im && im !== "*" && im.replace(/"/g, "") !== o.etag && !s.faults.ignoreIfMatch)
      return xmlError(res, 412, "PreconditionFailed", key);

    const size = o.data.length;
    let start = 0,
      end = size - 1,
      status = 200;
    const rh = s.faults.ignoreRange ? undefined : h("range");
    const partNumber = Number(url.searchParams.get("partNumber") ?? 0);
    let partChecksums: Record<string, string> | undefined;
    if (partNumber) {
      const parts = o.parts ?? [{ size, checksums: o.checksums }];
      if (partNumber > parts.length) return xmlError(res, 416, "InvalidPartNumber", key);
      start = parts.slice(0, partNumber - 1).reduce((sum, part) => sum + part.size, 0);
      end = start + parts[partNumber - 1].size - 1;
      partChecksums = parts[partNumber - 1].checksums;
      status = o.parts ? 206 : 200;
    } else if (rh) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(rh);
      if (m && (m[1] || m[2])) {
        if (m[1]) {
          start = +m[1];
          if (m[2]) end = Math.min(+m[2], size - 1);
        } else start = Math.max(0, size - +m[2]);
        if (start >= size || start > end) {
          res.setHeader("content-range", `bytes */${size}`);
          return xmlError(res, 416, "InvalidRange", key);
        }
        status = 206;
      }
    }
    const f = s.faults;
    if (status === 206 && f.shiftContentRange) {
      start = Math.max(0, start + f.shiftContentRange);
      end = Math.min(size - 1, end + f.shiftContentRange);
    }
    const len = end - start + 1;
    const headers: Record<string, string> = {
      etag: `"${o.etag}"`,
      "last-modified": o.lastModified.toUTCString(),
      "content-type": o.contentType ?? "application/octet-stream",
      "content-length": String(len + f.lieLength),
      "accept-ranges": "bytes",
    };
    if (f.chunked === "all" || (f.chunked === "ranged" && status === 206)) delete headers["content-length"];
    // S3's response-content-encoding override (signed requests only; this server checks no signature).
    const ce = url.searchParams.get("response-content-encoding") ?? o.contentEncoding;
    if (ce) headers["content-encoding"] = ce;
    if (status === 206) headers["content-range"] = `bytes ${start}-${end}/${size}`;
    if (h("x-amz-checksum-mode") === "ENABLED" && partChecksums) {
      for (const [n, v] of Object.entries(partChecksums)) headers["x-amz-checksum-" + n] = v;
      headers["x-amz-mp-parts-count"] = String(o.parts?.length ?? 1);
    } else if (h("x-amz-checksum-mode") === "ENABLED" && status === 200) {
      for (const [n, v] of Object.entries(o.checksums))
        headers["x-amz-checksum-" + n] = f.badChecksum ? b64crc(~zcrc32(o.data) >>> 0) : v;
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
    s.peakActiveGets = Math.max(s.peakActiveGets, ++s.activeGets);
    res.once("close", () => s.activeGets--);
    for (let p = start; p < stopAt;) {
      const n = Math.min(f.trickle?.bytes ?? f.chunk, stopAt - p);
      if (f.trickle) await new Promise((r) => setTimeout(r, f.trickle!.everyMs));
      if (res.destroyed) return;
      s.bytesSent += n;
      const ok = res.write(o.data.subarray(p, p + n));
      p += n;
      if (!ok)
        await new Promise<void>((r) => {
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

/** Deterministic numbers in [0, 1) for tests: util.ts's one seeded source. */
export const rng = (seed: number) => seededRandom(seed).random;

/** Deterministic random bytes (4 at a time: fast enough for 64 MiB objects). */
export function randomData(length: number, seed: number): Uint8Array {
  const random = rng(seed),
    bytes = new Uint8Array(length),
    words = new Uint32Array(bytes.buffer, 0, length >> 2);
  for (let i = 0; i < words.length; i++) words[i] = random() * 4_294_967_296;
  for (let i = words.length * 4; i < length; i++) bytes[i] = random() * 256;
  return bytes;
}
