// The agent client (lambda/deliver/agent-client.ts) on its own: retries and backoff, Retry-After, the
// per-credential gate (lambda/deliver/credential-gate.ts), token re-reads, task polling and the deadline. The
// HTTP edge is its injected HttpPost, replaced here by a small scripted agent on a virtual clock, and the token
// secret by a scripted store on the same clock, so every delay and count is exact (the integration and
// reliability tests run the same client against real servers).
import { AgentClient, type ClientOptions, type DeliveryResult, type SendGuard, type Target, type TokenReadOptions, type TokenSource } from '../../lambda/deliver/agent-client';
import type { OutgoingMessage } from '../../lambda/deliver/a2a-protocol';
import { CredentialGates, type CredentialGate } from '../../lambda/deliver/credential-gate';
import { HttpError, type HttpPost, type HttpReply } from '../../lambda/io/http';
import { PrioritySlots } from '../../lambda/schedule';

const T0 = 1_000_000;
const TOKEN = 'tok-unit-3a9f';
const COOL_DOWN_MS = 60_000;

interface Call {
  url: string;
  headers: Record<string, string>;
  body: { id: string; method: string; params: Record<string, unknown> };
  timeoutMs: number;
  at: number;
  /** Requests in flight when this one started, itself included. */
  concurrent: number;
}

type Reply = HttpReply | HttpError;
type Answer = Reply | ((call: Call) => Reply | Promise<Reply>);

/**
 * A scripted agent behind the HttpPost seam, on a virtual clock that sleep() advances. With `latencyMs`, each
 * request yields once (so concurrent requests overlap) and moves the clock on by that much before its answer.
 */
