// The token edge: ARCHESTRA_TOKEN for local use, or a Secrets Manager secret cached across warm
// invocations. The token is never logged and never part of an error message.
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { TokenSource } from '../deliver/agent-client';

export class TokenUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenUnavailableError';
  }
}

/** One read, retries included, never takes longer than this. */
const READ_BUDGET_MS = 10_000;

export interface TokenOptions {
  token?: string;
  secretArn?: string;
  ttlMs: number;
  client?: SecretsManagerClient;
  now?: () => number;
}

/** The secret string is the token itself, or JSON `{"token": "..."}`. */
export function tokenFromSecret(secret: string): string {
  const trimmed = secret.trim();
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new TokenUnavailableError('secret looks like JSON but does not parse');
    }
    const t = (parsed as { token?: unknown }).token;
    if (typeof t !== 'string' || t === '') throw new TokenUnavailableError('secret JSON has no non-empty "token" field');
    return t;
  }
  if (trimmed === '') throw new TokenUnavailableError('secret is empty');
  return trimmed;
}

export function createTokenSource(o: TokenOptions): TokenSource {
  if (!o.secretArn) return { get: async () => o.token || undefined };
  const now = o.now ?? Date.now;
  let client = o.client;
  let cached: { token: string; at: number } | undefined;
  let inFlight: Promise<string> | undefined;
  // Loaded at the first read rather than at module load: the SDK's evaluation is most of a cold start.
  let sdk: Promise<typeof import('@aws-sdk/client-secrets-manager')> | undefined;
  const load = async (): Promise<string> => {
    const { GetSecretValueCommand, SecretsManagerClient } = await (sdk ??= import('@aws-sdk/client-secrets-manager'));
    // throwOnRequestTimeout: without it the handler only warns and a silent endpoint hangs the read forever.
    client ??= new SecretsManagerClient({ maxAttempts: 3, requestHandler: { requestTimeout: 5000, connectionTimeout: 2000, throwOnRequestTimeout: true } });
    let secret: string | undefined;
    try {
      const res = await client.send(new GetSecretValueCommand({ SecretId: o.secretArn }), { abortSignal: AbortSignal.timeout(READ_BUDGET_MS) });
      secret = res.SecretString;
    } catch (e) {
      const err = e as { name?: string; message?: string };
      throw new TokenUnavailableError(`cannot read the token secret: ${err.name ?? 'Error'}: ${err.message ?? ''}`.trim());
    }
    if (secret === undefined) throw new TokenUnavailableError('token secret has no SecretString');
    const token = tokenFromSecret(secret);
    cached = { token, at: now() };
    return token;
  };
  return {
    async get(refresh = false) {
      if (!refresh && cached && now() - cached.at < o.ttlMs) return cached.token;
      // One read at a time: concurrent callers share it instead of hammering Secrets Manager.
      inFlight ??= load().finally(() => (inFlight = undefined));
      return inFlight;
    },
  };
}
