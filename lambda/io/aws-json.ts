// A lean client for AWS's JSON protocol (DynamoDB's 1.0, Secrets Manager's 1.1): one SigV4-signed POST to `/` per
// operation over the project's HTTP transport (lambda/io/http.ts: keep-alive, one timer, capped reply), instead of
// an AWS SDK client. The SDK's clients cost tens of milliseconds to load and to make their first call at cold start
// (lambda/io/dynamo-client.ts, lambda/io/token.ts have the figures); the JSON protocol needs none of their machinery.
//
// Signing: node:crypto HMAC-SHA256, hand-written (~30 lines), rather than @smithy/signature-v4: bench/sigv4-choice.ts
// measured the DynamoDB client (with http.ts) at 6 KB minified against 158 KB for the library with @aws-crypto/sha256-js,
// and 8 us of CPU per signature against 33 us (library on node:crypto's hash) or 58 us (on sha256-js); nothing here
// needs its features (presigning, query strings, chunked bodies). test/integration/dynamo-client.test.ts and
// test/integration/aws-json-secrets.test.ts have a server accept each request only if @smithy/signature-v4 computes
// the same signature for it. Over 200 lines: the signing, the retries within the deadline and the error mapping
// that both services share, kept whole so that no service repeats them.
import { createHash, createHmac } from 'node:crypto';
import { HttpError, httpPost, type HttpPost } from './http';
import { BridgeError } from '../errors';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** What a caller (or a test) may set; every other setting comes from the Lambda environment. */
export interface AwsJsonOptions {
  /** Default: the service's AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, then https://<service>.<region>.amazonaws.com. */
  endpoint?: string;
  /** Default: AWS_REGION, AWS_DEFAULT_REGION. */
  region?: string;
  /** Default: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (what Lambda puts in the environment), read at each call. */
  credentials?: AwsCredentials;
  /** Attempts per call, the first included (the SDK's default, 3); retries only while the caller's signal allows. */
  maxAttempts?: number;
  /** Each attempt's own limit, connect to last byte. */
  attemptTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  post?: HttpPost;
  /** Jitter source for the backoff, [0, 1). */
  random?: () => number;
  now?: () => Date;
}

/** One service's protocol facts. */
export interface AwsJsonService {
  /** How messages name it, e.g. `DynamoDB`. */
  label: string;
  /** SigV4 signing name, also the endpoint's first label: `dynamodb`, `secretsmanager`. */
  signingName: string;
  /** The service-specific endpoint variable, e.g. AWS_ENDPOINT_URL_DYNAMODB. */
  endpointEnv: string;
  /** X-Amz-Target is `<targetPrefix>.<operation>`. */
  targetPrefix: string;
  jsonVersion: '1.0' | '1.1';
  /** The error a non-2xx reply becomes: `name` is the service's exception name. */
  error: (name: string, message: string, status: number, body: Record<string, unknown>) => AwsError;
  /** Full jitter over this x 2^attempt, capped at 1 s. */
  backoffBaseMs: number;
  attemptTimeoutMs: number;
}

/** An AWS error reply: `name` is the service's exception name. */
export class AwsError extends BridgeError {
  constructor(
    name: string,
    message: string,
    readonly status: number,
    readonly retryable: boolean,
    code = 'aws_error',
  ) {
    super(code, message);
    this.name = name;
  }
}

export interface AwsJsonClient {
  // biome-ignore lint/suspicious/noExplicitAny: AWS JSON is untyped; callers name the shape they read
  send<T = Record<string, any>>(operation: string, input: object, signal?: AbortSignal): Promise<T>;
}

const sha256hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const hmac = (key: Buffer | string, s: string) => createHmac('sha256', key).update(s, 'utf8').digest();

export interface SignInput {
  host: string;
  region: string;
  target: string;
  body: string;
  credentials: AwsCredentials;
  date: Date;
  keys?: Map<string, Buffer>;
}

/** SigV4 headers for one POST to `/` with no query string (all the JSON protocol needs). */
export function signAwsJsonPost(o: SignInput & { signingName: string; jsonVersion: '1.0' | '1.1' }): Record<string, string> {
  const amzDate = o.date.toISOString().replace(/[:-]|\.\d{3}/g, '');
  const day = amzDate.slice(0, 8);
  const headers: Record<string, string> = {
    'content-type': `application/x-amz-json-${o.jsonVersion}`,
    host: o.host,
    'x-amz-date': amzDate,
    ...(o.credentials.sessionToken ? { 'x-amz-security-token': o.credentials.sessionToken } : {}),
    'x-amz-target': o.target,
  };
  const names = Object.keys(headers); // already lower-case and sorted
  const canonical = ['POST', '/', '', ...names.map((n) => `${n}:${headers[n]}`), '', names.join(';'), sha256hex(o.body)].join('\n');
  const scope = `${day}/${o.region}/${o.signingName}/aws4_request`;
  const toSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${sha256hex(canonical)}`;
  // The signing key changes once a day per secret: derived once, not four HMACs per request.
  const cacheKey = `${o.credentials.secretAccessKey}\n${scope}`;
  let key = o.keys?.get(cacheKey);
  if (!key) {
    key = hmac(hmac(hmac(hmac(`AWS4${o.credentials.secretAccessKey}`, day), o.region), o.signingName), 'aws4_request');
    o.keys?.clear();
    o.keys?.set(cacheKey, key);
  }
  const signature = createHmac('sha256', key).update(toSign, 'utf8').digest('hex');
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${o.credentials.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`;
  return headers;
}

