// Regenerates fixtures/sigv4/aws-suite-subset.json from AWS's suite (../shared/sigv4-test-suite),
// so a clone without ../shared still proves the signer on representative published cases.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadLegacy, loadV4, root, suiteDir } from "../test/support/sigv4suite.ts";

const chosen = [
  "v4/get-vanilla",
  "v4/get-vanilla-query-order-encoded",
  "v4/get-vanilla-utf8-query",
  "v4/get-utf8",
  "v4/get-space-unnormalized",
  "v4/get-slashes-unnormalized",
  "v4/get-relative-relative-unnormalized",
  "v4/get-relative-relative-normalized",
  "v4/get-header-key-duplicate",
  "v4/get-header-value-multiline",
  "v4/get-header-value-trim",
  "v4/get-vanilla-with-session-token",
  "v4/post-sts-header-after",
  "v4/post-x-www-form-urlencoded-parameters",
  "legacy/get-vanilla-query-order-key",
  "legacy/get-special-character",
];
const dir = suiteDir();
if (!dir) throw new Error("AWS SigV4 suite not found (../shared/sigv4-test-suite or $SIGV4_TEST_SUITE)");
const all = new Map([...loadV4(dir), ...loadLegacy(dir)].map((c) => [c.name, c]));
const cases = chosen.map((name) => {
  const found = all.get(name);
  if (!found) throw new Error(`no case ${name}`);
  return found;
});
writeFileSync(
  join(root, "fixtures/sigv4/aws-suite-subset.json"),
  JSON.stringify(
    {
      source:
        "AWS Signature Version 4 test suite (aws-c-auth tests/aws-signing-test-suite/v4 @495329c, " +
        "botocore tests/unit/auth/aws4_testsuite @0e6e240; Apache-2.0): request inputs, signing context and " +
        "expected canonical request / string to sign / signature of a representative subset, in s3-edge's own " +
        "case format",
      cases,
    },
    null,
    1,
  ) + "\n",
);
console.log(`wrote ${cases.length} cases`);
