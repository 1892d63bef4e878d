// Every deployment knob is a CDK context value (`-c name=value` or cdk.json "context").
// Values from the command line are always strings, so each knob is coerced here and
// checked with one clear message per problem; all problems are reported together.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../lambda/errors';

export class ContextError extends ConfigError {
  constructor(message: string) {
    super('context_invalid', message);
    this.name = 'ContextError';
  }
}

/** The knobs this app reads; the README's Deploy section documents each (a test keeps the two in step). */
export const CONTEXT_KEYS = [
  'stackName',
  'mskClusterArn',
  'topics',
  'consumerGroupId',
  'startingPosition',
  'batchSize',
  'maxBatchingWindowSeconds',
  'retryAttempts',
  'maxRecordAgeSeconds',
  'bisectBatchOnError',
  'provisionedPollers',
  'kafkaSecretArn',
  'kafkaSecretKmsKeyArn',
  'routesFile',
  'archestraUrl',
  'archestraTokenSecretArn',
  'allowInsecureHttp',
  'vpcId',
  'subnetIds',
  'securityGroupIds',
  'ordering',
  'maxConcurrency',
  'maxRetries',
  'retryDelay',
  'requestTimeout',
  'logReplyChars',
  'maxTextBytes',
  'timeoutSeconds',
  'memorySize',
  'reservedConcurrency',
  'logRetentionDays',
  'logLevel',
  'serviceName',
  'metricsNamespace',
  'alarmEmail',
  'offsetLagThreshold',
  'idempotency',
  'idempotencyTtlSeconds',
  'enabled',
  'pointInTimeRecovery',
  'retainOnDelete',
  'onFailureDestination',
  'clusterSecurityGroupId',
  'bootstrapServers',
  'region',
  'kafkaAuthentication',
  'kafkaRootCaSecretArn',
  'kafkaVpcId',
  'kafkaSubnetIds',
  'kafkaSecurityGroupId',
  'schemaRegistryUri',
  'schemaRegistryAuthSecretArn',
  'schemaRegistryAuthentication',
  'schemaRecordFormat',
  'schemaValidation',
] as const;

export type ContextKey = (typeof CONTEXT_KEYS)[number];

export interface MskCluster {
  arn: string;
  partition: string;
  region: string;
  account: string;
  name: string;
  uuid: string;
}

/** iam: MSK IAM access control; scram: SASL/SCRAM (512 on MSK; 256 or 512 self-managed); mtls: client certificate (self-managed). */
export type KafkaAuth =
  | { kind: 'iam' }
  | { kind: 'scram'; secretArn: string; kmsKeyArn?: string; mechanism: 'SASL_SCRAM_512' | 'SASL_SCRAM_256' }
  | { kind: 'mtls'; secretArn: string; kmsKeyArn?: string };

/** A Kafka cluster that is not MSK: its brokers, optional private CA, and the VPC settings of Lambda's pollers. */
export interface SelfManagedKafka {
  bootstrapServers: string[];
  rootCaSecretArn?: string;
  vpc?: { vpcId: string; subnetIds: string[]; securityGroupId: string };
}

export interface BridgeConfig {
  stackName: string;
  /** The MSK cluster; absent for self-managed Kafka (selfManaged). */
  cluster?: MskCluster;
  selfManaged?: SelfManagedKafka;
  /** Where the stack deploys: the MSK cluster's region, or the region knob for self-managed Kafka. */
  region: string;
  partition: string;
  topics: string[];
  /** Consumer group per topic: Lambda requires each mapping's group to be unique. */
  consumerGroupIds: Record<string, string>;
  startingPosition: 'LATEST' | 'TRIM_HORIZON';
  batchSize: number;
  maxBatchingWindowSeconds?: number;
  retryAttempts: number;
  maxRecordAgeSeconds?: number;
  bisectBatchOnError: boolean;
  provisionedPollers: { min: number; max?: number };
  kafkaAuth: KafkaAuth;
  /** Absolute path of the routes JSON file (the handler cannot start without routes). */
  routesFile: string;
  archestraUrl?: string;
  archestraTokenSecretArn?: string;
  allowInsecureHttp: boolean;
  vpc?: { vpcId: string; subnetIds: string[]; securityGroupIds?: string[] };
  ordering: 'partition' | 'key' | 'none';
  maxConcurrency: number;
  handlerTuning: {
    maxRetries?: number;
    retryDelay?: number;
    requestTimeout?: number;
    logReplyChars?: number;
    maxTextBytes?: number;
  };
  timeoutSeconds: number;
  memorySize: number;
  reservedConcurrency?: number;
  logRetentionDays: number;
  logLevel: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  serviceName: string;
  metricsNamespace: string;
  alarmEmail?: string;
  offsetLagThreshold: number;
  /** The DynamoDB idempotency store (IDEMPOTENCY_TABLE): on by default; PITR on by default. */
  idempotency: { enabled: boolean; ttlSeconds: number; pointInTimeRecovery: boolean };
  /**
   * Whether the event source mappings consume. Off by default while the token secret is one this
   * stack creates (it holds a placeholder until an operator puts the token in).
   */
  enabled: boolean;
  /** Keep the poison-record queue, the idempotency table and the S3 on-failure bucket when the stack is deleted. */
  retainOnDelete: boolean;
  /** Where Lambda writes a batch it gives up on. */
  onFailure: OnFailureDestination;
  /** The MSK cluster's security group: gets a self-referencing ingress rule on the auth port. */
  clusterSecurityGroupId?: string;
  /** Applied to every mapping. */
  schemaRegistry?: SchemaRegistry;
}

