// The fault-injecting agent: a seeded schedule over the Archestra sim's per-request `behaviour` hook.
// Each request's fault is drawn from (batch seed, JSON-RPC id, attempt): the same request always meets the
// same fault, whatever order concurrent requests arrive in.
import { isGetTask, isSend, type Behaviour, type Reply, type SimRequest } from '../../../sim/archestra';
import type { ProxyAction } from '../../support/fault-proxy';
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
  'auth_401', // HTTP 401 + JSON-RPC -32600: the token refused; reported, and the token not sent again
  'auth_rpc', // HTTP 200 + JSON-RPC -32600 about the token (Archestra's own answer): the same
  'auth_lockout', // HTTP 429 "too many failed authentication attempts" (Archestra's IP lockout): the same
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
  // One refusal stops every Archestra request of the batch (the token is remembered refused): kept rare.
  auth_401: 1,
  auth_rpc: 1,
  auth_lockout: 1,
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
    case 'auth_401':
      return { kind: 'rpcError', status: 401, code: -32600, message: 'Authentication failed: Invalid or unauthorized token' };
    case 'auth_rpc':
      return { kind: 'rpcError', code: -32600, message: 'Authentication failed: Invalid or unauthorized token' };
    case 'auth_lockout':
      return { kind: 'http', status: 429, retryAfter: 60, body: { statusCode: 429, error: 'Too Many Requests', message: 'Too many failed authentication attempts, please try again later' } };
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

// ---- AWS faults (Secrets Manager, DynamoDB) behind test/support/fault-proxy ---------------------------------

/** What the proxy in front of moto (Secrets Manager) or dynalite (DynamoDB) does to one call. */
export const AWS_FAULTS = ['aws_throttle', 'aws_500', 'aws_slow', 'aws_hang'] as const;
export type AwsFault = (typeof AWS_FAULTS)[number];

const AWS_WEIGHTS: Record<AwsFault, number> = { aws_throttle: 4, aws_500: 3, aws_slow: 3, aws_hang: 2 };

/** The error bodies each service's JSON protocol uses for throttling. */
const THROTTLE: Record<'secrets' | 'dynamo', string> = {
  secrets: JSON.stringify({ __type: 'ThrottlingException', message: 'Rate exceeded' }),
  dynamo: JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException', message: 'Rate exceeded' }),
};

/**
 * A seeded decision per proxied call (by the service and the call's sequence number). `hang` (no answer until
 * the bridge's deadline aborts the call) is only drawn when `hangs` is on: the batches with little time left.
 */
export function awsFaultSchedule(seed: number, service: 'secrets' | 'dynamo', rate: number, hangs: boolean) {
  const injected: Partial<Record<AwsFault, number>> = {};
  const decide = (r: { seq: number }): ProxyAction => {
    if (rate === 0 || draw(seed, service, 'fault?', r.seq) >= rate) return 'pass';
    let kind = weighted(AWS_WEIGHTS, draw(seed, service, 'which', r.seq));
    if (kind === 'aws_hang' && !hangs) kind = 'aws_slow';
    injected[kind] = (injected[kind] ?? 0) + 1;
    switch (kind) {
      case 'aws_throttle':
        return { status: 400, body: THROTTLE[service] };
      case 'aws_500':
        return { status: 500, body: JSON.stringify({ __type: 'InternalFailure', message: 'injected' }) };
      case 'aws_slow':
        return { delayMs: 20 + Math.floor(draw(seed, service, 'delay', r.seq) * 150) };
      case 'aws_hang':
        return 'hang';
    }
  };
  return { decide, injected };
}
