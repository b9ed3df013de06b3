// A tiny local HTTP server that misbehaves on demand, for faults a real S3 server won't produce:
// 5xx/SlowDown bursts, connection resets, truncated bodies, slow responses, skewed Date, HTML pages,
// redirects. Each request takes the next fault from `faults` (FIFO); when the queue is empty
// `fallback` answers.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface Fault {
  /** Default 200. */
  status?: number;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Wait before sending the headers. */
  delayMs?: number;
  /** Destroy the socket without any response. */
  reset?: boolean;
  /** Send the headers (full Content-Length), then only this many body bytes, then destroy. */
  truncateAt?: number;
  /** Send the headers at once, the body after this delay. */
  bodyDelayMs?: number;
  /** Date header = now + offset (default: the real now). */
  dateOffsetMs?: number;
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

export interface FaultServer {
  endpoint: string;
  faults: Fault[];
  fallback: Fault | ((request: RecordedRequest) => Fault);
  requests: RecordedRequest[];
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function faultServer(fallback: FaultServer["fallback"] = { status: 200, body: "" }): Promise<FaultServer> {
  const sockets = new Set<Socket>();
  const faulty: FaultServer = { endpoint: "", faults: [], fallback, requests: [], close: () => Promise.resolve() };
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", async () => {
      const recorded: RecordedRequest = {
        method: request.method!,
        url: request.url!,
        headers: request.headers,
        body: Buffer.concat(chunks).toString(),
      };
      faulty.requests.push(recorded);
      const fault =
        faulty.faults.shift() ?? (typeof faulty.fallback == "function" ? faulty.fallback(recorded) : faulty.fallback);
      if (fault.delayMs) await sleep(fault.delayMs);
      if (fault.reset) return void request.socket.destroy();
      const body = typeof fault.body == "string" ? Buffer.from(fault.body) : Buffer.from(fault.body ?? []);
      const headers: Record<string, string | number> = {
        date: new Date(Date.now() + (fault.dateOffsetMs ?? 0)).toUTCString(),
        "content-length": body.length,
        ...fault.headers,
      };
      if (response.destroyed) return;
      response.writeHead(fault.status ?? 200, headers);
      if (fault.truncateAt != null) {
        response.write(body.subarray(0, fault.truncateAt));
        // Let the partial body reach the client before the connection dies.
        return void setTimeout(() => request.socket.destroy(), 20);
      }
      if (fault.bodyDelayMs) {
        response.flushHeaders();
        await sleep(fault.bodyDelayMs);
      }
      if (request.method == "HEAD") response.end();
      else response.end(body);
    });
  });
  server.on("connection", (socket: Socket) => (sockets.add(socket), socket.on("close", () => sockets.delete(socket))));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  faulty.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  faulty.close = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return faulty;
}
