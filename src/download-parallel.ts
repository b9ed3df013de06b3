// Parallel ranged download ("download threads"): one S3 connection delivers far less than the
// network can (roughly 50-100 MB/s on AWS), so an object of several parts is fetched as byte ranges
// over `concurrency` connections, each range pinned to the version (If-Match) and resumed on its own.
// Two consumers: downloadFile's body (parts delivered in order, at most `concurrency` parts held)
// and downloadToFile (each chunk written at its offset, nothing held).
// Verification without a second pass: the in-order body hashes the bytes as it delivers them (any
// algorithm). Writes at offsets compute each part's CRC as it arrives and combine the parts' CRCs
// (crc-combine.ts) into the whole object's CRC32/CRC32C/CRC64NVME; a SHA-256 cannot be combined and
// is reported unverified there. (Combining only where it is needed keeps crc-combine.ts out of the
// bundle of an app that uses downloadFile only: the CPU cost is the same on JS's one thread.)
// A multipart COMPOSITE checksum ("…-N") is checked part by part: the parts
// are fetched by partNumber, whose responses carry each part's own checksum and byte range.
import { BlockPool, ByteQueue } from "./byte-queue.ts";
import { combineCrc, CRC32_SPEC, CRC32C_SPEC, CRC64NVME_SPEC, type CrcSpec } from "./crc-combine.ts";
import type { CrcRegister } from "./checksum.ts";
import type { Download, InOrderSource, OpenedDownload } from "./download.ts";
import { downloadError, openRange, type RangeReader } from "./range-reader.ts";
import type { GetObjectResult } from "./types.ts";
import { checkDigest, type ChecksumAlgorithm } from "./verify.ts";

// Chunks the in-order body hands out, each a copy of its own. Measured at concurrency 8 (256 MiB
// through 16 MiB/s connections, 5 runs each): peak RSS 131-137 MiB with 16 KiB, 130-133 with 32 KiB
// and 64 KiB, the same throughput.
const DELIVERY_CHUNK = 32 * 1024;
// The blocks parts are held in (byte-queue.ts): a part holds at most one block not full, so small
// blocks keep memory near the bytes held (1 MiB blocks measured 3-4 MiB more at concurrency 8).
const HOLD_BLOCK = 256 * 1024;

const COMBINABLE: Record<string, CrcSpec> = { crc32: CRC32_SPEC, crc32c: CRC32C_SPEC, crc64nvme: CRC64NVME_SPEC };

interface Part {
  /** Its place in the plan (0 is the first part). */
  index: number;
  /** Object offsets (inclusive); for a partNumber part, known once its response came. */
  start: number;
  end: number;
  /** Set when the object's parts are fetched by partNumber (COMPOSITE checksum). */
  partNumber?: number;
  received: number;
  checksumState?: any;
  /** The part's own checksum (COMPOSITE), from its partNumber response. */
  expected?: string;
  done: boolean;
  /** In-order delivery: the bytes received and not yet delivered (at most partSize). */
  held?: ByteQueue;
}

/** How the parts' bytes leave: in order to a stream, or at their offsets to a file. */
interface PartSink {
  /** Resolves when the part may be requested (in order: when it is within `concurrency` parts of the head). */
  mayStart(index: number): Promise<void> | void;
  /** The part is requested now. */
  started?(part: Part): void;
  /** One chunk of a part, in order within the part; a promise holds that part's connection (backpressure). */
  write(part: Part, chunk: Uint8Array, offset: number): Promise<unknown> | void;
  /** A part has all its bytes (and passed its own check). */
  partDone?(part: Part): void;
}

/**
 * The plan of a parallel download: its parts and what verifies them. Parts are made as they are
 * requested, and dropped once written or delivered: memory follows the parts in flight, not the
 * object's size over partSize (a 5 TiB object in 64 KiB ranges is 80 million parts).
 */
interface Plan {
  count: number;
  partAt(index: number): Part;
  algorithm?: ChecksumAlgorithm;
  /** "combine": part CRCs combined (at offsets); "parts": COMPOSITE, per part; "sequential": hashed as delivered. */
  mode?: "combine" | "parts" | "sequential";
  expected?: string;
  unverifiedReason?: string;
  /** Mode "parts": every part, for the check of the part checksums. */
  parts?: Part[];
}

/**
 * The parts and their check. `graded` (in-order delivery): the first `concurrency` parts are
 * partSize × 1/c, 2/c, … c/c, so that parts end one after another instead of all at once (see
 * partsInOrder); at offsets every part is partSize.
 */
