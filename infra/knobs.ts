// The deployment knobs, declared once: each CDK context key with its schema (coercion of `-c` strings and
// cdk.json JSON, range, message), its default, the example its error message shows, and the handler
// variable it feeds. Keys (CONTEXT_KEYS), defaults (DEFAULTS), validation (infra/context.ts), the
// handler's environment (handlerEnvironment) and the README check (test/infra/context.test.ts) all derive
// from this table; the handler's own ranges come from lambda/config/limits.ts.
import { z } from 'zod';
import { DEFAULT_ORDERING, LIMITS, ORDERINGS, REQUEST_TIMEOUT_DEFAULT_SECONDS, RETRY_DELAY_DEFAULT_SECONDS } from '../lambda/config/limits';

interface Knob<T> {
  readonly schema: z.ZodType<T>;
  /** A valid value, shown in the error message: `Example: -c <key>=<example>`. */
  readonly example: string;
  /** Used when the knob is not set (or set to ""). Absent: the knob is optional, or required by its schema. */
  readonly default?: Exclude<T, undefined>;
  /** The handler's environment variable this knob sets, when set (the value as a string; booleans only when true). */
  readonly env?: string;
}

type KnobExtras<T> = Omit<Knob<T>, 'schema' | 'example'>;
// `more` keeps its own type, so a knob declared with a default is typed as never undefined.
const knob = <T, M extends KnobExtras<T> = KnobExtras<T>>(schema: z.ZodType<T>, example: string, more?: M): Knob<T> & M =>
  ({ schema, example, ...more }) as Knob<T> & M;

// --- coercions: `-c` values arrive as strings, cdk.json values as JSON ---

const optional = <T>(schema: z.ZodType<T>) =>
  z.preprocess((v) => (v === '' || v === null ? undefined : v), schema.optional()) as z.ZodType<T | undefined>;

const upper = <T>(schema: z.ZodType<T>) => z.preprocess((v) => (typeof v === 'string' ? v.toUpperCase() : v), schema) as z.ZodType<T>;

function int(min: number, max: number): z.ZodType<number> {
  return z.coerce
    .number({ error: 'must be a whole number' })
    .int('must be a whole number')
    .min(min, `must be between ${min} and ${max}`)
    .max(max, `must be between ${min} and ${max}`) as unknown as z.ZodType<number>;
}

function num(min: number): z.ZodType<number> {
  return z.coerce.number({ error: 'must be a number' }).min(min, `must be at least ${min}`) as unknown as z.ZodType<number>;
}

function bool(): z.ZodType<boolean> {
  return z.preprocess(
    (v) => (v === 'true' ? true : v === 'false' ? false : v),
    z.boolean({ error: 'must be true or false' }),
  ) as z.ZodType<boolean>;
}

/** A JSON array, or a comma-separated string ("a,b" or '["a","b"]'). */
function toList(v: unknown): unknown {
  if (typeof v === 'number') return [v];
  if (typeof v !== 'string') return v;
  const s = v.trim();
  if (s.startsWith('[')) {
    try {
      return JSON.parse(s);
    } catch {
      return v;
    }
  }
  return s === '' ? [] : s.split(',').map((x) => x.trim()).filter((x) => x !== '');
}

function parseJsonObject(v: unknown): unknown {
  if (typeof v === 'string' && v.trim().startsWith('{')) {
    try {
      return JSON.parse(v);
    } catch {
      return v;
    }
  }
  return v;
}

const list = <T>(item: z.ZodType<T>) => optional(z.preprocess(toList, z.array(item).min(1)));
const handlerInt = (l: { min: number; max: number }) => optional(int(l.min, l.max));

// CloudWatch Logs accepts only these retention periods.
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

