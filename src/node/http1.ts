// HTTP/1.1 wire helpers for nodeFetch: the token grammar, the response head parser, and byte helpers.

export const MAX_HEAD = 64 * 1024, MAX_LINE = 4096;
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

// A copy in an exactly sized array of its own: the consumer keeps it for good (never a view of the
// read buffer, nor of a pooled Buffer whose .buffer would expose other bytes).
export const copy = (b: Uint8Array, from: number, to: number) => Uint8Array.prototype.slice.call(b, from, to);
export const latin1 = (b: Uint8Array, from: number, to: number) => Buffer.from(b.buffer, b.byteOffset + from, to - from).toString("latin1");
export const invalid = (what: string) => Object.assign(new Error(`invalid HTTP response: ${what}`), { code: "ERR_INVALID_HTTP_RESPONSE" });

export interface Head { status: number; statusText: string; headers: [string, string][]; keepAlive: boolean }
export function parseHead(text: string): Head {
  const lines = text.split(/\r?\n/), st = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: ([\t\x20-\x7e\x80-\xff]*))?$/.exec(lines[0]);
  if (!st) throw invalid(`bad status line ${JSON.stringify(lines[0].slice(0, 100))}`);
  const headers: [string, string][] = [];
  let keepAlive = st[1] == "1";
  for (let i = 1; i < lines.length; i++) {
    const m = /^([^:]*):[\t ]*(.*?)[\t ]*$/.exec(lines[i]);
    if (!m || !TOKEN.test(m[1]) || /[^\t\x20-\x7e\x80-\xff]/.test(m[2])) throw invalid(`bad header line ${JSON.stringify(lines[i].slice(0, 100))}`);
    headers.push([m[1], m[2]]);
    if (/^connection$/i.test(m[1]) && /(^|,)\s*close\s*(,|$)/i.test(m[2])) keepAlive = false;
  }
  return { status: +st[2], statusText: st[3] ?? "", headers, keepAlive };
}