function fakeEdge(script: Answer[], fallback: Answer = ok(), latencyMs = 0) {
  const clock = { now: T0 };
  const calls: Call[] = [];
  const sleeps: number[] = [];
  let inFlight = 0;
  const post: HttpPost = async (url, headers, body, timeoutMs) => {
    const call: Call = { url, headers, body: JSON.parse(body) as Call['body'], timeoutMs, at: clock.now, concurrent: ++inFlight };
    calls.push(call);
    try {
      if (latencyMs > 0) {
        await new Promise((r) => setImmediate(r));
        clock.now += latencyMs;
      }
      let a = script.length ? script.shift()! : fallback;
      if (typeof a === 'function') a = await a(call);
      if (a instanceof HttpError) throw a;
      return a;
    } finally {
      inFlight--;
    }
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

/**
 * The Secrets Manager token source's contract on the virtual clock: the value is cached, and read again only
 * when none is cached or the cached one was read before `fresherThan`. `value` is what the secret holds now.
 */
function secretStore(clock: { now: number }, value: string) {
  let cached: { token: string; at: number } | undefined;
  const store = {
    value,
    fixed: false as const,
    /** Every get() call's options. */
    asks: [] as TokenReadOptions[],
    /** The times the secret was actually read. */
    reads: [] as number[],
    async get(opts: TokenReadOptions = {}): Promise<string> {
      store.asks.push(opts);
      if (!cached || (opts.fresherThan !== undefined && cached.at < opts.fresherThan)) {
        cached = { token: store.value, at: clock.now };
        store.reads.push(clock.now);
      }
      return cached.token;
    },
  };
  return store;
}

/** ARCHESTRA_TOKEN: a value no re-read can change. */
function fixedToken(value: string) {
  const asks: TokenReadOptions[] = [];
  const source: TokenSource & { asks: TokenReadOptions[] } = {
    fixed: true,
    asks,
    get: async (opts = {}) => {
      asks.push(opts);
      return value;
    },
  };
  return source;
}

/** JSON-RPC replies; the id is taken from the request, as a real agent does. */
const rpc = (result: unknown, status = 200): ((c: Call) => HttpReply) => (c) => ({ status, text: JSON.stringify({ jsonrpc: '2.0', id: c.body.id, result }), retryAfter: null });
function ok(text = 'done'): (c: Call) => HttpReply {
  return rpc({ kind: 'message', role: 'agent', messageId: 'm-1', parts: [{ kind: 'text', text }] });
}
const task = (state: string, text?: string) =>
  rpc({ kind: 'task', id: 'task-1', contextId: 'ctx-1', status: { state }, ...(text ? { artifacts: [{ artifactId: 'a', parts: [{ kind: 'text', text }] }] } : {}) });
const http = (status: number, retryAfter: string | null = null, text = ''): HttpReply => ({ status, text, retryAfter });
const rpcError = (code: number, message: string, data?: unknown): ((c: Call) => HttpReply) => (c) => ({
  status: 200,
  text: JSON.stringify({ jsonrpc: '2.0', id: c.body.id, error: { code, message, ...(data !== undefined ? { data } : {}) } }),
  retryAfter: null,
});
/** 401 for every value but `good`. */
const onlyAccepts = (good: string) => (c: Call) => (c.headers.authorization === `Bearer ${good}` ? ok()(c) : http(401));
const bearer = (calls: Call[]) => calls.map((c) => c.headers.authorization);

const MSG: OutgoingMessage = { rpcId: 'kafka:orders-0-7#orders', messageId: 'mid-7', text: 'hello', metadata: {} };
const TARGET: Target = { url: 'http://agent.test/v1/a2a/x', version: '0.3', timeoutMs: 10_000, sendToken: true };
const msgAt = (offset: number): OutgoingMessage => ({ ...MSG, rpcId: `kafka:orders-0-${offset}#orders`, messageId: `mid-${offset}` });

interface DeliverOptions {
  target?: Partial<Target>;
  deadline?: number;
  gate?: CredentialGate;
  guard?: SendGuard;
  msg?: OutgoingMessage;
  slot?: <T>(fn: () => Promise<T>) => Promise<T>;
  signal?: AbortSignal;
  /** The invocation's start; defaults to the virtual time of the call. */
  start?: number;
}

function setup(script: Answer[], o: Partial<ClientOptions> & { fallback?: Answer; latencyMs?: number; value?: string } = {}) {
  const { fallback, latencyMs, value, ...client } = o;
  const edge = fakeEdge(script, fallback, latencyMs);
  const secret = secretStore(edge.clock, value ?? TOKEN);
  const c = new AgentClient({
    post: edge.post,
    tokens: secret,
    maxRetries: 3,
    retryDelayMs: 100,
    minRequestMs: 50,
    pollInitialMs: 100,
    pollMaxMs: 1000,
    now: edge.now,
    sleep: edge.sleep,
    random: () => 0,
    ...client,
  });
  // The container's gates, chosen as the pipeline's gateOf does.
  const gates = new CredentialGates({ coolDownMs: COOL_DOWN_MS, now: edge.now });
  const gateOf = (t: Target) => (t.sendToken ? gates.for('archestra-token') : gates.for(`none ${new URL(t.url).origin}`, false));
  const direct = <T>(fn: () => Promise<T>) => fn();
  const deliver = (over: DeliverOptions = {}): Promise<DeliveryResult> => {
    const target = { ...TARGET, ...over.target };
    return c.deliver({ msg: over.msg ?? MSG, target, deadline: over.deadline ?? edge.clock.now + 600_000, slot: over.slot ?? direct, gate: over.gate ?? gateOf(target), guard: over.guard, signal: over.signal, invocationStart: over.start ?? edge.clock.now });
  };
  return { edge, client: c, secret, gate: gates.for('archestra-token'), deliver };
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
  test('failures that provably did not run the agent are retried with exponential backoff, then delivered', async () => {
    const { edge, deliver } = setup([http(503), http(429), new HttpError('network', 'ECONNREFUSED', false), ok()]);
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
    const { edge, deliver } = setup([], { maxRetries: 0, fallback: http(503) });
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

  test('-32603 without a verdict is a platform fault: retried, then transient (never dead-lettered); isRetryable false is permanent at once', async () => {
    const a = setup([], { maxRetries: 1, fallback: rpcError(-32603, 'Internal error') });
    expect(await a.deliver()).toMatchObject({ status: 'transient', code: 'jsonrpc_-32603', attempts: 2, retries: 1 });
    expect(a.edge.sleeps).toEqual([100]);
    const b = setup([], { maxRetries: 1, fallback: rpcError(-32603, 'LLM busy', { isRetryable: true }) });
    expect(await b.deliver()).toMatchObject({ status: 'transient', code: 'jsonrpc_-32603', attempts: 2, retries: 1 });
    const c = setup([], { maxRetries: 1, fallback: rpcError(-32603, 'bad prompt', { isRetryable: false }) });
    expect(await c.deliver()).toMatchObject({ status: 'permanent', code: 'jsonrpc_-32603', attempts: 1, retries: 0 });
    expect(c.edge.calls).toHaveLength(1);
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

  test('a sent request cut short by the deadline (not by the route timeout) ends unknown, code deadline', async () => {
    const { deliver } = setup([new HttpError('timeout', 'no reply')]);
    const res = await deliver({ deadline: T0 + 2_000 });
    expect(res).toMatchObject({ status: 'unknown', code: 'deadline', attempts: 1 });
  });

  test('a request that never connected before the deadline cut it ends as deadline', async () => {
    const { deliver } = setup([new HttpError('timeout', 'no reply', false)]);
    const res = await deliver({ deadline: T0 + 2_000 });
    expect(res).toMatchObject({ status: 'deadline', code: 'deadline' });
  });

  // A timeout after the body was written says nothing of the agent, which may still be running the record: a
  // retry would run it again, so none is made.
  test('a sent request cut by the route timeout is not retried: its outcome is unknown', async () => {
    const { edge, deliver } = setup([new HttpError('timeout', 'no reply'), ok()]);
    const res = await deliver();
    expect(res).toMatchObject({ status: 'unknown', code: 'timeout', attempts: 1, retries: 0 });
    expect(edge.calls).toHaveLength(1);
  });

  test.each([
    ['a cut connection', new HttpError('network', 'socket hang up')],
    ['a 502 from a load balancer', http(502)],
    ['a 504 from a load balancer', http(504)],
  ])('%s is not retried: unknown', async (_what, reply) => {
    const { edge, deliver } = setup([reply, ok()]);
    expect(await deliver()).toMatchObject({ status: 'unknown', attempts: 1 });
    expect(edge.calls).toHaveLength(1);
  });

  test('a connect timeout (nothing sent) is retried', async () => {
    const { edge, deliver } = setup([new HttpError('timeout', 'not connected', false), ok()]);
    expect(await deliver()).toMatchObject({ status: 'delivered', attempts: 2, retries: 1 });
    expect(edge.calls).toHaveLength(2);
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

  test('a task past the route timeout is given up as unknown (task_timeout): reported, never dead-lettered, never sent again', async () => {
    const { edge, deliver } = setup([], { fallback: task('working') });
    const res = await deliver({ target: { timeoutMs: 1_000 } });
    expect(res).toMatchObject({ status: 'unknown', code: 'task_timeout', taskId: 'task-1' });
    expect(edge.calls.filter((c) => c.body.method === 'message/send')).toHaveLength(1);
    // Never polled past the route timeout.
    for (const c of edge.calls) expect(c.at - T0).toBeLessThanOrEqual(1_000);
    expect(edge.calls.length).toBeGreaterThan(1);
  });

  test('a task still running at the invocation deadline ends unknown (code deadline)', async () => {
    const { deliver } = setup([], { fallback: task('working') });
    const res = await deliver({ deadline: T0 + 1_000, target: { timeoutMs: 60_000 } });
    expect(res).toMatchObject({ status: 'unknown', code: 'deadline', taskId: 'task-1' });
  });

  test('a task that ends failed is permanent', async () => {
    const { deliver } = setup([task('working'), task('failed')]);
    expect(await deliver()).toMatchObject({ status: 'permanent', code: 'task_failed', taskId: 'task-1' });
  });

  test('failed polls are retried up to MAX_RETRIES in a row, then unknown (the task runs on)', async () => {
    const { edge, deliver } = setup([task('working')], { maxRetries: 2, fallback: http(503) });
    const res = await deliver();
    expect(res).toMatchObject({ status: 'unknown', code: 'http_503', taskId: 'task-1' });
    expect(edge.calls.map((c) => c.body.method)).toEqual(['message/send', 'tasks/get', 'tasks/get', 'tasks/get']);
  });

  test('a poll that answers "working" resets the count of failed polls', async () => {
    const { edge, deliver } = setup([task('working'), http(503), task('working'), http(503), task('completed', 'ok')], { maxRetries: 1 });
    expect(await deliver()).toMatchObject({ status: 'delivered', reply: 'ok' });
    expect(edge.calls).toHaveLength(5);
  });
});

describe('deadline signal', () => {
  test('a deadline signal that has fired: no token read, no request', async () => {
    const { edge, secret, deliver } = setup([ok()]);
    const res = await deliver({ signal: AbortSignal.abort() });
    expect(res).toMatchObject({ status: 'deadline', code: 'deadline', attempts: 0 });
    expect(edge.calls).toHaveLength(0);
    expect(secret.asks).toHaveLength(0);
  });

  test('a record waiting for the trial of its credential gives up when the signal fires', async () => {
    let answer!: (r: HttpReply) => void;
    const { edge, deliver } = setup([() => new Promise<HttpReply>((r) => (answer = r))]);
    const first = deliver();
    const deadline = new AbortController();
    const second = deliver({ msg: msgAt(8), signal: deadline.signal });
    await new Promise((r) => setImmediate(r));
    expect(edge.calls).toHaveLength(1);
    deadline.abort();
    expect(await second).toMatchObject({ status: 'deadline', code: 'deadline', attempts: 0 });
    answer(ok('first')(edge.calls[0]));
    expect(await first).toMatchObject({ status: 'delivered', reply: 'first', attempts: 1 });
    expect(edge.calls).toHaveLength(1);
  });
});

describe('credential gate', () => {
  test('an unverified token goes out one request at a time: the others follow its acceptance, then overlap', async () => {
    const { edge, gate, deliver } = setup([], { latencyMs: 10 });
    expect(gate.isAccepted(TOKEN)).toBe(false);
    const results = await Promise.all([7, 8, 9, 10].map((n) => deliver({ msg: msgAt(n) })));
    expect(results.map((r) => r.status)).toEqual(['delivered', 'delivered', 'delivered', 'delivered']);
    // The first alone; the other three only after its answer (at T0 + 10), and then together.
    expect(edge.calls.map((c) => c.concurrent)).toEqual([1, 1, 2, 3]);
    expect(edge.calls.map((c) => c.at - T0)).toEqual([0, 10, 10, 10]);
    expect(gate.isAccepted(TOKEN)).toBe(true);
  });

  test('a wrong token costs one request for all the records waiting on it, and one re-read of the secret', async () => {
    const { edge, secret, gate, deliver } = setup([], { latencyMs: 10, fallback: http(401), value: 'wrong' });
    const results = await Promise.all([7, 8, 9, 10].map((n) => deliver({ msg: msgAt(n), start: T0 })));
    expect(results.map((r) => [r.status, r.code, r.attempts])).toEqual([
      ['auth', 'auth_refused', 1],
      ['auth', 'auth_refused', 0],
      ['auth', 'auth_refused', 0],
      ['auth', 'auth_refused', 0],
    ]);
    expect(bearer(edge.calls)).toEqual(['Bearer wrong']);
    // Read at the start, then once more after the refusal at T0 + 10 (asking for a value read since then).
    expect(secret.reads).toEqual([T0, T0 + 10]);
    expect(secret.asks.filter((a) => a.fresherThan !== undefined).map((a) => a.fresherThan)).toEqual([T0 + 10, T0 + 10, T0 + 10, T0 + 10]);
    expect(gate.refusedAt('wrong')).toBe(T0 + 10);
  });

  test('a refused token is re-read once and the request retried with the rotated value', async () => {
    const { edge, secret, gate, deliver } = setup([], { latencyMs: 10, value: 'old', fallback: onlyAccepts('new') });
    const res = deliver();
    await new Promise((r) => setImmediate(r));
    // The secret is rotated while the old value is on its way.
    secret.value = 'new';
    expect(await res).toMatchObject({ status: 'delivered', attempts: 2, retries: 0 });
    expect(bearer(edge.calls)).toEqual(['Bearer old', 'Bearer new']);
    expect(secret.reads).toEqual([T0, T0 + 10]);
    expect(gate.refusedAt('old')).toBe(T0 + 10);
    expect(gate.isAccepted('new')).toBe(true);
  });

  test('concurrent records behind one slot: one re-read, and no queued request goes out with the refused token', async () => {
    const { edge, secret, deliver } = setup([], {
      latencyMs: 10,
      value: 'old',
      // A request with the old token rotates the secret and is refused.
      fallback: (c) => {
        if (c.headers.authorization !== 'Bearer old') return ok()(c);
        secret.value = 'new';
        return http(401);
      },
    });
    const slots = new PrioritySlots(1);
    const results = await Promise.all([1, 2, 3, 4].map((n) => deliver({ msg: msgAt(n), slot: (fn) => slots.run(1, fn), start: T0 })));
    expect(results.map((r) => r.status)).toEqual(['delivered', 'delivered', 'delivered', 'delivered']);
    expect(bearer(edge.calls)).toEqual(['Bearer old', 'Bearer new', 'Bearer new', 'Bearer new', 'Bearer new']);
    expect(secret.reads).toEqual([T0, T0 + 10]);
  });

  test('a token revoked after its acceptance: the requests already queued for the slot do not go out with it', async () => {
    let revoked = false;
    const { edge, secret, gate, deliver } = setup([], {
      latencyMs: 10,
      value: 'old',
      fallback: (c) => (revoked && c.headers.authorization === 'Bearer old' ? http(401) : ok()(c)),
    });
    expect(await deliver()).toMatchObject({ status: 'delivered' });
    expect(gate.isAccepted('old')).toBe(true);
    // Revoked and rotated; the accepted value lets every record through the gate, and all queue for one slot.
    revoked = true;
    secret.value = 'new';
    const slots = new PrioritySlots(1);
    const results = await Promise.all([1, 2, 3, 4].map((n) => deliver({ msg: msgAt(n), slot: (fn) => slots.run(1, fn), start: T0 + 10 })));
    expect(results.map((r) => [r.status, r.attempts])).toEqual([
      ['delivered', 2],
      ['delivered', 1],
      ['delivered', 1],
      ['delivered', 1],
    ]);
    expect(bearer(edge.calls)).toEqual(['Bearer old', 'Bearer old', 'Bearer new', 'Bearer new', 'Bearer new', 'Bearer new']);
    expect(secret.reads).toEqual([T0, T0 + 20]);
  });

  test('refused again after the re-read: auth, and the value is not sent again in this invocation nor read again', async () => {
    const { edge, secret, deliver } = setup([], { latencyMs: 10, fallback: http(401), value: 'wrong' });
    const first = await deliver({ start: T0 });
    expect(first).toMatchObject({ status: 'auth', code: 'auth_refused', attempts: 1, retries: 0 });
    expect(edge.calls).toHaveLength(1);
    expect(secret.reads).toEqual([T0, T0 + 10]);
    edge.clock.now += 500;
    const second = await deliver({ msg: msgAt(8), start: T0 });
    expect(second).toMatchObject({ status: 'auth', code: 'auth_refused', attempts: 0 });
    expect(edge.calls).toHaveLength(1);
    expect(secret.reads).toEqual([T0, T0 + 10]);
  });

  test('the next invocation reads the secret once: the same value is still not sent, a different one is', async () => {
    const { edge, secret, deliver } = setup([], { latencyMs: 10, value: 'wrong', fallback: onlyAccepts('right') });
    expect(await deliver()).toMatchObject({ status: 'auth', attempts: 1 });
    // A warm invocation 2 s later, same container (same gate), secret unchanged.
    edge.clock.now = T0 + 2_000;
    expect(await deliver({ msg: msgAt(8), start: T0 + 2_000 })).toMatchObject({ status: 'auth', code: 'auth_refused', attempts: 0 });
    expect(await deliver({ msg: msgAt(9), start: T0 + 2_000 })).toMatchObject({ status: 'auth', code: 'auth_refused', attempts: 0 });
    expect(secret.reads).toEqual([T0, T0 + 10, T0 + 2_000]);
    // Another invocation after the secret was fixed: the new value goes out at once.
    secret.value = 'right';
    edge.clock.now = T0 + 4_000;
    expect(await deliver({ msg: msgAt(10), start: T0 + 4_000 })).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(secret.reads).toEqual([T0, T0 + 10, T0 + 2_000, T0 + 4_000]);
    expect(bearer(edge.calls)).toEqual(['Bearer wrong', 'Bearer right']);
  });

  test('a refused value is tried again (one request) once the cool-down has passed', async () => {
    const { edge, gate, deliver } = setup([], { latencyMs: 10, value: 'wrong', fallback: http(401) });
    await deliver();
    const refusedAt = T0 + 10;
    expect(gate.refusedAt('wrong')).toBe(refusedAt);
    edge.clock.now = refusedAt + COOL_DOWN_MS - 1;
    expect(await deliver({ msg: msgAt(8) })).toMatchObject({ status: 'auth', code: 'auth_refused', attempts: 0 });
    expect(edge.calls).toHaveLength(1);
    edge.clock.now = refusedAt + COOL_DOWN_MS;
    expect(await deliver({ msg: msgAt(9) })).toMatchObject({ status: 'auth', attempts: 1 });
    expect(bearer(edge.calls)).toEqual(['Bearer wrong', 'Bearer wrong']);
    expect(edge.calls[1].at).toBe(refusedAt + COOL_DOWN_MS);
  });

  test('a fixed ARCHESTRA_TOKEN is never re-read: the refusal is final at once, and the next record sends nothing', async () => {
    const tokens = fixedToken('wrong');
    const { edge, deliver } = setup([], { latencyMs: 10, tokens, fallback: http(401) });
    expect(await deliver()).toMatchObject({ status: 'auth', code: 'http_401', attempts: 1, retries: 0 });
    expect(await deliver({ msg: msgAt(8), start: T0 + 5_000 })).toMatchObject({ status: 'auth', code: 'auth_refused', attempts: 0 });
    expect(edge.calls).toHaveLength(1);
    expect(tokens.asks).toHaveLength(2);
    expect(tokens.asks.every((a) => a.fresherThan === undefined)).toBe(true);
  });

  test("Archestra's lockout (HTTP 429 'too many failed authentications') is auth: not retried, and the value is held refused", async () => {
    const lockout = http(429, '60', 'Too many failed authentication attempts. Try again later.');
    const { edge, gate, deliver } = setup([lockout], { tokens: fixedToken(TOKEN) });
    expect(await deliver()).toMatchObject({ status: 'auth', code: 'auth_lockout', attempts: 1, retries: 0 });
    expect(edge.sleeps).toEqual([]);
    expect(gate.refusedAt(TOKEN)).toBe(T0);
    expect(await deliver({ msg: msgAt(8) })).toMatchObject({ status: 'auth', code: 'auth_refused', attempts: 0 });
    expect(edge.calls).toHaveLength(1);
  });

  test('a plain 429 or a 5xx teaches nothing about the token: retried, neither refused nor accepted', async () => {
    const { edge, gate, deliver } = setup([http(429, '1'), http(503)], { maxRetries: 1 });
    expect(await deliver()).toMatchObject({ status: 'transient', code: 'http_503', attempts: 2 });
    expect(edge.sleeps).toEqual([1000]);
    expect(gate.refusedAt(TOKEN)).toBeUndefined();
    expect(gate.isAccepted(TOKEN)).toBe(false);
  });

  test('a route that must not see the token reads no secret, and its refusal does not touch the token gate', async () => {
    const { edge, secret, gate, deliver } = setup([http(401), ok()]);
    expect(await deliver({ target: { sendToken: false } })).toMatchObject({ status: 'auth', code: 'http_401', attempts: 1 });
    expect(secret.asks).toHaveLength(0);
    expect(gate.refusedAt(TOKEN)).toBeUndefined();
    expect(await deliver({ msg: msgAt(8) })).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(edge.calls[1].headers.authorization).toBe(`Bearer ${TOKEN}`);
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
    const { edge, deliver } = setup([
      () => {
        allowed = false;
        return http(503);
      },
      ok(),
    ]);
    const res = await deliver({ guard: { mayStart: () => allowed, failing: () => undefined } });
    expect(res.status).toBe('held');
    expect(edge.calls).toHaveLength(1);
  });

  test('the guard is told inside the slot during the final attempt (not one that will be retried), and again as the result is handed back', async () => {
    const told: Array<[number, boolean]> = [];
    const { deliver } = setup([http(503), http(503)], { maxRetries: 1 });
    let sent = 0;
    let inSlot = false;
    const slot = async <T>(fn: () => Promise<T>): Promise<T> => {
      inSlot = true;
      try {
        return await fn();
      } finally {
        inSlot = false;
      }
    };
    const mayStart = () => {
      sent++;
      return true;
    };
    const res = await deliver({ slot, guard: { mayStart, failing: () => told.push([sent, inSlot]) } });
    expect(res).toMatchObject({ status: 'transient', attempts: 2 });
    // Not during the first attempt (it was retried); during the second, while it held the slot; then once more outside it.
    expect(told).toEqual([
      [2, true],
      [2, false],
    ]);
  });

  test('a delivered record never tells the guard', async () => {
    const told: number[] = [];
    const { deliver } = setup([http(503), ok()]);
    expect(await deliver({ guard: { mayStart: () => true, failing: () => told.push(1) } })).toMatchObject({ status: 'delivered', attempts: 2 });
    expect(told).toEqual([]);
  });
});
