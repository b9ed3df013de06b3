// S3 event notifications -> FileEvents. One parser for every shape a bucket's notifications arrive
// in: AWS S3's own message (direct, inside an SNS envelope, an SQS body, Lambda's SQS/SNS events),
// EventBridge "Object Created" events, Cloudflare R2 queue messages, MinIO and Ceph RGW webhook
// bodies. The events are the trigger's FileEvents, so trigger.accept() dedups them against the
// polling state and downloadFile fetches them unchanged. Web-standard only; an app that does not
// import this module does not bundle it.
import { InputError } from "./errors.ts";
import type { FileEvent } from "./trigger.ts";

/** An object a notification reports as removed (a delete, a delete marker, a lifecycle expiration). */
export interface RemovedObject {
  bucket: string;
  key: string;
  versionId?: string;
  eventName: string;
  eventTime: Date;
  sequencer?: string;
}

/** What one notification message carries: new or overwritten objects, and removed ones. */
export interface S3Notification {
  created: FileEvent[];
  removed: RemovedObject[];
}

type JsonObject = Record<string, any>;
type Change = { bucket: unknown; key: string; eventName: string; eventTime: unknown; object: JsonObject };

// The deepest real nesting is Lambda's SQS event -> an SQS body -> an SNS envelope -> S3's message;
// anything deeper is not a notification (and must not recurse without bound).
const MAX_ENVELOPES = 4;
const PREVIEW_CHARS = 80;

const isObject = (value: unknown): value is JsonObject => typeof value == "object" && value !== null;
const preview = (value: unknown) => (JSON.stringify(value) ?? String(value)).slice(0, PREVIEW_CHARS);
const fail = (what: string): never => {
  throw new InputError(`parseS3Events: ${what}`, "message");
};

/**
 * The new files a notification message reports (TestEvents, removals and other event types are
 * skipped). `message` is the raw string (an SQS body, a webhook's request body, ...) or its parsed
 * JSON. Throws InputError saying what was expected when the message is not a notification.
 */
export function parseS3Events(message: string | object): FileEvent[] {
  return parseS3Notification(message).created;
}

/** Like parseS3Events, with the removals too. */
export function parseS3Notification(message: string | object): S3Notification {
  const out: S3Notification = { created: [], removed: [] };
  collect(message, out, 0);
  return out;
}

function collect(message: unknown, out: S3Notification, depth: number): void {
  if (depth > MAX_ENVELOPES) fail(`envelopes nested more than ${MAX_ENVELOPES} deep: not a notification`);
  if (typeof message == "string") {
    try {
      message = JSON.parse(message);
    } catch (error) {
      fail(`expected JSON, got ${preview(message)} (${(error as Error).message})`);
    }
  }
  if (Array.isArray(message)) {
    for (const item of message) collect(item, out, depth + 1);
    return;
  }
  if (!isObject(message)) return fail(`expected a JSON object, got ${preview(message)}`);
  if (Array.isArray(message.Records)) {
    // AWS, MinIO and Ceph RGW messages, and Lambda's SQS and SNS events (whose records wrap one).
    message.Records.forEach((record: unknown, index: number) => fromRecord(record, index, out, depth));
    return;
  }
  // S3 sends this once when a notification is configured: it announces no object.
  if (message.Event == "s3:TestEvent") return;
  // An SNS envelope (an HTTP subscription, or an SQS queue without raw message delivery).
  if (message.Type == "Notification" && typeof message.Message == "string")
    return collect(message.Message, out, depth + 1);
  if (message.Type == "SubscriptionConfirmation")
    fail(
      "got an SNS SubscriptionConfirmation, not a notification: confirm the subscription by GETting its SubscribeURL",
    );
  // An SQS message as ReceiveMessage returns it.
  if (typeof message.Body == "string" && "ReceiptHandle" in message) return collect(message.Body, out, depth + 1);
  if (message.source == "aws.s3" && isObject(message.detail)) return fromEventBridge(message, out);
  if (typeof message.action == "string" && isObject(message.object)) return fromR2(message, out);
  fail(
    "expected an S3 event notification (a Records[] message from AWS, MinIO or Ceph, an SNS envelope, an SQS " +
      `message, an EventBridge "aws.s3" event or an R2 queue message), got ${preview(message)}`,
  );
}

