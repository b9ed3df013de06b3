// s3-edge public entry. Edge-safe: Web-standard APIs only, no node: imports.
// Node-only helpers (download to a file, the CLI) live in "s3-edge/node".
export { SigV4Signer } from "./sigv4.ts";
export type { Credentials, SignerOptions, SignableRequest, SignOptions, SignedRequest } from "./sigv4.ts";
export { S3Client } from "./client.ts";
export type {
  S3ClientOptions,
  S3Object,
  ListObjectsV2Params,
  ListObjectsV2Result,
  ObjectMetadata,
  GetObjectResult,
  GetObjectParams,
  ObjectParams,
  PutObjectParams,
  RequestOptions,
  SseCustomerKey,
} from "./client.ts";
export { InputError, S3Error, NetworkError, TimeoutError, DownloadError } from "./errors.ts";
export { XmlError } from "./xml.ts";
export { newFileTrigger } from "./trigger.ts";
export type { FileEvent, TriggerState, TriggerOptions, WatchOptions, PollResult } from "./trigger.ts";
export { downloadFile } from "./download.ts";
export type { DownloadOptions, Download } from "./download.ts";
export { parseS3Events, parseS3Notification } from "./events.ts";
export type { RemovedObject, S3Notification } from "./events.ts";
export { sqsS3Events, SqsError } from "./sqs.ts";
export type { SqsS3EventsOptions, SqsBatch, SkippedMessage } from "./sqs.ts";