function plan({ context, choice, parallel }: OpenedDownload, graded: boolean): Plan {
  const { objectSize } = context;
  const newPart = (index: number, start: number, end: number, partNumber?: number): Part => ({
    index,
    start,
    end,
    partNumber,
    received: 0,
    checksumState: choice.algorithm?.init(),
    done: false,
  });
  const { algorithm, expected } = choice;
  if (algorithm && choice.parts) {
    // The object's own parts (at most 10,000, verify.ts): their sizes are learned from each
    // partNumber response, and all are kept for the check of the part checksums at the end.
    const parts = Array.from({ length: choice.parts }, (_, index) => newPart(index, NaN, NaN, index + 1));
    return { count: parts.length, partAt: (index) => parts[index], algorithm, expected, mode: "parts", parts };
  }
  const { partSize, concurrency } = parallel!;
  // Where each graded part starts, and where the graded parts end (then partSize each).
  const gradedStarts = [0];
  if (graded)
    for (let index = 0; index < concurrency && gradedStarts[index] < objectSize; index++)
      gradedStarts.push(gradedStarts[index] + Math.ceil((partSize * (index + 1)) / concurrency));
  const gradedCount = gradedStarts.length - 1;
  const gradedEnd = gradedStarts[gradedCount];
  const startOf = (index: number) =>
    index <= gradedCount ? gradedStarts[index] : gradedEnd + (index - gradedCount) * partSize;
  const count = gradedEnd >= objectSize ? gradedCount : gradedCount + Math.ceil((objectSize - gradedEnd) / partSize);
  const partAt = (index: number) => newPart(index, startOf(index), Math.min(startOf(index + 1), objectSize) - 1);
  if (!algorithm) return { count, partAt, unverifiedReason: choice.unverifiedReason };
  return { count, partAt, algorithm, expected, mode: "sequential" };
}

/**
 * A COMPOSITE checksum's whole-object check once every part is in (each part was checked as it
 * ended): parts that tile the object exactly, and the checksum of the parts' checksums (their raw
 * bytes, in order).
 */
function verifyParts({ context }: OpenedDownload, { parts, algorithm, mode, expected }: Plan) {
  if (mode !== "parts" || !parts) return;
  const size = context.objectSize;
  let state = algorithm!.init();
  let next = 0;
  for (const part of parts) {
    if (part.start !== next) throw downloadError(context, "ChecksumMismatch", size, " (part layout)");
    next = part.end + 1;
    state = algorithm!.update(
      state,
      Uint8Array.from(atob(part.expected!), (char) => char.charCodeAt(0)),
    );
  }
  if (next !== size) throw downloadError(context, "ChecksumMismatch", size, " (part layout)");
  checkDigest(context, algorithm!, state, expected, size, `${algorithm!.name} of the part checksums`);
}

/**
 * Mode "combine": the whole object's CRC, merged from the parts' CRCs in object order as the parts
 * end (they end out of order; a part waits only for the parts before it that are still in flight).
 */
function crcMerger({ algorithm }: Plan) {
  const spec = COMBINABLE[algorithm!.name];
  const { width } = spec;
  // The register is the CRC inverted, in two 32-bit halves (a 32-bit CRC's high half is 0).
  const mask = (1n << BigInt(width)) - 1n;
  const crcOf = ({ high, low }: CrcRegister) => ((BigInt(~high >>> 0) << 32n) | BigInt(~low >>> 0)) & mask;
  const ended = new Map<number, Part>();
  let merged = 0n;
  let next = 0;
  return {
    partDone(part: Part) {
      ended.set(part.index, part);
      for (let ready; (ready = ended.get(next)); next++) {
        ended.delete(next);
        const crc = crcOf(ready.checksumState);
        merged = next === 0 ? crc : combineCrc(spec, merged, crc, ready.end - ready.start + 1);
      }
    },
    /** The merged CRC as the algorithm's state, once every part ended. */
    state: (): CrcRegister => ({ high: width === 64 ? ~Number(merged >> 32n) : 0, low: ~Number(merged & 0xffffffffn) }),
  };
}

/**
 * Fetch every part over `concurrency` connections into `sink`. The first failure (or the caller's
 * abort) cancels every range at once and rejects; the returned `cancel` does the same from outside.
 */
