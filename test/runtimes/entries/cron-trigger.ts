// The README's Worker recipe as workerd runs it (issue 10): every cron invocation is one poll with
// maxRequestsPerPoll 40, the state kept in a KV namespace between invocations. The host
// (hosts/workerd-cron.mjs) fires the invocations, uploads files between them through /upload, and
// reads what each invocation reported from KV. Every subrequest an invocation makes (each fetch
// attempt of the S3 client, each KV call) is counted: the free plan allows 50.
import { S3Client, newFileTrigger, type TriggerState } from "../../../src/index.ts";

interface KV {
  get(key: string): Promise<string | null>;
  put(key: string, value: string): Promise<void>;
}
interface Env {
  STATE: KV;
  S3_ENDPOINT: string;
  S3_REGION: string;
  S3_ACCESS_KEY_ID: string;
  S3_SECRET_ACCESS_KEY: string;
  S3_BUCKET: string;
}

const FOLDER = "cron/";
const MAX_REQUESTS_PER_POLL = 40;

const clientOptions = (env: Env) => ({
  endpoint: env.S3_ENDPOINT,
  region: env.S3_REGION,
  credentials: { accessKeyId: env.S3_ACCESS_KEY_ID, secretAccessKey: env.S3_SECRET_ACCESS_KEY },
  forcePathStyle: true,
});

export default {
  async scheduled(_event: unknown, env: Env): Promise<void> {
    let subrequests = 0;
    const counting: typeof fetch = (input, init) => (subrequests++, fetch(input, init));
    // Each attempt is a subrequest: one attempt per request, a failed poll is retried by the next invocation.
    const client = new S3Client({ ...clientOptions(env), maxAttempts: 1, fetch: counting });
    const trigger = newFileTrigger(client, {
      bucket: env.S3_BUCKET,
      folder: FOLDER,
      since: new Date(0), // the files uploaded before the first invocation are new too
      batchSize: 1_000,
      maxRequestsPerPoll: MAX_REQUESTS_PER_POLL,
    });
    subrequests++;
    const saved = await env.STATE.get("trigger");
    const report: Record<string, unknown> = { id: crypto.randomUUID() };
    try {
      const { events, state, hasMore, requests } = await trigger.poll(
        saved ? (JSON.parse(saved) as TriggerState) : undefined,
      );
      const json = JSON.stringify(state);
      Object.assign(report, { events: events.map((event) => event.key), hasMore, requests, stateBytes: json.length });
      subrequests++;
      await env.STATE.put("trigger", json); // after handling the events: exactly once
    } catch (error) {
      report.error = String(error); // the state was not saved: the next invocation polls again
    }
    report.subrequests = subrequests + 1; // + the log write below
    await env.STATE.put(`log/${Date.now()}-${report.id}`, JSON.stringify(report));
  },

  /** Test helper: uploads `count` small files named cron/<prefix><n> (not part of the recipe). */
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    const prefix = url.searchParams.get("prefix") ?? "",
      from = Number(url.searchParams.get("from")),
      count = Number(url.searchParams.get("count"));
    const uploader = new S3Client({ ...clientOptions(env), maxAttempts: 5 });
    await uploader.createBucket({ bucket: env.S3_BUCKET }).catch(() => {}); // exists after the first call
    const keys = Array.from({ length: count }, (_, i) => `${FOLDER}${prefix}${String(from + i).padStart(5, "0")}.txt`);
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < keys.length) {
          const key = keys[next++];
          await uploader.putObject({ bucket: env.S3_BUCKET, key, body: key });
        }
      }),
    );
    return Response.json(keys);
  },
};
