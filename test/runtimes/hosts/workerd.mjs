// Runs the bundled worker in workerd through Miniflare (needs Node >= 22: run with node22).
// argv: <worker.mjs> ; env: SCENARIO_ENV (JSON bindings). Prints one line: REPORT <json>.
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { createRequire } from "node:module";
import { Miniflare } from "miniflare";

const [script] = process.argv.slice(2);
const mf = new Miniflare({
  modules: true,
  script: readFileSync(script, "utf8"),
  scriptPath: script,
  modulesRoot: dirname(script),
  compatibilityDate: "2025-09-01", // no nodejs_compat flag: Web APIs only, as the library promises
  bindings: JSON.parse(process.env.SCENARIO_ENV),
  cf: false, // do not fetch Cloudflare's cf.json (no network beyond loopback here)
});
try {
  const res = await mf.dispatchFetch("http://localhost/");
  const text = await res.text();
  if (res.status !== 200) throw new Error(`worker answered ${res.status}: ${text.slice(0, 2000)}`);
  const report = JSON.parse(text);
  const require = createRequire(import.meta.url);
  report.runtimeVersion = `workerd ${require("workerd/package.json").version} (miniflare ${require("miniflare/package.json").version})`;
  console.log("REPORT " + JSON.stringify(report));
} finally {
  await mf.dispose();
}