/**
 * The mapping's schema registry (provisioned mode only, which the stack always uses): Lambda validates and
 * deserializes the key and/or value before invoking; records that fail go to the on-failure destination.
 */
export type SchemaRegistry = (
  | { kind: 'glue'; arn: string }
  | { kind: 'confluent'; url: string; auth?: { type: 'BASIC_AUTH' | 'CLIENT_CERTIFICATE_TLS_AUTH'; secretArn: string } }
) & { recordFormat: 'JSON' | 'SOURCE'; validate: Array<'KEY' | 'VALUE'> };

/** sqs: metadata only; s3: the whole invocation payload; kafka: the records themselves, to a topic of the same cluster. */
export type OnFailureDestination = { kind: 'sqs' } | { kind: 's3' } | { kind: 'kafka'; topic: string };

export const DEFAULTS = {
  stackName: 'KafkaA2ABridge',
  routesFile: 'routes.json',
  allowInsecureHttp: false,
  startingPosition: 'LATEST',
  batchSize: 100,
  retryAttempts: 10,
  bisectBatchOnError: true,
  provisionedPollers: { min: 1 },
  ordering: 'key',
  maxConcurrency: 10,
  timeoutSeconds: 300,
  memorySize: 512,
  logRetentionDays: 30,
  logLevel: 'INFO',
  serviceName: 'kafka-a2a-bridge',
  metricsNamespace: 'KafkaA2ABridge',
  offsetLagThreshold: 1000,
  idempotency: true,
  idempotencyTtlSeconds: 86400,
  pointInTimeRecovery: true,
  retainOnDelete: true,
  onFailureDestination: 'sqs',
} as const;

// Lambda's poller groups: at most 100 mappings, and their maximum pollers (200 each unless set) add up to 2000 at most.
export const POLLER_GROUP_MAX_MAPPINGS = 100;
export const POLLER_GROUP_MAX_POLLERS = 2000;
export const LAMBDA_DEFAULT_MAX_POLLERS = 200;

// CloudWatch Logs accepts only these retention periods.
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

