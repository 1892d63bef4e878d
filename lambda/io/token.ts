// The token edge: ARCHESTRA_TOKEN for local use, or a Secrets Manager secret cached across warm
// invocations. The token is never logged and never part of an error message.
// The secret is read with the lean AWS JSON client (lambda/io/aws-json-secrets.ts), not @aws-sdk/client-secrets-manager:
// with the SDK client W3 (bench/w3-cold-start.ts) measured a cold start that reads the secret at 160-210 ms from spawn
// to answer against 60-71 ms with ARCHESTRA_TOKEN, most of the difference loading that client and making its first
// call; with this one, 64 ms against 59 ms (medians of 10, same machine).
import { readSecretString, type SecretReadOptions } from './aws-json-secrets';
import { tokenProblem } from '../config/settings';
import { BridgeError } from '../errors';
import type { TokenSource } from '../ports';

export class TokenUnavailableError extends BridgeError {
  constructor(
    message: string,
    /** `token_invalid`: the secret holds something that cannot be a bearer token (a configuration error). */
    readonly code: 'token_unavailable' | 'token_invalid' = 'token_unavailable',
    options?: ErrorOptions,
  ) {
    super(code, message, options);
    this.name = 'TokenUnavailableError';
  }
}

/** One read, retries included, never takes longer than this (nor past the caller's signal). */
const READ_BUDGET_MS = 10_000;
/** After a failed read, a cached token is reused without asking again for this long (no hammering a throttled store). */
const RETRY_AFTER_FAILURE_MS = 5_000;

export interface TokenOptions {
  token?: string;
  secretArn?: string;
  ttlMs: number;
  /** Endpoint, credentials, transport of the secret read (default: the Lambda environment's). */
  secrets?: SecretReadOptions;
  now?: () => number;
}

/** The secret string is the token itself, or JSON `{"token": "..."}`; surrounding whitespace is dropped. */
export function tokenFromSecret(secret: string): string {
  const trimmed = secret.trim();
  let token = trimmed;
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      // No cause: JSON.parse's message quotes the text it read, here the secret.
      throw new TokenUnavailableError('secret looks like JSON but does not parse', 'token_invalid');
    }
    const t = (parsed as { token?: unknown }).token;
    if (typeof t !== 'string' || t.trim() === '') throw new TokenUnavailableError('secret JSON has no non-empty "token" field', 'token_invalid');
    token = t.trim();
  }
  if (token === '') throw new TokenUnavailableError('secret is empty', 'token_invalid');
  const problem = tokenProblem(token);
  if (problem) throw new TokenUnavailableError(`the token in the secret ${problem}`, 'token_invalid');
  return token;
}

/** `p`, or a TokenUnavailableError when `signal` fires first (the read itself is abandoned, not awaited). */
function until<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  return new Promise<T>((resolve, reject) => {
    const fail = () => reject(new TokenUnavailableError('reading the token took longer than the time left in this invocation'));
    if (signal.aborted) return fail();
    signal.addEventListener('abort', fail, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', fail));
  });
}

export function createTokenSource(o: TokenOptions): TokenSource {
  const { secretArn } = o;
  if (!secretArn) return { fixed: true, get: async () => o.token || undefined };
  const now = o.now ?? Date.now;
  let cached: { token: string; at: number } | undefined;
  let failedAt = -Infinity;
  let lastError: unknown;
  let inFlight: Promise<string> | undefined;
  const load = async (signal?: AbortSignal): Promise<string> => {
    const budget = AbortSignal.timeout(READ_BUDGET_MS);
    let secret: string | undefined;
    try {
      // Each attempt has 5 s from connect to last byte; 3 attempts on throttling, 5xx and network faults.
      secret = await readSecretString(secretArn, signal ? AbortSignal.any([budget, signal]) : budget, { maxAttempts: 3, attemptTimeoutMs: 5000, ...o.secrets });
    } catch (e) {
      const err = e as { name?: string; message?: string };
      throw new TokenUnavailableError(`cannot read the token secret: ${err.name ?? 'Error'}: ${err.message ?? ''}`.trim(), 'token_unavailable', { cause: e });
    }
    if (secret === undefined) throw new TokenUnavailableError('token secret has no SecretString', 'token_invalid');
    const token = tokenFromSecret(secret);
    cached = { token, at: now() };
    return token;
  };
  return {
    fixed: false,
    async get(opts = {}) {
      const { fresherThan, signal } = opts;
      // The cached value was refused after it was read: only a new read will do.
      const mustRead = cached !== undefined && fresherThan !== undefined && cached.at < fresherThan;
      if (cached && !mustRead && (now() - cached.at < o.ttlMs || now() - failedAt < RETRY_AFTER_FAILURE_MS)) return cached.token;
      if (mustRead && !inFlight && now() - failedAt < RETRY_AFTER_FAILURE_MS) throw lastError;
      // One read at a time: concurrent callers share it instead of hammering Secrets Manager.
      inFlight ??= load(signal)
        .catch((err: unknown) => {
          failedAt = now();
          lastError = err;
          throw err;
        })
        .finally(() => (inFlight = undefined));
      try {
        return await until(inFlight, signal);
      } catch (err) {
        // A refresh that fails keeps the cached value in use until the agent refuses it.
        if (cached && !mustRead) return cached.token;
        throw err;
      }
    },
  };
}
