#!/usr/bin/env node
/// <reference types="node" />
// s3-edge command line (Node only, not part of the edge bundle): ls, get, presign, watch.
// Exit codes are part of the interface (scripts branch on them): see HELP.
import { readFileSync } from "node:fs";
import { mkdir, readFile, stat } from "node:fs/promises";
import { basename, dirname, join, resolve, sep } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as NodeWebStream } from "node:stream/web";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { listPages, S3Client } from "./client.ts";
import { downloadFile } from "./download.ts";
import { InputError, NetworkError, S3Error } from "./errors.ts";
import { downloadToFile, nodeFetch, writeFileAtomic } from "./node/index.ts";
import { newFileTrigger, type FileEvent, type TriggerState } from "./trigger.ts";

const HELP = `s3-edge — S3 from the command line (ls, get, presign, watch for new files)

Usage:
  s3-edge ls s3://bucket[/prefix] [--recursive] [--json]
      One level (delimiter "/"): "PRE dir/" lines, then "date size name" (UTC).
      --recursive lists every key under the prefix. --json: one JSON object per line.
  s3-edge get s3://bucket/key [FILE|DIR/|-]
      Download to FILE (default: the key's name in the current directory) atomically:
      a temp file beside it is renamed into place only after the bytes were verified.
      "-" writes to stdout. Progress bar on stderr when stderr is a terminal.
  s3-edge presign s3://bucket/key [--expires SECONDS]
      Print a presigned GET URL (default 3600 s, at most 604800).
  s3-edge watch s3://bucket/folder [--download-to DIR] [--state FILE] [--interval SECONDS]
                [--include-subfolders] [--since ISO-DATE] [--min-age SECONDS] [--once] [--json]
      Poll the folder and report each new (or overwritten) file once, oldest first, one line
      per file ("new|updated  lastModified  size  key  etag [-> path]"; --json: JSON lines).
      --download-to  download each file into DIR, keeping its path below the folder (keys
                     with ".." segments that would leave DIR are refused and reported).
      --state FILE   JSON cursor, rewritten atomically after each handled batch: a restart
                     resumes without missing or repeating files.
      --since        without a state: report files modified at or after this time
                     (default: only files that appear after the first poll).
      --interval     seconds between polls (default 10). --once: poll until caught up, exit.
      --min-age      hold back files younger than this (server time), for slow writers.
      Ctrl-C stops cleanly; a batch interrupted mid-way is reported again on restart.

Connection (flags override the environment):
  --endpoint URL   AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or S3_ENDPOINT (default: AWS)
  --region NAME    AWS_REGION or AWS_DEFAULT_REGION (default us-east-1; "auto" for R2)
  --path-style     force path-style URLs (default: path style off AWS)
  Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (optional).

Exit codes:
  0  ok
  1  runtime or S3 error (network, timeout, server error, failed verification)
  2  usage error (bad arguments, not an s3:// URL, bad endpoint/region, bad state file)
  3  credentials missing or refused (AccessDenied, SignatureDoesNotMatch, InvalidAccessKeyId)
  4  not found (NoSuchBucket, NoSuchKey, 404)
  130 interrupted (Ctrl-C; 143 for SIGTERM)
`;

const env = process.env;
const err = process.stderr;
const json = JSON.stringify;

class UsageError extends Error {}
class CredentialsError extends Error {}
const usage = (m: string): never => {
  throw new UsageError(m);
};

/** s3://bucket[/key] -> [bucket, key] */
function s3url(u: string | undefined, needKey: boolean): [string, string] {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/s.exec(u ?? "");
  const want = needKey ? "s3://bucket/key" : "s3://bucket[/prefix]";
  if (!m) usage(u ? `expected ${want}, got ${json(u)}${/^https?:/.test(u) ? " (give the endpoint with --endpoint and the object as s3://bucket/key)" : ""}` : `missing ${want}`);
  if (needKey && !m![2]) usage(`${json(u)} names no key: expected ${want}`);
  return [m![1], m![2] ?? ""];
}

function num(name: string, v: string | undefined, def: number, min: number, max = Infinity): number {
  if (v == null) return def;
  const n = Number(v);
  if (!v.trim() || !(n >= min && n <= max)) usage(`--${name} must be a number from ${min} to ${max}, got ${json(v)}`);
  return n;
}

