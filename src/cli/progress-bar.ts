// `get`'s one-line progress bar on stderr, drawn only when stderr is a terminal.
import { mebibytes, padStart } from "./output.ts";

const WIDTH = 24;
const REDRAW_MS = 100;
const ERASE_LINE = "\r\x1b[K";

export interface ProgressBar {
  /** downloadFile's onProgress, or undefined when stderr is not a terminal. */
  onProgress?: (progress: { loaded: number; total: number }) => void;
  /** Erases the bar. */
  clear: () => void;
}

export function progressBar(label: string): ProgressBar {
  const stderr = process.stderr;
  if (!stderr.isTTY) return { clear: () => {} };
  let lastDrawn = 0;
  const startedAt = Date.now();
  const onProgress = ({ loaded, total }: { loaded: number; total: number }) => {
    const now = Date.now();
    if (now - lastDrawn < REDRAW_MS && loaded < total) return;
    lastDrawn = now;
    const fraction = total ? loaded / total : 1;
    const seconds = (now - startedAt) / 1000 || 0.001;
    const filled = "#".repeat(Math.round(fraction * WIDTH)).padEnd(WIDTH, ".");
    const line =
      `\r[${filled}] ${padStart(Math.floor(fraction * 100), 3)}% ${mebibytes(loaded)}/${mebibytes(total)} ` +
      `${mebibytes(loaded / seconds)}/s ${label}`;
    stderr.write(line.slice(0, (stderr.columns || 80) - 1) + "\x1b[K");
  };
  return { onProgress, clear: () => stderr.write(ERASE_LINE) };
}
