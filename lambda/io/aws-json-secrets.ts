// Secrets Manager's GetSecretValue over the lean AWS JSON client (lambda/io/aws-json.ts): the token secret
// (lambda/io/token.ts) and the reply-Kafka SASL secret (lambda/compose.ts) are read with it, not with
// @aws-sdk/client-secrets-manager, whose loading and first call were most of a cold start that reads a secret.
import { AwsError, createAwsJsonClient, envCredentials, type AwsJsonOptions, type AwsJsonService } from './aws-json';

/** The SDK's throttling names, and Secrets Manager's own 5xx. */
const RETRYABLE = new Set(['ThrottlingException', 'Throttling', 'TooManyRequestsException', 'RequestLimitExceeded', 'InternalServiceError']);

const SECRETS_MANAGER: AwsJsonService = {
  label: 'Secrets Manager',
  signingName: 'secretsmanager',
  endpointEnv: 'AWS_ENDPOINT_URL_SECRETS_MANAGER',
  targetPrefix: 'secretsmanager',
  jsonVersion: '1.1',
  error: (name, message, status) => new AwsError(name, message, status, status >= 500 || status === 429 || RETRYABLE.has(name), 'secretsmanager_error'),
  // The SDK's default retry base.
  backoffBaseMs: 100,
  attemptTimeoutMs: 5000,
};

/** The region a secret's ARN names (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME); undefined for a plain name. */
export const arnRegion = (secretId: string): string | undefined => /^arn:[^:]+:secretsmanager:([^:]+):/.exec(secretId)?.[1];

/** Region: the ARN's, else AWS_REGION; endpoint: AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ENDPOINT_URL, else the regional one. */
export type SecretReadOptions = AwsJsonOptions;

/** The secret's SecretString; undefined when it has none (a binary secret). Errors: AwsError, HttpError, AbortError. */
export async function readSecretString(secretId: string, signal?: AbortSignal, o: SecretReadOptions = {}): Promise<string | undefined> {
  const region = o.region ?? arnRegion(secretId);
  if (!o.credentials && !envCredentials(o.env ?? process.env)) return readWithSdk(secretId, region, signal);
  const client = createAwsJsonClient(SECRETS_MANAGER, { ...o, ...(region && { region }) });
  const reply = await client.send<{ SecretString?: unknown }>('GetSecretValue', { SecretId: secretId }, signal);
  return typeof reply.SecretString === 'string' ? reply.SecretString : undefined;
}

/**
 * Outside Lambda (the doctor, a local invoke) the credentials may be a profile's, SSO's or a container role's, which
 * only the SDK's provider chain resolves. Lambda always puts them in the environment, so it never loads the SDK.
 */
async function readWithSdk(secretId: string, region: string | undefined, signal: AbortSignal | undefined): Promise<string | undefined> {
  const { GetSecretValueCommand, SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
  // throwOnRequestTimeout: without it the handler only warns and a silent endpoint hangs the read forever.
  const client = new SecretsManagerClient({ ...(region && { region }), maxAttempts: 3, requestHandler: { requestTimeout: 5000, connectionTimeout: 5000, throwOnRequestTimeout: true } });
  try {
    return (await client.send(new GetSecretValueCommand({ SecretId: secretId }), { abortSignal: signal })).SecretString;
  } finally {
    client.destroy();
  }
}
