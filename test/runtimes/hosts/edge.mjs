// Runs the bundled scenario script inside Vercel's edge-runtime (EdgeRuntime VM context).
// argv: <edge.js> ; env: SCENARIO_ENV (JSON). Prints one line: REPORT <json>.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { EdgeRuntime } from "edge-runtime";

const [script] = process.argv.slice(2);
const runtime = new EdgeRuntime({ initialCode: readFileSync(script, "utf8") });
const res = await runtime.dispatchFetch("http://localhost/", { method: "POST", body: process.env.SCENARIO_ENV });
await res.waitUntil();
const text = await res.text();
if (res.status !== 200) throw new Error(`edge function answered ${res.status}: ${text.slice(0, 2000)}`);
const report = JSON.parse(text);
const require = createRequire(import.meta.url);
report.runtimeVersion = `edge-runtime ${require("edge-runtime/package.json").version} (@edge-runtime/vm ${require("@edge-runtime/vm/package.json").version})`;
// Proof that the code ran in the edge VM, not in the host: its globals are the edge-runtime ones.
report.edgeRuntimeGlobal = runtime.evaluate("typeof EdgeRuntime");
console.log("REPORT " + JSON.stringify(report));
