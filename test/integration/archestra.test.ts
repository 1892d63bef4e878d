// The pipeline against the Archestra-compatible server: wire format (checked by the A2A schema), routing,
// ordering, retries, error classes, auth and the Kafka batch response.
import { isSend, sequence, startArchestraSim, type ArchestraSim, type RecordedRequest } from '../../sim/archestra';
import { validateA2A } from '../support/a2a-schema';
import { makeBridge, totals } from '../support/bridge';
import { mskEvent, type TestRecord } from '../support/kafka';
import { useArchestraSim } from '../support/sim';

const AGENT_A = '11111111-1111-4111-8111-111111111111';
const AGENT_B = '22222222-2222-4222-8222-222222222222';
const TOKEN = 'test-token-4f1d9a';

let sim: ArchestraSim;
useArchestraSim({ tokens: [TOKEN] }, (s) => (sim = s));

const routes = (extra: object[] = []) =>
  JSON.stringify([
    ...extra,
    { name: 'support-vip', topic_pattern: 'customer.*', agent_id: AGENT_B, field_match: { 'customer.tier': 'vip' } },
    { name: 'support', topic_pattern: 'customer.*', prompt_id: AGENT_A, transform_template: 'Customer {customer_id}: {message} [{$topic}@{$offset}]' },
    { name: 'orders', topic_pattern: '/^orders\\.(events|updates)$/', prompt_id: AGENT_A },
  ]);

const env = (over: Record<string, string> = {}) => ({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: routes(), ...over });
const sends = () => sim.requests.filter(isSend);

