// A2A wire format, both versions, as pure functions: request bodies in, classified outcomes out.
// Kept free of I/O so every reply shape and error class is unit-testable without a server.
// Over 200 lines: both protocol versions' bodies and the one classifier of their replies; the classifier must see
// every shape side by side so that no reply is classified two ways.

import type { FateCode } from '../fate';

export type A2AVersion = '0.3' | '1.0';

export interface OutgoingMessage {
  /** JSON-RPC id; deterministic per record and route so a redelivery is recognisable. */
  rpcId: string;
  messageId: string;
  text: string;
  metadata: Record<string, unknown>;
  /** Extra HTTP headers of the request (allow-listed record headers, W3C trace context). */
  headers?: Record<string, string>;
  /** The conversation to continue (lambda/conversation.ts): the contextId the agent returned for this key. */
  contextId?: string;
}

/** What an interrupted or failed task said about itself: kept with the record (task mode, awaiting_input). */
export interface TaskFacts {
  taskId: string;
  contextId?: string;
  /** input-required: the tool calls waiting for a person's approval, as the agent sent them. */
  approvalRequests?: unknown[];
}

export type FailureClass =
  /** Retry with backoff; once retries are spent, report the record to Lambda (redelivered later). */
  | 'transient'
  /** Dead-letter now. */
  | 'permanent'
  /** The credential was refused: remember the refusal (see CredentialGate), re-read the token, report the record. */
  | 'auth'
  /** HTTP 402 from an LLM proxy: the spending limit is reached; the target stops for a cool-down, records are reported. */
  | 'budget';

/** What one exchange with an agent came to (the exchange level; what becomes of the record is lambda/pipeline/record-state.ts). */
export type AgentAnswer =
  | { kind: 'success'; reply: string; taskId?: string; contextId?: string }
  | { kind: 'pending'; taskId: string; state: string; contextId?: string }
  | { kind: 'failure'; failure: FailureClass; code: FateCode; message: string; retryAfterMs?: number; task?: TaskFacts };

export const failure = (f: FailureClass, code: FateCode, message: string, retryAfterMs?: number): AgentAnswer => ({
  kind: 'failure',
  failure: f,
  code,
  message,
  ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
});

/** `returnImmediately` (1.0 only, task mode): the agent answers with the task at once instead of blocking. */
export function sendMessageBody(version: A2AVersion, m: OutgoingMessage, returnImmediately = false): unknown {
  const ctx = m.contextId !== undefined ? { contextId: m.contextId } : {};
  if (version === '1.0') {
    return {
      jsonrpc: '2.0',
      id: m.rpcId,
      method: 'SendMessage',
      params: {
        message: { messageId: m.messageId, role: 'ROLE_USER', parts: [{ text: m.text }], metadata: m.metadata, ...ctx },
        ...(returnImmediately && { configuration: { returnImmediately: true } }),
      },
    };
  }
  return {
    jsonrpc: '2.0',
    id: m.rpcId,
    method: 'message/send',
    params: {
      message: { kind: 'message', role: 'user', messageId: m.messageId, parts: [{ kind: 'text', text: m.text }], metadata: m.metadata, ...ctx },
      configuration: { blocking: true },
    },
  };
}

export function cancelTaskBody(version: A2AVersion, rpcId: string, taskId: string): unknown {
  return { jsonrpc: '2.0', id: rpcId, method: version === '1.0' ? 'CancelTask' : 'tasks/cancel', params: { id: taskId } };
}

export function getTaskBody(version: A2AVersion, rpcId: string, taskId: string): unknown {
  return { jsonrpc: '2.0', id: rpcId, method: version === '1.0' ? 'GetTask' : 'tasks/get', params: { id: taskId } };
}

export function requestHeaders(version: A2AVersion, token: string | undefined): Record<string, string> {
  const h: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (version === '1.0') h['a2a-version'] = '1.0';
  if (token) h.authorization = `Bearer ${token}`;
  return h;
}

/** Retry-After as delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  if (!/[a-z]/i.test(trimmed)) return undefined; // an HTTP date names its day and month; "-5" is not one
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

const AUTH_WORDS = /auth|token|credential|unauthori[sz]ed|forbidden|api key/i;
/** Archestra blocks an IP after too many failed authentications, with HTTP 429 before any token check. */
const AUTH_LOCKOUT = /(too many|excessive)\b[^.]{0,40}\b(failed|invalid|unsuccessful|bad)\b[^.]{0,20}\b(auth|login|credential|token)/i;

/** True for an HTTP 429 whose body says too many failed authentications (the IP lockout), not a rate limit. */
export function isAuthLockout(status: number, bodyText: string): boolean {
  return status === 429 && AUTH_LOCKOUT.test(bodyText.slice(0, 4096));
}

