// Every deployment knob is a CDK context value (`-c name=value` or cdk.json "context"), declared in
// infra/knobs.ts. Here: the rules between knobs, the handler's own cold-start check of the routes file and
// of the environment the knobs give it, and the BridgeConfig the stack is built from. Every problem is
// reported at once, each named as the user sets it (`"archestraUrl"`, `-c allowInsecureHttp=true`).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RouteConfigError, type Route } from '../lambda/config/routes';
import { loadSettings, SettingsError } from '../lambda/config/settings';
import type { Ordering } from '../lambda/config/limits';
import { editDistance } from '../lambda/config/suggest';
import { ConfigError } from '../lambda/errors';
import {
  CLUSTER_ARN,
  CONTEXT_KEYS,
  GROUP_ID,
  handlerEnvironment,
  KNOBS,
  knobOfEnv,
  knobProblem,
  readKnobs,
  type ContextKey,
  type OnFailureDestination,
} from './knobs';
import { loadRoutesFile, ReplyDestinationsError, replyProblems } from './routes-file';

export { CONTEXT_KEYS, DEFAULTS, type ContextKey, type OnFailureDestination } from './knobs';

export class ContextError extends ConfigError {
  constructor(message: string) {
    super('context_invalid', message);
    this.name = 'ContextError';
  }
}

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
  ordering: Ordering;
  maxConcurrency: number;
  /** The handler variables the knobs set (ARCHESTRA_URL, ORDERING, MAX_RETRIES, ...: the `env` column of infra/knobs.ts). */
  handlerEnvironment: Record<string, string>;
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

// Lambda's poller groups: at most 100 mappings, and their maximum pollers (200 each unless set) add up to 2000 at most.
export const POLLER_GROUP_MAX_MAPPINGS = 100;
export const POLLER_GROUP_MAX_POLLERS = 2000;
export const LAMBDA_DEFAULT_MAX_POLLERS = 200;

/** Deploy-time values (tokens at synth) get these stand-ins when the handler's check runs at synth. */
const STAND_INS: Record<string, string> = {
  DLQ_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/stand-in',
  ARCHESTRA_TOKEN_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:stand-in-AbCdEf',
};

type Getter = (key: string) => unknown;

/** Reads and validates every knob; throws one ContextError listing all problems. */
export function readConfig(get: Getter, cwd = process.cwd()): BridgeConfig {
  return readChecked(get, cwd, false);
}

/**
 * What synth uses: every knob, the routes file and the handler's cold-start check of both, in one pass.
 * Throws a ContextError listing every problem when a knob is wrong (the routes' and the handler's problems
 * included); otherwise the routes file's RouteConfigError, or a SettingsError with what the handler would
 * refuse at cold start, in the knobs' names.
 */
export function readDeployment(get: Getter, cwd = process.cwd()): BridgeConfig {
  return readChecked(get, cwd, true);
}

