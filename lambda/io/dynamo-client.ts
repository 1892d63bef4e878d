// A lean DynamoDB client: one SigV4-signed JSON POST per operation over the project's HTTP transport
// (lambda/io/http.ts: keep-alive, one timer, capped reply), instead of @aws-sdk/client-dynamodb. The SDK client
// cost ~1,600 us of CPU per record for the store's two writes and 55-65 ms of parsing at cold start;
// DynamoDB's JSON protocol needs none of its machinery. The input and output are the SDK's shapes (AttributeValue
// maps), so call sites change mechanically: `send('PutItem', input, signal)` for `client.send(new PutItemCommand(input))`.
//
// Signing: node:crypto HMAC-SHA256, hand-written (~30 lines), rather than @smithy/signature-v4: bench/sigv4-choice.ts
// measured this whole client (with http.ts) at 6 KB minified against 158 KB for the library with @aws-crypto/sha256-js,
// and 8 us of CPU per signature against 33 us (library on node:crypto's hash) or 58 us (on sha256-js); the store needs
// none of its features (presigning, query strings, chunked bodies). test/integration/dynamo-client.test.ts has a
// server accept each request only if @smithy/signature-v4 computes the same signature for it.
import { createHash, createHmac } from 'node:crypto';
import { HttpError, httpPost, type HttpPost } from './http';
import { BridgeError } from '../errors';

export type DynamoOperation =
  | 'PutItem'
  | 'GetItem'
  | 'UpdateItem'
  | 'DeleteItem'
  | 'Query'
  | 'BatchGetItem'
  | 'BatchWriteItem'
  | 'TransactWriteItems'
  | 'TransactGetItems'
  | 'CreateTable'
  | 'DescribeTable';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface DynamoClientOptions {
  /** Default: AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL, then https://dynamodb.<region>.amazonaws.com. */
  endpoint?: string;
  /** Default: AWS_REGION, AWS_DEFAULT_REGION. */
  region?: string;
  /** Default: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (what Lambda puts in the environment), read at each call. */
  credentials?: AwsCredentials;
  /** Attempts per call, the first included (the SDK's default, 3); retries only while the caller's signal allows. */
  maxAttempts?: number;
  /** Each attempt's own limit (the SDK's requestTimeout here was 3 s). */
  attemptTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  post?: HttpPost;
  /** Jitter source for the backoff, [0, 1). */
  random?: () => number;
  now?: () => Date;
}

/** A DynamoDB error reply: `name` is DynamoDB's exception name; the reply's other fields (Item, CancellationReasons) are kept. */
export class DynamoError extends BridgeError {
  readonly status: number;
  readonly retryable: boolean;
  readonly Item?: Record<string, unknown>;
  readonly CancellationReasons?: unknown[];
  constructor(name: string, message: string, status: number, body: Record<string, unknown>) {
    super('dynamodb_error', message);
    this.name = name;
    this.status = status;
    this.retryable = status >= 500 || RETRYABLE.has(name);
    if (body.Item) this.Item = body.Item as Record<string, unknown>;
    if (body.CancellationReasons) this.CancellationReasons = body.CancellationReasons as unknown[];
  }
}

const RETRYABLE = new Set(['ThrottlingException', 'ProvisionedThroughputExceededException', 'RequestLimitExceeded', 'InternalServerError', 'ServiceUnavailable', 'LimitExceededException', 'TransactionInProgressException']);

export interface DynamoClient {
  // biome-ignore lint/suspicious/noExplicitAny: DynamoDB JSON is untyped; callers name the shape they read
  send<T = Record<string, any>>(operation: DynamoOperation, input: object, signal?: AbortSignal): Promise<T>;
}

const sha256hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const hmac = (key: Buffer | string, s: string) => createHmac('sha256', key).update(s, 'utf8').digest();

/** SigV4 headers for one POST to `/` with no query string (all DynamoDB's JSON protocol needs). */
export function signDynamoPost(o: { host: string; region: string; target: string; body: string; credentials: AwsCredentials; date: Date; keys?: Map<string, Buffer> }): Record<string, string> {
  const amzDate = o.date.toISOString().replace(/[:-]|\.\d{3}/g, '');
  const day = amzDate.slice(0, 8);
  const headers: Record<string, string> = {
    'content-type': 'application/x-amz-json-1.0',
    host: o.host,
    'x-amz-date': amzDate,
    ...(o.credentials.sessionToken ? { 'x-amz-security-token': o.credentials.sessionToken } : {}),
    'x-amz-target': o.target,
  };
  const names = Object.keys(headers); // already lower-case and sorted
  const canonical = ['POST', '/', '', ...names.map((n) => `${n}:${headers[n]}`), '', names.join(';'), sha256hex(o.body)].join('\n');
  const scope = `${day}/${o.region}/dynamodb/aws4_request`;
  const toSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${sha256hex(canonical)}`;
  // The signing key changes once a day per secret: derived once, not four HMACs per request.
  const cacheKey = `${o.credentials.secretAccessKey}\n${scope}`;
  let key = o.keys?.get(cacheKey);
  if (!key) {
    key = hmac(hmac(hmac(hmac(`AWS4${o.credentials.secretAccessKey}`, day), o.region), 'dynamodb'), 'aws4_request');
    o.keys?.clear();
    o.keys?.set(cacheKey, key);
  }
  const signature = createHmac('sha256', key).update(toSign, 'utf8').digest('hex');
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${o.credentials.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`;
  return headers;
}

