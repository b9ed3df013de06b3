// node:crypto (and node:tls, in pool.ts) are loaded on first use: together ~1.3 MiB of RSS that a
// download over plain http (a local MinIO, RGW) never needs, and that counts against a small container.
import { createRequire } from "node:module";

export const require = /* @__PURE__ */ createRequire(import.meta.url);
