// What the CLI prints. Keys are bytes chosen by whoever can write to the bucket: printed raw, a key
// with a newline forges a whole output line and an ESC sequence reaches the terminal (colours,
// cursor moves, a changed window title). Text output escapes them; --json is safe as it is
// (JSON.stringify escapes C0 controls, and a JSON consumer reads strings, not lines).

const BACKSLASH = "\\";

// C0 controls (incl. TAB, LF, CR, ESC), DEL, C1 controls (U+0080-U+009F, which some terminals obey
// like ESC sequences), the line/paragraph separators, and the bidirectional overrides/isolates that
// reorder what a reader sees ("Trojan Source"). The backslash itself too, so the escaping is
// unambiguous: a key spelled `a\x0ab` and a key with a newline print differently.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\\]/g;

const escapeOne = (character: string): string => {
  if (character === BACKSLASH) return BACKSLASH + BACKSLASH;
  const code = character.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u{${code.toString(16)}}`;
};

/** `text` with every control character written as `\xHH` (or `\u{HHHH}`) and `\` as `\\`. */
export const escapeControl = (text: string): string => text.replace(UNSAFE, escapeOne);

/** A multi-line message (an error with a hint below it) with each line escaped. */
export const escapeLines = (text: string): string => text.split("\n").map(escapeControl).join("\n");

export const padStart = (value: string | number, width: number) => String(value).padStart(width);

/** "2024-05-01 10:00:00" (UTC), as `aws s3 ls` prints it. */
export const shortDate = (date: Date) => date.toISOString().slice(0, 19).replace("T", " ");

export const mebibytes = (bytes: number) => (bytes / 1_048_576).toFixed(1) + " MiB";
