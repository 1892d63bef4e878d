// The agent client (lambda/deliver/agent-client.ts) on its own: retries and backoff, Retry-After, the auth
// gate, task polling and the deadline. The HTTP edge is its injected HttpPost, replaced here by a small
// scripted agent on a virtual clock, so every delay and count is exact (the integration tests run the same
// client against real servers).
import { AgentClient, AuthGate, type ClientOptions, type DeliveryResult, type SendGuard, type Target } from '../../lambda/deliver/agent-client';
import type { OutgoingMessage } from '../../lambda/deliver/a2a-protocol';
import { HttpError, type HttpPost, type HttpReply } from '../../lambda/io/http';
import { PrioritySlots } from '../../lambda/schedule';

const T0 = 1_000_000;
const TOKEN = 'tok-unit-3a9f';

interface Call {
  url: string;
  headers: Record<string, string>;
  body: { id: string; method: string; params: Record<string, unknown> };
  timeoutMs: number;
  at: number;
}

type Answer = HttpReply | HttpError | ((call: Call) => HttpReply | HttpError);

/** A scripted agent behind the HttpPost seam, on a virtual clock that sleep() advances. */
function fakeEdge(script: Answer[], fallback: Answer = ok()) {
  const clock = { now: T0 };
  const calls: Call[] = [];
  const sleeps: number[] = [];
  const post: HttpPost = async (url, headers, body, timeoutMs) => {
    const call: Call = { url, headers, body: JSON.parse(body) as Call['body'], timeoutMs, at: clock.now };
    calls.push(call);
    let a = script.length ? script.shift()! : fallback;
    if (typeof a === 'function') a = a(call);
    if (a instanceof HttpError) throw a;
    return a;
  };
  return {
    clock,
    calls,
    sleeps,
    post,
    now: () => clock.now,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      clock.now += ms;
    },
  };
}

/** JSON-RPC replies; the id is taken from the request, as a real agent does. */
const rpc = (result: unknown, status = 200): ((c: Call) => HttpReply) => (c) => ({ status, text: JSON.stringify({ jsonrpc: '2.0', id: c.body.id, result }), retryAfter: null });
function ok(text = 'done'): (c: Call) => HttpReply {
  return rpc({ kind: 'message', role: 'agent', messageId: 'm-1', parts: [{ kind: 'text', text }] });
}
const task = (state: string, text?: string) =>
  rpc({ kind: 'task', id: 'task-1', contextId: 'ctx-1', status: { state }, ...(text ? { artifacts: [{ artifactId: 'a', parts: [{ kind: 'text', text }] }] } : {}) });
const http = (status: number, retryAfter: string | null = null): HttpReply => ({ status, text: '', retryAfter });
const rpcError = (code: number, message: string, data?: unknown): ((c: Call) => HttpReply) => (c) => ({
  status: 200,
  text: JSON.stringify({ jsonrpc: '2.0', id: c.body.id, error: { code, message, ...(data !== undefined ? { data } : {}) } }),
  retryAfter: null,
});

const MSG: OutgoingMessage = { rpcId: 'kafka:orders-0-7#orders', messageId: 'mid-7', text: 'hello', metadata: {} };
const TARGET: Target = { url: 'http://agent.test/v1/a2a/x', version: '0.3', timeoutMs: 10_000, sendToken: true };

function setup(script: Answer[], o: Partial<ClientOptions> & { fallback?: Answer; tokens?: ClientOptions['tokens'] } = {}) {
  const edge = fakeEdge(script, o.fallback);
  const reads: boolean[] = [];
  const client = new AgentClient({
    post: edge.post,
    tokens: o.tokens ?? { get: async (refresh?: boolean) => (reads.push(!!refresh), TOKEN) },
    maxRetries: 3,
    retryDelayMs: 100,
    minRequestMs: 50,
    pollInitialMs: 100,
    pollMaxMs: 1000,
    now: edge.now,
    sleep: edge.sleep,
    random: () => 0,
    ...o,
  });
  const direct = <T>(fn: () => Promise<T>) => fn();
  const deliver = (over: { target?: Partial<Target>; deadline?: number; auth?: AuthGate; guard?: SendGuard; msg?: OutgoingMessage } = {}): Promise<DeliveryResult> =>
    client.deliver(over.msg ?? MSG, { ...TARGET, ...over.target }, over.deadline ?? T0 + 600_000, direct, over.auth ?? new AuthGate(), over.guard);
  return { edge, client, reads, deliver };
}

