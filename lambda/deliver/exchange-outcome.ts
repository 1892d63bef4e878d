// Did a failed exchange possibly run the agent? Pure: the agent client asks before it retries.
// Archestra's /v1/a2a ignores `messageId` and keeps running when the connection drops, so a request whose
// body may have been read must not be sent again blindly: only `not_started` is retried.
import type { AgentAnswer } from './a2a-protocol';

export type ExchangeFate =
  /** The agent answered with a verdict (success, task, or a classified failure). */
  | 'answered'
  /** Provably not run, or the run failed and says so: safe to send again. */
  | 'not_started'
  /** The body was (or may have been) read and no verdict came back: the agent may be running it. */
  | 'unknown';

/** Answers that say the request was refused before the agent ran: a rate limit, overload, request timeout. */
const NOT_STARTED_STATUS = new Set([408, 429, 503]);

export type ExchangeFacts =
  /** The HTTP edge threw: `sent` is HttpError's (false only when no byte can have reached the server). */
  | { thrown: { code: string; sent: boolean } }
  /** An HTTP reply came back and was interpreted. */
  | { status: number; out: AgentAnswer };

export function exchangeFate(x: ExchangeFacts): ExchangeFate {
  if ('thrown' in x) {
    if (!x.thrown.sent) return 'not_started';
    // A reply too large to read is still a reply: its verdict (permanent) stands.
    return x.thrown.code === 'reply_too_large' ? 'answered' : 'unknown';
  }
  const { status, out } = x;
  if (out.kind !== 'failure' || out.failure !== 'transient') return 'answered';
  // A JSON-RPC error object is the platform's own answer: the run ended in that error and may be retried.
  if (out.code.startsWith('jsonrpc_')) return 'not_started';
  if (NOT_STARTED_STATUS.has(status)) return 'not_started';
  // 500/502/504 from a proxy or a crashed server, or a 200 that is not the agent's JSON: no verdict.
  return 'unknown';
}
