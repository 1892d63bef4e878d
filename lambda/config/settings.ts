// Environment settings, validated once at cold start. Every knob, its default and its meaning is in
// docs/DEPLOYMENT.md's table of function settings; an invalid value fails the cold start with the variable's name.
// Over 200 lines: one schema for every variable, so that every problem is reported in one message at cold start.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import * as z from 'zod/mini';
import { ConfigError } from '../errors';
import { templateOrigin } from '../url-template';
import { DEFAULT_ORDERING, LIMITS, ORDERINGS, REQUEST_TIMEOUT_DEFAULT_SECONDS, RETRY_DELAY_DEFAULT_SECONDS, type Ordering } from './limits';
import { parseRoutesText, RouteConfigError, type Route } from './routes';

const seconds = (def: number) => z._default(z.coerce.number().check(z.positive()), def);
const count = (def: number, min: number, max: number) => z._default(z.coerce.number().check(z.int(), z.minimum(min), z.maximum(max)), def);
const limited = (l: { min: number; max: number; default: number }) => count(l.default, l.min, l.max);
const bool = z._default(z.enum(['true', 'false', '1', '0', 'yes', 'no']), 'false');
const truthy = (v: string) => v === 'true' || v === '1' || v === 'yes';

const envSchema = z.object({
  ROUTES_CONFIG: z.optional(z.string()),
  ROUTES_CONFIG_FILE: z.optional(z.string()),
  ARCHESTRA_URL: z.optional(z.url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL' })),
  ARCHESTRA_TOKEN: z.optional(z.string()),
  ARCHESTRA_TOKEN_SECRET_ARN: z.optional(z.string().check(z.startsWith('arn:', 'must be a Secrets Manager ARN'))),
  TOKEN_CACHE_TTL_SECONDS: seconds(300),
  AUTH_COOLDOWN_SECONDS: z._default(z.coerce.number().check(z.minimum(0)), 60),
  CIRCUIT_BREAKER_FAILURES: count(5, 0, 1000),
  CIRCUIT_BREAKER_COOLDOWN_SECONDS: z._default(z.coerce.number().check(z.minimum(0)), 30),
  DLQ_URL: z.optional(z.url({ error: 'must be the SQS queue URL' })),
  DLQ_MAX_MESSAGE_BYTES: count(256 * 1024, 16 * 1024, 1024 * 1024),
  ORDERING: z._default(z.enum(ORDERINGS), DEFAULT_ORDERING),
  MAX_CONCURRENCY: limited(LIMITS.maxConcurrency),
  MAX_RETRIES: limited(LIMITS.maxRetries),
  RETRY_DELAY: z._default(z.coerce.number().check(z.minimum(0)), RETRY_DELAY_DEFAULT_SECONDS),
  REQUEST_TIMEOUT: seconds(REQUEST_TIMEOUT_DEFAULT_SECONDS),
  SAFETY_MARGIN_SECONDS: z._default(z.coerce.number().check(z.minimum(0)), 2),
  MIN_REQUEST_SECONDS: z._default(z.coerce.number().check(z.minimum(0)), 1),
  LOG_REPLY_CHARS: limited(LIMITS.logReplyChars),
  MAX_TEXT_BYTES: limited(LIMITS.maxTextBytes),
  ALLOW_INSECURE_HTTP: bool,
  IDEMPOTENCY_TABLE: z.optional(z.string().check(z.minLength(3))),
  IDEMPOTENCY_TTL_SECONDS: limited(LIMITS.idempotencyTtlSeconds),
  UNKNOWN_OUTCOME_MARGIN_SECONDS: limited(LIMITS.unknownOutcomeMarginSeconds),
  CONVERSATION_TTL_SECONDS: limited(LIMITS.conversationTtlSeconds),
  REPLY_KAFKA_BROKERS: z.optional(z.string()),
  REPLY_KAFKA_AUTH: z._default(z.enum(['none', 'iam', 'scram-sha-512', 'scram-sha-256']), 'none'),
  REPLY_KAFKA_TLS: z.optional(z.enum(['true', 'false', '1', '0', 'yes', 'no'])),
  REPLY_KAFKA_SECRET_ARN: z.optional(z.string().check(z.startsWith('arn:', 'must be a Secrets Manager ARN'))),
  REPLY_STORE_MAX_BYTES: count(300 * 1024, 1024, 380 * 1024),
  REPLY_DIR: z.optional(z.string()),
});

export interface Settings {
  routes: Route[];
  /** Where routes' schema files are found: the routes file's directory (the working directory for ROUTES_CONFIG). */
  routesDir: string;
  archestraUrl?: string;
  token?: string;
  tokenSecretArn?: string;
  tokenTtlMs: number;
  /** A token value the agent refused is not sent again before this has passed, unless the secret changes. */
  authCooldownMs: number;
  /** Consecutive transient failures of one target that open its circuit (0: never). */
  breakerFailures: number;
  /** How long an open circuit (or a spent budget) keeps a target unsent before one probe. */
  breakerCooldownMs: number;
  dlqUrl?: string;
  dlqMaxMessageBytes: number;
  ordering: Ordering;
  maxConcurrency: number;
  maxRetries: number;
  retryDelayMs: number;
  requestTimeoutMs: number;
  safetyMarginMs: number;
  minRequestMs: number;
  logReplyChars: number;
  maxTextBytes: number;
  allowInsecureHttp: boolean;
  idempotencyTable?: string;
  idempotencyTtlSeconds: number;
  /** After a send with an unknown outcome, the claim is leased for the route's timeout plus this. */
  unknownOutcomeMarginMs: number;
  /** How long a key's conversation (its agent contextId) is kept after its last record (routes with conversation "key"). */
  conversationTtlSeconds: number;
  /** Kafka replies (lambda/io/reply-kafka.ts): brokers default to the event's bootstrap servers. */
  replyKafka: { brokers?: string[]; auth: 'none' | 'iam' | 'scram-sha-512' | 'scram-sha-256'; tls: boolean; secretArn?: string; region?: string };
  replyStoreMaxBytes: number;
  /** Local runs: every reply goes to this folder (one JSON file each) instead of its destination. */
  replyDir?: string;
}

export class SettingsError extends ConfigError {
  constructor(message: string, options?: ErrorOptions) {
    super('settings_invalid', message, options);
    this.name = 'SettingsError';
  }
}

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/i;

/** Plain HTTP would carry the bearer token in clear text; only loopback is exempt, unless explicitly allowed. */
export function checkTransport(url: string, allowInsecure: boolean, what: string): string | undefined {
  const u = new URL(url);
  if (u.protocol === 'http:' && !allowInsecure && !LOOPBACK.test(u.hostname)) {
    return `${what} uses plain http:// to a non-loopback host (${u.hostname}); use https:// or set ALLOW_INSECURE_HTTP=true`;
  }
  return undefined;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Why `token` cannot be sent as a bearer token, or undefined. Node refuses such a header value at request
 * time, which would look like a network fault and be retried forever; it is a configuration error.
 */
/** The value a token secret created by the CDK app starts with (infra/constructs/archestra-token.ts). */
export const TOKEN_PLACEHOLDER_PREFIX = 'REPLACE_ME';

export function tokenProblem(token: string): string | undefined {
  if (token.startsWith(TOKEN_PLACEHOLDER_PREFIX)) return 'still holds the placeholder the stack created it with: put the Archestra token in';
  if (!/^[\x21-\x7e]+$/.test(token)) return 'contains a character not allowed in a bearer token (whitespace, a control character or non-ASCII)';
  return undefined;
}

/** Reads routes from ROUTES_CONFIG or ROUTES_CONFIG_FILE; problems are added to `problems`, the error behind one to `causes`. */
function readRoutes(env: Record<string, string | undefined>, problems: string[], causes: unknown[]): Route[] | undefined {
  try {
    if (env.ROUTES_CONFIG) return parseRoutesText(env.ROUTES_CONFIG, 'ROUTES_CONFIG');
    if (env.ROUTES_CONFIG_FILE) {
      let text: string;
      try {
        text = readFileSync(env.ROUTES_CONFIG_FILE, 'utf8');
      } catch (err) {
        problems.push(`ROUTES_CONFIG_FILE: cannot read ${env.ROUTES_CONFIG_FILE}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        causes.push(err);
        return undefined;
      }
      return parseRoutesText(text, `ROUTES_CONFIG_FILE (${env.ROUTES_CONFIG_FILE})`);
    }
    problems.push('no routes: set ROUTES_CONFIG (JSON text) or ROUTES_CONFIG_FILE (a path)');
  } catch (err) {
    if (!(err instanceof RouteConfigError)) throw err;
    problems.push(err.message);
    causes.push(err);
  }
  return undefined;
}

/** Every problem of the environment and the routes is reported at once, in one SettingsError. */
export function loadSettings(env: Record<string, string | undefined> = process.env): Settings {
  const given = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(given);
  // The value given, not zod's coerced NaN: "MAX_RETRIES: expected number, received NaN (got "abc")". Only a short
  // value is quoted: a long one may be a token pasted into the wrong variable, and errors never quote a token.
  const got = (key: string) => {
    const v = given[key];
    if (typeof v !== 'string' || /TOKEN|SECRET/.test(key)) return '';
    return v.length <= 12 ? ` (got ${JSON.stringify(v)})` : ` (got a value of ${v.length} characters, not shown)`;
  };
  const problems: string[] = parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}${got(String(i.path[0]))}`);
  const causes: unknown[] = [];
  const routes = readRoutes(given, problems, causes);
  if (!parsed.success || !routes) throw new SettingsError(`invalid environment:\n  - ${problems.join('\n  - ')}`, causes.length ? { cause: causes[0] } : undefined);
  const e = { ...parsed.data, ALLOW_INSECURE_HTTP: truthy(parsed.data.ALLOW_INSECURE_HTTP) };
  const needsArchestra = routes.filter((r) => !r.url && !r.urlTemplate).map((r) => r.name);
  if (needsArchestra.length && !e.ARCHESTRA_URL) {
    problems.push(`ARCHESTRA_URL: required by route(s) without their own url: ${needsArchestra.join(', ')}`);
  }
  for (const r of routes) {
    // Archestra answers HTTP 400 for an agent id that is not a UUID: every record of the route would be dead-lettered.
    if (!r.url && !r.urlTemplate && !UUID.test(r.agentId)) problems.push(`route "${r.name}": prompt_id ${JSON.stringify(r.agentId)} is not a UUID (Archestra's agent ids are UUIDs)`);
  }
  if (e.ARCHESTRA_URL) {
    const p = checkTransport(e.ARCHESTRA_URL, e.ALLOW_INSECURE_HTTP, 'ARCHESTRA_URL');
    if (p) problems.push(p);
    const origin = new URL(e.ARCHESTRA_URL).origin;
    const withToken = routes.filter((r) => !r.urlTemplate && (!r.url || new URL(r.url).origin === origin)).map((r) => r.name);
    // A record's headers choose the path of a templated URL: never one that would carry the Archestra token.
    for (const r of routes) {
      if (r.urlTemplate && templateOrigin(r.urlTemplate) === origin) problems.push(`route "${r.name}": url_template is for agents outside Archestra (it may not point at ARCHESTRA_URL's origin)`);
    }
    if (withToken.length && !e.ARCHESTRA_TOKEN && !e.ARCHESTRA_TOKEN_SECRET_ARN) {
      problems.push(`ARCHESTRA_TOKEN_SECRET_ARN (or ARCHESTRA_TOKEN): required by route(s) sent to Archestra: ${withToken.join(', ')}`);
    }
  }
  for (const r of routes) {
    const p =
      (r.url && checkTransport(r.url, e.ALLOW_INSECURE_HTTP, `route "${r.name}" url`)) ||
      (r.urlTemplate && checkTransport(templateOrigin(r.urlTemplate), e.ALLOW_INSECURE_HTTP, `route "${r.name}" url_template`));
    if (p) problems.push(p);
  }
  if (e.ARCHESTRA_TOKEN && e.ARCHESTRA_TOKEN_SECRET_ARN) {
    problems.push('ARCHESTRA_TOKEN and ARCHESTRA_TOKEN_SECRET_ARN are both set: give one');
  }
  if (e.REPLY_KAFKA_AUTH.startsWith('scram') && !e.REPLY_KAFKA_SECRET_ARN) {
    problems.push(`REPLY_KAFKA_AUTH=${e.REPLY_KAFKA_AUTH} needs REPLY_KAFKA_SECRET_ARN (a secret with username and password)`);
  }
  for (const r of routes) {
    // A conversation lives in the idempotency table; without key ordering two records of a key would race for it.
    if (r.conversation && !e.IDEMPOTENCY_TABLE) problems.push(`route "${r.name}": conversation "key" needs IDEMPOTENCY_TABLE (the contextId of each key is kept there)`);
    if (r.conversation && e.ORDERING === 'none') problems.push(`route "${r.name}": conversation "key" needs ORDERING=key or partition (with none, records of one key would race for its conversation)`);
  }
  const tokenIssue = e.ARCHESTRA_TOKEN !== undefined ? tokenProblem(e.ARCHESTRA_TOKEN.trim()) : undefined;
  if (tokenIssue) problems.push(`ARCHESTRA_TOKEN: ${tokenIssue}`);
  if (problems.length) throw new SettingsError(`invalid environment:\n  - ${problems.join('\n  - ')}`);
  const replyBrokers = e.REPLY_KAFKA_BROKERS?.split(',').map((b) => b.trim()).filter(Boolean);
  return {
    routes,
    routesDir: e.ROUTES_CONFIG === undefined && e.ROUTES_CONFIG_FILE !== undefined ? dirname(resolve(e.ROUTES_CONFIG_FILE)) : process.cwd(),
    archestraUrl: e.ARCHESTRA_URL?.replace(/\/+$/, ''),
    token: e.ARCHESTRA_TOKEN?.trim(),
    tokenSecretArn: e.ARCHESTRA_TOKEN_SECRET_ARN,
    tokenTtlMs: e.TOKEN_CACHE_TTL_SECONDS * 1000,
    authCooldownMs: e.AUTH_COOLDOWN_SECONDS * 1000,
    breakerFailures: e.CIRCUIT_BREAKER_FAILURES,
    breakerCooldownMs: e.CIRCUIT_BREAKER_COOLDOWN_SECONDS * 1000,
    dlqUrl: e.DLQ_URL,
    dlqMaxMessageBytes: e.DLQ_MAX_MESSAGE_BYTES,
    ordering: e.ORDERING,
    maxConcurrency: e.MAX_CONCURRENCY,
    maxRetries: e.MAX_RETRIES,
    retryDelayMs: e.RETRY_DELAY * 1000,
    requestTimeoutMs: e.REQUEST_TIMEOUT * 1000,
    safetyMarginMs: e.SAFETY_MARGIN_SECONDS * 1000,
    minRequestMs: e.MIN_REQUEST_SECONDS * 1000,
    logReplyChars: e.LOG_REPLY_CHARS,
    maxTextBytes: e.MAX_TEXT_BYTES,
    allowInsecureHttp: e.ALLOW_INSECURE_HTTP,
    idempotencyTable: e.IDEMPOTENCY_TABLE,
    idempotencyTtlSeconds: e.IDEMPOTENCY_TTL_SECONDS,
    unknownOutcomeMarginMs: e.UNKNOWN_OUTCOME_MARGIN_SECONDS * 1000,
    conversationTtlSeconds: e.CONVERSATION_TTL_SECONDS,
    replyKafka: {
      ...(replyBrokers?.length ? { brokers: replyBrokers } : {}),
      auth: e.REPLY_KAFKA_AUTH,
      // MSK serves IAM (9098) and SCRAM (9096) on TLS listeners only.
      tls: e.REPLY_KAFKA_TLS !== undefined ? truthy(e.REPLY_KAFKA_TLS) : e.REPLY_KAFKA_AUTH !== 'none',
      ...(e.REPLY_KAFKA_SECRET_ARN ? { secretArn: e.REPLY_KAFKA_SECRET_ARN } : {}),
      // Set by Lambda itself: the region of the function, which is the MSK cluster's.
      ...(env.AWS_REGION ? { region: env.AWS_REGION } : {}),
    },
    replyStoreMaxBytes: e.REPLY_STORE_MAX_BYTES,
    ...(e.REPLY_DIR ? { replyDir: e.REPLY_DIR } : {}),
  };
}