export const CLUSTER_ARN = /^arn:(aws[a-z-]*):kafka:([a-z0-9-]+):(\d{12}):cluster\/([^/]+)\/([^/]+)$/;
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/;
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;
const GLUE_REGISTRY_ARN = /^arn:aws[a-z-]*:glue:[a-z0-9-]+:\d{12}:registry\/[A-Za-z0-9_$#.-]{1,255}$/;
/** Lambda's pattern for KafkaConsumerGroupId, 1..200 characters. */
export const GROUP_ID = /^[a-zA-Z0-9\-/*:_+=.@]{1,200}$/;
/** An Archestra agent endpoint path: archestraUrl is the platform's base URL, the bridge appends this itself. */
const A2A_AGENT_PATH = /\/v[12]\/a2a\/[^/]+/;

const secretArn = () => z.string().regex(SECRET_ARN, 'must be a Secrets Manager secret ARN');
/** Lambda's event source mappings refuse a partial secret ARN (without the suffix Secrets Manager adds). */
const completeSecretArn = () =>
  secretArn().regex(/-[A-Za-z0-9]{6}$/, 'must be the complete secret ARN, ending with the 6-character suffix Secrets Manager adds');
const vpcId = () => z.string().regex(/^vpc-[0-9a-f]+$/, 'must be a VPC ID (vpc-...)');
const subnetId = () => z.string().regex(/^subnet-[0-9a-f]+$/, 'each must be a subnet ID (subnet-...)');
const securityGroupId = (what: string) => z.string().regex(/^sg-[0-9a-f]+$/, `${what} be a security group ID (sg-...)`);

export const KNOBS = {
  stackName: knob(
    optional(z.string().regex(/^[A-Za-z][A-Za-z0-9-]{0,100}$/, 'must start with a letter; letters, digits and - only')),
    'KafkaA2ABridge',
    { default: 'KafkaA2ABridge' },
  ),
  // Required unless bootstrapServers is given (infra/context.ts).
  mskClusterArn: knob(
    optional(z.string().trim().regex(CLUSTER_ARN, 'must be an MSK cluster ARN, arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>')),
    'arn:aws:kafka:us-east-1:123456789012:cluster/my-cluster/1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d-1',
  ),
  topics: knob(
    z.preprocess(
      toList,
      z
        .array(z.string().regex(TOPIC, 'each topic must be a Kafka topic name (letters, digits, ".", "_", "-")'), {
          error: 'is required: a comma-separated list of topics (one event source mapping each)',
        })
        .min(1, 'must name at least one topic (one event source mapping is created per topic)')
        .refine((t) => new Set(t).size === t.length, 'must not repeat a topic'),
    ),
    'orders,payments',
  ),
  consumerGroupId: knob(
    optional(
      z.preprocess(
        parseJsonObject,
        z.union([
          z.string().regex(GROUP_ID, 'must match [a-zA-Z0-9-/*:_+=.@], at most 200 characters'),
          z.record(z.string(), z.string().regex(GROUP_ID, 'each group ID must match [a-zA-Z0-9-/*:_+=.@]')),
        ]),
      ),
    ),
    'orders-bridge',
  ),
  startingPosition: knob(optional(upper(z.enum(['LATEST', 'TRIM_HORIZON'], { error: 'must be LATEST or TRIM_HORIZON' }))), 'LATEST', {
    default: 'LATEST' as const,
  }),
  batchSize: knob(optional(int(1, 10000)), '100', { default: 100 }),
  maxBatchingWindowSeconds: knob(optional(int(0, 300)), '1'),
  retryAttempts: knob(optional(int(-1, 10000)), '10', { default: 10 }),
  maxRecordAgeSeconds: knob(optional(int(-1, 604800).refine((n) => n === -1 || n >= 60, 'must be -1 (infinite) or 60..604800')), '3600'),
  bisectBatchOnError: knob(optional(bool()), 'true', { default: true }),
  provisionedPollers: knob(
    optional(
      z.preprocess(
        toList,
        z
          .array(z.coerce.number().int('must be whole numbers'), { error: 'must be "min" or "min,max"' })
          .min(1, 'must be "min" or "min,max"')
          .max(2, 'must be "min" or "min,max"')
          .transform((a): { min: number; max?: number } => ({ min: a[0], max: a[1] }))
          .refine((p) => p.min >= 1 && p.min <= 200, 'min must be 1..200')
          .refine((p) => p.max === undefined || (p.max >= p.min && p.max <= 2000), 'max must be min..2000'),
      ),
    ),
    '1,10',
    { default: { min: 1 } },
  ),
  kafkaSecretArn: knob(optional(completeSecretArn()), 'arn:aws:secretsmanager:us-east-1:123456789012:secret:AmazonMSK_bridge-AbCdEf'),
  kafkaSecretKmsKeyArn: knob(
    optional(z.string().regex(KMS_KEY_ARN, 'must be a KMS key ARN')),
    'arn:aws:kms:us-east-1:123456789012:key/1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d',
  ),
  routesFile: knob(optional(z.string().min(1)), 'routes.json', { default: 'routes.json' }),
  archestraUrl: knob(
    optional(
      z
        .url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL' })
        .refine(
          (u) => !A2A_AGENT_PATH.test(new URL(u).pathname),
          'must be the Archestra base URL, without /v1/a2a/<agent id>: the bridge appends each route\'s agent path itself (the path would double)',
        ),
    ),
    'https://archestra.example.com',
    { env: 'ARCHESTRA_URL' },
  ),
  archestraTokenSecretArn: knob(optional(secretArn()), 'arn:aws:secretsmanager:us-east-1:123456789012:secret:archestra-token-AbCdEf'),
  allowInsecureHttp: knob(optional(bool()), 'true', { default: false, env: 'ALLOW_INSECURE_HTTP' }),
  vpcId: knob(optional(vpcId()), 'vpc-0123456789abcdef0'),
  subnetIds: knob(list(subnetId()), 'subnet-0123456789abcdef0,subnet-0fedcba9876543210'),
  securityGroupIds: knob(list(securityGroupId('each must')), 'sg-0123456789abcdef0'),
  ordering: knob(optional(z.enum(ORDERINGS, { error: 'must be partition, key or none' })), 'key', { default: DEFAULT_ORDERING, env: 'ORDERING' }),
  maxConcurrency: knob(handlerInt(LIMITS.maxConcurrency), '10', { default: LIMITS.maxConcurrency.default, env: 'MAX_CONCURRENCY' }),
  // Handler settings left to the handler's default when not set (seconds, as the handler reads them).
  maxRetries: knob(handlerInt(LIMITS.maxRetries), String(LIMITS.maxRetries.default), { env: 'MAX_RETRIES' }),
  retryDelay: knob(optional(num(0)), String(RETRY_DELAY_DEFAULT_SECONDS), { env: 'RETRY_DELAY' }),
  requestTimeout: knob(optional(num(0).refine((n) => n > 0, 'must be greater than 0')), String(REQUEST_TIMEOUT_DEFAULT_SECONDS), {
    env: 'REQUEST_TIMEOUT',
  }),
  logReplyChars: knob(handlerInt(LIMITS.logReplyChars), String(LIMITS.logReplyChars.default), { env: 'LOG_REPLY_CHARS' }),
  maxTextBytes: knob(handlerInt(LIMITS.maxTextBytes), String(LIMITS.maxTextBytes.default), { env: 'MAX_TEXT_BYTES' }),
  timeoutSeconds: knob(optional(int(1, 900)), '300', { default: 300 }),
  memorySize: knob(optional(int(128, 10240)), '512', { default: 512 }),
  reservedConcurrency: knob(optional(int(1, 100000)), '20'),
  logRetentionDays: knob(
    optional(int(1, 3653).refine((d) => LOG_RETENTION_DAYS.includes(d), `must be one of ${LOG_RETENTION_DAYS.join(', ')}`)),
    '30',
    { default: 30 },
  ),
  logLevel: knob(optional(upper(z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR'], { error: 'must be DEBUG, INFO, WARN or ERROR' }))), 'INFO', {
    default: 'INFO' as const,
    env: 'POWERTOOLS_LOG_LEVEL',
  }),
  serviceName: knob(optional(z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, 'letters, digits, ".", "_", "-" only')), 'kafka-a2a-bridge', {
    default: 'kafka-a2a-bridge',
    env: 'POWERTOOLS_SERVICE_NAME',
  }),
  metricsNamespace: knob(
    optional(
      z
        .string()
        .regex(/^[A-Za-z0-9._/#:-]{1,255}$/, 'must be a CloudWatch namespace (no spaces, not starting with AWS/)')
        .refine((n) => !n.startsWith('AWS/'), 'must not start with "AWS/" (reserved for AWS services)'),
    ),
    'KafkaA2ABridge',
    { default: 'KafkaA2ABridge', env: 'POWERTOOLS_METRICS_NAMESPACE' },
  ),
  alarmEmail: knob(optional(z.email('must be an email address')), 'oncall@example.com'),
  offsetLagThreshold: knob(optional(int(1, Number.MAX_SAFE_INTEGER)), '1000', { default: 1000 }),
  idempotency: knob(optional(bool()), 'false', { default: true }),
  idempotencyTtlSeconds: knob(handlerInt(LIMITS.idempotencyTtlSeconds), String(LIMITS.idempotencyTtlSeconds.default), {
    default: LIMITS.idempotencyTtlSeconds.default,
  }),
  unknownOutcomeMarginSeconds: knob(handlerInt(LIMITS.unknownOutcomeMarginSeconds), String(LIMITS.unknownOutcomeMarginSeconds.default), {
    env: 'UNKNOWN_OUTCOME_MARGIN_SECONDS',
  }),
  conversationTtlSeconds: knob(handlerInt(LIMITS.conversationTtlSeconds), String(LIMITS.conversationTtlSeconds.default), {
    env: 'CONVERSATION_TTL_SECONDS',
  }),
  // Default (infra/context.ts): consume only once the token is known to be set, i.e. an imported secret.
  enabled: knob(optional(bool()), 'true'),
  pointInTimeRecovery: knob(optional(bool()), 'false', { default: true }),
  retainOnDelete: knob(optional(bool()), 'false', { default: true }),
  onFailureDestination: knob(
    optional(
      z.union(
        [
          z.enum(['sqs', 's3']).transform((kind): OnFailureDestination => ({ kind })),
          z
            .string()
            .regex(/^kafka:\/\/[A-Za-z0-9._-]{1,249}$/)
            .transform((v): OnFailureDestination => ({ kind: 'kafka', topic: v.slice('kafka://'.length) })),
        ],
        { error: 'must be sqs, s3 or kafka://<topic>' },
      ),
    ),
    'kafka://orders-failed',
    { default: { kind: 'sqs' } as OnFailureDestination },
  ),
  clusterSecurityGroupId: knob(optional(securityGroupId('must')), 'sg-0123456789abcdef0'),
  bootstrapServers: knob(
    list(z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'each must be host:port, e.g. broker1.example.com:9096')),
    'b-1.kafka.internal:9096,b-2.kafka.internal:9096',
  ),
  region: knob(optional(z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region, e.g. eu-west-1')), 'eu-west-1'),
  kafkaAuthentication: knob(optional(z.enum(['scram512', 'scram256', 'mtls'], { error: 'must be scram512, scram256 or mtls' })), 'scram512'),
  kafkaRootCaSecretArn: knob(optional(completeSecretArn()), 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:kafka-ca-AbCdEf'),
  kafkaVpcId: knob(optional(vpcId()), 'vpc-0123456789abcdef0'),
  kafkaSubnetIds: knob(list(subnetId()), 'subnet-0123456789abcdef0,subnet-0fedcba9876543210'),
  kafkaSecurityGroupId: knob(optional(securityGroupId('must')), 'sg-0123456789abcdef0'),
  schemaRegistryUri: knob(
    optional(
      z.union([z.string().regex(GLUE_REGISTRY_ARN), z.url({ protocol: /^https?$/ }).refine((u) => !/^[a-z]+:\/\/[^/]*@/i.test(u))], {
        error:
          'must be a Glue registry ARN (arn:aws:glue:<region>:<account>:registry/<name>) or a Confluent Schema Registry http(s) URL ' +
          'without credentials in it (they go in schemaRegistryAuthSecretArn)',
      }),
    ),
    'arn:aws:glue:eu-west-1:123456789012:registry/orders',
  ),
  schemaRegistryAuthSecretArn: knob(optional(completeSecretArn()), 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:schema-registry-AbCdEf'),
  schemaRegistryAuthentication: knob(optional(z.enum(['basic', 'mtls'], { error: 'must be basic or mtls' })), 'basic'),
  schemaRecordFormat: knob(optional(upper(z.enum(['JSON', 'SOURCE'], { error: 'must be JSON or SOURCE' }))), 'JSON'),
  schemaValidation: knob(
    optional(
      z.preprocess(
        toList,
        z
          .array(
            z
              .string()
              .transform((s) => s.toUpperCase())
              .pipe(z.enum(['KEY', 'VALUE'], { error: 'each must be key or value' })),
            { error: 'must be key, value or key,value' },
          )
          .min(1, 'must name key, value or both')
          .refine((a) => new Set(a).size === a.length, 'must not repeat key or value'),
      ),
    ),
    'key,value',
  ),
} as const;

/** sqs: metadata only; s3: the whole invocation payload; kafka: the records themselves, to a topic of the same cluster. */
export type OnFailureDestination = { kind: 'sqs' } | { kind: 's3' } | { kind: 'kafka'; topic: string };

export type ContextKey = keyof typeof KNOBS;
/** The knobs this app reads; docs/DEPLOYMENT.md documents each (a test keeps the two in step). */
export const CONTEXT_KEYS = Object.keys(KNOBS) as ContextKey[];

type Parsed<K extends ContextKey> = (typeof KNOBS)[K] extends Knob<infer T> ? T : never;
/** Each knob's value after coercion and its default: a knob with a default is never undefined. */
export type KnobValues = {
  [K in ContextKey]: (typeof KNOBS)[K] extends { default: unknown } ? Exclude<Parsed<K>, undefined> : Parsed<K>;
};

type Defaulted = { [K in ContextKey]: (typeof KNOBS)[K] extends { default: unknown } ? K : never }[ContextKey];
/** The default of every knob that has one. */
export const DEFAULTS = Object.fromEntries(
  Object.entries(KNOBS).flatMap(([key, k]) => ('default' in k ? [[key, k.default]] : [])),
) as { readonly [K in Defaulted]: KnobValues[K] };

/**
 * Reads every knob in one pass. A knob that fails its schema is undefined in the result and its problem is
 * added to `problems`, written as the user sets the knob: `"key": message (got X). Example: -c key=example`.
 */
export function readKnobs(get: (key: string) => unknown, problems: string[]): Partial<KnobValues> {
  const values: Record<string, unknown> = {};
  for (const [key, k] of Object.entries(KNOBS) as Array<[ContextKey, Knob<unknown>]>) {
    const raw = get(key);
    const res = k.schema.safeParse(raw);
    if (res.success) values[key] = res.data ?? k.default;
    else problems.push(knobProblem(key, res.error.issues[0]?.message ?? 'invalid', raw));
  }
  return values as Partial<KnobValues>;
}

export function knobProblem(key: ContextKey, message: string, raw: unknown): string {
  const got = raw === undefined ? 'nothing' : JSON.stringify(raw);
  return `"${key}": ${message} (got ${got}). Example: -c ${key}=${KNOBS[key].example}`;
}

/** The handler variables the knobs set (the `env` column of the table), for the values that are set. */
export function handlerEnvironment(values: Partial<KnobValues>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, k] of Object.entries(KNOBS) as Array<[ContextKey, Knob<unknown>]>) {
    const v = values[key];
    if (!k.env || v === undefined || v === false) continue;
    env[k.env] = String(v);
  }
  return env;
}

/** The knob that sets a handler variable, as the user writes it at synth. */
export function knobOfEnv(name: string): ContextKey | undefined {
  return (Object.entries(KNOBS) as Array<[ContextKey, Knob<unknown>]>).find(([, k]) => k.env === name)?.[0];
}