function classifyRpcError(err: unknown): AgentAnswer {
  if (!err || typeof err !== 'object') return failure('permanent', 'malformed_reply', 'JSON-RPC error is not an object');
  const { code, message, data } = err as { code?: unknown; message?: unknown; data?: unknown };
  const msg = typeof message === 'string' ? message : JSON.stringify(message ?? null);
  const label: FateCode = `jsonrpc_${typeof code === 'number' ? code : 'unknown'}`;
  if (code === -32603) {
    const retryable = data && typeof data === 'object' ? (data as { isRetryable?: unknown }).isRetryable : undefined;
    const detail = data && typeof data === 'object' && typeof (data as { message?: unknown }).message === 'string'
      ? `${msg}: ${(data as { message: string }).message}`
      : msg;
    if (retryable === false) return failure('permanent', label, detail);
    // Without a verdict it is an internal error of the platform: during an outage every record would meet it,
    // so it is retried and then reported (redelivered), never dead-lettered.
    return failure('transient', label, detail);
  }
  if (code === -32600 && AUTH_WORDS.test(msg)) return failure('auth', label, msg);
  return failure('permanent', label, msg);
}

/** Joins text parts (v0.3 `{kind:'text',text}`, v1.0 `{text}`); data parts as compact JSON. */
export function partsText(parts: unknown): string | undefined {
  if (!Array.isArray(parts)) return undefined;
  const out: string[] = [];
  for (const p of parts) {
    if (!p || typeof p !== 'object') continue;
    const part = p as { text?: unknown; data?: unknown; kind?: unknown };
    if (typeof part.text === 'string') out.push(part.text);
    else if (part.data !== undefined) out.push(JSON.stringify(part.data));
  }
  return out.join('\n');
}

const TERMINAL_FAILURES: Record<string, string> = {
  failed: 'failed',
  rejected: 'rejected',
  canceled: 'canceled',
  'input-required': 'input-required',
  'auth-required': 'auth-required',
  TASK_STATE_FAILED: 'failed',
  TASK_STATE_REJECTED: 'rejected',
  TASK_STATE_CANCELED: 'canceled',
  TASK_STATE_INPUT_REQUIRED: 'input-required',
  TASK_STATE_AUTH_REQUIRED: 'auth-required',
};
const PENDING = new Set(['submitted', 'working', 'TASK_STATE_SUBMITTED', 'TASK_STATE_WORKING']);
const COMPLETED = new Set(['completed', 'TASK_STATE_COMPLETED']);

/**
 * An input-required task's approval requests: `metadata.approvalRequests` of the task or of its status message,
 * or a data part `{approvalRequests}` of that message (where the project's simulator puts them).
 */
export function approvalRequestsOf(task: Record<string, unknown>): unknown[] | undefined {
  const status = (task.status ?? {}) as { message?: { parts?: unknown; metadata?: unknown } };
  const fromMeta = (m: unknown) => (m && typeof m === 'object' ? (m as { approvalRequests?: unknown }).approvalRequests : undefined);
  const candidates = [fromMeta(task.metadata), fromMeta(status.message?.metadata)];
  const parts = status.message?.parts;
  if (Array.isArray(parts)) for (const p of parts) candidates.push(fromMeta((p as { data?: unknown } | null)?.data));
  return candidates.find((c): c is unknown[] => Array.isArray(c));
}

function taskOutcome(task: Record<string, unknown>): AgentAnswer {
  const id = typeof task.id === 'string' ? task.id : undefined;
  const contextId = typeof task.contextId === 'string' ? task.contextId : undefined;
  const ctx = contextId !== undefined ? { contextId } : {};
  const status = (task.status ?? {}) as { state?: unknown; message?: { parts?: unknown } };
  const state = typeof status.state === 'string' ? status.state : undefined;
  if (!id || !state) return failure('permanent', 'malformed_reply', 'task without id or status.state');
  if (COMPLETED.has(state)) {
    const artifacts = Array.isArray(task.artifacts) ? task.artifacts : [];
    const fromArtifacts = artifacts.map((a) => partsText((a as { parts?: unknown })?.parts) ?? '').filter(Boolean).join('\n');
    return { kind: 'success', reply: fromArtifacts || partsText(status.message?.parts) || '', taskId: id, ...ctx };
  }
  if (PENDING.has(state)) return { kind: 'pending', taskId: id, state, ...ctx };
  const reason = partsText(status.message?.parts);
  if (TERMINAL_FAILURES[state]) {
    const out = failure('permanent', `task_${TERMINAL_FAILURES[state]}`, `task ${id} ended ${TERMINAL_FAILURES[state]}${reason ? `: ${reason}` : ''}`);
    if (TERMINAL_FAILURES[state] !== 'input-required') return out;
    // Task mode settles it as awaiting_input with what the task says it waits for.
    const approvals = approvalRequestsOf(task);
    return { ...out, task: { taskId: id, ...ctx, ...(approvals && { approvalRequests: approvals }) } } as AgentAnswer;
  }
  return failure('permanent', 'task_unknown_state', `task ${id} in unexpected state ${JSON.stringify(state).slice(0, 80)}`);
}

