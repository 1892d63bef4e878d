// The project's one Kafka client (kafkajs), built from flags and the environment for the operator tools
// (`npm run consume`, `npm run replay`). Tooling only: nothing under lambda/ imports it, so it never enters the
// function's bundle. Authentication as Lambda's event source mapping offers it: MSK IAM (SASL/OAUTHBEARER with
// a token from aws-msk-iam-sasl-signer-js), SASL/SCRAM, and plaintext for a local or development cluster.
import { readFileSync } from 'node:fs';
import { Kafka, logLevel, type KafkaConfig, type LogEntry, type SASLOptions } from 'kafkajs';
import { generateAuthToken } from 'aws-msk-iam-sasl-signer-js';

export type KafkaAuth = 'none' | 'iam' | 'scram-sha-512' | 'scram-sha-256';
export const KAFKA_AUTHS: readonly KafkaAuth[] = ['none', 'iam', 'scram-sha-512', 'scram-sha-256'];

export interface KafkaConnection {
  brokers: string[];
  auth: KafkaAuth;
  tls: boolean;
  /** PEM file of the CA that signed the brokers' certificates (default: Node's trust store). */
  caFile?: string;
  /** SCRAM credentials: from the environment only, so they stay out of shell history and `ps`. */
  username?: string;
  password?: string;
  /** IAM: the region of the cluster, which the token is signed for. */
  region?: string;
  clientId: string;
}

/** What the tools accept on the command line; every field falls back to the environment. */
export interface KafkaFlags {
  brokers?: string;
  auth?: string;
  tls?: boolean;
  'no-tls'?: boolean;
  ca?: string;
  region?: string;
}

/** Kafka itself failed (unreachable, refused): the command ends with exit status 1 and this one line. */
export class KafkaRunError extends Error {}

export class KafkaConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.length === 1 ? problems[0] : `invalid Kafka connection settings:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'KafkaConfigError';
  }
}

/** For runCli: a Kafka setting that cannot work is a usage error (2), a Kafka failure during the run is 1. */
export const KAFKA_ERRORS = [
  { error: KafkaConfigError, code: 2 },
  { error: KafkaRunError, code: 1 },
] as const;

/** Help text shared by the tools, so they describe the connection the same way. */
export const KAFKA_USAGE = `Kafka connection (flags win over the environment):
  --brokers LIST        bootstrap servers host:port,... (KAFKA_BROKERS)
  --auth MODE           none (default), iam (MSK IAM, SASL/OAUTHBEARER), scram-sha-512 or scram-sha-256 (KAFKA_AUTH);
                        SCRAM reads KAFKA_USERNAME and KAFKA_PASSWORD from the environment
  --tls / --no-tls      TLS to the brokers (KAFKA_TLS=true|false); default on for iam and scram, off for none
  --ca FILE             PEM bundle of the brokers' CA (KAFKA_CA_FILE); default Node's trust store
  --region REGION       iam: the cluster's region (AWS_REGION); credentials from the AWS default chain`;

export const KAFKA_PARSE_OPTIONS = {
  brokers: { type: 'string' },
  auth: { type: 'string' },
  tls: { type: 'boolean' },
  'no-tls': { type: 'boolean' },
  ca: { type: 'string' },
  region: { type: 'string' },
} as const;

