// Which failed exchanges may have run the agent (lambda/deliver/exchange-outcome.ts), and what
// becomes of the record's claim afterwards (lambda/claim-settle.ts). Both pure.
import { afterDelivery, afterLetter, applyStep } from '../../lambda/claim-settle';
import { interpretResponse } from '../../lambda/deliver/a2a-protocol';
import { exchangeFate } from '../../lambda/deliver/exchange-outcome';
import { interpretChatResponse } from '../../lambda/deliver/openai-protocol';

const ID = 'kafka:orders-0-7#r';
const reply = (status: number, text = '', retryAfter: string | null = null) => exchangeFate({ status, out: interpretResponse('0.3', status, text, ID, retryAfter) });
const rpc = (error: unknown) => JSON.stringify({ jsonrpc: '2.0', id: ID, error });

describe('exchangeFate: not started (retried within the invocation)', () => {
  test.each([
    ['connection refused', 'network'],
    ['DNS failure', 'network'],
    ['TLS handshake failure', 'network'],
    ['connect timeout', 'timeout'],
  ])('%s before any byte left (sent: false)', (_what, code) => {
    expect(exchangeFate({ thrown: { code, sent: false } })).toBe('not_started');
  });

  test('HTTP 429 with and without Retry-After, 503 with and without Retry-After, 408', () => {
    expect(reply(429)).toBe('not_started');
    expect(reply(429, '', '2')).toBe('not_started');
    expect(reply(503)).toBe('not_started');
    expect(reply(503, '', '1')).toBe('not_started');
    expect(reply(408)).toBe('not_started');
  });

  test('a JSON-RPC error that says the run failed and may be retried', () => {
    expect(reply(200, rpc({ code: -32603, message: 'LLM error', data: { isRetryable: true } }))).toBe('not_started');
    expect(reply(200, rpc({ code: -32603, message: 'Internal error' }))).toBe('not_started');
  });
});

describe('exchangeFate: unknown (never retried; the claim is leased)', () => {
  test.each([
    ['a timeout after the request was written', 'timeout'],
    ['a connection cut after the request was written', 'network'],
  ])('%s', (_what, code) => {
    expect(exchangeFate({ thrown: { code, sent: true } })).toBe('unknown');
  });

  test('502 and 504 from a load balancer, a bare 500, a 200 that is not JSON', () => {
    expect(reply(502, '<html>502 Bad Gateway</html>')).toBe('unknown');
    expect(reply(504)).toBe('unknown');
    expect(reply(500)).toBe('unknown');
    expect(reply(200, '<html>maintenance</html>')).toBe('unknown');
  });

  test('the same for the OpenAI-compatible protocol', () => {
    expect(exchangeFate({ status: 502, out: interpretChatResponse(502, '', null) })).toBe('unknown');
    expect(exchangeFate({ status: 429, out: interpretChatResponse(429, '', null) })).toBe('not_started');
  });
});

describe('exchangeFate: answered (the verdict stands)', () => {
  test('success, a task, permanent and auth failures, a reply too large', () => {
    expect(reply(200, JSON.stringify({ jsonrpc: '2.0', id: ID, result: { kind: 'message', parts: [{ kind: 'text', text: 'ok' }] } }))).toBe('answered');
    expect(reply(200, JSON.stringify({ jsonrpc: '2.0', id: ID, result: { kind: 'task', id: 't', status: { state: 'working' } } }))).toBe('answered');
    expect(reply(200, rpc({ code: -32602, message: 'Invalid params' }))).toBe('answered');
    expect(reply(401)).toBe('answered');
    expect(reply(400)).toBe('answered');
    expect(exchangeFate({ thrown: { code: 'reply_too_large', sent: true } })).toBe('answered');
  });
});

describe('claim steps (lambda/claim-settle.ts)', () => {
  test('delivered completes, unknown leases for the route timeout plus the margin, the rest releases', () => {
    expect(afterDelivery('delivered', 1_000, 400, 60_000)).toEqual({ kind: 'complete' });
    expect(afterDelivery('unknown', 1_000, 400, 60_000)).toEqual({ kind: 'lease', untilMs: 61_400 });
    expect(afterDelivery('unknown', 1_000, 400, 0)).toEqual({ kind: 'lease', untilMs: 1_400 });
    for (const s of ['transient', 'auth', 'deadline', 'held'] as const) expect(afterDelivery(s, 1_000, 400, 60_000)).toEqual({ kind: 'release' });
    expect(afterDelivery('permanent', 1_000, 400, 60_000)).toEqual({ kind: 'await_letter' });
  });

  test('a permanent verdict: released once lettered, stored when its letter must wait; a stored one completed once lettered', () => {
    const v = { class: 'jsonrpc_-32602', code: 'jsonrpc_-32602', message: 'Invalid params', attempts: 1 };
    expect(afterLetter(true, v, false)).toEqual({ kind: 'release' });
    expect(afterLetter(false, v, false)).toEqual({ kind: 'fail', verdict: v });
    expect(afterLetter(true, v, true)).toEqual({ kind: 'complete' });
    expect(afterLetter(false, v, true)).toEqual({ kind: 'none' });
  });
});

describe('applyStep: the claim step on the store', () => {
  const recorder = (o: { lease?: boolean; fail?: boolean; throws?: boolean } = {}) => {
    const calls: string[] = [];
    const op = (name: string) => async (key: string, arg?: unknown) => {
      calls.push(`${name} ${key}${typeof arg === 'number' ? ` ${arg}` : ''}`);
      if (o.throws) throw new Error('store down');
    };
    return {
      calls,
      store: { complete: op('complete'), release: op('release'), ...(o.lease !== false && { lease: op('lease') }), ...(o.fail !== false && { fail: op('fail') }) },
    };
  };
  const v = { class: 'http_400', code: 'http_400', message: 'HTTP 400', attempts: 1 };
  const never = new AbortController().signal;

  test('each step calls its store operation; without lease the claim is left to lapse, without fail it is released', async () => {
    const warn = jest.fn();
    const r = recorder();
    for (const step of [{ kind: 'complete' }, { kind: 'release' }, { kind: 'lease', untilMs: 5 }, { kind: 'fail', verdict: v }, { kind: 'none' }] as const) await applyStep(r.store, 'k', step, never, warn);
    expect(r.calls).toEqual(['complete k', 'release k', 'lease k 5', 'fail k']);
    const bare = recorder({ lease: false, fail: false });
    await applyStep(bare.store, 'k', { kind: 'lease', untilMs: 5 }, never, warn);
    await applyStep(bare.store, 'k', { kind: 'fail', verdict: v }, never, warn);
    expect(bare.calls).toEqual(['release k']);
    expect(warn).not.toHaveBeenCalled();
  });

  test('a failed write is logged, never thrown', async () => {
    const warn = jest.fn();
    await applyStep(recorder({ throws: true }).store, 'k', { kind: 'complete' }, never, warn);
    expect(warn).toHaveBeenCalledWith('idempotency update failed', { key: 'k', error: 'store down' });
  });
});
