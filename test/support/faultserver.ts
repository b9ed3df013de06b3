// A tiny local HTTP server that misbehaves on demand, for faults a real S3 server won't produce:
// 5xx/SlowDown bursts, connection resets, truncated bodies, slow responses, skewed Date, HTML pages.
// Each request takes the next fault from `faults` (FIFO); when the queue is empty `fallback` answers.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface Fault {
  status?: number;                     // default 200
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  delayMs?: number;                    // wait before sending the headers
  reset?: boolean;                     // destroy the socket without any response
  truncateAt?: number;                 // send the headers (full Content-Length) then only this many body bytes, then destroy
  bodyDelayMs?: number;                // send headers at once, the body after this delay
  dateOffsetMs?: number;               // Date header = now + offset (default: the real now)
}

export interface RecordedRequest { method: string; url: string; headers: IncomingMessage["headers"]; body: string }

export interface FaultServer {
  endpoint: string;
  faults: Fault[];
  fallback: Fault | ((r: RecordedRequest) => Fault);
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export async function faultServer(fallback: FaultServer["fallback"] = { status: 200, body: "" }): Promise<FaultServer> {
  const sockets = new Set<Socket>();
  const fs: FaultServer = { endpoint: "", faults: [], fallback, requests: [], close: () => Promise.resolve() };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      const rec: RecordedRequest = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString() };
      fs.requests.push(rec);
      const f = fs.faults.shift() ?? (typeof fs.fallback == "function" ? fs.fallback(rec) : fs.fallback);
      if (f.delayMs) await new Promise((r) => setTimeout(r, f.delayMs));
      if (f.reset) return void req.socket.destroy();
      const body = typeof f.body == "string" ? Buffer.from(f.body) : Buffer.from(f.body ?? []);
      const headers: Record<string, string | number> = { date: new Date(Date.now() + (f.dateOffsetMs ?? 0)).toUTCString(), "content-length": body.length, ...f.headers };
      if (res.destroyed) return;
      res.writeHead(f.status ?? 200, headers);
      if (f.truncateAt != null) {
        res.write(body.subarray(0, f.truncateAt));
        // Let the partial body reach the client before the connection dies.
        return void setTimeout(() => req.socket.destroy(), 20);
      }
      if (f.bodyDelayMs) {
        res.flushHeaders();
        await new Promise((r) => setTimeout(r, f.bodyDelayMs));
      }
      if (req.method == "HEAD") res.end();
      else res.end(body);
    });
  });
  server.on("connection", (s: Socket) => (sockets.add(s), s.on("close", () => sockets.delete(s))));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  fs.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fs.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  return fs;
}