/** One record of a Records[] message. */
function fromRecord(record: unknown, index: number, out: S3Notification, depth: number): void {
  const where = `Records[${index}]`;
  if (!isObject(record)) return fail(`${where}: expected an object, got ${preview(record)}`);
  // Lambda's event for an SQS queue: each record holds a message body; for an SNS topic, an envelope.
  if (record.eventSource == "aws:sqs") return collect(record.body, out, depth + 1);
  if (record.EventSource == "aws:sns") return collect(record.Sns?.Message, out, depth + 1);
  const { s3, eventSource } = record;
  if (!isObject(s3) || !isObject(s3.object))
    return fail(`${where}: expected an S3 record with s3.object, got ${preview(record)}`);
  if (typeof record.eventName != "string")
    fail(`${where}: eventName must be a string, got ${preview(record.eventName)}`);
  // MinIO writes the "s3:" prefix that AWS and Ceph leave out.
  const eventName = record.eventName.startsWith("s3:") ? record.eventName.slice(3) : record.eventName;
  const rawKey = s3.object.key;
  if (typeof rawKey != "string" || !rawKey)
    fail(`${where}: s3.object.key must be a non-empty string, got ${preview(rawKey)}`);
  // AWS documents the key as form-URL-encoded ("red flower.jpg" arrives as "red+flower.jpg"), and
  // MinIO sends Go's url.QueryEscape of it; Ceph RGW sends the key raw (measured on RGW 16: "dir/a b+c.txt"
  // arrived as is). Decode by source, exactly once: "%2520" in a raw Ceph key stays "%2520".
  const key = eventSource == "ceph:s3" ? rawKey : decodeFormKey(rawKey, where);
  const change = { bucket: s3.bucket?.name, key, eventName, eventTime: record.eventTime, object: s3.object };
  if (eventName.startsWith("ObjectCreated:")) {
    // Ceph documents an ObjectCreated:Post for Initiate Multipart Upload (RGW 16 sent none here): no
    // object exists yet, and no ETag says so. Its CompleteMultipartUpload event is the new file.
    if (s3.object.eTag !== "") out.created.push(created(change, where, "eTag"));
  } else if (eventName.startsWith("ObjectRemoved:") || eventName.startsWith("LifecycleExpiration:Delete"))
    out.removed.push(removed(change, where));
  // Anything else (restores, tagging, ACLs, replication, transitions, MinIO's ObjectAccessed) is no new file.
}

/**
 * An EventBridge event from S3. Its key is NOT URL-encoded, unlike the notification's: AWS's
 * examples show a raw key, and users who tested both sources report that only the notification
 * key needs decoding (aws-solutions-library-samples/guidance-for-medialake-on-aws#21: "test+b.png").
 */
function fromEventBridge(message: JsonObject, out: S3Notification): void {
  const detail = message.detail,
    type = message["detail-type"],
    object = detail.object;
  if (type != "Object Created" && type != "Object Deleted") return;
  if (!isObject(object) || typeof object.key != "string" || !object.key)
    return fail(`EventBridge event: detail.object.key must be a non-empty string, got ${preview(object)}`);
  const change = { bucket: detail.bucket?.name, key: object.key, eventName: type, eventTime: message.time, object };
  if (type == "Object Created") out.created.push(created(change, "EventBridge event", "etag", "version-id"));
  else out.removed.push(removed(change, "EventBridge event", "version-id"));
}

// R2's actions (developers.cloudflare.com/r2/buckets/event-notifications/): object-create and object-delete.
const R2_CREATED = ["PutObject", "CopyObject", "CompleteMultipartUpload"];
const R2_REMOVED = ["DeleteObject", "LifecycleDeletion"];

/** A Cloudflare R2 event notification (a queue message's body). The key is raw, as R2's Workers API uses it. */
function fromR2(message: JsonObject, out: S3Notification): void {
  const { action, object } = message,
    where = "R2 message";
  if (typeof object.key != "string" || !object.key)
    return fail(`${where}: object.key must be a non-empty string, got ${preview(object)}`);
  const change = { bucket: message.bucket, key: object.key, eventName: action, eventTime: message.eventTime, object };
  if (R2_CREATED.includes(action)) out.created.push(created(change, where, "eTag"));
  else if (R2_REMOVED.includes(action)) out.removed.push(removed(change, where));
}

function created(change: Change, where: string, etagField: string, versionField = "versionId"): FileEvent {
  const { key, object } = change,
    etag = object[etagField];
  if (typeof etag != "string") fail(`${where}: the object's ${etagField} must be a string, got ${preview(etag)}`);
  const { bucket, eventName, eventTime, sequencer, versionId } = common(change, where, versionField);
  // Built field by field: an object spread here cost 20x the rest of the parse (measured, V8 12).
  const event: FileEvent = {
    bucket,
    key,
    name: key.slice(key.lastIndexOf("/") + 1),
    size: sizeOf(object.size, where),
    // Some servers quote the ETag as in HTTP headers; FileEvents carry it unquoted, as listings do.
    etag: etag.length > 1 && etag[0] == '"' && etag.endsWith('"') ? etag.slice(1, -1) : etag,
    lastModified: eventTime,
    eventName,
    eventTime,
  };
  if (sequencer) event.sequencer = sequencer;
  if (versionId) event.versionId = versionId;
  return event;
}

