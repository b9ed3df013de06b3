// Real bucket notifications for the tests and the events benchmark: Ceph RGW pushes each change of
// a bucket to an HTTP endpoint. Set up as a user would with awscli: a topic made through RGW's
// SNS-compatible API (POST / Action=CreateTopic, signed for service "sns", push-endpoint attribute),
// then PUT /<bucket>?notification with a TopicConfiguration. The receiver here is a local HTTP
// server that keeps every pushed body (or drops the ones the test says, to lose a notification).
import { createServer, type Server } from "node:http";
import { SigV4Signer, type Credentials } from "../../src/sigv4.ts";
import { parseXml, childText } from "../../src/xml.ts";

export interface PushReceiver {
  url: string;
  /** Bodies received and kept, in arrival order. */
  bodies: string[];
  /** Arrival time (performance.now()) of each kept body. */
  arrivals: number[];
  /** Called with the 0-based index of every POST that arrives; true drops that body (answered 200, not kept). */
  drop?: (index: number) => boolean;
  /** Resolves once `count` bodies are kept; rejects after timeoutMs. */
  waitFor(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function pushReceiver(): Promise<PushReceiver> {
  let received = 0;
  const waiters = new Set<() => void>();
  const receiver: PushReceiver = {
    url: "",
    bodies: [],
    arrivals: [],
    waitFor: (count, timeoutMs = 20_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (receiver.bodies.length < count) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`RGW pushed ${receiver.bodies.length} of ${count} notifications within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const index = received++;
      if (!receiver.drop?.(index)) {
        receiver.arrivals.push(performance.now());
        receiver.bodies.push(Buffer.concat(chunks).toString("utf8"));
      }
      response.end();
      for (const waiter of [...waiters]) waiter();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address() as { port: number };
  receiver.url = `http://127.0.0.1:${address.port}`;
  return receiver;
}

export interface RgwNotificationsOptions {
  endpoint: string;
  region: string;
  credentials: Credentials;
}

/** Topics and bucket notification configurations on an RGW, through its SNS-compatible API. */
export function rgwNotifications({ endpoint, region, credentials }: RgwNotificationsOptions) {
  const sns = new SigV4Signer({ ...credentials, region, service: "sns" });
  const s3 = new SigV4Signer({ ...credentials, region, service: "s3" });

  async function send(
    signer: SigV4Signer,
    method: string,
    url: string,
    body: string,
    headers: Record<string, string> = {},
  ) {
    const signed = await signer.sign({ method, url, headers, body });
    const { host, ...sent } = signed.headers;
    const response = await fetch(url, { method, headers: sent, body });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${url}: HTTP ${response.status} ${text.slice(0, 300)}`);
    return text;
  }
  const snsAction = (parameters: Record<string, string>) =>
    send(sns, "POST", endpoint + "/", new URLSearchParams(parameters).toString(), {
      "content-type": "application/x-www-form-urlencoded",
    });

  return {
    /** A topic that pushes to `pushEndpoint`; returns its ARN (arn:aws:sns:<zonegroup>::<name>). */
    async createTopic(name: string, pushEndpoint: string): Promise<string> {
      const xml = await snsAction({
        Action: "CreateTopic",
        Name: name,
        "Attributes.entry.1.key": "push-endpoint",
        "Attributes.entry.1.value": pushEndpoint,
      });
      const arn = childText(
        parseXml(xml).children.find((child) => child.name == "CreateTopicResult")!,
        "TopicArn",
      );
      if (!arn) throw new Error(`CreateTopic answered no TopicArn: ${xml.slice(0, 300)}`);
      return arn;
    },
    deleteTopic: (arn: string) => snsAction({ Action: "DeleteTopic", TopicArn: arn }),
    /** Every `events` change of `bucket` (default: object creations) goes to the topic. */
    notifyTopic(bucket: string, topicArn: string, events = ["s3:ObjectCreated:*"]) {
      const xml =
        `<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TopicConfiguration>` +
        `<Id>s3-edge-test</Id><Topic>${topicArn}</Topic>${events.map((event) => `<Event>${event}</Event>`).join("")}` +
        `</TopicConfiguration></NotificationConfiguration>`;
      return send(s3, "PUT", `${endpoint}/${bucket}?notification`, xml);
    },
  };
}