function resultOutcome(version: A2AVersion, result: unknown): AgentAnswer {
  if (!result || typeof result !== 'object') return failure('permanent', 'malformed_reply', 'result is not an object');
  const r = result as Record<string, unknown>;
  if (version === '1.0') {
    if (r.message && typeof r.message === 'object') return messageOutcome(r.message as Record<string, unknown>);
    if (r.task && typeof r.task === 'object') return taskOutcome(r.task as Record<string, unknown>);
    // GetTask answers with the Task itself, unwrapped.
    if (typeof r.id === 'string' && r.status !== undefined) return taskOutcome(r);
    return failure('permanent', 'malformed_reply', 'result holds neither message nor task');
  }
  // v0.3: `kind` discriminates, but Archestra's v1 reply is a Message without `kind`.
  if (r.kind === 'task' || (r.kind === undefined && r.status !== undefined && r.id !== undefined)) return taskOutcome(r);
  if (r.kind === 'message' || (r.kind === undefined && r.parts !== undefined)) return messageOutcome(r);
  return failure('permanent', 'malformed_reply', `unexpected result kind ${JSON.stringify(r.kind ?? null).slice(0, 40)}`);
}

function messageOutcome(m: Record<string, unknown>): AgentAnswer {
  const text = partsText(m.parts);
  if (text === undefined) return failure('permanent', 'malformed_reply', 'message without parts');
  return { kind: 'success', reply: text, ...(typeof m.contextId === 'string' && { contextId: m.contextId }) };
}

/**
 * Classifies one HTTP exchange. The body is inspected whatever the status: Archestra answers most
 * errors with HTTP 200 and a JSON-RPC error, and some proxies answer 5xx with a JSON-RPC body.
 */
export function interpretResponse(
  version: A2AVersion,
  status: number,
  bodyText: string,
  expectedId: string,
  retryAfter?: string | null,
): AgentAnswer {
  let body: unknown;
  try {
    body = bodyText === '' ? undefined : JSON.parse(bodyText);
  } catch {
    body = undefined;
  }
  const rpc = body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
  // Only a JSON-RPC error object counts; a web framework's `{"error": "Bad Request"}` is just an HTTP error page.
  const rpcError = rpc && rpc.error !== null && typeof rpc.error === 'object' ? rpc.error : undefined;
  if (status === 401 || status === 403) return failure('auth', `http_${status}`, `HTTP ${status} from the agent endpoint`);
  // A lockout is an auth failure: retrying it would only extend the block.
  if (isAuthLockout(status, bodyText)) return failure('auth', 'auth_lockout', 'HTTP 429: too many failed authentications from this address');
  if (status === 429 || status === 408 || status >= 500) {
    return failure('transient', `http_${status}`, `HTTP ${status}${rpcErrorSuffix(rpc)}`, parseRetryAfter(retryAfter));
  }
  if (status !== 200 && rpcError === undefined) {
    return failure('permanent', `http_${status}`, `HTTP ${status} from the agent endpoint`);
  }
  // An HTTP 200 that is not JSON is a proxy's or load balancer's page during an outage, not the agent's
  // verdict on the record: retried and reported, not dead-lettered.
  if (body === undefined) return failure('transient', 'malformed_reply', bodyText === '' ? 'empty reply body' : 'reply is not JSON');
  if (!rpc) return failure('permanent', 'malformed_reply', 'reply is not a JSON object');
  if (rpcError !== undefined) {
    const out = classifyRpcError(rpcError);
    // A JSON-RPC error under a 4xx status is still that error, except that 4xx never means "retry".
    return status >= 400 && out.kind === 'failure' && out.failure !== 'auth'
      ? failure('permanent', out.code, `HTTP ${status}: ${out.message}`)
      : out;
  }
  if (rpc.error !== undefined && rpc.error !== null) return failure('permanent', 'malformed_reply', 'JSON-RPC error is not an object');
  if (rpc.jsonrpc !== '2.0') return failure('permanent', 'malformed_reply', 'reply is not JSON-RPC 2.0');
  if (rpc.id !== expectedId) {
    return failure('permanent', 'malformed_reply', `reply id ${String(JSON.stringify(rpc.id)).slice(0, 80)} does not match request id`);
  }
  if (!('result' in rpc)) return failure('permanent', 'malformed_reply', 'reply has neither result nor error');
  return resultOutcome(version, rpc.result);
}

function rpcErrorSuffix(rpc: Record<string, unknown> | undefined): string {
  const e = rpc?.error as { code?: unknown; message?: unknown } | undefined;
  return e && typeof e.message === 'string' ? `: ${String(e.code)} ${e.message.slice(0, 200)}` : '';
}
