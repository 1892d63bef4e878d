// Archestra's authentication as the simulator plays it: a bearer token per agent, and the IP lockout after
// too many failed authentications (answered 429 before any token check).
import { fastifyError, HttpReply } from './http';
import type { JsonRpcId } from './types';

function rpcAuthError(id: JsonRpcId, message: string) {
  return { jsonrpc: '2.0', id, error: { code: -32600, message } };
}

/** Throws the HttpReply of a missing or refused token; `accepted` undefined: any non-empty bearer token. */
export function checkAuth(headers: Record<string, string>, accepted: string[] | undefined, id: JsonRpcId, failureStatus: number): void {
  const m = /^Bearer\s+(\S.*)$/i.exec(headers.authorization ?? '');
  const token = m?.[1].trim();
  if (!token) {
    throw new HttpReply(
      failureStatus,
      rpcAuthError(id, 'Authentication required: Authorization header required. Use: Bearer <platform_token>'),
      failureStatus === 401 ? { 'www-authenticate': 'Bearer realm="a2a"' } : {},
    );
  }
  if (accepted && !accepted.includes(token)) {
    throw new HttpReply(
      failureStatus,
      rpcAuthError(id, 'Authentication failed: Invalid or unauthorized token'),
      failureStatus === 401 ? { 'www-authenticate': 'Bearer realm="a2a", error="invalid_token"' } : {},
    );
  }
}

/** The bearer token of an OpenAI-style request, if any. */
export const bearerOf = (headers: Record<string, string>): string | undefined => /^Bearer\s+(\S.*)$/i.exec(headers.authorization ?? '')?.[1].trim();

/** Failed authentications within a sliding window; past `maxFailures` every request is refused with 429. */
export class AuthLockout {
  private readonly failures: number[] = [];

  constructor(private readonly spec: { maxFailures: number; windowMs: number } | undefined) {}

  /** Throws the 429 while locked out. */
  check(): void {
    if (!this.spec) return;
    const { maxFailures, windowMs } = this.spec;
    while (this.failures.length && this.failures[0] <= Date.now() - windowMs) this.failures.shift();
    if (this.failures.length >= maxFailures) {
      const retryAfter = Math.max(1, Math.ceil((this.failures[0] + windowMs - Date.now()) / 1000));
      throw new HttpReply(429, fastifyError(429, 'Too many failed authentication attempts, please try again later'), { 'retry-after': String(retryAfter) });
    }
  }

  failed(): void {
    this.failures.push(Date.now());
  }
}
