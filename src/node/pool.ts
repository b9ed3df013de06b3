// nodeFetch's connections: dialing over node:net / node:tls, one shared read buffer, and the
// keep-alive pool of idle sockets per origin (take / release).
import * as net from "node:net";
import type * as Tls from "node:tls";
import { require } from "./lazy-require.ts";

// Bytes per socket read. Every read callback copies out what it keeps before it returns, and reads
// run one at a time on this thread, so one buffer serves every socket.
const READ_SIZE = 64 * 1024;
const readBuffer = new Uint8Array(READ_SIZE);
// Keep-alive like Node's agents: idle sockets are unref'd and closed after 5 s, before typical
// server idle timeouts; at most this many idle sockets are kept per origin.
const IDLE_MS = 5000, IDLE_PER_ORIGIN = 16;

export interface Conn {
  s: net.Socket;
  key: string;
  /** The bytes b[0..n) just read; b is only valid during the call. */
  data: (b: Uint8Array, n: number) => void;
  /** EOF (no argument), a socket error, or the socket closed. */
  end: (e?: Error) => void;
  timer?: ReturnType<typeof setTimeout>;
}
const idle = new Map<string, Conn[]>();

export function dial(https: boolean, host: string, port: number, key: string): Conn {
  const c: Conn = { key, data: () => {}, end: () => {} } as unknown as Conn;
  const onread = { buffer: readBuffer, callback: (n: number, b: Uint8Array) => (c.data(b, n), true) }; // pausing is explicit (c.s.pause())
  const s = (c.s = https
    ? (require("node:tls") as typeof Tls).connect({ host, port, servername: net.isIP(host) ? undefined : host, ALPNProtocols: ["http/1.1"], onread } as Tls.ConnectionOptions) // onread: missing from @types/node
    : net.connect({ host, port, onread }));
  s.setNoDelay(true);
  s.setKeepAlive(true, 1000);
  // Runtimes that ignore `onread` emit 'data' (and this listener makes the socket flowing, which
  // Node needs to emit 'end' at EOF).
  s.on("data", (b: Buffer) => c.data(b, b.length));
  s.on("end", () => c.end());
  s.on("error", (e) => c.end(e));
  s.on("close", () => c.end(new Error("socket closed")));
  return c;
}

function drop(c: Conn) {
  clearTimeout(c.timer);
  const l = idle.get(c.key), i = l ? l.indexOf(c) : -1;
  if (i >= 0) l!.splice(i, 1);
  if (l && !l.length) idle.delete(c.key);
  c.s.destroy();
}

/** After a complete response: back to the pool, or closed. */
export function release(c: Conn, keep: boolean) {
  c.data = () => drop(c); // a server speaking unasked
  c.end = () => drop(c);
  const l = idle.get(c.key) ?? [];
  if (!keep || c.s.destroyed || l.length >= IDLE_PER_ORIGIN) return c.s.destroy();
  c.s.resume(); // reading while idle, so a close by the server is seen at once
  c.s.unref();
  c.timer = setTimeout(() => drop(c), IDLE_MS);
  c.timer.unref?.();
  l.push(c);
  idle.set(c.key, l);
}

export function take(key: string): Conn | undefined {
  const l = idle.get(key);
  for (let c; (c = l?.pop()); ) {
    clearTimeout(c.timer);
    if (!c.s.destroyed && c.s.writable) {
      c.s.ref();
      return c;
    }
    c.s.destroy();
  }
  idle.delete(key);
}