function readChecked(get: Getter, cwd: string, checkHandler: boolean): BridgeConfig {
  const problems: string[] = [];
  const v = readKnobs(get, problems);
  const failed = (key: ContextKey) => problems.some((p) => p.startsWith(`"${key}"`));
  const { stackName = KNOBS.stackName.default, topics, bootstrapServers, kafkaSecretArn, kafkaSecretKmsKeyArn, archestraTokenSecretArn } = v;
  const { schemaRegistryUri, schemaRegistryAuthSecretArn, schemaRegistryAuthentication, timeoutSeconds = KNOBS.timeoutSeconds.default } = v;
  const clusterArn = v.mskClusterArn;
  const regionKnob = v.region;

  if (!bootstrapServers && clusterArn === undefined && !failed('mskClusterArn')) {
    problems.push(
      knobProblem('mskClusterArn', 'is required: the ARN of the MSK cluster to consume from (or bootstrapServers for self-managed Kafka)', get('mskClusterArn')),
    );
  }
  const routesFile = path.resolve(cwd, v.routesFile ?? KNOBS.routesFile.default);
  const routesExist = fs.existsSync(routesFile);
  if (!routesExist) {
    problems.push(
      `"routesFile": ${routesFile} does not exist. The function cannot start without routes: write one ` +
        '(docs/ROUTES.md) and pass it. Example: -c routesFile=routes.json',
    );
  }

  // Rules between knobs.
  if (!schemaRegistryUri) {
    for (const key of ['schemaRegistryAuthSecretArn', 'schemaRegistryAuthentication', 'schemaRecordFormat', 'schemaValidation'] as const) {
      if (v[key] !== undefined && !failed('schemaRegistryUri')) problems.push(`"${key}" needs "schemaRegistryUri" (the mapping's schema registry)`);
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
  const provisionedPollers = v.provisionedPollers ?? { ...KNOBS.provisionedPollers.default };
  if (topics) {
    const max = provisionedPollers.max ?? LAMBDA_DEFAULT_MAX_POLLERS;
    if (topics.length > POLLER_GROUP_MAX_MAPPINGS) {
      problems.push(`"topics": ${topics.length} topics, but a poller group holds at most ${POLLER_GROUP_MAX_MAPPINGS} mappings`);
    } else if (topics.length * max > POLLER_GROUP_MAX_POLLERS) {
      problems.push(
        `"provisionedPollers": ${topics.length} mappings × ${max} maximum pollers${provisionedPollers.max === undefined ? " (Lambda's default)" : ''} ` +
          `exceeds the ${POLLER_GROUP_MAX_POLLERS} a poller group allows: give "min,max" with max at most ${Math.floor(POLLER_GROUP_MAX_POLLERS / topics.length)}`,
      );
    }
  }
  const onFailure = v.onFailureDestination ?? KNOBS.onFailureDestination.default;
  if (onFailure.kind === 'kafka' && topics?.includes(onFailure.topic)) {
    problems.push(`"onFailureDestination": kafka://${onFailure.topic} is a consumed topic; failed records would come back to the bridge (Lambda refuses it too)`);
  }
  if ((v.vpcId === undefined) !== (v.subnetIds === undefined) && !failed('vpcId') && !failed('subnetIds')) {
    problems.push('"vpcId" and "subnetIds" go together: give both to run the function in your VPC, or neither');
  }
  if (v.securityGroupIds && !v.vpcId) problems.push('"securityGroupIds" needs "vpcId" and "subnetIds"');
  if (kafkaSecretKmsKeyArn && !kafkaSecretArn) problems.push('"kafkaSecretKmsKeyArn" needs "kafkaSecretArn" (it is the key of the SASL/SCRAM secret)');
  if (v.maxBatchingWindowSeconds !== undefined && v.maxBatchingWindowSeconds > timeoutSeconds) {
    problems.push(`"maxBatchingWindowSeconds" (${v.maxBatchingWindowSeconds}) must not exceed "timeoutSeconds" (${timeoutSeconds})`);
  }

  const cluster = clusterArn && !bootstrapServers ? parseClusterArn(clusterArn) : undefined;
  const kafkaAuthentication = v.kafkaAuthentication;
  if (bootstrapServers) {
    if (clusterArn) problems.push('"mskClusterArn" and "bootstrapServers" exclude each other: MSK, or self-managed Kafka');
    if (!regionKnob) problems.push('"region": is required with "bootstrapServers" (the region to deploy the bridge to). Example: -c region=eu-west-1');
    if (v.clusterSecurityGroupId) problems.push('"clusterSecurityGroupId" is for MSK; with self-managed Kafka the pollers use "kafkaSecurityGroupId"');
    const vpcKnobs = [v.kafkaVpcId, v.kafkaSubnetIds, v.kafkaSecurityGroupId].filter((x) => x !== undefined).length;
    if (vpcKnobs !== 0 && vpcKnobs !== 3) {
      problems.push('"kafkaVpcId", "kafkaSubnetIds" and "kafkaSecurityGroupId" go together: the VPC, subnets and security group of the pollers');
    }
    // Lambda reaches brokers outside a VPC only over the internet, which needs credentials.
    if (vpcKnobs === 0 && !kafkaSecretArn) {
      problems.push('"bootstrapServers" without "kafkaVpcId" means brokers on the internet: give "kafkaSecretArn" (SASL/SCRAM or mTLS)');
    }
  } else {
    for (const key of ['kafkaRootCaSecretArn', 'kafkaVpcId', 'kafkaSubnetIds', 'kafkaSecurityGroupId'] as const) {
      if (v[key] !== undefined) problems.push(`"${key}" is for self-managed Kafka ("bootstrapServers"); MSK gives Lambda its own subnets and groups`);
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
  // Secrets and keys must be in the region the stack deploys to.
  const regional = ['kafkaSecretArn', 'archestraTokenSecretArn', 'kafkaSecretKmsKeyArn', ...(cluster ? [] : ['kafkaRootCaSecretArn' as const])] as const;
  for (const key of regional) {
    const r = v[key]?.split(':')[3];
    if (!region || !r || r === region) continue;
    problems.push(
      cluster
        ? `"${key}" is in ${r} but the MSK cluster is in ${cluster.region}: the stack deploys to the cluster's region`
        : `"${key}" is in ${r} but "region" is ${region}: the stack deploys there`,
    );
  }

  let consumerGroupIds: Record<string, string> = {};
  if (topics) {
    const groupSetting = v.consumerGroupId;
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

  // The handler's own cold-start check of the routes file and of the environment the knobs give it, in the same pass.
  const environment = handlerEnvironment(v);
  const authKind = !kafkaSecretArn ? 'iam' : kafkaAuthentication === 'mtls' ? 'mtls' : 'scram';
  const found = checkHandler && routesExist ? handlerProblems(routesFile, environment, { topics: topics ?? [], msk: cluster !== undefined, kafkaAuth: authKind }) : [];
  if (problems.length || !(cluster || bootstrapServers) || !topics || !region || found.length > 1) {
    const all = [...problems, ...found.flatMap((f) => f.problems)];
    throw new ContextError(`Invalid CDK context:\n  - ${all.join('\n  - ')}\nEvery knob is described in docs/DEPLOYMENT.md.`);
  }
  // One kind of problem: its own error (the routes file's, the handler's, the replies').
  if (found.length) throw found[0].error;

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
  const { kafkaRootCaSecretArn, kafkaVpcId, kafkaSubnetIds, kafkaSecurityGroupId, vpcId, subnetIds } = v;
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
    startingPosition: v.startingPosition ?? KNOBS.startingPosition.default,
    batchSize: v.batchSize ?? KNOBS.batchSize.default,
    maxBatchingWindowSeconds: v.maxBatchingWindowSeconds,
    retryAttempts: v.retryAttempts ?? KNOBS.retryAttempts.default,
    maxRecordAgeSeconds: v.maxRecordAgeSeconds,
    bisectBatchOnError: v.bisectBatchOnError ?? KNOBS.bisectBatchOnError.default,
    provisionedPollers,
    kafkaAuth,
    routesFile,
    archestraUrl: v.archestraUrl,
    archestraTokenSecretArn,
    allowInsecureHttp: v.allowInsecureHttp ?? KNOBS.allowInsecureHttp.default,
    vpc: vpcId && subnetIds ? { vpcId, subnetIds, securityGroupIds: v.securityGroupIds } : undefined,
    ordering: v.ordering ?? KNOBS.ordering.default,
    maxConcurrency: v.maxConcurrency ?? KNOBS.maxConcurrency.default,
    handlerEnvironment: environment,
    timeoutSeconds,
    memorySize: v.memorySize ?? KNOBS.memorySize.default,
    reservedConcurrency: v.reservedConcurrency,
    logRetentionDays: v.logRetentionDays ?? KNOBS.logRetentionDays.default,
    logLevel: v.logLevel ?? KNOBS.logLevel.default,
    serviceName: v.serviceName ?? KNOBS.serviceName.default,
    metricsNamespace: v.metricsNamespace ?? KNOBS.metricsNamespace.default,
    alarmEmail: v.alarmEmail,
    offsetLagThreshold: v.offsetLagThreshold ?? KNOBS.offsetLagThreshold.default,
    idempotency: {
      enabled: v.idempotency ?? KNOBS.idempotency.default,
      ttlSeconds: v.idempotencyTtlSeconds ?? KNOBS.idempotencyTtlSeconds.default,
      pointInTimeRecovery: v.pointInTimeRecovery ?? KNOBS.pointInTimeRecovery.default,
    },
    // Default: consume only once the token is known to be set (an imported secret is the operator's own).
    enabled: v.enabled ?? archestraTokenSecretArn !== undefined,
    retainOnDelete: v.retainOnDelete ?? KNOBS.retainOnDelete.default,
    onFailure,
    clusterSecurityGroupId: v.clusterSecurityGroupId,
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
          recordFormat: v.schemaRecordFormat ?? 'JSON',
          validate: v.schemaValidation ?? ['VALUE'],
        }
      : undefined,
  };
}

/**
 * What the function would refuse at cold start: the routes file (the handler's schema, the schema files it
 * names) and the environment the knobs give it (lambda/config/settings.ts), with variable names in the
 * handler's messages turned into the knobs that set them; and replies the stack could not write.
 */
function handlerProblems(
  routesFile: string,
  environment: Record<string, string>,
  stack: Parameters<typeof replyProblems>[1],
): Array<{ problems: string[]; error: ConfigError }> {
  let routes: Route[];
  try {
    routes = loadRoutesFile(routesFile);
  } catch (e) {
    if (e instanceof RouteConfigError) return [{ problems: [e.message], error: e }];
    throw e;
  }
  const found: Array<{ problems: string[]; error: ConfigError }> = [];
  try {
    loadSettings({ ...STAND_INS, ...environment, ROUTES_CONFIG_FILE: routesFile });
  } catch (e) {
    if (!(e instanceof SettingsError)) throw e;
    const lines = e.message.split('\n  - ').slice(1).map(inKnobNames);
    const message = `the function would refuse this deployment at cold start:\n  - ${lines.join('\n  - ')}`;
    found.push({ problems: lines, error: new SettingsError(message, { cause: e }) });
  }
  const replies = replyProblems(routes, stack);
  if (replies.length) {
    const lines = replies.map((p) => `routesFile ${routesFile}: ${p}`);
    found.push({ problems: lines, error: new ReplyDestinationsError(`routesFile ${routesFile}:\n  - ${replies.join('\n  - ')}`) });
  }
  return found;
}

/** `set ALLOW_INSECURE_HTTP=true` -> `-c allowInsecureHttp=true`; `ARCHESTRA_URL` -> `"archestraUrl"`; other names stay. */
export function inKnobNames(text: string): string {
  return text
    .replace(/(?:\bset )?\b([A-Z][A-Z0-9_]+)=(\S+)/g, (all, name: string, value: string) => {
      const k = knobOfEnv(name);
      return k ? `-c ${k}=${value}` : all;
    })
    .replace(/\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b/g, (name) => {
      const k = knobOfEnv(name);
      return k ? `"${k}"` : name;
    });
}

/**
 * Context keys that look like a misspelt knob (case, or one or two characters off), with the knob
 * they probably meant. Other keys (CDK flags, lookups, CLI settings) are none of our business.
 */
export function unknownContextKeys(all: Record<string, unknown>): Array<{ key: string; knob: ContextKey }> {
  const known = new Set<string>(CONTEXT_KEYS);
  return Object.keys(all).flatMap((key) => {
    if (known.has(key)) return [];
    const knob = CONTEXT_KEYS.find((k) => k.toLowerCase() === key.toLowerCase() || editDistance(k, key) <= 2);
    return knob ? [{ key, knob }] : [];
  });
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
