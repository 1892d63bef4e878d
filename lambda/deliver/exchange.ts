// One exchange with an agent: the request on the wire, its answer interpreted (A2A or Chat Completions) with the
// token redacted, and what it teaches the credential gate and the circuit. The agent client and task polling share it.
import { HttpError } from '../io/http';
import type { HttpPost } from '../ports';
import { failure, interpretResponse, requestHeaders, type AgentAnswer } from './a2a-protocol';
import type { CircuitBreakers } from './circuit-breaker';
import type { CredentialVerdict } from './credential-gate';
import type { Target } from './delivery-types';
import { exchangeFate, type ExchangeFate } from './exchange-outcome';
import { chatRequestHeaders, interpretChatResponse } from './openai-protocol';

/** The edge and the clock an exchange runs on. */
export interface ExchangeIo {
  post: HttpPost;
  now: () => number;
}

export interface Exchanged {
  out: AgentAnswer;
  status?: number;
  fate: ExchangeFate;
}

/**
 * Agent-supplied text (replies, error messages) goes to logs and the dead-letter queue: an endpoint that
 * echoes the Authorization header must not be able to put the token there.
 */
function redact(out: AgentAnswer, token: string | undefined): AgentAnswer {
  if (!token) return out;
  const clean = (t: string) => (t.includes(token) ? t.split(token).join('[redacted]') : t);
  if (out.kind === 'success') return { ...out, reply: clean(out.reply) };
  if (out.kind === 'failure') return { ...out, message: clean(out.message) };
  return out;
}

/** Marks a send the guard refused inside the slot. */
export const HELD = failure('transient', 'held', 'held');
/** Marks a send whose credential was refused while it waited for the slot: it goes back to the gate. */
export const STALE = failure('auth', 'stale', 'stale');

/** What one request taught about its credential: only a JSON-RPC answer under HTTP 200 proves it accepted. */
export function verdictOf(out: AgentAnswer, status: number | undefined): CredentialVerdict {
  if (out.kind === 'failure' && out.failure === 'auth') return 'refused';
  if (status !== 200) return 'unknown';
  return out.kind !== 'failure' || /^(jsonrpc_|task_)/.test(out.code) ? 'accepted' : 'unknown';
}

/** What one exchange says about its target's health: an answer closes the circuit, a transient failure counts. */
export function settleCircuit(b: CircuitBreakers, key: string, out: AgentAnswer): void {
  if (out.kind !== 'failure' || out.failure === 'permanent') b.success(key);
  else if (out.failure === 'budget') b.trip(key, 'budget exhausted');
  else if (out.failure === 'transient' && out.code !== 'deadline') b.failure(key, out.code);
  else b.neutral(key);
}

/** One request and its answer, interpreted; never throws (a thrown edge becomes a failure). */
export async function exchange(
io: ExchangeIo,
  target: Target,
  body: unknown,
  rpcId: string,
  token: string | undefined,
  deadline: number,
  extra: Record<string, string> | undefined,
): Promise<{ out: AgentAnswer; status?: number; fate: ExchangeFate }> {
  const left = deadline - io.now();
  const timeoutMs = Math.min(target.timeoutMs, left);
  const openai = target.protocol === 'openai';
  const tok = target.sendToken ? token : undefined;
  // Forwarded record headers first: the protocol's own headers (content type, credential) always win.
  const headers = { ...extra, ...(openai ? chatRequestHeaders(tok) : requestHeaders(target.version, tok)) };
  try {
    const reply = await io.post(target.url, headers, JSON.stringify(body), timeoutMs);
    const out = openai ? interpretChatResponse(reply.status, reply.text, reply.retryAfter) : interpretResponse(target.version, reply.status, reply.text, rpcId, reply.retryAfter);
    return { out: redact(out, tok), status: reply.status, fate: exchangeFate({ status: reply.status, out }) };
  } catch (err) {
    // An error that is not the edge's own says nothing about the wire: the body may have left.
    const thrown = err instanceof HttpError ? err : { code: 'network' as const, sent: true, message: (err as Error)?.message ?? String(err) };
    const fate = exchangeFate({ thrown });
    if (thrown.code === 'timeout' && timeoutMs < target.timeoutMs) return { out: failure('transient', 'deadline', 'request cut short by the invocation deadline'), fate };
    return { out: failure(thrown.code === 'reply_too_large' ? 'permanent' : 'transient', thrown.code, thrown.message), fate };
  }
}
