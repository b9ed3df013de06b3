// Helpers every test file shares: the repository root, a seeded random source, and reading a
// stream to its end. One of each, so a failing seed means the same thing in every suite.
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (where package.json is). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/**
 * A seeded pseudo-random source (mulberry32): random() in [0, 1), int(n) in [0, n), bytes(n).
 * Tests print their seed so a failure can be replayed.
 */
export function seededRandom(seed: number) {
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4_294_967_296;
  };
  const int = (below: number) => Math.floor(random() * below);
  const bytes = (length: number) => {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = int(256);
    return out;
  };
  return { random, int, bytes };
}

/** Every byte of a stream, concatenated. */
export async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let length = 0;
  for await (const part of stream as unknown as AsyncIterable<Uint8Array>) {
    parts.push(part);
    length += part.length;
  }
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
