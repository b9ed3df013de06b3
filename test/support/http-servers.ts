// Local servers for the nodeFetch suites (test/node-*.test.ts):
// - recordingServer: a node:http server that records every request and answers with the handler
//   the test sets, for what a well-behaved HTTP/1.1 server does.
// - rawServer: a TCP server that answers each request with bytes chosen by the test, for framing a
//   real server won't produce on demand (split reads, malformed heads, cut bodies, stray bytes).
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createNetServer, type AddressInfo, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

export const MiB = 1 << 20;

export type Handler = (request: IncomingMessage, response: ServerResponse, body: Buffer) => void;

export interface RecordingServer {
  url: string;
  /** Answers the next requests. */
  handler: Handler;
  seen: { method: string; url: string; headers: IncomingMessage["headers"]; body: Buffer }[];
  /** URLs whose response connection closed before the body was finished. */
  closed: string[];
  close(): void;
}

export async function recordingServer(): Promise<RecordingServer> {
  const recording: RecordingServer = {
    url: "",
    handler: (_request, response) => response.end(),
    seen: [],
    closed: [],
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
  const server = createServer((request, response) => {
    const parts: Buffer[] = [];
    request
      .on("data", (part) => parts.push(part))
      .on("end", () => {
        const body = Buffer.concat(parts);
        recording.seen.push({ method: request.method!, url: request.url!, headers: request.headers, body });
        response.on("close", () => response.writableFinished || recording.closed.push(request.url!));
        recording.handler(request, response, body);
      });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  recording.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return recording;
}

/** Called with each complete request (head and Content-Length body), its socket, and its number (from 1). */
export type RawReply = (request: string, socket: Socket, count: number) => void;

export async function rawServer(reply: RawReply) {
  const sockets = new Set<Socket>();
  const requests: { request: string; port: number }[] = [];
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    let buffered = "";
    socket.on("data", (data) => {
      buffered += data.toString("latin1");
      for (let headEnd; (headEnd = buffered.indexOf("\r\n\r\n")) >= 0;) {
        const head = buffered.slice(0, headEnd);
        const contentLength = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        const end = headEnd + 4 + contentLength;
        if (buffered.length < end) return;
        const request = buffered.slice(0, end);
        buffered = buffered.slice(end);
        requests.push({ request, port: socket.remotePort! });
        reply(request, socket, requests.length);
      }
    });
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Writes the pieces in order, each in its own TCP segment (5 ms apart), then ends or destroys. */
export async function writeSlowly(socket: Socket, pieces: (string | Uint8Array)[], then?: "end" | "destroy") {
  socket.setNoDelay(true);
  for (const piece of pieces) {
    if (socket.destroyed) return;
    socket.write(piece);
    await sleep(5);
  }
  if (then == "end") socket.end();
  if (then == "destroy") socket.destroy();
}

/** A predicate for assert.rejects: fetch's TypeError with this message (and cause code). */
export const failedWith = (message: string, code?: string) => (error: any) =>
  error instanceof TypeError && error.message == message && (code == null || (error.cause as any)?.code == code);
