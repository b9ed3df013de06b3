// `s3-edge ls`, `get` and `presign` (watch has its own file).
import { mkdir, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as NodeWebStream } from "node:stream/web";
import { listPages, type S3Client } from "../client.ts";
import { downloadFile } from "../download.ts";
import { downloadToFile } from "../node/download-to-file.ts";
import { downloadTuning, numberOption, parseS3Url } from "./arguments.ts";
import { escapeControl, padStart, shortDate } from "./output.ts";
import { progressBar } from "./progress-bar.ts";
import { usage } from "./usage-error.ts";

export interface CommandIo {
  signal: AbortSignal;
  output: (line: string) => void;
  report: (message: string) => void;
}

const MAX_PRESIGN_SECONDS = 7 * 24 * 3600; // SigV4's limit: 604800 s

export async function listCommand(client: S3Client, [url]: string[], options: Record<string, any>, io: CommandIo) {
  const { bucket, key: prefix } = parseS3Url(url, false);
  // As `aws s3 ls`: one level names relative to the prefix's folder, --recursive full keys.
  const base = options.recursive ? "" : prefix.slice(0, prefix.lastIndexOf("/") + 1);
  const delimiter = options.recursive ? undefined : "/";
  let count = 0;
  for await (const page of listPages(client, { bucket, prefix, delimiter, signal: io.signal })) {
    for (const folder of page.commonPrefixes) {
      count++;
      io.output(
        options.json
          ? JSON.stringify({ prefix: folder })
          : `${padStart("", 19)} ${padStart("PRE", 12)} ${escapeControl(folder.slice(base.length))}`,
      );
    }
    for (const object of page.contents) {
      count++;
      const { key, size, etag, lastModified, storageClass } = object;
      io.output(
        options.json
          ? JSON.stringify({ key, size, etag, lastModified, storageClass })
          : `${shortDate(lastModified)} ${padStart(size, 12)} ${escapeControl(key.slice(base.length))}`,
      );
    }
  }
  if (!count && prefix) io.report(`nothing under s3://${bucket}/${prefix} (keys are case-sensitive)`);
}

export async function getCommand(
  client: S3Client,
  [url, destination, extra]: string[],
  options: Record<string, any>,
  io: CommandIo,
) {
  const { bucket, key } = parseS3Url(url, true);
  const { signal } = io;
  if (extra) usage(`get takes one s3:// URL and one destination, got also ${JSON.stringify(extra)}`);
  const tuning = downloadTuning(options);
  const bar = progressBar(basename(key));
  try {
    if (destination === "-") {
      const download = await downloadFile(client, { bucket, key, signal, onProgress: bar.onProgress, ...tuning });
      try {
        await pipeline(Readable.fromWeb(download.body as NodeWebStream<Uint8Array>), process.stdout, { signal });
      } catch (error) {
        // A reader that stops early (`| head`) is not an error.
        if ((error as NodeJS.ErrnoException)?.code !== "EPIPE") throw signal.aborted ? signal.reason : error;
      }
      return;
    }
    let path = destination ?? basename(key);
    const intoFolder =
      !destination || destination.endsWith("/") || (await stat(destination).catch(() => null))?.isDirectory();
    if (intoFolder) path = join(destination ?? ".", basename(key));
    if (key.endsWith("/")) usage(`key ${JSON.stringify(key)} ends with "/": name the destination file explicitly`);
    await mkdir(dirname(path), { recursive: true });
    const result = await downloadToFile(client, { bucket, key, path, signal, onProgress: bar.onProgress, ...tuning });
    bar.clear();
    io.report(`s3://${bucket}/${key} -> ${path} (${result.size} bytes, etag ${result.etag})`);
  } finally {
    bar.clear();
  }
}

export async function presignCommand(client: S3Client, [url]: string[], options: Record<string, any>, io: CommandIo) {
  const { bucket, key } = parseS3Url(url, true);
  const expiresIn = numberOption("expires", options.expires, 3600, 1, MAX_PRESIGN_SECONDS);
  io.output(await client.presignGetObject({ bucket, key, expiresIn }));
}
