// nodeFetch's connections: dialing over node:net / node:tls into one shared read buffer, and the
// keep-alive pool of idle connections per origin (takeIdle / release).
import * as net from "node:net";
import type * as Tls from "node:tls";
import { require } from "./lazy-require.ts";

// Bytes per socket read. Every read callback copies out what it keeps before it returns, and reads
// run one at a time on this thread, so one buffer serves every socket.
const READ_SIZE = 64 * 1024;
const readBuffer = new Uint8Array(READ_SIZE);
// Keep-alive like Node's agents: idle sockets are unref'd and closed after 5 s, before typical
// server idle timeouts; at most this many idle sockets are kept per origin.
const IDLE_MS = 5_000;
const IDLE_PER_ORIGIN = 16;

/** Where a connection goes; `key` ("https://host:443") names its pool. */
export interface Origin {
  secure: boolean;
  hostname: string;
  port: number;
  key: string;
}

/** A socket and the handlers of the request using it (a pooled one drops itself on any event). */
export interface Connection {
  socket: net.Socket;
  origin: Origin;
  /** The bytes bytes[0..length) just read; `bytes` is only valid during the call. */
  onData: (bytes: Uint8Array, length: number) => void;
  /** EOF (no argument), a socket error, or the socket closed. */
  onEnd: (error?: Error) => void;
  idleTimer?: ReturnType<typeof setTimeout>;
}

const idleByOrigin = new Map<string, Connection[]>();

/** A new connection to `origin`. Its handlers do nothing until a request sets them. */
export function dial(origin: Origin): Connection {
  const { secure, hostname: host, port } = origin;
  const connection = { origin, onData: () => {}, onEnd: () => {} } as unknown as Connection;
  // Pausing is explicit (socket.pause()), so the callback always returns true.
  const onread = {
    buffer: readBuffer,
    callback: (length: number, bytes: Uint8Array) => (connection.onData(bytes, length), true),
  };
  const socket = (connection.socket = secure
    ? (require("node:tls") as typeof Tls).connect({
        host,
        port,
        servername: net.isIP(host) ? undefined : host,
        ALPNProtocols: ["http/1.1"],
        onread, // missing from @types/node's ConnectionOptions
      } as Tls.ConnectionOptions)
    : net.connect({ host, port, onread }));
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 1_000);
  // Runtimes that ignore `onread` emit 'data' (and this listener makes the socket flowing, which
  // Node needs to emit 'end' at EOF).
  socket.on("data", (bytes: Buffer) => connection.onData(bytes, bytes.length));
  socket.on("end", () => connection.onEnd());
  socket.on("error", (error) => connection.onEnd(error));
  socket.on("close", () => connection.onEnd(new Error("socket closed")));
  return connection;
}

/** Out of the pool and closed. */
function drop(connection: Connection): void {
  clearTimeout(connection.idleTimer);
  const idle = idleByOrigin.get(connection.origin.key);
  const index = idle ? idle.indexOf(connection) : -1;
  if (index >= 0) idle!.splice(index, 1);
  if (idle && !idle.length) idleByOrigin.delete(connection.origin.key);
  connection.socket.destroy();
}

/** After a complete response: back to the pool when `reusable`, else closed. */
export function release(connection: Connection, reusable: boolean): void {
  connection.onData = () => drop(connection); // a server speaking unasked
  connection.onEnd = () => drop(connection);
  const { socket } = connection;
  const idle = idleByOrigin.get(connection.origin.key) ?? [];
  if (!reusable || socket.destroyed || idle.length >= IDLE_PER_ORIGIN) return void socket.destroy();
  socket.resume(); // reading while idle, so a close by the server is seen at once
  socket.unref();
  connection.idleTimer = setTimeout(() => drop(connection), IDLE_MS);
  connection.idleTimer.unref?.();
  idle.push(connection);
  idleByOrigin.set(connection.origin.key, idle);
}

/** The most recently released open connection to the origin, if any. */
export function takeIdle(origin: Origin): Connection | undefined {
  const idle = idleByOrigin.get(origin.key);
  for (let connection; (connection = idle?.pop());) {
    clearTimeout(connection.idleTimer);
    if (!connection.socket.destroyed && connection.socket.writable) {
      connection.socket.ref();
      return connection;
    }
    connection.socket.destroy();
  }
  idleByOrigin.delete(origin.key);
}