function removed(change: Change, where: string, versionField = "versionId"): RemovedObject {
  const { bucket, eventName, eventTime, sequencer, versionId } = common(change, where, versionField);
  const object: RemovedObject = { bucket, key: change.key, eventName, eventTime };
  if (sequencer) object.sequencer = sequencer;
  if (versionId) object.versionId = versionId;
  return object;
}

function common(change: Change, where: string, versionField: string) {
  const { bucket, object, eventName } = change;
  if (typeof bucket != "string" || !bucket)
    fail(`${where}: the bucket name must be a non-empty string, got ${preview(bucket)}`);
  // Optional fields: an empty string (Ceph's versionId on an unversioned bucket) means absent.
  const fields: { bucket: string; eventName: string; eventTime: Date; sequencer?: string; versionId?: string } = {
    bucket: bucket as string,
    eventName,
    eventTime: timeOf(change.eventTime, where),
  };
  if (typeof object.sequencer == "string" && object.sequencer) fields.sequencer = object.sequencer;
  if (typeof object[versionField] == "string" && object[versionField]) fields.versionId = object[versionField];
  return fields;
}

/** Sizes come as numbers (AWS, MinIO, EventBridge, R2) or decimal strings (Ceph's documented example). */
function sizeOf(value: unknown, where: string): number {
  const size = typeof value == "string" && /^\d+$/.test(value) ? +value : value;
  if (typeof size != "number" || !Number.isSafeInteger(size) || size < 0)
    fail(`${where}: the object size must be a byte count, got ${preview(value)}`);
  return size as number;
}

const ZERO = 0x30; // '0'
/** The number written in value[from, to), NaN unless all decimal digits. */
function digitsAt(value: string, from: number, to: number): number {
  let number = 0;
  for (let index = from; index < to; index++) {
    const digit = value.charCodeAt(index) - ZERO;
    if (digit < 0 || digit > 9) return NaN;
    number = number * 10 + digit;
  }
  return number;
}

/**
 * ISO-8601 event times. Date's parser cost as much as all the rest of a record (measured on a
 * 10-record message) and only promises to read milliseconds, so the plain UTC forms are read by
 * hand: "2024-05-01T10:00:00.000Z" (AWS, R2), "...00Z" (EventBridge, MinIO), "...35.124724Z"
 * (Ceph, microseconds). Any other form or value goes to Date.
 */
function timeOf(value: unknown, where: string): Date {
  const time =
    typeof value == "string" ? (plainUtcTime(value) ?? new Date(value.replace(/(\.\d{3})\d+/, "$1"))) : undefined;
  if (!time || Number.isNaN(+time))
    fail(`${where}: the event time must be an ISO-8601 date-time, got ${preview(value)}`);
  return time!;
}

/** "YYYY-MM-DDTHH:MM:SS[.fraction]Z" with days up to 28 (so no month overflows), else undefined. */
function plainUtcTime(value: string): Date | undefined {
  const last = value.length - 1,
    fractionDigits = last > 20 && value[19] == "." ? last - 20 : 0;
  if (value[last] != "Z" || (last != 19 && !fractionDigits)) return undefined;
  if (value[4] != "-" || value[7] != "-" || value[10] != "T" || value[13] != ":" || value[16] != ":") return undefined;
  const month = digitsAt(value, 5, 7),
    day = digitsAt(value, 8, 10);
  const hour = digitsAt(value, 11, 13),
    minute = digitsAt(value, 14, 16),
    second = digitsAt(value, 17, 19);
  const valid = month >= 1 && month <= 12 && day >= 1 && day <= 28 && hour < 24 && minute < 60 && second < 60;
  if (!valid || !(digitsAt(value, 20, last) >= 0)) return undefined;
  // Milliseconds: the first three fraction digits ("1" is 100 ms, "124724" is 124 ms).
  const millisecondDigits = Math.min(3, fractionDigits);
  const milliseconds = millisecondDigits
    ? digitsAt(value, 20, 20 + millisecondDigits) * 10 ** (3 - millisecondDigits)
    : 0;
  return new Date(Date.UTC(digitsAt(value, 0, 4), month - 1, day, hour, minute, second, milliseconds));
}

/** application/x-www-form-urlencoded: "+" is a space, %XX a UTF-8 byte. */
function decodeFormKey(key: string, where: string): string {
  if (!key.includes("%") && !key.includes("+")) return key;
  try {
    return decodeURIComponent(key.replace(/\+/g, " "));
  } catch {
    return fail(
      `${where}: s3.object.key ${preview(key)} is not URL-encoded as AWS and MinIO encode keys (a bad %-escape)`,
    );
  }
}
