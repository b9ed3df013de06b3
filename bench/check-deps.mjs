// Makes `npm run bench` work from a clean clone: installs the competitors (bench/package-lock.json)
// when bench/node_modules is missing or incomplete, and says what to do when the root's tsx is missing.
import { existsSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";

const here = (p) => new URL(p, import.meta.url);
if (!existsSync(here("../node_modules/tsx")) || !existsSync(here("../node_modules/esbuild"))) {
  console.error("bench: tsx/esbuild missing in the project root: run `npm ci` in the project root first.");
  process.exit(1);
}
const deps = Object.keys(JSON.parse(readFileSync(here("package.json"), "utf8")).dependencies);
const missing = deps.filter((d) => !existsSync(here(`node_modules/${d}/package.json`)));
if (missing.length) {
  console.log(`bench: installing competitors (missing: ${missing.join(", ")}) with npm ci in bench/ …`);
  const r = spawnSync("npm", ["ci", "--no-audit", "--no-fund"], {
    cwd: here("."),
    stdio: "inherit",
    shell: process.platform == "win32",
  });
  if (r.status) process.exit(r.status ?? 1);
}
