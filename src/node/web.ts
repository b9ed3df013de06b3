// fetch's Headers and Response for nodeFetch, without loading undici.
import { TOKEN } from "./http1.ts";

/** What fetch strips from both ends of a header value: HTTP white space (tab, LF, CR, space). */
const SURROUNDING_BLANKS = /^[\t\n\r ]+|[\t\n\r ]+$/g;
const FORBIDDEN_IN_VALUE = /[\0\r\n]/;

/**
 * fetch's Headers, for what nodeFetch sends and receives. Its own class because Node's Headers and
 * Response live in undici, and the first touch of either global loads all of it: ~9 MiB of RSS in
 * a process that never needed it (measured: 4-5 MiB of it stays at the peak of a 100 MiB download).
 * Same rules: names are tokens, read case-insensitively and iterated lowercase and sorted; values
 * lose surrounding blanks and may not hold NUL, CR or LF; repeated names join with ", ", except
 * set-cookie, kept apart (getSetCookie, and one iteration entry each).
 */
export class NodeHeaders {
  /** Lowercase name → value (repeats joined with ", "). */
  #values = new Map<string, string>();
  #setCookies: string[] = [];

  constructor(init?: HeadersInit | NodeHeaders) {
    if (init == null) return;
    if (typeof (init as Headers).forEach == "function" && !Array.isArray(init))
      (init as Headers).forEach((value, name) => this.append(name, value));
    else if (Symbol.iterator in Object(init))
      for (const pair of init as Iterable<string[]>) {
        if (pair.length != 2) throw new TypeError("nodeFetch: a header pair must have a name and a value");
        this.append(pair[0], pair[1]);
      }
    else for (const name of Object.keys(init)) this.append(name, (init as Record<string, string>)[name]);
  }

  /** The lowercase name and the trimmed value, or a TypeError as fetch's Headers throws. */
  static #validate(name: string, value: string): { name: string; value: string } {
    const trimmed = String(value).replace(SURROUNDING_BLANKS, "");
    name = String(name);
    if (!TOKEN.test(name)) throw new TypeError(`nodeFetch: invalid header name ${JSON.stringify(name.slice(0, 100))}`);
    if (FORBIDDEN_IN_VALUE.test(trimmed)) throw new TypeError(`nodeFetch: invalid value for header ${name}`);
    return { name: name.toLowerCase(), value: trimmed };
  }

  append(name: string, value: string): void {
    const header = NodeHeaders.#validate(name, value);
    const existing = this.#values.get(header.name);
    if (header.name == "set-cookie") this.#setCookies.push(header.value);
    this.#values.set(header.name, existing == null ? header.value : existing + ", " + header.value);
  }

  set(name: string, value: string): void {
    const header = NodeHeaders.#validate(name, value);
    if (header.name == "set-cookie") this.#setCookies = [header.value];
    this.#values.set(header.name, header.value);
  }

  delete(name: string): void {
    const lowercase = String(name).toLowerCase();
    if (lowercase == "set-cookie") this.#setCookies = [];
    this.#values.delete(lowercase);
  }

  get(name: string): string | null {
    return this.#values.get(String(name).toLowerCase()) ?? null;
  }

  has(name: string): boolean {
    return this.#values.has(String(name).toLowerCase());
  }

  getSetCookie(): string[] {
    return [...this.#setCookies];
  }

  *entries(): IterableIterator<[string, string]> {
    for (const name of [...this.#values.keys()].sort())
      if (name == "set-cookie") for (const cookie of this.#setCookies) yield [name, cookie];
      else yield [name, this.#values.get(name)!];
  }

  [Symbol.iterator]() {
    return this.entries();
  }

  *keys(): IterableIterator<string> {
    for (const [name] of this.entries()) yield name;
  }

  *values(): IterableIterator<string> {
    for (const [, value] of this.entries()) yield value;
  }

  forEach(callback: (value: string, name: string, headers: NodeHeaders) => void, thisArg?: unknown): void {
    for (const [name, value] of this.entries()) callback.call(thisArg, value, name, this);
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

  constructor(
    body: ReadableStream<Uint8Array> | null,
    readonly status: number,
    readonly statusText: string,
    readonly headers: NodeHeaders,
    readonly url: string,
  ) {
    this.#body = body;
  }

  get ok(): boolean {
    return this.status >= 200 && this.status <= 299;
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
    const parts: Uint8Array[] = [];
    const reader = this.#body.getReader();
    let length = 0;
    for (let read; !(read = await reader.read()).done;) {
      parts.push(read.value);
      length += read.value.length;
    }
    if (parts.length == 1) return parts[0];
    const out = new Uint8Array(length);
    let offset = 0;
    for (const part of parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    // Chunks are our own copies, so bytes() is mostly its whole buffer already.
    const bytes = await this.bytes();
    const whole = !bytes.byteOffset && bytes.byteLength == bytes.buffer.byteLength;
    return (whole ? bytes : bytes.slice()).buffer as ArrayBuffer;
  }

  async text(): Promise<string> {
    return new TextDecoder().decode(await this.bytes());
  }

  async json(): Promise<any> {
    return JSON.parse(await this.text());
  }

  async blob(): Promise<Blob> {
    const type = this.headers.get("content-type") ?? "";
    return new Blob([(await this.bytes()) as Uint8Array<ArrayBuffer>], { type });
  }

  async formData(): Promise<never> {
    throw new TypeError("nodeFetch: formData() is not supported");
  }

  clone(): NodeResponse {
    if (this.bodyUsed) throw new TypeError("Response.clone: Body has already been consumed.");
    const [mine, theirs] = this.#body ? this.#body.tee() : [null, null];
    this.#body = mine;
    return new NodeResponse(theirs, this.status, this.statusText, this.headers, this.url);
  }

  get [Symbol.toStringTag]() {
    return "Response";
  }
}