const HOST_PORT = /^(?:\[[0-9a-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/i;

function parseBool(name: string, v: string, problems: string[]): boolean | undefined {
  if (/^(true|1|yes)$/i.test(v)) return true;
  if (/^(false|0|no)$/i.test(v)) return false;
  problems.push(`${name} must be true or false, got "${v}"`);
  return undefined;
}

/** Validates flags and environment together and names every problem at once. */
export function kafkaConnection(flags: KafkaFlags, env: NodeJS.ProcessEnv = process.env, clientId = 'kafka-a2a-bridge-tools'): KafkaConnection {
  const problems: string[] = [];
  const brokersText = flags.brokers ?? env.KAFKA_BROKERS ?? '';
  const brokers = brokersText.split(',').map((b) => b.trim()).filter(Boolean);
  if (brokers.length === 0) problems.push('no Kafka brokers: give --brokers host:port,... or set KAFKA_BROKERS');
  for (const b of brokers) if (!HOST_PORT.test(b) || Number(b.slice(b.lastIndexOf(':') + 1)) > 65535) problems.push(`broker "${b}" is not host:port`);

  const authText = (flags.auth ?? env.KAFKA_AUTH ?? 'none').toLowerCase();
  const auth = KAFKA_AUTHS.includes(authText as KafkaAuth) ? (authText as KafkaAuth) : undefined;
  if (!auth) problems.push(`--auth must be one of ${KAFKA_AUTHS.join(', ')}, got "${authText}"`);

  if (flags.tls && flags['no-tls']) problems.push('give --tls or --no-tls, not both');
  let tls: boolean | undefined = flags.tls ? true : flags['no-tls'] ? false : undefined;
  if (tls === undefined && env.KAFKA_TLS !== undefined && env.KAFKA_TLS !== '') tls = parseBool('KAFKA_TLS', env.KAFKA_TLS, problems);
  // MSK serves IAM on 9098 and SCRAM on 9096, both TLS only.
  tls ??= auth !== undefined && auth !== 'none';

  const caFile = flags.ca ?? (env.KAFKA_CA_FILE || undefined);
  if (caFile !== undefined) {
    if (!tls) problems.push('--ca needs TLS (--tls)');
    try {
      readFileSync(caFile);
    } catch (e) {
      problems.push(`cannot read the CA file ${caFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }

  let username: string | undefined;
  let password: string | undefined;
  if (auth === 'scram-sha-512' || auth === 'scram-sha-256') {
    username = env.KAFKA_USERNAME || undefined;
    password = env.KAFKA_PASSWORD || undefined;
    if (!username || !password) problems.push(`--auth ${auth} needs KAFKA_USERNAME and KAFKA_PASSWORD in the environment (for MSK: the user of the AmazonMSK_ secret)`);
  }
  let region: string | undefined;
  if (auth === 'iam') {
    region = flags.region ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined);
    if (!region) problems.push('--auth iam needs the cluster\'s region: --region or AWS_REGION');
    else if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) problems.push(`"${region}" is not an AWS region`);
    if (tls === false) problems.push('--auth iam needs TLS: MSK serves IAM authentication on its TLS listener (port 9098) only');
  }
  if (problems.length) throw new KafkaConfigError(problems);
  return { brokers, auth: auth!, tls, clientId, ...(caFile ? { caFile } : {}), ...(username ? { username, password } : {}), ...(region ? { region } : {}) };
}

/** The OAUTHBEARER token provider for MSK IAM: a SigV4-presigned `kafka-cluster:Connect` request, renewed per connection. */
export function mskIamTokenProvider(region: string): () => Promise<{ value: string }> {
  return async () => {
    try {
      const { token } = await generateAuthToken({ region });
      return { value: token };
    } catch (e) {
      throw new Error(`MSK IAM: could not sign the authentication token with the AWS default credentials: ${(e as Error).message}`);
    }
  };
}

/** The kafkajs configuration for a connection (exported for tests; createKafka is what tools call). */
export function kafkaConfig(c: KafkaConnection, o: { log?: (line: string) => void; retries?: number } = {}): KafkaConfig {
  let sasl: SASLOptions | undefined;
  if (c.auth === 'iam') sasl = { mechanism: 'oauthbearer', oauthBearerProvider: mskIamTokenProvider(c.region!) };
  else if (c.auth === 'scram-sha-512' || c.auth === 'scram-sha-256') sasl = { mechanism: c.auth, username: c.username!, password: c.password! };
  const ssl = c.tls ? (c.caFile ? { ca: [readFileSync(c.caFile, 'utf8')] } : true) : false;
  const log = o.log;
  return {
    clientId: c.clientId,
    brokers: c.brokers,
    ssl,
    ...(sasl ? { sasl } : {}),
    connectionTimeout: 5000,
    // A tool should say quickly that a cluster is unreachable rather than retry for half a minute.
    retry: { retries: o.retries ?? 3, initialRetryTime: 300, maxRetryTime: 3000 },
    logLevel: log ? logLevel.INFO : logLevel.NOTHING,
    logCreator: () => (entry: LogEntry) => {
      if (!log) return;
      const { message, ...extra } = entry.log;
      log(JSON.stringify({ level: logLevel[entry.level], source: 'kafkajs', namespace: entry.namespace, message, ...extra }));
    },
  };
}

export function createKafka(c: KafkaConnection, o: { log?: (line: string) => void; retries?: number } = {}): Kafka {
  return new Kafka(kafkaConfig(c, o));
}

/** One line for an operator: what failed, where, and the likely cause; never a credential. */
export function describeKafkaError(e: unknown, c: Pick<KafkaConnection, 'brokers' | 'auth' | 'tls'>): string {
  const err = e as Error & { name?: string; cause?: Error; originalError?: Error };
  const root = err.originalError ?? err.cause;
  const what = `${err.message}${root?.message && !err.message.includes(root.message) ? ` (${root.message})` : ''}`;
  const where = `${c.brokers.join(',')} (auth ${c.auth}, ${c.tls ? 'TLS' : 'plaintext'})`;
  if (c.auth !== 'none' && err.name === 'KafkaJSServerDoesNotSupportApiKey') {
    // The SASL handshake itself was refused: the brokers listen without SASL on that port.
    return `the brokers at ${where} do not offer SASL authentication on this port (MSK listens with SCRAM on 9096 and IAM on 9098): ${what}`;
  }
  if (/SASL|authenticat/i.test(`${err.name} ${what}`)) return `Kafka refused the credentials at ${where}: ${what}`;
  if (/Connection|ECONNREFUSED|ENOTFOUND|ETIMEDOUT|timeout|NumberOfRetriesExceeded/i.test(`${err.name} ${what}`)) {
    return `cannot reach Kafka at ${where}: ${what}`;
  }
  return `Kafka error at ${where}: ${what}`;
}