function client(o: Record<string, any>) {
  const id = env.AWS_ACCESS_KEY_ID, secret = env.AWS_SECRET_ACCESS_KEY;
  if (!id || !secret) {
    const miss = [!id && "AWS_ACCESS_KEY_ID", !secret && "AWS_SECRET_ACCESS_KEY"].filter(Boolean).join(" and ");
    throw new CredentialsError(`no credentials: set ${miss} (and AWS_SESSION_TOKEN for temporary credentials)` +
      (env.AWS_PROFILE ? `; AWS_PROFILE is set, but s3-edge does not read ~/.aws profiles` : ""));
  }
  return new S3Client({
    endpoint: o.endpoint ?? (env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || env.S3_ENDPOINT || undefined),
    region: o.region ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined),
    forcePathStyle: o["path-style"] || undefined,
    // Node's own transport: keys with "." / ".." segments work, and big downloads stream faster in
    // less memory than through Node's fetch.
    fetch: nodeFetch,
    credentials: { accessKeyId: id, secretAccessKey: secret, sessionToken: env.AWS_SESSION_TOKEN || undefined },
  });
}

const pad = (s: string | number, n: number) => String(s).padStart(n);
const day = (d: Date) => d.toISOString().slice(0, 19).replace("T", " ");
const mib = (n: number) => (n / 1048576).toFixed(1) + " MiB";

async function ls(c: S3Client, [url]: string[], o: Record<string, any>, out: (s: string) => void) {
  const [bucket, prefix] = s3url(url, false);
  // As `aws s3 ls`: one level names relative to the prefix's folder, --recursive full keys.
  const base = o.recursive ? "" : prefix.slice(0, prefix.lastIndexOf("/") + 1);
  let n = 0;
  for await (const r of listPages(c, { bucket, prefix, delimiter: o.recursive ? undefined : "/", signal: o.signal })) {
    for (const p of r.commonPrefixes) n++, out(o.json ? json({ prefix: p }) : `${pad("", 19)} ${pad("PRE", 12)} ${p.slice(base.length)}`);
    for (const x of r.contents)
      n++, out(o.json ? json({ key: x.key, size: x.size, etag: x.etag, lastModified: x.lastModified, storageClass: x.storageClass })
        : `${day(x.lastModified)} ${pad(x.size, 12)} ${x.key.slice(base.length)}`);
  }
  if (!n && prefix) err.write(`s3-edge: nothing under s3://${bucket}/${prefix} (keys are case-sensitive)\n`);
}

/** A throttled one-line progress bar on stderr, only when stderr is a terminal. */
function bar(label: string) {
  if (!err.isTTY) return [undefined, () => {}] as const;
  let last = 0;
  const t0 = Date.now();
  const draw = ({ loaded, total }: { loaded: number; total: number }) => {
    const now = Date.now();
    if (now - last < 100 && loaded < total) return;
    last = now;
    const f = total ? loaded / total : 1, w = 24, s = (now - t0) / 1e3 || 1e-3;
    err.write(`\r[${"#".repeat(Math.round(f * w)).padEnd(w, ".")}] ${pad(Math.floor(f * 100), 3)}% ${mib(loaded)}/${mib(total)} ${mib(loaded / s)}/s ${label}`.slice(0, (err.columns || 80) - 1) + "\x1b[K");
  };
  return [draw, () => err.write("\r\x1b[K")] as const;
}

async function get(c: S3Client, [url, dest, extra]: string[], o: Record<string, any>) {
  const [bucket, key] = s3url(url, true);
  if (extra) usage(`get takes one s3:// URL and one destination, got also ${json(extra)}`);
  const [onProgress, done] = bar(basename(key));
  try {
    if (dest == "-") {
      const d = await downloadFile(c, { bucket, key, signal: o.signal, onProgress });
      try {
        await pipeline(Readable.fromWeb(d.body as NodeWebStream<Uint8Array>), process.stdout, { signal: o.signal });
      } catch (e: any) {
        // A reader that stops early (`| head`) is not an error.
        if (e?.code != "EPIPE") throw o.signal.aborted ? o.signal.reason : e;
      }
      return;
    }
    let path = dest ?? basename(key);
    if (!dest || dest.endsWith("/") || (await stat(dest).catch(() => null))?.isDirectory()) path = join(dest ?? ".", basename(key));
    if (key.endsWith("/")) usage(`key ${json(key)} ends with "/": name the destination file explicitly`);
    await mkdir(dirname(path), { recursive: true });
    const r = await downloadToFile(c, { bucket, key, path, signal: o.signal, onProgress });
    done();
    err.write(`s3://${bucket}/${key} -> ${path} (${r.size} bytes, etag ${r.etag})\n`);
  } finally {
    done();
  }
}

async function presign(c: S3Client, [url]: string[], o: Record<string, any>, out: (s: string) => void) {
  const [bucket, key] = s3url(url, true);
  out(await c.presignGetObject({ bucket, key, expiresIn: num("expires", o.expires, 3600, 1, 604800) }));
}