describe('sending', () => {
  test('one request, with the bearer token, the A2A body and the route timeout; delivered with the reply', async () => {
    const { edge, deliver } = setup([ok('the reply')]);
    const res = await deliver();
    expect(res).toMatchObject({ status: 'delivered', reply: 'the reply', attempts: 1, retries: 0 });
    expect(edge.calls).toHaveLength(1);
    const [c] = edge.calls;
    expect(c.url).toBe(TARGET.url);
    expect(c.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(c.body).toMatchObject({ id: MSG.rpcId, method: 'message/send', params: { message: { messageId: 'mid-7', parts: [{ kind: 'text', text: 'hello' }] } } });
    expect(c.timeoutMs).toBe(10_000);
  });

  test('a route that must not see the token gets no Authorization header', async () => {
    const { edge, deliver } = setup([ok()]);
    await deliver({ target: { sendToken: false } });
    expect(edge.calls[0].headers.authorization).toBeUndefined();
  });

  test('the request timeout is cut to the time left before the deadline', async () => {
    const { edge, deliver } = setup([ok()]);
    await deliver({ deadline: T0 + 3_000 });
    expect(edge.calls[0].timeoutMs).toBe(3_000);
  });

  test('a reply that echoes the token has it redacted', async () => {
    const { deliver } = setup([ok(`you sent ${TOKEN}`)]);
    const res = await deliver();
    expect(res.reply).toBe('you sent [redacted]');
  });
});

describe('retries', () => {
  test('transient failures are retried with exponential backoff, then delivered', async () => {
    const { edge, deliver } = setup([http(503), http(502), new HttpError('network', 'ECONNRESET'), ok()]);
    const res = await deliver();
    expect(res).toMatchObject({ status: 'delivered', attempts: 4, retries: 3 });
    // retryDelay 100 ms doubling, jitter 0 (random() = 0)
    expect(edge.sleeps).toEqual([100, 200, 400]);
    expect(edge.calls.map((c) => c.at - T0)).toEqual([0, 100, 300, 700]);
  });

  test('jitter adds up to one retry delay', () => {
    const { client } = setup([], { random: () => 0.5 });
    expect(client.backoffMs(0)).toBe(150);
    expect(client.backoffMs(2)).toBe(450);
  });

  test('after MAX_RETRIES a transient failure is reported as transient with its code', async () => {
    const { edge, deliver } = setup([], { maxRetries: 2, fallback: http(503) });
    const res = await deliver();
    expect(res).toMatchObject({ status: 'transient', code: 'http_503', attempts: 3, retries: 2 });
    expect(edge.calls).toHaveLength(3);
  });

  test('MAX_RETRIES 0: one request only', async () => {
    const { edge, deliver } = setup([], { maxRetries: 0, fallback: http(500) });
    expect((await deliver()).status).toBe('transient');
    expect(edge.calls).toHaveLength(1);
    expect(edge.sleeps).toEqual([]);
  });

  test('a permanent failure is not retried', async () => {
    const { edge, deliver } = setup([http(400)]);
    const res = await deliver();
    expect(res).toMatchObject({ status: 'permanent', code: 'http_400', attempts: 1, retries: 0 });
    expect(edge.calls).toHaveLength(1);
  });

  test('-32603 without isRetryable is retried, then permanent; with isRetryable true it ends transient', async () => {
    const a = setup([], { maxRetries: 1, fallback: rpcError(-32603, 'Internal error') });
    expect(await a.deliver()).toMatchObject({ status: 'permanent', code: 'jsonrpc_-32603', attempts: 2 });
    const b = setup([], { maxRetries: 1, fallback: rpcError(-32603, 'LLM busy', { isRetryable: true }) });
    expect(await b.deliver()).toMatchObject({ status: 'transient', code: 'jsonrpc_-32603', attempts: 2 });
  });

  test('a reply too large is permanent', async () => {
    const { deliver } = setup([new HttpError('reply_too_large', 'too big')]);
    expect(await deliver()).toMatchObject({ status: 'permanent', code: 'reply_too_large' });
  });

  test('a retry that would not fit before the deadline is not made', async () => {
    const { edge, deliver } = setup([http(503)]);
    // 100 ms backoff + 50 ms minimum request time do not fit in the 120 ms left.
    const res = await deliver({ deadline: T0 + 120 });
    expect(res.status).toBe('transient');
    expect(res.message).toMatch(/no time left to retry/);
    expect(edge.calls).toHaveLength(1);
    expect(edge.sleeps).toEqual([]);
  });
});

describe('Retry-After', () => {
  test('delta-seconds replace the backoff', async () => {
    const { edge, deliver } = setup([http(429, '2'), ok()]);
    const res = await deliver();
    expect(res).toMatchObject({ status: 'delivered', attempts: 2, retries: 1 });
    expect(edge.sleeps).toEqual([2000]);
  });

  test('0 means retry at once', async () => {
    const { edge, deliver } = setup([http(503, '0'), ok()]);
    await deliver();
    expect(edge.sleeps).toEqual([0]);
  });

  test('a Retry-After past the deadline ends the record as transient without waiting', async () => {
    const { edge, deliver } = setup([http(429, '30'), ok()]);
    const res = await deliver({ deadline: T0 + 10_000 });
    expect(res).toMatchObject({ status: 'transient', code: 'http_429', attempts: 1 });
    expect(edge.sleeps).toEqual([]);
  });
});

describe('deadline', () => {
  test('too little time left: no request at all', async () => {
    const { edge, deliver } = setup([ok()]);
    const res = await deliver({ deadline: T0 + 49 });
    expect(res).toMatchObject({ status: 'deadline', code: 'deadline', attempts: 0 });
    expect(edge.calls).toHaveLength(0);
  });

  test('a request cut short by the deadline (not by the route timeout) ends as deadline', async () => {
    const { deliver } = setup([new HttpError('timeout', 'no reply')]);
    const res = await deliver({ deadline: T0 + 2_000 });
    expect(res).toMatchObject({ status: 'deadline', code: 'deadline' });
  });

  test('a request cut by the route timeout is an ordinary transient failure, retried', async () => {
    const { deliver } = setup([new HttpError('timeout', 'no reply'), ok()]);
    const res = await deliver();
    expect(res).toMatchObject({ status: 'delivered', attempts: 2 });
  });
});

describe('task polling', () => {
  test('a task still working is polled with growing pauses until it completes', async () => {
    const { edge, deliver } = setup([task('submitted'), task('working'), task('working'), task('completed', 'task reply')]);
    const res = await deliver();
    expect(res).toMatchObject({ status: 'delivered', reply: 'task reply', taskId: 'task-1', attempts: 4 });
    expect(edge.calls.map((c) => c.body.method)).toEqual(['message/send', 'tasks/get', 'tasks/get', 'tasks/get']);
    expect(edge.calls.slice(1).map((c) => c.body.params)).toEqual([{ id: 'task-1' }, { id: 'task-1' }, { id: 'task-1' }]);
    expect(new Set(edge.calls.map((c) => c.body.id)).size).toBe(4);
    expect(edge.sleeps).toEqual([100, 150, 225]);
  });

  test('pauses stop growing at the maximum', async () => {
    const { edge, deliver } = setup([task('working'), ...Array.from({ length: 8 }, () => task('working')), task('completed', 'x')]);
    await deliver();
    expect(Math.max(...edge.sleeps)).toBe(1000);
  });

  test('a task past the route timeout is given up as transient (task_timeout): reported, never dead-lettered', async () => {
    const { edge, deliver } = setup([], { fallback: task('working') });
    const res = await deliver({ target: { timeoutMs: 1_000 } });
    expect(res).toMatchObject({ status: 'transient', code: 'task_timeout', taskId: 'task-1' });
    // Never polled past the route timeout.
    for (const c of edge.calls) expect(c.at - T0).toBeLessThanOrEqual(1_000);
    expect(edge.calls.length).toBeGreaterThan(1);
  });

  test('a task still running at the invocation deadline ends as deadline', async () => {
    const { deliver } = setup([], { fallback: task('working') });
    const res = await deliver({ deadline: T0 + 1_000, target: { timeoutMs: 60_000 } });
    expect(res).toMatchObject({ status: 'deadline', code: 'deadline', taskId: 'task-1' });
  });

  test('a task that ends failed is permanent', async () => {
    const { deliver } = setup([task('working'), task('failed')]);
    expect(await deliver()).toMatchObject({ status: 'permanent', code: 'task_failed', taskId: 'task-1' });
  });

  test('failed polls are retried up to MAX_RETRIES in a row, then transient', async () => {
    const { edge, deliver } = setup([task('working')], { maxRetries: 2, fallback: http(503) });
    const res = await deliver();
    expect(res).toMatchObject({ status: 'transient', code: 'http_503', taskId: 'task-1' });
    expect(edge.calls.map((c) => c.body.method)).toEqual(['message/send', 'tasks/get', 'tasks/get', 'tasks/get']);
  });

  test('a poll that answers "working" resets the count of failed polls', async () => {
    const { edge, deliver } = setup([task('working'), http(503), task('working'), http(503), task('completed', 'ok')], { maxRetries: 1 });
    expect(await deliver()).toMatchObject({ status: 'delivered', reply: 'ok' });
    expect(edge.calls).toHaveLength(5);
  });
});

describe('auth gate', () => {
  test('a refused token is re-read once (bypassing the cache) and the request retried with it', async () => {
    let current = 'old';
    const refreshes: boolean[] = [];
    const { edge, deliver } = setup([http(401), ok()], {
      tokens: {
        get: async (refresh?: boolean) => {
          refreshes.push(!!refresh);
          if (refresh) current = 'new';
          return current;
        },
      },
    });
    const res = await deliver();
    expect(res.status).toBe('delivered');
    expect(edge.calls.map((c) => c.headers.authorization)).toEqual(['Bearer old', 'Bearer new']);
    expect(refreshes.filter(Boolean)).toHaveLength(1);
  });

  test('refused again after the re-read: auth, and nothing more is sent on that gate', async () => {
    const { edge, reads, deliver } = setup([], { fallback: http(401) });
    const auth = new AuthGate();
    const first = await deliver({ auth });
    expect(first.status).toBe('auth');
    expect(edge.calls).toHaveLength(2);
    expect(reads.filter(Boolean)).toHaveLength(1);
    const second = await deliver({ auth, msg: { ...MSG, rpcId: 'kafka:orders-0-8#orders' } });
    expect(second).toMatchObject({ status: 'auth', attempts: 0 });
    expect(edge.calls).toHaveLength(2);
    expect(reads.filter(Boolean)).toHaveLength(1);
  });

  test('concurrent records wait for the one probe: one re-read, and no queued request goes out with the refused token', async () => {
    let current = 'old';
    let refreshes = 0;
    const edge = fakeEdge([], (c) => (c.headers.authorization === 'Bearer old' ? http(401) : ok()(c)));
    const client = new AgentClient({
      post: edge.post,
      tokens: {
        get: async (refresh?: boolean) => {
          if (refresh) {
            refreshes++;
            current = 'new';
          }
          return current;
        },
      },
      maxRetries: 3,
      retryDelayMs: 100,
      minRequestMs: 50,
      now: edge.now,
      sleep: edge.sleep,
      random: () => 0,
    });
    const slots = new PrioritySlots(1);
    const auth = new AuthGate();
    const results = await Promise.all(
      [1, 2, 3, 4].map((o) => client.deliver({ ...MSG, rpcId: `kafka:orders-0-${o}#orders` }, TARGET, T0 + 600_000, (fn) => slots.run(1, fn), auth)),
    );
    expect(results.map((r) => r.status)).toEqual(['delivered', 'delivered', 'delivered', 'delivered']);
    expect(refreshes).toBe(1);
    expect(edge.calls.filter((c) => c.headers.authorization === 'Bearer old')).toHaveLength(1);
  });
});

describe('the send guard', () => {
  test('a guard that says no inside the slot: held, nothing sent', async () => {
    const { edge, deliver } = setup([ok()]);
    const res = await deliver({ guard: { mayStart: () => false, failing: () => undefined } });
    expect(res).toMatchObject({ status: 'held', code: 'not_sent', attempts: 0 });
    expect(edge.calls).toHaveLength(0);
  });

  test('a retry is not started once the guard says no', async () => {
    let allowed = true;
    const { edge, deliver } = setup([() => ((allowed = false), http(503)), ok()]);
    const res = await deliver({ guard: { mayStart: () => allowed, failing: () => undefined } });
    expect(res.status).toBe('held');
    expect(edge.calls).toHaveLength(1);
  });

  test('the guard is told before the slot is released when the record ends as reported, not when it will be retried', async () => {
    const told: number[] = [];
    const { deliver } = setup([http(503), http(503)], { maxRetries: 1 });
    let sent = 0;
    const res = await deliver({ guard: { mayStart: () => (sent++, true), failing: () => told.push(sent) } });
    expect(res.status).toBe('transient');
    // Told once, during the second (final) attempt.
    expect(told).toEqual([2]);
  });
});