describe('delivery to an Archestra-compatible agent', () => {
  test('routes, renders and delivers a mixed batch with spec-valid requests and an empty failure list', async () => {
    const bridge = makeBridge(env());
    const records: TestRecord[] = [
      { topic: 'customer.events', partition: 0, offset: 10, key: 'CUST-001', value: { customer_id: 'CUST-001', message: 'Double charged' } },
      { topic: 'customer.events', partition: 0, offset: 11, key: 'CUST-002', value: { customer_id: 'CUST-002', customer: { tier: 'vip' }, message: 'x' } },
      { topic: 'orders.events', partition: 3, offset: 7, key: 'ORD-123', value: { order_id: 'ORD-123', event_type: 'shipped' } },
      { topic: 'analytics.events', partition: 0, offset: 1, value: { metric_name: 'conversion_rate' } },
    ];
    const result = await bridge.run(mskEvent(records));

    expect(result.response).toEqual({ batchItemFailures: [] });
    expect(sends()).toHaveLength(3);
    for (const req of sends()) {
      expect(validateA2A('SendMessageRequest', req.body)).toEqual([]);
      expect(req.headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(req.path).toMatch(/^\/v1\/a2a\/[0-9a-f-]{36}$/);
    }
    const byText = Object.fromEntries(sends().map((r) => [`${r.agentId}:${r.text?.slice(0, 20)}`, r]));
    expect(Object.keys(byText).sort()).toEqual(
      [`${AGENT_A}:Customer CUST-001: D`, `${AGENT_B}:{\n  "customer_id": "`, `${AGENT_A}:{\n  "order_id": "ORD`].sort(),
    );
    const support = sends().find((r) => r.text?.startsWith('Customer'))!;
    expect(support.text).toBe('Customer CUST-001: Double charged [customer.events@10]');
    const body = support.body as { id: string; params: { message: { messageId: string; metadata: Record<string, unknown> } } };
    expect(body.id).toBe('kafka:customer.events-0-10#support');
    expect(body.params.message.metadata).toEqual({
      kafka: { topic: 'customer.events', partition: 0, offset: 10, key: 'CUST-001', timestamp: 1736676000010 },
      route: 'support',
    });

    const byStatus = Object.fromEntries(result.outcomes.map((o) => [`${o.topic}@${o.offset}`, o.status]));
    expect(byStatus).toEqual({ 'customer.events@10': 'delivered', 'customer.events@11': 'delivered', 'orders.events@7': 'delivered', 'analytics.events@1': 'unrouted' });
    expect(result.outcomes.find((o) => o.offset === 10)!.reply).toBe('Summary: Customer CUST-001: Double charged [customer.events@10]');
    expect(totals(bridge)).toMatchObject({ RecordsReceived: 4, RecordsDelivered: 3, RecordsUnrouted: 1 });
    const summary = bridge.logs.find((l) => l.message === 'batch summary')!;
    expect(summary).toMatchObject({ records: 4, delivered: 3, unrouted: 1, failed: 0 });
  });

  test('the same record always gets the same JSON-RPC id and messageId (redelivery is recognisable)', async () => {
    const bridge = makeBridge(env());
    const ev = mskEvent([{ topic: 'orders.events', partition: 1, offset: 42, value: { order_id: 'A' } }]);
    await bridge.run(ev);
    await bridge.run(ev);
    const [a, b] = sends().map((r) => r.body as { id: string; params: { message: { messageId: string } } });
    expect(a.id).toBe(b.id);
    expect(a.params.message.messageId).toBe(b.params.message.messageId);
    expect(sends()[1].attempt).toBe(2);
  });

  test('records of one key reach the agent in offset order; other keys run concurrently', async () => {
    sim.setLatency(() => 30);
    const bridge = makeBridge(env({ ORDERING: 'key', MAX_CONCURRENCY: '8' }));
    const records: TestRecord[] = [];
    for (let o = 0; o < 24; o++) records.push({ topic: 'orders.events', partition: 0, offset: o, key: `k${o % 4}`, value: { order_id: `O${o}`, n: o } });
    const started = Date.now();
    const result = await bridge.run(mskEvent(records));
    const elapsed = Date.now() - started;
    expect(result.response.batchItemFailures).toEqual([]);
    for (let k = 0; k < 4; k++) {
      const seen = sends()
        .map((r) => JSON.parse(r.text!) as { order_id: string; n: number })
        .filter((v) => v.n % 4 === k)
        .map((v) => v.n);
      expect(seen).toEqual([...seen].sort((x, y) => x - y));
      expect(seen).toHaveLength(6);
    }
    expect(sim.stats().maxInFlight).toBeGreaterThan(1);
    expect(sim.stats().maxInFlight).toBeLessThanOrEqual(8);
    // 6 records per key at 30 ms each; fully serial would take 24 x 30 ms.
    expect(elapsed).toBeLessThan(24 * 30);
  });

  test('partition ordering sends one record at a time per partition', async () => {
    sim.setLatency(() => 5);
    const bridge = makeBridge(env({ ORDERING: 'partition', MAX_CONCURRENCY: '10' }));
    const records: TestRecord[] = [];
    for (let o = 0; o < 10; o++) records.push({ topic: 'orders.events', partition: 0, offset: o, key: `k${o}`, value: { n: o } });
    await bridge.run(mskEvent(records));
    expect(sim.stats().maxInFlight).toBe(1);
    expect(sends().map((r) => (JSON.parse(r.text!) as { n: number }).n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

describe('failures', () => {
  const five = (partition = 0): TestRecord[] =>
    [0, 1, 2, 3, 4].map((i) => ({ topic: 'orders.events', partition, offset: 100 + i, key: 'same', value: { n: i } }));

  test('transient errors are retried, then succeed', async () => {
    sim.setBehaviour(sequence([{ kind: 'http', status: 503 }, { kind: 'http', status: 429, retryAfter: 0 }, { kind: 'llmError', retryable: true }]));
    const bridge = makeBridge(env({ MAX_RETRIES: '3' }));
    const result = await bridge.run(mskEvent(five().slice(0, 1)));
    expect(result.response.batchItemFailures).toEqual([]);
    expect(sends().map((r) => r.outcome)).toEqual(['http', 'http', 'llmError', 'message']);
    expect(result.outcomes[0]).toMatchObject({ status: 'delivered', attempts: 4, retries: 3 });
    expect(totals(bridge).RecordsRetried).toBe(3);
  });

  test('a record still failing after its retries is reported, and its chain stops there', async () => {
    sim.setBehaviour((r) => (isSend(r) && (JSON.parse(r.text!) as { n: number }).n === 2 ? { kind: 'http', status: 503 } : undefined));
    const bridge = makeBridge(env({ MAX_RETRIES: '2', ORDERING: 'partition' }));
    const result = await bridge.run(mskEvent(five()));
    expect(result.response).toEqual({ batchItemFailures: [{ itemIdentifier: { partition: 'orders.events-0', offset: 102 } }] });
    const ns = sends().map((r) => (JSON.parse(r.text!) as { n: number }).n);
    expect(ns).toEqual([0, 1, 2, 2, 2]);
    expect(result.outcomes.map((o) => o.status)).toEqual(['delivered', 'delivered', 'failed', 'failed', 'failed']);
    expect(totals(bridge)).toMatchObject({ RecordsDelivered: 2, RecordsFailed: 3 });
  });

  test.each([
    ['HTTP 400', { kind: 'http', status: 400 } as const, 'http_400'],
    ['HTTP 404', { kind: 'http', status: 404 } as const, 'http_404'],
    ['HTTP 413', { kind: 'http', status: 413 } as const, 'http_413'],
    ['-32602 invalid params', { kind: 'rpcError', code: -32602 } as const, 'jsonrpc_-32602'],
    ['-32601 method not found', { kind: 'rpcError', code: -32601 } as const, 'jsonrpc_-32601'],
    ['-32603 not retryable', { kind: 'llmError', retryable: false } as const, 'jsonrpc_-32603'],
    ['a task that failed', { kind: 'task', finalState: 'failed' } as const, 'task_failed'],
    ['a task needing input', { kind: 'task', finalState: 'input-required' } as const, 'task_input-required'],
    ['the wrong JSON-RPC id', { kind: 'wrongId' } as const, 'malformed_reply'],
  ])('%s is permanent: no retry, the partition moves on (no DLQ configured here: reported)', async (_label, reply, code) => {
    sim.setBehaviour(sequence([reply]));
    const bridge = makeBridge(env({ MAX_RETRIES: '3' }));
    const result = await bridge.run(mskEvent(five().slice(0, 2)));
    const first = result.outcomes.find((o) => o.offset === 100)!;
    expect(first.code).toBe(code);
    expect(first.attempts).toBe(1);
    // Without a DLQ the permanent failure cannot be parked: it is reported, never dropped.
    expect(first.status).toBe('failed');
    expect(result.response.batchItemFailures).toEqual([{ itemIdentifier: { partition: 'orders.events-0', offset: 100 } }]);
    expect(bridge.logs.some((l) => l.level === 'error' && /no DLQ_URL/.test(l.message))).toBe(true);
  });

  test('-32603 without isRetryable is retried, then treated as permanent', async () => {
    sim.setBehaviour((r) => (isSend(r) ? { kind: 'rpcError', code: -32603, message: 'Internal error' } : undefined));
    const bridge = makeBridge(env({ MAX_RETRIES: '2' }));
    const result = await bridge.run(mskEvent(five().slice(0, 1)));
    expect(sends()).toHaveLength(3);
    expect(result.outcomes[0]).toMatchObject({ code: 'jsonrpc_-32603', attempts: 3 });
  });

  test('a task in progress is polled with tasks/get until it completes', async () => {
    sim.setBehaviour(sequence([{ kind: 'task', afterPolls: 2, text: 'all done' }]));
    const bridge = makeBridge(env());
    const result = await bridge.run(mskEvent(five().slice(0, 1)));
    expect(result.outcomes[0]).toMatchObject({ status: 'delivered', reply: 'all done' });
    const methods = sim.requests.map((r) => r.method);
    expect(methods).toEqual(['message/send', 'tasks/get', 'tasks/get']);
    for (const r of sim.requests.filter((q) => q.method === 'tasks/get')) expect(validateA2A('GetTaskRequest', r.body)).toEqual([]);
  });

  test('a task that never finishes is given up after the route timeout and reported', async () => {
    sim.setBehaviour(sequence([{ kind: 'task', never: true }]));
    const bridge = makeBridge(env({ ROUTES_CONFIG: JSON.stringify([{ name: 'slow', topic_pattern: 'orders.events', prompt_id: AGENT_A, timeout_seconds: 1 }]) }));
    const result = await bridge.run(mskEvent(five().slice(0, 1)));
    expect(result.outcomes[0]).toMatchObject({ status: 'failed', code: 'task_timeout' });
    expect(result.response.batchItemFailures).toHaveLength(1);
  });

  // A hung agent, a reset and a truncated body: the request had been read, so the agent may be running it. The
  // outcome is unknown: reported, never retried within the invocation.
  test('a hung agent is cut by the request timeout and reported, not retried (its outcome is unknown)', async () => {
    sim.setBehaviour(sequence([{ kind: 'hang' }]));
    const bridge = makeBridge(env({ REQUEST_TIMEOUT: '0.3' }));
    const result = await bridge.run(mskEvent(five().slice(0, 1)));
    expect(result.outcomes[0]).toMatchObject({ status: 'failed', code: 'timeout', attempts: 1, retries: 0 });
    expect(sends()).toHaveLength(1);
  });

  test.each([
    ['a connection reset', { kind: 'reset' } as const],
    ['a truncated body', { kind: 'truncated' } as const],
  ])('%s after the request was read is reported, not retried', async (_what, reply) => {
    sim.setBehaviour(sequence([reply]));
    const bridge = makeBridge(env());
    const result = await bridge.run(mskEvent(five().slice(0, 1)));
    expect(result.outcomes[0]).toMatchObject({ status: 'failed', code: 'network', attempts: 1, retries: 0 });
    expect(sends()).toHaveLength(1);
  });
});

describe('authentication', () => {
  /** A secret-like source that always holds `value`: counts the re-reads a refusal asks for, caching like the real one. */
  const stuckSecret = (value: string) => {
    const src = {
      reads: 0,
      readAt: 0,
      fixed: false,
      get: async (o?: { fresherThan?: number }) => {
        if (o?.fresherThan !== undefined && src.readAt < o.fresherThan) {
          src.reads++;
          src.readAt = Date.now();
        }
        return value;
      },
    };
    return src;
  };

  test('a refused token is re-read once; if still refused, nothing more is sent and the rest is reported (not dead-lettered)', async () => {
    const tokens = stuckSecret('wrong-token');
    const bridge = makeBridge(env({ ARCHESTRA_TOKEN: 'wrong-token', MAX_CONCURRENCY: '4', ORDERING: 'none' }), { tokens });
    const records: TestRecord[] = [];
    for (let o = 0; o < 30; o++) records.push({ topic: 'orders.events', partition: o % 3, offset: o, value: { n: o } });
    const result = await bridge.run(mskEvent(records));
    expect(tokens.reads).toBe(1);
    // A token that never succeeded goes out one request at a time: one refusal, not MAX_CONCURRENCY.
    expect(sim.requests.length).toBe(1);
    expect(result.outcomes.every((o) => o.status === 'failed')).toBe(true);
    expect(result.response.batchItemFailures).toEqual([
      { itemIdentifier: { partition: 'orders.events-0', offset: 0 } },
      { itemIdentifier: { partition: 'orders.events-1', offset: 1 } },
      { itemIdentifier: { partition: 'orders.events-2', offset: 2 } },
    ]);
    expect(JSON.stringify(bridge.logs)).not.toContain('wrong-token');
  });

  test('Archestra\'s own auth refusal (HTTP 200, JSON-RPC -32600) is recognised as an auth failure', async () => {
    const real = await startArchestraSim({ tokens: [TOKEN], authFailureStatus: 200 });
    try {
      const tokens = stuckSecret('bad');
      const bridge = makeBridge(env({ ARCHESTRA_URL: real.url }), { tokens });
      const result = await bridge.run(mskEvent([0, 1].map((o) => ({ topic: 'orders.events', partition: 0, offset: o, key: 'k', value: { n: o } }))));
      // The re-read gives the same value: it is not sent a second time.
      expect(real.requests.map((r) => [r.status, r.errorCode])).toEqual([[200, -32600]]);
      expect(tokens.reads).toBe(1);
      expect(result.outcomes.map((o) => o.status)).toEqual(['failed', 'failed']);
      expect(result.response.batchItemFailures).toEqual([{ itemIdentifier: { partition: 'orders.events-0', offset: 0 } }]);
    } finally {
      await real.close();
    }
  });

  test('a rotated token is picked up after the first refusal and delivery goes on', async () => {
    let current = 'old-token';
    const bridge = makeBridge(env(), {
      tokens: {
        fixed: false,
        get: async (o?: { fresherThan?: number }) => {
          if (o?.fresherThan !== undefined) current = TOKEN;
          return current;
        },
      },
    });
    const records: TestRecord[] = [0, 1, 2].map((o) => ({ topic: 'orders.events', partition: 0, offset: o, key: 'k', value: { n: o } }));
    const result = await bridge.run(mskEvent(records));
    expect(result.response.batchItemFailures).toEqual([]);
    expect(sim.requests.map((r: RecordedRequest) => r.status)).toEqual([401, 200, 200, 200]);
  });

  test('the token is never sent to a route with a foreign url', async () => {
    const other = await startArchestraSim();
    try {
      const bridge = makeBridge(
        env({ ROUTES_CONFIG: JSON.stringify([{ name: 'ext', topic_pattern: 'orders.events', prompt_id: AGENT_A, url: other.agentUrl(AGENT_A) }]) }),
      );
      await bridge.run(mskEvent([{ topic: 'orders.events', partition: 0, offset: 1, value: { n: 1 } }]));
      expect(other.requests.length).toBeGreaterThan(0);
      for (const r of other.requests) expect(r.headers.authorization).toBeUndefined();
    } finally {
      await other.close();
    }
  });
});

describe('A2A 1.0 routes', () => {
  test('use /v2/a2a with the A2A-Version header, SendMessage and GetTask', async () => {
    sim.setBehaviour(sequence([{ kind: 'message' }, { kind: 'task', afterPolls: 1, text: 'v1 task done' }]));
    const bridge = makeBridge(env({ ROUTES_CONFIG: JSON.stringify([{ name: 'v1', topic_pattern: 'orders.events', prompt_id: AGENT_A, a2a_version: '1.0' }]) }));
    const result = await bridge.run(mskEvent([0, 1].map((o) => ({ topic: 'orders.events', partition: 0, offset: o, key: 'k', value: { n: o } }))));
    expect(result.response.batchItemFailures).toEqual([]);
    expect(sim.requests.map((r) => [r.path, r.method, r.headers['a2a-version']])).toEqual([
      [`/v2/a2a/${AGENT_A}`, 'SendMessage', '1.0'],
      [`/v2/a2a/${AGENT_A}`, 'SendMessage', '1.0'],
      [`/v2/a2a/${AGENT_A}`, 'GetTask', '1.0'],
    ]);
    const msg = (sim.requests[0].body as { params: { message: Record<string, unknown> } }).params.message;
    expect(msg.role).toBe('ROLE_USER');
    expect(msg.parts).toEqual([{ text: '{\n  "n": 0\n}' }]);
    expect(result.outcomes.map((o) => o.reply)).toEqual(['Summary: { "n": 0 }', 'v1 task done']);
  });
});