/** Local path of a key below the watched folder inside dir, or why it is refused. */
function localPath(dir: string, prefix: string, key: string): string | { refused: string } {
  const rel = key.slice(prefix.length), segs = rel.split("/");
  if (!rel || rel.endsWith("/")) return { refused: "key names a folder, not a file" };
  if (segs.includes("..") || (sep == "\\" && /[\\:]/.test(rel))) return { refused: `key would escape ${dir} (".." segment or path separator)` };
  const p = resolve(dir, ...segs);
  return p.startsWith(resolve(dir) + sep) ? p : { refused: `key would escape ${dir}` };
}

/** A crash leaves the old or the new state, never half of one (writeFileAtomic). */
const saveState = (file: string, s: TriggerState) => writeFileAtomic(file, (fh) => fh.writeFile(json(s)));

async function loadState(file: string): Promise<TriggerState | undefined> {
  let text;
  try {
    text = await readFile(file, "utf8");
  } catch (e: any) {
    if (e.code == "ENOENT") return undefined;
    throw e;
  }
  try {
    return JSON.parse(text);
  } catch (e: any) {
    return usage(`state file ${file} is not valid JSON (${e.message}); delete it to start over`);
  }
}

async function watch(c: S3Client, [url, extra]: string[], o: Record<string, any>, out: (s: string) => void) {
  const [bucket, folder] = s3url(url, false);
  if (extra) usage(`watch takes one s3:// URL, got also ${json(extra)}`);
  const since = o.since != null ? new Date(o.since) : undefined;
  if (since && isNaN(+since)) usage(`--since must be an ISO date such as 2024-05-01T00:00:00Z, got ${json(o.since)}`);
  const intervalMs = num("interval", o.interval, 10, 0) * 1e3, signal: AbortSignal = o.signal;
  const prefix = folder && !folder.endsWith("/") ? folder + "/" : folder;
  const dir: string | undefined = o["download-to"];
  const trig = newFileTrigger(c, { bucket, folder, includeSubfolders: o["include-subfolders"], since, minAgeMs: num("min-age", o["min-age"], 0, 0) * 1e3 });
  let state = o.state ? await loadState(o.state) : undefined;
  if (o.state) await mkdir(dirname(o.state), { recursive: true });
  if (dir) await mkdir(dir, { recursive: true });
  const save = async (s: TriggerState) => {
    state = s;
    if (o.state) await saveState(o.state, s);
  };

  const handle = async (e: FileEvent) => {
    let path: string | undefined, skipped: string | undefined;
    if (dir) {
      const p = localPath(dir, prefix, e.key);
      if (typeof p != "string") skipped = p.refused;
      else
        try {
          await mkdir(dirname(p), { recursive: true });
          // Pinned to the listed ETag: a newer version is never written under this event.
          await downloadToFile(c, { bucket, key: e.key, etag: e.etag, path: p, signal });
          path = p;
        } catch (x) {
          // Gone or replaced since listed: nothing to fetch for THIS event (a replacement comes as an update).
          if (!(x instanceof S3Error && /^(NoSuchKey|PreconditionFailed)$/.test(x.code))) throw x;
          skipped = x.code == "NoSuchKey" ? "deleted before it could be downloaded" : "replaced before it could be downloaded (reported again as an update)";
        }
    }
    const kind = e.isUpdate ? "updated" : "new";
    out(o.json ? json({ event: kind, ...e, path, skipped })
      : `${kind.padEnd(7)} ${e.lastModified.toISOString()} ${pad(e.size, 12)} ${e.key} ${e.etag}${path ? " -> " + path : ""}${skipped ? "  SKIPPED: " + skipped : ""}`);
    if (skipped && !o.json) err.write(`s3-edge: skipped s3://${bucket}/${e.key}: ${skipped}\n`);
  };

  if (o.once) {
    for (let more = true; more; ) {
      const r = await trig.poll(state, { signal });
      for (const e of r.events) await handle(e);
      await save(r.state);
      more = r.hasMore;
    }
    return;
  }
  err.write(`s3-edge: watching s3://${bucket}/${prefix}${o["include-subfolders"] ? " and its subfolders" : ""} every ${intervalMs / 1e3} s${o.state ? `, state in ${o.state}` : ""} (Ctrl-C to stop)\n`);
  try {
    for await (const e of trig.watch({ intervalMs, state, signal, onState: save, onError: (x: any) => err.write(`s3-edge: poll failed, retrying in ${intervalMs / 1e3} s: ${x?.message ?? x}\n`) }))
      await handle(e);
  } catch (e) {
    if (!signal.aborted) throw e;
  }
}

