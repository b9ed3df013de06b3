// Size budget check (npm run size): bundles the signer alone and the whole library the way an edge
// user's bundler would (esbuild, minified, ESM, platform neutral, es2022), gzips at level 9 and
// compares with the budgets. Exits 1 when over budget or when a bundle pulls in a node: module.
import * as esbuild from "esbuild";
import { gzipSync } from "node:zlib";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
// Budgets (issue 14): the signer alone within all of aws4fetch; S3Client alone within all of
// s3mini (which does less); the app most users write (client + trigger + download) within 13 KiB.
// Code that only some users need must tree-shake away from that app: `optional` lists the modules
// the app bundle must not contain.
const targets = [
  // 3,054 bytes = the whole of aws4fetch, minified + gzip -9, when the budget was set.
  { name: "signer (SigV4Signer)", contents: `export { SigV4Signer } from "./src/sigv4.ts";`, budget: 3054 },
  // 10,688 bytes = the whole of s3mini, measured the same way.
  { name: "S3Client alone", contents: `export { S3Client } from "./src/client.ts";`, budget: 10_688 },
  {
    name: "app: client+trigger+download",
    contents: `export { S3Client, newFileTrigger, downloadFile } from "./src/index.ts";`,
    budget: 13_312,
    optional: ["src/events.ts", "src/sqs.ts", "src/download-parallel.ts"],
  },
  { name: "whole library (src/index.ts)", contents: `export * from "./src/index.ts";` },
];

async function measure(contents, loader = "ts") {
  const r = await esbuild.build({
    stdin: { contents, resolveDir: root, loader, sourcefile: "size-entry.ts" },
    bundle: true,
    minify: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    write: false,
    metafile: true,
    logLevel: "silent",
    // Mark node: imports external so they show up in the metafile instead of failing the build.
    plugins: [
      {
        name: "node-builtins",
        setup(b) {
          b.onResolve({ filter: /^node:/ }, (a) => ({ path: a.path, external: true }));
        },
      },
    ],
  });
  const code = r.outputFiles[0].contents;
  const nodeImports = Object.values(r.metafile.outputs).flatMap((o) =>
    o.imports.filter((i) => i.path.startsWith("node:")).map((i) => i.path),
  );
  // Modules with code in the output (metafile.inputs lists every module loaded, even when all of
  // it was tree-shaken away).
  const inputs = Object.values(r.metafile.outputs).flatMap((output) =>
    Object.keys(output.inputs).filter((file) => output.inputs[file].bytesInOutput > 0),
  );
  return { min: code.length, gz: gzip9(code), nodeImports, inputs };
}

// The budgets are stated in `gzip -9` bytes; GNU gzip's deflate differs from zlib's by a few
// dozen bytes, so use the real command when it exists.
function gzip9(code) {
  try {
    return execFileSync("gzip", ["-9c"], { input: code, maxBuffer: 1 << 26 }).length;
  } catch {
    return gzipSync(code, { level: 9 }).length;
  }
}

let failed = false;
const line = (name, bytes, extra) => console.log(`${name.padEnd(32)} ${String(bytes).padStart(6)} B${extra}`);
console.log("esbuild --bundle --minify --format=esm --platform=neutral --target=es2022, then gzip -9\n");
for (const t of targets) {
  const entry = t.contents.match(/"(\.\/src\/[^"]+)"/)[1];
  if (!existsSync(new URL(`../${entry}`, import.meta.url))) {
    console.log(`${t.name.padEnd(32)}   missing ${entry}`);
    failed = true;
    continue;
  }
  let m;
  try {
    m = await measure(t.contents);
  } catch (e) {
    console.log(`${t.name.padEnd(32)}   build failed: ${e.message}`);
    failed = true;
    continue;
  }
  const over = t.budget != null && m.gz > t.budget;
  const verdict =
    t.budget == null ? "(no budget)" : over ? `✗ OVER by ${m.gz - t.budget} B` : `✓ ${t.budget - m.gz} B left`;
  line(t.name, m.gz, `  ${t.budget != null ? `/ ${t.budget} B budget  ` : ""}${verdict}   (minified ${m.min} B)`);
  const leaked = (t.optional ?? []).filter((file) => m.inputs.includes(file));
  if (leaked.length) console.log(`  ✗ contains ${leaked.join(", ")}: code only some users need must tree-shake away`);
  else if (t.optional) console.log(`  ✓ tree-shakes away ${t.optional.join(", ")}`);
  failed ||= leaked.length > 0;
  if (m.nodeImports.length)
    console.log(`  ✗ imports ${[...new Set(m.nodeImports)].join(", ")}: the edge bundle must not use node: modules`);
  failed ||= over || m.nodeImports.length > 0;
}

// Reference: aws4fetch's own size, measured the same way, if the bench competitors are installed.
const a4f = new URL("../bench/node_modules/aws4fetch/dist/aws4fetch.esm.mjs", import.meta.url);
if (existsSync(a4f)) {
  const m = await measure(readFileSync(a4f, "utf8"), "js");
  line("aws4fetch (reference)", m.gz, `  (minified ${m.min} B)`);
}
if (failed) {
  console.log("\nFAIL: size budget");
  process.exit(1);
}