function runParts(opened: OpenedDownload, { count, partAt, algorithm, mode }: Plan, sink: PartSink) {
  const { context, first } = opened;
  const { client, options, request, etag, objectSize } = context;
  const readers = new Set<RangeReader>();
  let failure: { reason: unknown } | undefined;
  let nextIndex = 0;
  let loaded = 0;
  const fail = (reason: unknown) => {
    if (failure) return;
    failure = { reason };
    for (const reader of readers) reader.cancel(reason);
  };
  const onAbort = () => fail(options.signal!.reason);
  options.signal?.addEventListener("abort", onAbort);
  if (mode === "parts") first.body.cancel().catch(() => {});

  const fetchPart = async (part: Part) => {
    let response: GetObjectResult | undefined = part.index === 0 && mode !== "parts" ? first : undefined;
    if (part.partNumber) {
      response = await client.getObject({ ...request, partNumber: part.partNumber, checksumMode: true, ifMatch: etag });
      const range = response.contentRange ?? (response.status === 200 ? { start: 0, end: objectSize - 1 } : undefined);
      part.start = range?.start ?? NaN;
      part.end = range?.end ?? NaN;
      part.expected = response.checksums[algorithm!.name as "crc32"];
      if (!(part.end >= part.start) || !part.expected || /-/.test(part.expected)) {
        response.body.cancel().catch(() => {});
        const why = `: no byte range or no ${algorithm!.name}`;
        throw downloadError(context, "InvalidResponse", loaded, why, ` (part ${part.partNumber})`);
      }
    }
    const reader = openRange(context, part.start, part.end, response);
    readers.add(reader);
    if (failure) reader.cancel(failure.reason);
    for (let chunk; (chunk = await reader.read());) {
      const offset = part.start + part.received;
      part.received += chunk.length;
      if (algorithm && mode !== "sequential") part.checksumState = algorithm.update(part.checksumState, chunk);
      options.onProgress?.({ loaded: (loaded += chunk.length), total: objectSize });
      await sink.write(part, chunk, offset);
    }
    readers.delete(reader);
    const what = `${algorithm?.name} of part ${part.partNumber}`;
    if (mode === "parts") checkDigest(context, algorithm!, part.checksumState, part.expected, loaded, what);
  };

  const worker = async () => {
    while (!failure && nextIndex < count) {
      const index = nextIndex++;
      await sink.mayStart(index);
      if (failure) return;
      const part = partAt(index);
      sink.started?.(part);
      await fetchPart(part);
      part.done = true;
      sink.partDone?.(part);
    }
  };
  const concurrency = opened.parallel!.concurrency;
  const finished = Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
    .catch((error) => {
      fail(error);
    })
    .then(() => {
      options.signal?.removeEventListener("abort", onAbort);
      if (failure) throw failure.reason;
    });
  return { finished, fail, failed: () => failure };
}

/**
 * A parallel download's bytes in order (for downloadFile's body): at most `concurrency` parts are
 * in flight, each holds at most partSize bytes received ahead of the consumer, and all but the head
 * part (the one being delivered) together at most (concurrency - 1) / 2 × partSize.
 * Why half: parts of one size started together end together, so just before the head part ends,
 * every other part is nearly complete and held whole (concurrency × partSize). The graded first
 * parts (plan) end one after another, and so does every part after them: the parts in flight are
 * then at 1/c, 2/c, … (c-1)/c of their bytes: (c - 1) / 2 × partSize held. The limit only catches
 * the jitter above that (a busy CPU, uneven connections); a part over it pauses its connection, and
 * what its server sends meanwhile waits in the socket's receive buffer (TCP flow control).
 * Measured on 256 MiB through 16 MiB/s connections, partSize 8 MiB, peak RSS above bare node at
 * concurrency 4 / 8 / 16: rings of partSize per part +78 / +113 / +188 MiB; this +56 / +88 / +125,
 * at the same speed (bench/download.ts).
 */
