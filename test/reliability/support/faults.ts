// The fault-injecting agent: a seeded schedule over the Archestra sim's per-request `behaviour` hook.
// Each request's fault is drawn from (batch seed, JSON-RPC id, attempt): the same request always meets the
// same fault, whatever order concurrent requests arrive in.
import { isGetTask, isSend, type Behaviour, type Reply, type SimRequest } from '../../../sim/archestra';
import { draw, weighted } from './prng';

/** Every fault the schedule can inject on a message send (`none` is a normal answer). */
export const SEND_FAULTS = [
  'reset', // TCP RST, no answer: transient
  'hang', // no answer until the client's timeout: transient
  'slow', // the full answer, trickled in small chunks: delivered
  'slow_stall', // headers and part of the body, then silence until the timeout: transient
  'http_500',
  'http_502',
  'http_503',
  'http_429_retry_after', // with Retry-After (delay-seconds or an HTTP date in the past)
  'http_429', // without Retry-After: exponential backoff
  'rpc_retryable', // HTTP 200, JSON-RPC -32603 {isRetryable: true}: transient
  'rpc_permanent', // HTTP 200, JSON-RPC -32602: permanent, dead-lettered
  'rpc_internal', // HTTP 200, JSON-RPC -32603 without isRetryable: retried, then permanent
  'llm_permanent', // HTTP 200, JSON-RPC -32603 {isRetryable: false}: permanent
  'malformed', // HTTP 200 with a body that is not JSON: permanent
  'truncated', // Content-Length of the whole answer, half of it, then the connection closed: transient
  'wrong_id', // a normal answer carrying another JSON-RPC id: permanent
  'task_never', // a Task that stays `working` forever: given up after the route timeout, transient
  'task_polled', // a Task that completes on its first poll: delivered
  'task_failed', // a Task that ended `failed`: permanent
] as const;
export type SendFault = (typeof SEND_FAULTS)[number];

/** Faults on a tasks/get poll. */
export const POLL_FAULTS = ['poll_reset', 'poll_http_503', 'poll_malformed'] as const;
export type PollFault = (typeof POLL_FAULTS)[number];

export type FaultKind = SendFault | PollFault;

/** Relative frequency of each send fault. Faults that cost wall time (timeouts, polls) are rarer. */
const SEND_WEIGHTS: Record<SendFault, number> = {
  reset: 8,
  hang: 2,
  slow: 4,
  slow_stall: 1,
  http_500: 6,
  http_502: 6,
  http_503: 8,
  http_429_retry_after: 6,
  http_429: 6,
  rpc_retryable: 6,
  rpc_permanent: 4,
  rpc_internal: 3,
  llm_permanent: 3,
  malformed: 4,
  truncated: 6,
  wrong_id: 3,
  task_never: 1,
  task_polled: 2,
  task_failed: 2,
};
const POLL_WEIGHTS: Record<PollFault, number> = { poll_reset: 3, poll_http_503: 3, poll_malformed: 1 };

export function replyFor(kind: FaultKind, u: number): Reply {
  switch (kind) {
    case 'reset':
    case 'poll_reset':
      return { kind: 'reset' };
    case 'hang':
      return { kind: 'hang' };
    case 'slow':
      return { kind: 'slow', chunkBytes: 48, intervalMs: 3 };
    case 'slow_stall':
      return { kind: 'slow', chunkBytes: 16, intervalMs: 2, stallAfterBytes: 32 };
    case 'http_500':
      return { kind: 'http', status: 500 };
    case 'http_502':
      return { kind: 'http', status: 502, contentType: 'text/html', body: '<html><body>502 Bad Gateway</body></html>' };
    case 'http_503':
    case 'poll_http_503':
      return { kind: 'http', status: 503 };
    case 'http_429_retry_after':
      return { kind: 'http', status: 429, retryAfter: u < 0.5 ? 0 : new Date(Date.now() - 5000).toUTCString() };
    case 'http_429':
      return { kind: 'http', status: 429 };
    case 'rpc_retryable':
      return { kind: 'llmError', retryable: true };
    case 'rpc_permanent':
      return { kind: 'rpcError', code: -32602, message: 'Invalid params' };
    case 'rpc_internal':
      return { kind: 'rpcError', code: -32603, message: 'Internal error' };
    case 'llm_permanent':
      return { kind: 'llmError', retryable: false };
    case 'malformed':
    case 'poll_malformed':
      return { kind: 'malformed' };
    case 'truncated':
      return { kind: 'truncated' };
    case 'wrong_id':
      return { kind: 'wrongId' };
    case 'task_never':
      return { kind: 'task', never: true };
    case 'task_polled':
      return { kind: 'task', afterPolls: 1 };
    case 'task_failed':
      return { kind: 'task', finalState: 'failed' };
  }
}

export interface Injection {
  seq: number;
  rpcId: string;
  method: string;
  attempt: number | undefined;
  kind: FaultKind | 'none';
}

export interface FaultSchedule {
  behaviour: Behaviour;
  /** What was injected, by the sim's request seq. */
  injected: Map<number, Injection>;
}

/**
 * `rate` is the probability that a request meets a fault. A send's draw depends on its id and attempt
 * number (retries draw again); a poll's on its id (which carries the poll's sequence number).
 */
export function faultSchedule(seed: number, rate: number): FaultSchedule {
  const injected = new Map<number, Injection>();
  const behaviour: Behaviour = (req: SimRequest) => {
    const rpcId = typeof req.id === 'string' ? req.id : String(req.id);
    const attempt = isSend(req) ? req.attempt ?? 1 : 0;
    let kind: FaultKind | 'none' = 'none';
    if (draw(seed, 'fault?', rpcId, attempt) < rate) {
      const u = draw(seed, 'which', rpcId, attempt);
      if (isSend(req)) kind = weighted(SEND_WEIGHTS, u);
      else if (isGetTask(req)) kind = weighted(POLL_WEIGHTS, u);
    }
    injected.set(req.seq, { seq: req.seq, rpcId, method: req.method ?? '', attempt: isSend(req) ? attempt : undefined, kind });
    if (kind === 'none') {
      // A normal answer: mostly a Message, sometimes an already completed Task (both are Archestra replies).
      return isSend(req) && draw(seed, 'task-reply', rpcId, attempt) < 0.15 ? { kind: 'task' } : undefined;
    }
    return replyFor(kind, draw(seed, 'detail', rpcId, attempt));
  };
  return { behaviour, injected };
}
