// `npm test` on a machine without Ceph RGW (a new user's second command): it stops at once with
// the one command to run, before any typecheck or test. (As root with apt-get, as in CI, it runs
// scripts/install-rgw.sh itself; that path installs packages, so CI exercises it, not this test.)
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import assert from "node:assert/strict";
import { repoRoot } from "./support/util.ts";

test("npm test without RGW and without apt-get stops at once and names the install command", () => {
  // A PATH with a shell and node, but no radosgw, ceph-mon or apt-get.
  const bin = mkdtempSync(join(tmpdir(), "s3-edge-no-rgw-"));
  try {
    for (const tool of ["bash", "sh"]) symlinkSync(`/bin/${tool}`, join(bin, tool));
    symlinkSync(process.execPath, join(bin, "node"));
    const env: Record<string, string | undefined> = { ...process.env, PATH: bin };
    for (const name of Object.keys(env)) if (name.startsWith("S3_TEST_")) delete env[name];
    const started = Date.now();
    const result = spawnSync(process.execPath, ["--import", "tsx", "scripts/test.ts"], {
      cwd: repoRoot,
      env,
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(result.status, 1, result.stderr);
    assert.match(
      result.stderr,
      /not installed\. Run this once, then npm test again:\n\n {2}sudo bash scripts\/install-rgw\.sh\n/,
    );
    assert.match(result.stderr, /S3_TEST_ENDPOINT/);
    assert.doesNotMatch(result.stdout + result.stderr, /typecheck|# tests /, "nothing else ran");
    assert.ok(Date.now() - started < 30_000);
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
});