/** Exit code of an error (see HELP). */
function codeOf(e: any, signal: AbortSignal): number {
  if (signal.aborted) return signal.reason == "SIGTERM" ? 143 : 130;
  if (e instanceof UsageError || e instanceof InputError || /^ERR_PARSE_ARGS/.test(e?.code)) return 2;
  if (e instanceof CredentialsError) return 3;
  if (e instanceof S3Error) {
    if (e.status == 403 || /^(AccessDenied|SignatureDoesNotMatch|InvalidAccessKeyId|InvalidToken|ExpiredToken|AuthorizationHeaderMalformed)$/.test(e.code)) return 3;
    if (e.status == 404 || /^(NoSuchBucket|NoSuchKey|NotFound)$/.test(e.code)) return 4;
  }
  return 1;
}

const COMMANDS: Record<string, [(c: S3Client, a: string[], o: Record<string, any>, out: (s: string) => void) => Promise<void>, ParseArgsConfig["options"]]> = {
  ls: [ls, { recursive: { type: "boolean" }, json: { type: "boolean" } }],
  get: [get, {}],
  presign: [presign, { expires: { type: "string" } }],
  watch: [watch, {
    "download-to": { type: "string" }, state: { type: "string" }, interval: { type: "string" }, "include-subfolders": { type: "boolean" },
    since: { type: "string" }, "min-age": { type: "string" }, once: { type: "boolean" }, json: { type: "boolean" },
  }],
};

async function main(argv: string[]): Promise<number> {
  const ac = new AbortController();
  let hits = 0;
  const onSig = (sig: string) => {
    // A second Ctrl-C does not wait for the clean stop.
    if (hits++) process.exit(sig == "SIGTERM" ? 143 : 130);
    ac.abort(sig);
  };
  process.on("SIGINT", onSig).on("SIGTERM", onSig);
  // stdout closed by the reader (`| head`): stop quietly.
  process.stdout.on("error", (e: any) => e.code == "EPIPE" && process.exit(0));
  const out = (s: string) => void process.stdout.write(s + "\n");
  const secrets = [env.AWS_SECRET_ACCESS_KEY, env.AWS_SESSION_TOKEN].filter((s): s is string => !!s && s.length > 3);
  try {
    const [cmd, ...rest] = argv;
    if (!cmd || cmd == "--help" || cmd == "-h" || cmd == "help") {
      (cmd ? process.stdout : err).write(HELP);
      return cmd ? 0 : 2;
    }
    if (cmd == "--version" || cmd == "-v") {
      out(JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version);
      return 0;
    }
    const def = COMMANDS[cmd] ?? usage(`unknown command ${json(cmd)}: expected ls, get, presign or watch`);
    const { values, positionals }: { values: Record<string, any>; positionals: string[] } = parseArgs({
      args: rest, allowPositionals: true, strict: true,
      options: { ...def[1], endpoint: { type: "string" }, region: { type: "string" }, "path-style": { type: "boolean" }, help: { type: "boolean", short: "h" } },
    });
    if (values.help) return process.stdout.write(HELP), 0;
    // Validate the URL before asking for credentials: a typo is the more useful message.
    s3url(positionals[0], cmd == "get" || cmd == "presign");
    await def[0](client(values), positionals, { ...values, signal: ac.signal }, out);
    if (!ac.signal.aborted) return 0;
    err.write(`s3-edge: interrupted${values.state ? `; state saved in ${values.state}` : ""}\n`);
    return codeOf(0, ac.signal);
  } catch (e: any) {
    const code = codeOf(e, ac.signal);
    let msg = code > 128 ? "interrupted" : e instanceof Error ? e.message : String(e);
    if (e instanceof UsageError || /^ERR_PARSE_ARGS/.test(e?.code)) msg += "\nRun `s3-edge --help` for usage.";
    if (e instanceof NetworkError) {
      const c = (e.cause as any)?.cause ?? e.cause;
      if (c?.code || c?.message) msg += ` (${c.code ?? c.message})`;
    }
    if (code == 3 && e instanceof S3Error) msg += "\nCheck AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, the region (--region, AWS_REGION) and the bucket policy.";
    if (env.S3_EDGE_DEBUG && e instanceof Error && code < 128) msg += "\n" + e.stack;
    for (const s of secrets) msg = msg.split(s).join("<redacted>");
    err.write(`s3-edge: ${msg}\n`);
    return code;
  } finally {
    process.off("SIGINT", onSig).off("SIGTERM", onSig);
  }
}

// exitCode, not exit(): stdout may still be flushing a download.
main(process.argv.slice(2)).then((c) => (process.exitCode = c));