export function partsInOrder(opened: OpenedDownload): InOrderSource {
  const { concurrency, partSize } = opened.parallel!;
  const planned = plan(opened, true);
  // The parts requested and not yet delivered, by index; `head` is the one being delivered.
  const live = new Map<number, Part>();
  let head = 0;
  // Who waits for what: the consumer for bytes (or a part done), a held writer for room in its
  // part, a worker for the head to move. Each waits on its own signal, so a chunk wakes the
  // consumer only, not every worker; a failure wakes everyone.
  const received = newSignal(),
    drained = newSignal(),
    headMoved = newSignal();
  const notifyAll = () => (received.notify(), drained.notify(), headMoved.notify());
  // Received bytes are copied into blocks (byte-queue.ts) and handed out as fresh copies of
  // DELIVERY_CHUNK bytes: the network's chunks die young instead of living as long as their part,
  // and a part larger than partSize (a COMPOSITE object's own parts can be 5 GiB) never holds more
  // than partSize. Blocks go back to the pool as they are read (a failure leaves them to the GC).
  const pool = new BlockPool(Math.min(HOLD_BLOCK, partSize));
  // Bytes held by the parts other than the head: beyond this they wait (their connections pause).
  const holdLimit = (Math.max(1, concurrency - 1) * partSize) / 2;
  const heldAhead = () => {
    let bytes = 0;
    for (const [index, part] of live) if (index !== head) bytes += part.held?.length ?? 0;
    return bytes;
  };
  const run = runParts(opened, planned, {
    async mayStart(index) {
      while (index >= head + concurrency && !run.failed()) await headMoved.wait;
    },
    started(part) {
      live.set(part.index, part);
    },
    async write(part, chunk) {
      const held = (part.held ??= new ByteQueue(pool));
      for (let at = 0; at < chunk.length;) {
        // Wait while the part is full (until it is the head and the consumer drains it), or while
        // the parts ahead of the head are at their limit (until the head moves on).
        while (!run.failed() && (held.length === partSize || (part.index !== head && heldAhead() >= holdLimit)))
          await drained.wait;
        if (run.failed()) return;
        const piece = chunk.subarray(at, at + partSize - held.length);
        held.push(piece);
        at += piece.length;
        received.notify();
      }
    },
    partDone: received.notify,
  });
  run.finished.then(notifyAll, notifyAll);

  run.finished.catch(() => {}); // read through body; an unread failure is not an unhandled rejection
  return {
    async read() {
      for (;;) {
        const failed = run.failed();
        if (failed) throw failed.reason;
        if (head === planned.count) {
          await run.finished;
          verifyParts(opened, planned);
          return undefined;
        }
        const part = live.get(head);
        const bytes = part?.held?.shift(DELIVERY_CHUNK);
        if (bytes) {
          drained.notify();
          return bytes;
        }
        if (part?.done) {
          live.delete(head++);
          headMoved.notify();
          drained.notify();
          continue;
        }
        await received.wait;
      }
    },
    cancel(reason) {
      run.fail(reason);
      notifyAll();
    },
    // The whole object's digest is computed as the body delivers (a COMPOSITE: per part, above).
    algorithm: planned.mode === "sequential" ? planned.algorithm : undefined,
    expected: planned.expected,
    ...verifiedAs(planned),
  };
}

/** A wake-up for waiters of one condition: `await signal.wait`, then re-check; notify() wakes them all. */
function newSignal() {
  let wake!: () => void;
  const signal = {
    wait: new Promise<void>((resolve) => (wake = resolve)),
    notify: () => {
      wake();
      signal.wait = new Promise<void>((resolve) => (wake = resolve));
    },
  };
  return signal;
}

const verifiedAs = ({ algorithm, mode, unverifiedReason }: Plan) => ({
  verified: algorithm && (mode === "parts" ? `${algorithm.name} per part` : algorithm.name),
  unverifiedReason: algorithm ? undefined : unverifiedReason,
});

/**
 * A parallel download written at offsets (downloadToFile): `write(chunk, offset)` is awaited before
 * that range reads on, so at most one chunk per connection is held. Resolves once every byte is
 * written and the whole object verified.
 */
export async function downloadPartsTo(
  opened: OpenedDownload,
  write: (chunk: Uint8Array, offset: number) => Promise<unknown>,
): Promise<Pick<Download, "verified" | "unverifiedReason">> {
  const planned = plan(opened, false);
  const { algorithm } = planned;
  if (planned.mode === "sequential") {
    // Writes at offsets are not in order: a CRC is combined from the parts' CRCs; a SHA-256 cannot be.
    if (COMBINABLE[algorithm!.name]) planned.mode = "combine";
    else {
      planned.algorithm = planned.mode = undefined;
      const name = algorithm!.name;
      planned.unverifiedReason = `a ${name} cannot be combined from ranges written at offsets: use concurrency 1`;
    }
  }
  const merger = planned.mode === "combine" ? crcMerger(planned) : undefined;
  await runParts(opened, planned, {
    mayStart() {},
    write: (_part, chunk, offset) => write(chunk, offset),
    partDone: merger?.partDone,
  }).finished;
  const { context } = opened;
  if (merger) checkDigest(context, planned.algorithm!, merger.state(), planned.expected, context.objectSize);
  verifyParts(opened, planned);
  return verifiedAs(planned);
}
