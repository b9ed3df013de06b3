// `watch --filter GLOB`: a small glob matcher (no dependency), compiled once to a RegExp.
//   *        any run of characters except "/"
//   **       any run of characters including "/" ("a/**/b" also matches "a/b")
//   ?        one character except "/"
//   [abc] [a-z] [!a-z] [^a-z]   one character of (or not of) the class; never "/"
//   \x       the character x itself
// A pattern without "/" is matched against the file name (as .gitignore does: "*.csv" finds CSV
// files at every depth); a pattern with "/" against the whole path below the watched folder.
import { UsageError } from "./usage-error.ts";

const REGEXP_SPECIAL = /[.+^${}()|[\]\\*?]/;

const literal = (character: string) => (REGEXP_SPECIAL.test(character) ? "\\" + character : character);

/** The RegExp source of one glob (anchored by the caller). */
function translate(glob: string): string {
  let source = "";
  for (let index = 0; index < glob.length; index++) {
    const character = glob[index];
    if (character === "\\") {
      if (index + 1 === glob.length) throw new UsageError(`--filter ${JSON.stringify(glob)} ends with a lone "\\"`);
      source += literal(glob[++index]);
    } else if (character === "*") {
      if (glob[index + 1] !== "*") {
        source += "[^/]*";
        continue;
      }
      index++;
      const atSegmentStart = index === 1 || glob[index - 2] === "/";
      if (atSegmentStart && glob[index + 1] === "/") {
        // "**/" : zero or more whole folders.
        index++;
        source += "(?:.*/)?";
      } else source += ".*";
    } else if (character === "?") source += "[^/]";
    else if (character === "[") {
      const end = glob.indexOf("]", index + 2); // "[]...]" : a "]" right after "[" is a member
      if (end < 0) {
        source += "\\[";
        continue;
      }
      let members = glob.slice(index + 1, end);
      const negated = members[0] === "!" || members[0] === "^";
      if (negated) members = members.slice(1);
      // Inside a RegExp class only \ ] ^ - are special; "-" keeps its range meaning.
      const escaped = members.replace(/[\\\]^]/g, (special) => "\\" + special);
      source += negated ? `(?!/)[^${escaped}]` : `(?!/)[${escaped}]`;
      index = end;
    } else source += literal(character);
  }
  return source;
}

/** A predicate for `glob` over paths below the folder (see the header for the rules). */
export function globMatcher(glob: string): (relativePath: string) => boolean {
  if (!glob) throw new UsageError("--filter must not be empty");
  let pattern: RegExp;
  try {
    pattern = new RegExp(`^${translate(glob)}$`, "su");
  } catch (error) {
    throw new UsageError(`--filter ${JSON.stringify(glob)} is not a valid glob (${(error as Error).message})`);
  }
  if (glob.includes("/")) return (relativePath) => pattern.test(relativePath);
  return (relativePath) => pattern.test(relativePath.slice(relativePath.lastIndexOf("/") + 1));
}