function abortError(signal: AbortSignal): Error {
  const reason = signal.reason as unknown;
  const err = new Error(`DynamoDB call aborted${reason instanceof Error ? `: ${reason.message}` : ''}`);
  err.name = 'AbortError';
  return err;
}

/** Resolves after ms, or rejects when the signal ends first (no retry outlives the caller's deadline). */
const pause = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError(signal!));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export function createDynamoClient(o: DynamoClientOptions = {}): DynamoClient {
  const env = o.env ?? process.env;
  const region = o.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (!region) throw new Error('DynamoDB client: no region (set AWS_REGION)');
  const url = new URL(o.endpoint ?? env.AWS_ENDPOINT_URL_DYNAMODB ?? env.AWS_ENDPOINT_URL ?? `https://dynamodb.${region}.amazonaws.com`);
  const host = url.host; // with the port when it is not the scheme's default, as the server sees it
  const target = url.origin + (url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`);
  const post = o.post ?? httpPost;
  const maxAttempts = Math.max(1, o.maxAttempts ?? 3);
  const attemptTimeoutMs = o.attemptTimeoutMs ?? 3000;
  const random = o.random ?? Math.random;
  const now = o.now ?? (() => new Date());
  const keys = new Map<string, Buffer>();
  const credentials = (): AwsCredentials => {
    if (o.credentials) return o.credentials;
    const accessKeyId = env.AWS_ACCESS_KEY_ID;
    const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
    if (!accessKeyId || !secretAccessKey) throw new Error('DynamoDB client: no credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)');
    return { accessKeyId, secretAccessKey, sessionToken: env.AWS_SESSION_TOKEN || undefined };
  };

  return {
    async send(operation, input, signal) {
      const body = JSON.stringify(input);
      for (let attempt = 1; ; attempt++) {
        if (signal?.aborted) throw abortError(signal);
        const headers = signDynamoPost({ host, region, target: `DynamoDB_20120810.${operation}`, body, credentials: credentials(), date: now(), keys });
        let retryable: boolean;
        let failure: Error;
        try {
          const reply = await post(target, headers, body, attemptTimeoutMs, signal);
          // biome-ignore lint/suspicious/noExplicitAny: DynamoDB JSON is untyped; callers name the shape they read
          let parsed: Record<string, any>;
          try {
            parsed = reply.text ? (JSON.parse(reply.text) as Record<string, unknown>) : {};
          } catch {
            parsed = {};
            if (reply.status < 300) throw new DynamoError('InvalidResponse', `DynamoDB ${operation}: HTTP ${reply.status} with a body that is not JSON`, reply.status, {});
          }
          // biome-ignore lint/suspicious/noExplicitAny: DynamoDB JSON is untyped; callers name the shape they read
          if (reply.status < 300) return parsed as any;
          const type = typeof parsed.__type === 'string' ? parsed.__type : `HTTP${reply.status}`;
          const name = type.slice(type.lastIndexOf('#') + 1);
          const message = String(parsed.message ?? parsed.Message ?? `HTTP ${reply.status}`);
          failure = new DynamoError(name, message, reply.status, parsed);
          retryable = (failure as DynamoError).retryable;
        } catch (err) {
          if (signal?.aborted) throw abortError(signal);
          if (err instanceof DynamoError) throw err;
          if (!(err instanceof HttpError)) throw err;
          // The SDK retries transport faults too: every store operation is conditional, so a repeat cannot apply twice.
          failure = err;
          retryable = err.code !== 'reply_too_large';
        }
        if (!retryable || attempt >= maxAttempts) throw failure;
        // Full jitter over 25 ms x 2^attempt (the SDK's base for DynamoDB), capped at 1 s.
        await pause(Math.floor(random() * Math.min(1000, 25 * 2 ** attempt)), signal);
      }
    },
  };
}
