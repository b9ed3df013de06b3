// Imports an s3-edge module relative to bench/. While the library is being written a module may not
// exist yet: then the benchmark runs its competitors alone (say so) instead of crashing. Any other
// import error (syntax, a broken dependency) still fails loudly.
import { existsSync } from "node:fs";

export async function importSubject<T>(spec: string): Promise<T | undefined> {
  const u = new URL(spec, import.meta.url);
  if (!existsSync(u)) {
    console.log(`note: ${spec.replace("../", "")} does not exist yet: s3-edge is left out of this run`);
    return undefined;
  }
  return (await import(u.href)) as T;
}
