// s3-edge on Node: what `import … from "s3-edge"` gives under Node (package.json's "node" export
// condition). The edge API of src/index.ts, unchanged, except that an S3Client made without a
// `fetch` option sends its requests through nodeFetch (src/node/fetch.ts) instead of Node's global
// fetch. Measured on a 100 MiB GET (bench/download): global fetch 591 MiB/s at +71 MiB peak RSS
// (0.78x the AWS SDK), nodeFetch 1063 MiB/s at +25 MiB. nodeFetch also sends keys with "." / ".."
// segments as written (fetch's URL parser collapses them), and never loads undici. The same default
// holds for sqsS3Events, the other export that takes a `fetch` option.
// Deno, Bun, workerd, edge-runtime and bundlers for the browser or platform neutral take the
// "import"/"default" entry (src/index.ts): Web-only, no node: import, not a byte bigger.
import { S3Client as EdgeS3Client, sqsS3Events as edgeSqsS3Events } from "./index.ts";
import { nodeFetch } from "./node/fetch.ts";

export * from "./index.ts";

type S3ClientOptions = ConstructorParameters<typeof EdgeS3Client>[0];

/**
 * The edge S3Client with nodeFetch as its default transport. An explicit `fetch` option still wins;
 * `fetch: undefined` (or null) means the default. A subclass, so every client made from "s3-edge" on
 * Node is `instanceof S3Client` (this class) and of the edge class it extends (the same methods).
 */
export class S3Client extends EdgeS3Client {
  constructor(options: S3ClientOptions) {
    super({ ...options, fetch: options?.fetch ?? nodeFetch });
  }
}

/** The edge sqsS3Events with nodeFetch as its default transport, as S3Client above. */
export function sqsS3Events(options: Parameters<typeof edgeSqsS3Events>[0]): ReturnType<typeof edgeSqsS3Events> {
  return edgeSqsS3Events({ ...options, fetch: options?.fetch ?? nodeFetch });
}
