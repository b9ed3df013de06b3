// The CLI's pure parts: the --filter glob matcher, the key -> local path mapping, and the escaping
// of control characters in text output.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { downloadTuning } from "../src/cli/arguments.ts";
import { globMatcher } from "../src/cli/glob.ts";
import { localPathOf, type PathMapping } from "../src/cli/local-paths.ts";
import { escapeControl } from "../src/cli/output.ts";
import { UsageError } from "../src/cli/usage-error.ts";

describe("--filter GLOB", () => {
  const cases: { glob: string; matches: string[]; misses: string[] }[] = [
    { glob: "*.csv", matches: ["a.csv", "x/y/b.csv", ".csv"], misses: ["a.csv.gz", "a.CSV", "csv"] },
    { glob: "data-??.json", matches: ["data-01.json", "d/data-ab.json"], misses: ["data-1.json", "data-001.json"] },
    { glob: "logs/*.gz", matches: ["logs/a.gz"], misses: ["logs/x/a.gz", "a.gz", "other/logs/a.gz"] },
    {
      glob: "logs/**/*.gz",
      matches: ["logs/a.gz", "logs/x/a.gz", "logs/x/y/a.gz"],
      misses: ["logs.gz", "x/logs/a.gz"],
    },
    { glob: "**/2024/*", matches: ["2024/a", "x/2024/b", "x/y/2024/c"], misses: ["2024", "x/2024/y/c"] },
    { glob: "logs/**", matches: ["logs/a", "logs/a/b/c"], misses: ["log/a", "logs"] },
    { glob: "[abc]*.txt", matches: ["a.txt", "cat.txt"], misses: ["d.txt", "A.txt"] },
    { glob: "[a-c][!0-9]", matches: ["ax", "c-"], misses: ["a1", "dx", "a"] },
    { glob: "[^x]", matches: ["y"], misses: ["x"] },
    { glob: "a/[!b]", matches: ["a/c"], misses: ["a//", "a/b"] },
    { glob: "\\*.txt", matches: ["*.txt"], misses: ["a.txt"] },
    { glob: "a+(b).txt", matches: ["a+(b).txt"], misses: ["aab.txt", "a(b).txt"] },
    { glob: "[x", matches: ["[x"], misses: ["x"] },
    { glob: "line*", matches: ["line\nbreak"], misses: [] },
    { glob: "ü?", matches: ["üx", "üé"], misses: ["ü"] },
  ];
  for (const { glob, matches, misses } of cases)
    test(`${JSON.stringify(glob)} matches ${JSON.stringify(matches)} and not ${JSON.stringify(misses)}`, () => {
      const match = globMatcher(glob);
      for (const path of matches) assert.equal(match(path), true, path);
      for (const path of misses) assert.equal(match(path), false, path);
    });

  test("an empty glob or a trailing lone backslash is a usage error", () => {
    assert.throws(() => globMatcher(""), UsageError);
    assert.throws(() => globMatcher("a\\"), UsageError);
  });
});

describe("key -> local path", () => {
  const mapping: PathMapping = { directory: "/dl", prefix: "in/", reserved: ["/dl/state.json"] };
  const pathOf = (key: string) => localPathOf(mapping, key);

  test("a key maps to its segments below the folder", () => {
    assert.deepEqual(pathOf("in/a.txt"), { path: "/dl/a.txt" });
    assert.deepEqual(pathOf("in/x/y/z.bin"), { path: "/dl/x/y/z.bin" });
    assert.deepEqual(pathOf("in/ spaced name "), { path: "/dl/ spaced name " });
  });

  test("keys that would share a path with another key, or leave the directory, are refused", () => {
    for (const key of ["in//x", "in/./y", "in/z/.", "in/.", "in/a//b", "in/../x", "in/a/../../x", "in/a\0b"])
      assert.ok("refused" in pathOf(key), JSON.stringify(key));
    assert.match((pathOf("in//x") as { refused: string }).refused, /empty or "\." path segment/);
    assert.match((pathOf("in/../x") as { refused: string }).refused, /escape/);
  });

  test("folder placeholders, keys outside the folder, temp-file names and the state file are refused", () => {
    assert.match((pathOf("in/dir/") as { refused: string }).refused, /folder/);
    assert.match((pathOf("out/a") as { refused: string }).refused, /outside/);
    assert.match((pathOf("in/.s3edge-0000abcd-00112233.part") as { refused: string }).refused, /temp files/);
    assert.match((pathOf("in/state.json") as { refused: string }).refused, /state/);
  });

  test("distinct accepted keys never share a path (seeded sample of awkward keys)", () => {
    const parts = ["a", "b", ".", "..", "", " ", "a.", ".a", "\u00e9", "e\u0301"];
    const seen = new Map<string, string>();
    for (const first of parts)
      for (const second of parts)
        for (const third of parts) {
          const key = `in/${first}/${second}/${third}`;
          const local = pathOf(key);
          if (!("path" in local)) continue;
          assert.equal(seen.get(local.path) ?? key, key, `${seen.get(local.path)} and ${key} share ${local.path}`);
          seen.set(local.path, key);
        }
    assert.ok(seen.size > 100);
  });
});

describe("escaping text output", () => {
  test("C0, DEL, C1, line separators, bidi controls and the backslash are escaped; the rest is kept", () => {
    assert.equal(escapeControl("a\nb"), "a\\x0ab");
    assert.equal(escapeControl("\x1b[31mred"), "\\x1b[31mred");
    assert.equal(escapeControl("\r\t\0\x7f\x9b"), "\\x0d\\x09\\x00\\x7f\\x9b");
    assert.equal(escapeControl("x\u2028y\u202ez"), "x\\u{2028}y\\u{202e}z");
    assert.equal(escapeControl("C:\\dir"), "C:\\\\dir");
    assert.equal(escapeControl("plain/kéy ünïcode 日本 😀"), "plain/kéy ünïcode 日本 😀");
  });

  test("escaping is injective: distinct keys print distinctly", () => {
    const keys = ["a\nb", "a\\x0ab", "a\\\nb", "a\\\\x0ab"];
    assert.equal(new Set(keys.map(escapeControl)).size, keys.length);
  });
});

describe("--concurrency and --part-size", () => {
  test("defaults 1 and 8 MiB; --part-size in MiB, fractions allowed, rounded to whole bytes", () => {
    assert.deepEqual(downloadTuning({}), { concurrency: 1, partSize: 8 * 1024 * 1024 });
    assert.deepEqual(downloadTuning({ concurrency: "16", "part-size": "0.5" }), {
      concurrency: 16,
      partSize: 512 * 1024,
    });
    assert.deepEqual(downloadTuning({ "part-size": "5120" }), { concurrency: 1, partSize: 5 * 1024 ** 3 });
  });

  test("values the download cannot use are usage errors naming the flag", () => {
    for (const [flag, value] of [
      ["concurrency", "0"],
      ["concurrency", "2.5"],
      ["concurrency", "1025"],
      ["concurrency", "four"],
      ["concurrency", " "],
      ["part-size", "0"],
      ["part-size", "0.0001"],
      ["part-size", "5121"],
      ["part-size", "abc"],
    ])
      assert.throws(
        () => downloadTuning({ [flag]: value }),
        (e: unknown) => e instanceof UsageError && e.message.includes(`--${flag}`),
        `--${flag} ${value}`,
      );
  });
});
