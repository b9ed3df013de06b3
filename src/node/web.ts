// fetch's Headers and Response for nodeFetch, without loading undici.
import { TOKEN } from "./http1.ts";

/**
 * fetch's Headers, for what nodeFetch sends and receives. Its own class because Node's Headers and
 * Response live in undici, and the first touch of either global loads all of it: ~9 MiB of RSS in
 * a process that never needed it (measured: 4-5 MiB of it stays at the peak of a 100 MiB download).
 * Same rules: names are tokens, read case-insensitively and iterated lowercase and sorted; values
 * lose surrounding blanks and may not hold NUL, CR or LF; repeated names join with ", ", except
 * set-cookie, kept apart (getSetCookie, and one iteration entry each).
 */
export class NodeHeaders {
  #m = new Map<string, string>();
  #cookies: string[] = [];
  constructor(init?: HeadersInit | NodeHeaders) {
    const add = (k: string, v: string) => this.append(k, v);
    if (init == null) return;
    if (typeof (init as Headers).forEach == "function" && !Array.isArray(init)) (init as Headers).forEach((v, k) => add(k, v));
    else if (Symbol.iterator in Object(init))
      for (const pair of init as Iterable<string[]>) {
        if (pair.length != 2) throw new TypeError("nodeFetch: a header pair must have a name and a value");
        add(pair[0], pair[1]);
      }
    else for (const k of Object.keys(init)) add(k, (init as Record<string, string>)[k]);
  }
  static #check(name: string, value: string): [string, string] {
    const v = String(value).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "");
    if (!TOKEN.test((name = String(name)))) throw new TypeError(`nodeFetch: invalid header name ${JSON.stringify(name.slice(0, 100))}`);
    if (/[\0\r\n]/.test(v)) throw new TypeError(`nodeFetch: invalid value for header ${name}`);
    return [name.toLowerCase(), v];
  }
  append(name: string, value: string): void {
    const [k, v] = NodeHeaders.#check(name, value), o = this.#m.get(k);
    if (k == "set-cookie") this.#cookies.push(v);
    this.#m.set(k, o == null ? v : o + ", " + v);
  }
  set(name: string, value: string): void {
    const [k, v] = NodeHeaders.#check(name, value);
    if (k == "set-cookie") this.#cookies = [v];
    this.#m.set(k, v);
  }
  delete(name: string): void {
    const k = String(name).toLowerCase();
    if (k == "set-cookie") this.#cookies = [];
    this.#m.delete(k);
  }
  get(name: string): string | null {
    return this.#m.get(String(name).toLowerCase()) ?? null;
  }
  has(name: string): boolean {
    return this.#m.has(String(name).toLowerCase());
  }
  getSetCookie(): string[] {
    return [...this.#cookies];
  }
  *entries(): IterableIterator<[string, string]> {
    for (const k of [...this.#m.keys()].sort())
      if (k == "set-cookie") for (const c of this.#cookies) yield [k, c];
      else yield [k, this.#m.get(k)!];
  }
  [Symbol.iterator]() {
    return this.entries();
  }
  *keys(): IterableIterator<string> {
    for (const [k] of this.entries()) yield k;
  }
  *values(): IterableIterator<string> {
    for (const [, v] of this.entries()) yield v;
  }
  forEach(f: (value: string, name: string, headers: NodeHeaders) => void, self?: unknown): void {
    for (const [k, v] of this.entries()) f.call(self, v, k, this);
  }
  get [Symbol.toStringTag]() {
    return "Headers";
  }
}

/**
 * What nodeFetch resolves to: fetch's Response for reading (status, ok, headers, body, bytes,
 * arrayBuffer, text, json, blob, clone), without loading undici (see NodeHeaders). Not an
 * `instanceof Response`; formData() is not supported.
 */
export class NodeResponse {
  readonly type = "basic";
  readonly redirected = false;
  #body: ReadableStream<Uint8Array> | null;
  #used = false;
  constructor(body: ReadableStream<Uint8Array> | null, readonly status: number, readonly statusText: string, readonly headers: NodeHeaders, readonly url: string) {
    this.#body = body;
  }
  get ok(): boolean {
    return this.status > 199 && this.status < 300;
  }
  get body(): ReadableStream<Uint8Array> | null {
    return this.#body;
  }
  get bodyUsed(): boolean {
    return this.#used || !!this.#body?.locked;
  }
  async bytes(): Promise<Uint8Array> {
    if (this.bodyUsed) throw new TypeError("Body is unusable: Body has already been read");
    this.#used = true;
    if (!this.#body) return new Uint8Array(0);
    const parts: Uint8Array[] = [], r = this.#body.getReader();
    let n = 0;
    for (let x; !(x = await r.read()).done; ) parts.push(x.value), (n += x.value.length);
    if (parts.length == 1) return parts[0];
    const out = new Uint8Array(n);
    for (let i = 0, o = 0; i < parts.length; o += parts[i++].length) out.set(parts[i], o);
    return out;
  }
  async arrayBuffer(): Promise<ArrayBuffer> {
    // Chunks are our own copies, so bytes() is mostly its whole buffer already.
    const b = await this.bytes();
    return (b.byteOffset || b.byteLength != b.buffer.byteLength ? b.slice() : b).buffer as ArrayBuffer;
  }
  async text(): Promise<string> {
    return new TextDecoder().decode(await this.bytes());
  }
  async json(): Promise<any> {
    return JSON.parse(await this.text());
  }
  async blob(): Promise<Blob> {
    return new Blob([(await this.bytes()) as Uint8Array<ArrayBuffer>], { type: this.headers.get("content-type") ?? "" });
  }
  async formData(): Promise<never> {
    throw new TypeError("nodeFetch: formData() is not supported");
  }
  clone(): NodeResponse {
    if (this.bodyUsed) throw new TypeError("Response.clone: Body has already been consumed.");
    const [a, b] = this.#body ? this.#body.tee() : [null, null];
    this.#body = a;
    return new NodeResponse(b, this.status, this.statusText, this.headers, this.url);
  }
  get [Symbol.toStringTag]() {
    return "Response";
  }
}
