// OpenAI-compatible Chat Completions as a second wire protocol beside A2A: pure request builder and
// reply/error classification, so the agent client's retries, deadline, credential gates and ordering apply unchanged.
import { failure, isAuthLockout, parseRetryAfter, type OutgoingMessage, type AgentAnswer } from './a2a-protocol';

export interface ChatOptions {
  model: string;
  systemPrompt?: string;
}

/** The record's rendered text is the user message; the route's system prompt (if any) comes first. */
export function chatCompletionBody(o: ChatOptions, m: OutgoingMessage): unknown {
  const messages: Array<{ role: 'system' | 'user'; content: string }> = [];
  if (o.systemPrompt !== undefined) messages.push({ role: 'system', content: o.systemPrompt });
  messages.push({ role: 'user', content: m.text });
  return { model: o.model, messages, stream: false };
}

export function chatRequestHeaders(token: string | undefined): Record<string, string> {
  const h: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (token) h.authorization = `Bearer ${token}`;
  return h;
}

/** `{"error":{"message":...}}` as OpenAI and its imitators answer errors; empty when the body says nothing. */
function errorSuffix(body: unknown): string {
  const e = body && typeof body === 'object' ? (body as { error?: unknown }).error : undefined;
  const msg = e && typeof e === 'object' ? (e as { message?: unknown }).message : typeof e === 'string' ? e : undefined;
  return typeof msg === 'string' && msg ? `: ${msg.slice(0, 200)}` : '';
}

/**
 * Classifies one Chat Completions exchange: 429 / 408 / 5xx transient (Retry-After honoured), 401/403 auth,
 * 402 budget (the route stops), other 4xx permanent; the answer is the first choice's message content.
 */
export function interpretChatResponse(status: number, bodyText: string, retryAfter?: string | null): AgentAnswer {
  let body: unknown;
  try {
    body = bodyText === '' ? undefined : JSON.parse(bodyText);
  } catch {
    body = undefined;
  }
  const why = errorSuffix(body);
  if (status === 401 || status === 403) return failure('auth', `http_${status}`, `HTTP ${status} from the chat completions endpoint${why}`);
  if (isAuthLockout(status, bodyText)) return failure('auth', 'auth_lockout', 'HTTP 429: too many failed authentications from this address');
  if (status === 402) return failure('budget', 'budget_exhausted', `HTTP 402: budget exhausted${why}`);
  if (status === 429 || status === 408 || status >= 500) return failure('transient', `http_${status}`, `HTTP ${status}${why}`, parseRetryAfter(retryAfter));
  if (status < 200 || status >= 300) return failure('permanent', `http_${status}`, `HTTP ${status} from the chat completions endpoint${why}`);
  // A 2xx that is not JSON is a proxy's page during an outage: retried and reported, never dead-lettered.
  if (body === undefined) return failure('transient', 'malformed_reply', bodyText === '' ? 'empty reply body' : 'reply is not JSON');
  if (!body || typeof body !== 'object' || Array.isArray(body)) return failure('permanent', 'malformed_reply', 'reply is not a JSON object');
  const choices = (body as { choices?: unknown }).choices;
  const first = Array.isArray(choices) ? (choices[0] as { message?: { content?: unknown; refusal?: unknown } } | undefined) : undefined;
  if (!first?.message || typeof first.message !== 'object') return failure('permanent', 'malformed_reply', 'reply has no choices[0].message');
  const { content, refusal } = first.message;
  if (typeof content === 'string') return { kind: 'success', reply: content };
  if (typeof refusal === 'string') return failure('permanent', 'model_refusal', `the model refused: ${refusal.slice(0, 200)}`);
  if (content === null || content === undefined) return { kind: 'success', reply: '' };
  return failure('permanent', 'malformed_reply', 'choices[0].message.content is not a string');
}