function abortError(label: string, signal: AbortSignal): Error {
  const reason = signal.reason as unknown;
  const err = new Error(`${label} call aborted${reason instanceof Error ? `: ${reason.message}` : ''}`);
  err.name = 'AbortError';
  return err;
}

/** Resolves after ms, or rejects when the signal ends first (no retry outlives the caller's deadline). */
const pause = (label: string, ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(label, signal));
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError(label, signal!));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** The environment's credentials, or undefined when it has none (outside Lambda: a profile, SSO, a container role). */
export function envCredentials(env: NodeJS.ProcessEnv): AwsCredentials | undefined {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) return undefined;
  return { accessKeyId, secretAccessKey, sessionToken: env.AWS_SESSION_TOKEN || undefined };
}

export function createAwsJsonClient(service: AwsJsonService, o: AwsJsonOptions = {}): AwsJsonClient {
  const { label } = service;
  const env = o.env ?? process.env;
  const region = o.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (!region) throw new Error(`${label} client: no region (set AWS_REGION)`);
  const dns = region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
  const url = new URL(o.endpoint ?? env[service.endpointEnv] ?? env.AWS_ENDPOINT_URL ?? `https://${service.signingName}.${region}.${dns}`);
  const host = url.host; // with the port when it is not the scheme's default, as the server sees it
  const target = url.origin + (url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`);
  const post = o.post ?? httpPost;
  const maxAttempts = Math.max(1, o.maxAttempts ?? 3);
  const attemptTimeoutMs = o.attemptTimeoutMs ?? service.attemptTimeoutMs;
  const random = o.random ?? Math.random;
  const now = o.now ?? (() => new Date());
  const keys = new Map<string, Buffer>();
  const sign = { host, region, signingName: service.signingName, jsonVersion: service.jsonVersion, keys };
  const credentials = (): AwsCredentials => {
    const c = o.credentials ?? envCredentials(env);
    if (!c) throw new Error(`${label} client: no credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)`);
    return c;
  };

  return {
    async send(operation, input, signal) {
      const body = JSON.stringify(input);
      for (let attempt = 1; ; attempt++) {
        if (signal?.aborted) throw abortError(label, signal);
        const headers = signAwsJsonPost({ ...sign, target: `${service.targetPrefix}.${operation}`, body, credentials: credentials(), date: now() });
        let retryable: boolean;
        let failure: Error;
        try {
          const reply = await post(target, headers, body, attemptTimeoutMs, signal);
          // biome-ignore lint/suspicious/noExplicitAny: AWS JSON is untyped; callers name the shape they read
          let parsed: Record<string, any>;
          try {
            parsed = reply.text ? (JSON.parse(reply.text) as Record<string, unknown>) : {};
          } catch {
            parsed = {};
            if (reply.status < 300) throw service.error('InvalidResponse', `${label} ${operation}: HTTP ${reply.status} with a body that is not JSON`, reply.status, {});
          }
          // biome-ignore lint/suspicious/noExplicitAny: AWS JSON is untyped; callers name the shape they read
          if (reply.status < 300) return parsed as any;
          const type = typeof parsed.__type === 'string' ? parsed.__type : `HTTP${reply.status}`;
          const name = type.slice(type.lastIndexOf('#') + 1);
          const message = String(parsed.message ?? parsed.Message ?? `HTTP ${reply.status}`);
          const error = service.error(name, message, reply.status, parsed);
          failure = error;
          retryable = error.retryable;
        } catch (err) {
          if (signal?.aborted) throw abortError(label, signal);
          if (err instanceof AwsError) throw err;
          if (!(err instanceof HttpError)) throw err;
          // The SDK retries transport faults too; each caller's operations are conditional or reads, so a repeat cannot apply twice.
          failure = err;
          retryable = err.code !== 'reply_too_large';
        }
        if (!retryable || attempt >= maxAttempts) throw failure;
        await pause(label, Math.floor(random() * Math.min(1000, service.backoffBaseMs * 2 ** attempt)), signal);
      }
    },
  };
}