const CLUSTER_ARN = /^arn:(aws[a-z-]*):kafka:([a-z0-9-]+):(\d{12}):cluster\/([^/]+)\/([^/]+)$/;
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/;
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;
const GLUE_REGISTRY_ARN = /^arn:aws[a-z-]*:glue:[a-z0-9-]+:\d{12}:registry\/[A-Za-z0-9_$#.-]{1,255}$/;
// Lambda's pattern for KafkaConsumerGroupId, 1..200 characters.
const GROUP_ID = /^[a-zA-Z0-9\-/*:_+=.@]{1,200}$/;

type Getter = (key: string) => unknown;

/** Reads and validates every knob; throws one ContextError listing all problems. */
export function readConfig(get: Getter, cwd = process.cwd()): BridgeConfig {
  const problems: string[] = [];
  const knob = <T>(key: ContextKey, schema: z.ZodType<T>, example: string): T | undefined => {
    const raw = get(key);
    const res = schema.safeParse(raw);
    if (res.success) return res.data;
    const got = raw === undefined ? 'nothing' : JSON.stringify(raw);
    problems.push(`"${key}": ${res.error.issues[0]?.message ?? 'invalid'} (got ${got}). Example: -c ${key}=${example}`);
    return undefined;
  };

  const stackName = knob(
    'stackName',
    optional(z.string().regex(/^[A-Za-z][A-Za-z0-9-]{0,100}$/, 'must start with a letter; letters, digits and - only')),
    'KafkaA2ABridge',
  ) ?? DEFAULTS.stackName;

  const bootstrapServers = knob(
    'bootstrapServers',
    optional(
      z.preprocess(
        toList,
        z.array(z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'each must be host:port, e.g. broker1.example.com:9096')).min(1),
      ),
    ),
    'b-1.kafka.internal:9096,b-2.kafka.internal:9096',
  );
  const clusterArn = knob(
    'mskClusterArn',
    bootstrapServers
      ? optional(z.string())
      : z
          .string({ error: 'is required: the ARN of the MSK cluster to consume from (or bootstrapServers for self-managed Kafka)' })
          .trim()
          .regex(CLUSTER_ARN, 'must be an MSK cluster ARN, arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>'),
    'arn:aws:kafka:us-east-1:123456789012:cluster/my-cluster/1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d-1',
  );
  const regionKnob = knob('region', optional(z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region, e.g. eu-west-1')), 'eu-west-1');
  const kafkaAuthentication = knob(
    'kafkaAuthentication',
    optional(z.enum(['scram512', 'scram256', 'mtls'], { error: 'must be scram512, scram256 or mtls' })),
    'scram512',
  );
  const kafkaRootCaSecretArn = knob(
    'kafkaRootCaSecretArn',
    optional(
      z
        .string()
        .regex(SECRET_ARN, 'must be a Secrets Manager secret ARN')
        .regex(/-[A-Za-z0-9]{6}$/, 'must be the complete secret ARN, ending with the 6-character suffix Secrets Manager adds'),
    ),
    'arn:aws:secretsmanager:eu-west-1:123456789012:secret:kafka-ca-AbCdEf',
  );
  const kafkaVpcId = knob('kafkaVpcId', optional(z.string().regex(/^vpc-[0-9a-f]+$/, 'must be a VPC ID (vpc-...)')), 'vpc-0123456789abcdef0');
  const kafkaSubnetIds = knob(
    'kafkaSubnetIds',
    optional(z.preprocess(toList, z.array(z.string().regex(/^subnet-[0-9a-f]+$/, 'each must be a subnet ID (subnet-...)')).min(1))),
    'subnet-0123456789abcdef0,subnet-0fedcba9876543210',
  );
  const kafkaSecurityGroupId = knob('kafkaSecurityGroupId', optional(z.string().regex(/^sg-[0-9a-f]+$/, 'must be a security group ID (sg-...)')), 'sg-0123456789abcdef0');
  const topics = knob(
    'topics',
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
  );
  const groupSetting = knob(
    'consumerGroupId',
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
  );
  const startingPosition =
    knob('startingPosition', optional(upper(z.enum(['LATEST', 'TRIM_HORIZON'], { error: 'must be LATEST or TRIM_HORIZON' }))), 'LATEST') ??
    DEFAULTS.startingPosition;
  const batchSize = knob('batchSize', optional(int(1, 10000)), '100') ?? DEFAULTS.batchSize;
  const maxBatchingWindowSeconds = knob('maxBatchingWindowSeconds', optional(int(0, 300)), '1');
  const retryAttempts = knob('retryAttempts', optional(int(-1, 10000)), '10') ?? DEFAULTS.retryAttempts;
  const maxRecordAgeSeconds = knob(
    'maxRecordAgeSeconds',
    optional(int(-1, 604800).refine((n) => n === -1 || n >= 60, 'must be -1 (infinite) or 60..604800')),
    '3600',
  );
  const bisectBatchOnError = knob('bisectBatchOnError', optional(bool()), 'true') ?? DEFAULTS.bisectBatchOnError;
  const provisionedPollers =
    knob(
      'provisionedPollers',
      optional(
        z.preprocess(
          toList,
          z
            .array(z.coerce.number().int('must be whole numbers'), { error: 'must be "min" or "min,max"' })
            .min(1, 'must be "min" or "min,max"')
            .max(2, 'must be "min" or "min,max"')
            .transform((a) => ({ min: a[0], max: a[1] }))
            .refine((p) => p.min >= 1 && p.min <= 200, 'min must be 1..200')
            .refine((p) => p.max === undefined || (p.max >= p.min && p.max <= 2000), 'max must be min..2000'),
        ),
      ),
      '1,10',
    ) ?? { ...DEFAULTS.provisionedPollers };
  const kafkaSecretArn = knob(
    'kafkaSecretArn',
    optional(
      z
        .string()
        .regex(SECRET_ARN, 'must be a Secrets Manager secret ARN')
        .regex(/-[A-Za-z0-9]{6}$/, 'must be the complete secret ARN, ending with the 6-character suffix Secrets Manager adds'),
    ),
    'arn:aws:secretsmanager:us-east-1:123456789012:secret:AmazonMSK_bridge-AbCdEf',
  );
  const kafkaSecretKmsKeyArn = knob(
    'kafkaSecretKmsKeyArn',
    optional(z.string().regex(KMS_KEY_ARN, 'must be a KMS key ARN')),
    'arn:aws:kms:us-east-1:123456789012:key/1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d',
  );
  const routesFile = path.resolve(cwd, knob('routesFile', optional(z.string().min(1)), 'routes.json') ?? DEFAULTS.routesFile);
  if (!fs.existsSync(routesFile)) {
    problems.push(
      `"routesFile": ${routesFile} does not exist. The function cannot start without routes: write one ` +
        '(see the README) and pass it. Example: -c routesFile=routes.json',
    );
  }
  const archestraUrl = knob(
    'archestraUrl',
    optional(z.url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL' })),
    'https://archestra.example.com',
  );
  const archestraTokenSecretArn = knob(
    'archestraTokenSecretArn',
    optional(z.string().regex(SECRET_ARN, 'must be a Secrets Manager secret ARN')),
    'arn:aws:secretsmanager:us-east-1:123456789012:secret:archestra-token-AbCdEf',
  );
  const allowInsecureHttp = knob('allowInsecureHttp', optional(bool()), 'true') ?? DEFAULTS.allowInsecureHttp;
  const vpcId = knob('vpcId', optional(z.string().regex(/^vpc-[0-9a-f]+$/, 'must be a VPC ID (vpc-...)')), 'vpc-0123456789abcdef0');
  const subnetIds = knob(
    'subnetIds',
    optional(z.preprocess(toList, z.array(z.string().regex(/^subnet-[0-9a-f]+$/, 'each must be a subnet ID (subnet-...)')).min(1))),
    'subnet-0123456789abcdef0,subnet-0fedcba9876543210',
  );
  const securityGroupIds = knob(
    'securityGroupIds',
    optional(z.preprocess(toList, z.array(z.string().regex(/^sg-[0-9a-f]+$/, 'each must be a security group ID (sg-...)')).min(1))),
    'sg-0123456789abcdef0',
  );
  const ordering =
    knob('ordering', optional(z.enum(['partition', 'key', 'none'], { error: 'must be partition, key or none' })), 'key') ??
    DEFAULTS.ordering;
  const maxConcurrency = knob('maxConcurrency', optional(int(1, 1000)), '10') ?? DEFAULTS.maxConcurrency;
  const handlerTuning = {
    // Same ranges and units (seconds) as the handler's lambda/config/settings.ts.
    maxRetries: knob('maxRetries', optional(int(0, 20)), '3'),
    retryDelay: knob('retryDelay', optional(num(0)), '1'),
    requestTimeout: knob('requestTimeout', optional(num(0).refine((n) => n > 0, 'must be greater than 0')), '60'),
    logReplyChars: knob('logReplyChars', optional(int(0, 1_000_000)), '500'),
    maxTextBytes: knob('maxTextBytes', optional(int(1, 64 * 1024 * 1024)), '262144'),
  };
  const timeoutSeconds = knob('timeoutSeconds', optional(int(1, 900)), '300') ?? DEFAULTS.timeoutSeconds;
  const memorySize = knob('memorySize', optional(int(128, 10240)), '512') ?? DEFAULTS.memorySize;
  const reservedConcurrency = knob('reservedConcurrency', optional(int(1, 100000)), '20');
  const logRetentionDays =
    knob(
      'logRetentionDays',
      optional(int(1, 3653).refine((d) => LOG_RETENTION_DAYS.includes(d), `must be one of ${LOG_RETENTION_DAYS.join(', ')}`)),
      '30',
    ) ?? DEFAULTS.logRetentionDays;
  const logLevel =
    knob('logLevel', optional(upper(z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR'], { error: 'must be DEBUG, INFO, WARN or ERROR' }))), 'INFO') ??
    DEFAULTS.logLevel;
  const serviceName =
    knob('serviceName', optional(z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, 'letters, digits, ".", "_", "-" only')), 'kafka-a2a-bridge') ??
    DEFAULTS.serviceName;
  const metricsNamespace =
    knob(
      'metricsNamespace',
      optional(z.string().regex(/^[A-Za-z0-9._/#:-]{1,255}$/, 'must be a CloudWatch namespace (no spaces, not starting with AWS/)')),
      'KafkaA2ABridge',
    ) ?? DEFAULTS.metricsNamespace;
  const alarmEmail = knob('alarmEmail', optional(z.email('must be an email address')), 'oncall@example.com');
  const offsetLagThreshold = knob('offsetLagThreshold', optional(int(1, Number.MAX_SAFE_INTEGER)), '1000') ?? DEFAULTS.offsetLagThreshold;

  const idempotency = knob('idempotency', optional(bool()), 'false') ?? DEFAULTS.idempotency;
  // Same range as the handler's IDEMPOTENCY_TTL_SECONDS.
  const idempotencyTtlSeconds = knob('idempotencyTtlSeconds', optional(int(60, 366 * 24 * 3600)), '86400') ?? DEFAULTS.idempotencyTtlSeconds;

  const pointInTimeRecovery = knob('pointInTimeRecovery', optional(bool()), 'false') ?? DEFAULTS.pointInTimeRecovery;
  const retainOnDelete = knob('retainOnDelete', optional(bool()), 'false') ?? DEFAULTS.retainOnDelete;
  // Default: consume only once the token is known to be set (an imported secret is the operator's own).
  const enabled = knob('enabled', optional(bool()), 'true') ?? archestraTokenSecretArn !== undefined;
  const onFailure = knob(
    'onFailureDestination',
    optional(
      z.union(
        [
          z.enum(['sqs', 's3']).transform((kind) => ({ kind })),
          z
            .string()
            .regex(/^kafka:\/\/[A-Za-z0-9._-]{1,249}$/)
            .transform((v) => ({ kind: 'kafka' as const, topic: v.slice('kafka://'.length) })),
        ],
        { error: 'must be sqs, s3 or kafka://<topic>' },
      ),
    ),
    'kafka://orders-failed',
  ) ?? { kind: 'sqs' as const };
  const clusterSecurityGroupId = knob(
    'clusterSecurityGroupId',
    optional(z.string().regex(/^sg-[0-9a-f]+$/, 'must be a security group ID (sg-...)')),
    'sg-0123456789abcdef0',
  );

  const schemaRegistryUri = knob(
    'schemaRegistryUri',
    optional(
      z.union([z.string().regex(GLUE_REGISTRY_ARN), z.url({ protocol: /^https?$/ }).refine((u) => !/^[a-z]+:\/\/[^/]*@/i.test(u))], {
        error:
          'must be a Glue registry ARN (arn:aws:glue:<region>:<account>:registry/<name>) or a Confluent Schema Registry http(s) URL ' +
          'without credentials in it (they go in schemaRegistryAuthSecretArn)',
      }),
    ),
    'arn:aws:glue:eu-west-1:123456789012:registry/orders',
  );
  const schemaRegistryAuthSecretArn = knob(
    'schemaRegistryAuthSecretArn',
    optional(
      z
        .string()
        .regex(SECRET_ARN, 'must be a Secrets Manager secret ARN')
        .regex(/-[A-Za-z0-9]{6}$/, 'must be the complete secret ARN, ending with the 6-character suffix Secrets Manager adds'),
    ),
    'arn:aws:secretsmanager:eu-west-1:123456789012:secret:schema-registry-AbCdEf',
  );
  const schemaRegistryAuthentication = knob(
    'schemaRegistryAuthentication',
    optional(z.enum(['basic', 'mtls'], { error: 'must be basic or mtls' })),
    'basic',
  );
  const schemaRecordFormat = knob('schemaRecordFormat', optional(upper(z.enum(['JSON', 'SOURCE'], { error: 'must be JSON or SOURCE' }))), 'JSON');
  const schemaValidation = knob(
    'schemaValidation',
    optional(
      z.preprocess(
        (v) => (toList(v) as unknown[] | unknown),
        z
          .array(z.string().transform((s) => s.toUpperCase()).pipe(z.enum(['KEY', 'VALUE'], { error: 'each must be key or value' })), { error: 'must be key, value or key,value' })
          .min(1, 'must name key, value or both')
          .refine((a) => new Set(a).size === a.length, 'must not repeat key or value'),
      ),
    ),
    'key,value',
  );

  // Cross-knob rules.
  if (!schemaRegistryUri) {
    for (const [key, v] of [
      ['schemaRegistryAuthSecretArn', schemaRegistryAuthSecretArn],
      ['schemaRegistryAuthentication', schemaRegistryAuthentication],
      ['schemaRecordFormat', schemaRecordFormat],
      ['schemaValidation', schemaValidation],
    ] as const) {
      if (v !== undefined && !problems.some((p) => p.startsWith('"schemaRegistryUri"'))) problems.push(`"${key}" needs "schemaRegistryUri" (the mapping's schema registry)`);
    }
  } else if (schemaRegistryUri.startsWith('arn:')) {
    if (schemaRegistryAuthSecretArn || schemaRegistryAuthentication) {
      problems.push('"schemaRegistryAuthSecretArn" and "schemaRegistryAuthentication" are for a Confluent registry; Lambda reads a Glue registry with the function role');
    }
  } else if (schemaRegistryAuthentication && !schemaRegistryAuthSecretArn) {
    problems.push('"schemaRegistryAuthentication" needs "schemaRegistryAuthSecretArn" (the credentials or the client certificate)');
  }
  // Per-mapping alarms are named <stack>-<topic>-DestinationDeliveryErrors (the longest); CloudWatch allows 255 characters.
  for (const t of topics ?? []) {
    if (stackName.length + t.length + '--DestinationDeliveryErrors'.length > 255) {
      problems.push(`"topics": the alarm names of topic "${t.slice(0, 40)}..." would exceed CloudWatch's 255 characters with stack name "${stackName}"`);
    }
  }
  // All mappings share one poller group: Lambda allows 100 mappings per group and 2000 maximum pollers summed over them.
  if (topics) {
    const pollers: { min: number; max?: number } = provisionedPollers;
    const max = pollers.max ?? LAMBDA_DEFAULT_MAX_POLLERS;
    if (topics.length > POLLER_GROUP_MAX_MAPPINGS) {
      problems.push(`"topics": ${topics.length} topics, but a poller group holds at most ${POLLER_GROUP_MAX_MAPPINGS} mappings`);
    } else if (topics.length * max > POLLER_GROUP_MAX_POLLERS) {
      problems.push(
        `"provisionedPollers": ${topics.length} mappings × ${max} maximum pollers${pollers.max === undefined ? " (Lambda's default)" : ''} ` +
          `exceeds the ${POLLER_GROUP_MAX_POLLERS} a poller group allows: give "min,max" with max at most ${Math.floor(POLLER_GROUP_MAX_POLLERS / topics.length)}`,
      );
    }
  }
  if (onFailure.kind === 'kafka' && topics?.includes(onFailure.topic)) {
    problems.push(`"onFailureDestination": kafka://${onFailure.topic} is a consumed topic; failed records would come back to the bridge (Lambda refuses it too)`);
  }
  if (metricsNamespace.startsWith('AWS/')) problems.push(`"metricsNamespace": must not start with "AWS/" (reserved for AWS services)`);
  if ((vpcId === undefined) !== (subnetIds === undefined) && !problems.some((p) => /"(vpcId|subnetIds)"/.test(p))) {
    problems.push('"vpcId" and "subnetIds" go together: give both to run the function in your VPC, or neither');
  }
  if (securityGroupIds && !vpcId) problems.push('"securityGroupIds" needs "vpcId" and "subnetIds"');
  if (kafkaSecretKmsKeyArn && !kafkaSecretArn) problems.push('"kafkaSecretKmsKeyArn" needs "kafkaSecretArn" (it is the key of the SASL/SCRAM secret)');
  if (maxBatchingWindowSeconds !== undefined && maxBatchingWindowSeconds > timeoutSeconds) {
    problems.push(`"maxBatchingWindowSeconds" (${maxBatchingWindowSeconds}) must not exceed "timeoutSeconds" (${timeoutSeconds})`);
  }

  const cluster = clusterArn && !bootstrapServers ? parseClusterArn(clusterArn) : undefined;
  if (bootstrapServers) {
    if (clusterArn) problems.push('"mskClusterArn" and "bootstrapServers" exclude each other: MSK, or self-managed Kafka');
    if (!regionKnob) problems.push('"region": is required with "bootstrapServers" (the region to deploy the bridge to). Example: -c region=eu-west-1');
    if (clusterSecurityGroupId) problems.push('"clusterSecurityGroupId" is for MSK; with self-managed Kafka the pollers use "kafkaSecurityGroupId"');
    const vpcKnobs = [kafkaVpcId, kafkaSubnetIds, kafkaSecurityGroupId].filter((v) => v !== undefined).length;
    if (vpcKnobs !== 0 && vpcKnobs !== 3) {
      problems.push('"kafkaVpcId", "kafkaSubnetIds" and "kafkaSecurityGroupId" go together: the VPC, subnets and security group of the pollers');
    }
    // Lambda reaches brokers outside a VPC only over the internet, which needs credentials.
    if (vpcKnobs === 0 && !kafkaSecretArn) {
      problems.push('"bootstrapServers" without "kafkaVpcId" means brokers on the internet: give "kafkaSecretArn" (SASL/SCRAM or mTLS)');
    }
  } else {
    for (const [key, v] of [
      ['kafkaRootCaSecretArn', kafkaRootCaSecretArn],
      ['kafkaVpcId', kafkaVpcId],
      ['kafkaSubnetIds', kafkaSubnetIds],
      ['kafkaSecurityGroupId', kafkaSecurityGroupId],
    ] as const) {
      if (v !== undefined) problems.push(`"${key}" is for self-managed Kafka ("bootstrapServers"); MSK gives Lambda its own subnets and groups`);
    }
    if (kafkaAuthentication && kafkaAuthentication !== 'scram512') {
      problems.push(`"kafkaAuthentication": ${kafkaAuthentication} is offered for self-managed Kafka only; MSK uses IAM or SASL/SCRAM-512`);
    }
    if (cluster && regionKnob && regionKnob !== cluster.region) {
      problems.push(`"region" is ${regionKnob} but the MSK cluster is in ${cluster.region}: the stack deploys to the cluster's region`);
    }
  }
  if (kafkaAuthentication && !kafkaSecretArn) problems.push('"kafkaAuthentication" needs "kafkaSecretArn" (the credentials or the client certificate)');
  const region = cluster?.region ?? regionKnob ?? '';
  if (region) {
    for (const [key, arn] of [
      ['kafkaSecretArn', kafkaSecretArn],
      ['archestraTokenSecretArn', archestraTokenSecretArn],
      ['kafkaSecretKmsKeyArn', kafkaSecretKmsKeyArn],
      ['kafkaRootCaSecretArn', kafkaRootCaSecretArn],
    ] as const) {
      const r = arn?.split(':')[3];
      if (r && r !== region && !cluster) problems.push(`"${key}" is in ${r} but "region" is ${region}: the stack deploys there`);
    }
  }
  if (cluster) {
    for (const [key, arn] of [
      ['kafkaSecretArn', kafkaSecretArn],
      ['archestraTokenSecretArn', archestraTokenSecretArn],
      ['kafkaSecretKmsKeyArn', kafkaSecretKmsKeyArn],
    ] as const) {
      const region = arn?.split(':')[3];
      if (region && region !== cluster.region) {
        problems.push(`"${key}" is in ${region} but the MSK cluster is in ${cluster.region}: the stack deploys to the cluster's region`);
      }
    }
  }

  let consumerGroupIds: Record<string, string> = {};
  if (topics) {
    const explicit = typeof groupSetting === 'object' ? groupSetting : {};
    for (const t of Object.keys(explicit)) {
      if (!topics.includes(t)) problems.push(`"consumerGroupId": names topic "${t}", which is not in "topics"`);
    }
    const prefix = typeof groupSetting === 'string' ? groupSetting : stackName;
    consumerGroupIds = Object.fromEntries(topics.map((t) => [t, explicit[t] ?? `${prefix}-${t}`]));
    for (const [t, g] of Object.entries(consumerGroupIds)) {
      if (!GROUP_ID.test(g)) problems.push(`"consumerGroupId": the group for topic "${t}" ("${g}") is longer than 200 characters`);
    }
    const groups = Object.values(consumerGroupIds);
    if (new Set(groups).size !== groups.length) {
      problems.push('"consumerGroupId": two topics share a consumer group; Lambda needs a unique group per event source mapping');
    }
  }

  if (problems.length || !(cluster || bootstrapServers) || !topics || !region) {
    throw new ContextError(`Invalid CDK context:\n  - ${problems.join('\n  - ')}\nEvery knob is described in the Deploy section of the README.`);
  }

  const kafkaAuth: KafkaAuth = !kafkaSecretArn
    ? { kind: 'iam' }
    : kafkaAuthentication === 'mtls'
      ? { kind: 'mtls', secretArn: kafkaSecretArn, kmsKeyArn: kafkaSecretKmsKeyArn }
      : {
          kind: 'scram',
          secretArn: kafkaSecretArn,
          kmsKeyArn: kafkaSecretKmsKeyArn,
          mechanism: kafkaAuthentication === 'scram256' ? 'SASL_SCRAM_256' : 'SASL_SCRAM_512',
        };
  return {
    stackName,
    cluster,
    selfManaged: bootstrapServers
      ? {
          bootstrapServers,
          rootCaSecretArn: kafkaRootCaSecretArn,
          vpc: kafkaVpcId && kafkaSubnetIds && kafkaSecurityGroupId ? { vpcId: kafkaVpcId, subnetIds: kafkaSubnetIds, securityGroupId: kafkaSecurityGroupId } : undefined,
        }
      : undefined,
    region,
    partition: cluster?.partition ?? partitionOf(region),
    topics,
    consumerGroupIds,
    startingPosition,
    batchSize,
    maxBatchingWindowSeconds,
    retryAttempts,
    maxRecordAgeSeconds,
    bisectBatchOnError,
    provisionedPollers,
    kafkaAuth,
    routesFile,
    archestraUrl,
    archestraTokenSecretArn,
    allowInsecureHttp,
    vpc: vpcId && subnetIds ? { vpcId, subnetIds, securityGroupIds } : undefined,
    ordering,
    maxConcurrency,
    handlerTuning,
    timeoutSeconds,
    memorySize,
    reservedConcurrency,
    logRetentionDays,
    logLevel,
    serviceName,
    metricsNamespace,
    alarmEmail,
    offsetLagThreshold,
    idempotency: { enabled: idempotency, ttlSeconds: idempotencyTtlSeconds, pointInTimeRecovery },
    enabled,
    retainOnDelete,
    onFailure: onFailure as OnFailureDestination,
    clusterSecurityGroupId,
    schemaRegistry: schemaRegistryUri
      ? {
          ...(schemaRegistryUri.startsWith('arn:')
            ? { kind: 'glue' as const, arn: schemaRegistryUri }
            : {
                kind: 'confluent' as const,
                url: schemaRegistryUri,
                auth: schemaRegistryAuthSecretArn
                  ? { type: schemaRegistryAuthentication === 'mtls' ? ('CLIENT_CERTIFICATE_TLS_AUTH' as const) : ('BASIC_AUTH' as const), secretArn: schemaRegistryAuthSecretArn }
                  : undefined,
              }),
          recordFormat: schemaRecordFormat ?? 'JSON',
          validate: schemaValidation ?? ['VALUE'],
        }
      : undefined,
  };
}

/**
 * Context keys that look like a misspelt knob (case, or one or two characters off), with the knob
 * they probably meant. Other keys (CDK flags, lookups, CLI settings) are none of our business.
 */
export function unknownContextKeys(all: Record<string, unknown>): Array<{ key: string; knob: ContextKey }> {
  const known = new Set<string>(CONTEXT_KEYS);
  return Object.keys(all).flatMap((key) => {
    if (known.has(key)) return [];
    const knob = CONTEXT_KEYS.find((k) => k.toLowerCase() === key.toLowerCase() || editDistance(k.toLowerCase(), key.toLowerCase()) <= 2);
    return knob ? [{ key, knob }] : [];
  });
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

export function parseClusterArn(arn: string): MskCluster {
  const m = CLUSTER_ARN.exec(arn);
  if (!m) throw new ContextError(`"mskClusterArn": not an MSK cluster ARN: ${arn}`);
  return { arn, partition: m[1], region: m[2], account: m[3], name: m[4], uuid: m[5] };
}

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
