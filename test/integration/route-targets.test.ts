// Route targets against the simulator: OpenAI-compatible targets (Archestra's LLM proxy and a plain base URL),
// header allow-lists and trace context, per-target limits and the circuit breaker, over the real pipeline.
import { startArchestraSim, type ArchestraSim, type Reply } from '../../sim/archestra';
import { CircuitBreakers } from '../../lambda/deliver/circuit-breaker';
import { CredentialGates } from '../../lambda/deliver/credential-gate';
import { loadSettings } from '../../lambda/config/settings';
import { startSdkA2AServer } from '../support/a2a-sdk-server';
import { makeBridge } from '../support/bridge';
import { mskEvent, type TestRecord } from '../support/kafka';
import { useArchestraSim } from '../support/sim';

const AGENT = '11111111-1111-4111-8111-111111111111';
const OTHER = '22222222-2222-4222-8222-222222222222';
const TOKEN = 'test-token-19a';

let sim: ArchestraSim;
useArchestraSim({ tokens: [TOKEN] }, (s) => (sim = s));

const chat = () => sim.requests.filter((r) => r.path.endsWith('/chat/completions'));
const records = (n: number, topic = 'events', partitions = 1): TestRecord[] =>
  Array.from({ length: n }, (_, i) => ({ topic, partition: i % partitions, offset: 100 + i, key: `k${i}`, value: { n: i } }));
const env = (routes: object[], over: Record<string, string> = {}) => ({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: JSON.stringify(routes), ...over });
const openaiRoute = (extra: object = {}) => ({ name: 'llm', topic_pattern: 'events', agent_id: AGENT, target: 'openai', model: 'gpt-4o-mini', system_prompt: 'Summarise.', transform_template: 'Event {n}', ...extra });

describe('OpenAI-compatible targets', () => {
  test("Archestra's LLM proxy: chat completions per agent, with the token, the system prompt and the model; the reply is the first choice", async () => {
    sim.setBehaviour((r) => (r.method === 'chat.completions' ? { kind: 'message', text: `answer to ${r.text}` } : undefined));
    const b = makeBridge(env([openaiRoute()]));
    const res = await b.run(mskEvent(records(3)));
    expect(res.response).toEqual({ batchItemFailures: [] });
    expect(chat()).toHaveLength(3);
    for (const r of chat()) {
      expect(r.path).toBe(`/v1/openai/${AGENT}/chat/completions`);
      expect(r.headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(r.body).toEqual({ model: 'gpt-4o-mini', stream: false, messages: [{ role: 'system', content: 'Summarise.' }, { role: 'user', content: r.text }] });
    }
    expect(res.outcomes.map((o) => o.reply).sort()).toEqual(['answer to Event 0', 'answer to Event 1', 'answer to Event 2']);
  });

  test('a plain OpenAI-compatible base URL gets no Archestra token', async () => {
    const foreign = await startArchestraSim();
    try {
      const b = makeBridge(env([openaiRoute({ url: foreign.chatBaseUrl })]));
      const res = await b.run(mskEvent(records(2)));
      expect(res.response).toEqual({ batchItemFailures: [] });
      const sent = foreign.requests.filter((r) => r.method === 'chat.completions');
      expect(sent.map((r) => r.path)).toEqual(['/v1/chat/completions', '/v1/chat/completions']);
      expect(sent.every((r) => r.headers.authorization === undefined)).toBe(true);
    } finally {
      await foreign.close();
    }
  });

  test('429 with Retry-After is retried after the given pause; 5xx retried; 400 dead-lettered', async () => {
    const seen = new Map<string, number>();
    sim.setBehaviour((r): Reply | undefined => {
      const n = (seen.get(r.text!) ?? 0) + 1;
      seen.set(r.text!, n);
      if (r.text === 'Event 0' && n === 1) return { kind: 'http', status: 429, retryAfter: 1 };
      if (r.text === 'Event 1' && n === 1) return { kind: 'http', status: 503 };
      if (r.text === 'Event 2') return { kind: 'http', status: 400 };
      return undefined;
    });
    const b = makeBridge(env([openaiRoute()], { ORDERING: 'none' }), { deadLetters: { send: async () => new Set() } });
    const t0 = Date.now();
    const res = await b.run(mskEvent(records(3)));
    expect(res.response).toEqual({ batchItemFailures: [] });
    const by = Object.fromEntries(res.outcomes.map((o) => [o.offset, o]));
    expect(by[100]).toMatchObject({ status: 'delivered', retries: 1 });
    expect(by[101]).toMatchObject({ status: 'delivered', retries: 1 });
    expect(by[102]).toMatchObject({ status: 'dead_lettered', code: 'http_400' });
    const e0 = chat().filter((r) => r.text === 'Event 0');
    expect(e0[1].receivedAt - e0[0].receivedAt).toBeGreaterThanOrEqual(900);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
  });

  test('401 stops as for A2A: the credential is refused once and the records are reported, not dead-lettered', async () => {
    const b = makeBridge(env([openaiRoute()], { ARCHESTRA_TOKEN: 'wrong-token' }), { deadLetters: { send: async () => new Set() } });
    const res = await b.run(mskEvent(records(4)));
    expect(res.outcomes.every((o) => o.status === 'failed')).toBe(true);
    expect(res.response.batchItemFailures).toEqual([{ itemIdentifier: { partition: 'events-0', offset: 100 } }]);
    expect(chat()).toHaveLength(1);
    expect(chat()[0].status).toBe(401);
  });

  test('402 budget exhausted stops the route: its records are reported, the target is not called again before the cool-down', async () => {
    sim.setBehaviour((r) => (r.method === 'chat.completions' ? { kind: 'http', status: 402 } : undefined));
    const breakers = new CircuitBreakers({ threshold: 5, coolDownMs: 60_000 });
    const routes = [openaiRoute(), { name: 'a2a', topic_pattern: 'other', agent_id: OTHER }];
    const b = makeBridge(env(routes, { ORDERING: 'none', MAX_CONCURRENCY: '1' }), { breakers });
    // One partition each, so that no record is held behind another's failure: each meets the stopped route itself.
    const res = await b.run(mskEvent([...records(5, 'events', 5), ...records(2, 'other')]));
    const llm = res.outcomes.filter((o) => o.route === 'llm');
    expect(llm.every((o) => o.status === 'failed')).toBe(true);
    expect(new Set(llm.map((o) => o.code))).toEqual(new Set(['budget_exhausted', 'circuit_open']));
    expect(llm.filter((o) => o.code === 'budget_exhausted')).toHaveLength(1);
    expect(llm.every((o) => o.attempts <= 1)).toBe(true);
    // The other agent is not affected.
    expect(res.outcomes.filter((o) => o.route === 'a2a').every((o) => o.status === 'delivered')).toBe(true);
    // A second (warm) invocation sends nothing to it.
    const before = chat().length;
    const again = await makeBridge(env(routes), { breakers }).run(mskEvent(records(3)));
    expect(chat()).toHaveLength(before);
    expect(again.outcomes.every((o) => o.status === 'failed')).toBe(true);
    expect(again.outcomes[0].code).toBe('circuit_open');
    expect(again.response.batchItemFailures).toEqual([{ itemIdentifier: { partition: 'events-0', offset: 100 } }]);
  });
});

describe('circuit breaker per agent', () => {
  test('opens after N consecutive transient failures, reports instead of retrying, probes after the cool-down and closes', async () => {
    let t = 1_000_000;
    let down = true;
    sim.setBehaviour((r) => (r.agentId === AGENT && down ? { kind: 'http', status: 503 } : undefined));
    const breakers = new CircuitBreakers({ threshold: 3, coolDownMs: 30_000, now: () => t });
    const gates = new CredentialGates({ coolDownMs: 60_000 });
    const routes = [{ name: 'a', topic_pattern: 'events', agent_id: AGENT }, { name: 'b', topic_pattern: 'other', agent_id: OTHER }];
    const bridge = () => makeBridge(env(routes, { ORDERING: 'none', MAX_RETRIES: '5', MAX_CONCURRENCY: '1' }), { breakers, gates });
    const first = await bridge().run(mskEvent([...records(6, 'events', 6), ...records(3, 'other')]));
    const toA = () => sim.requests.filter((r) => r.agentId === AGENT).length;
    // 3 failures open it; without the breaker 6 records x 6 attempts = 36 requests.
    expect(toA()).toBe(3);
    expect(first.outcomes.filter((o) => o.route === 'a').every((o) => o.status === 'failed')).toBe(true);
    expect(first.outcomes.filter((o) => o.route === 'a' && o.code === 'circuit_open')).toHaveLength(6);
    expect(first.outcomes.filter((o) => o.route === 'b').every((o) => o.status === 'delivered')).toBe(true);

    // Still open in the next (warm) invocation: nothing sent.
    const second = await bridge().run(mskEvent(records(2, 'events', 2)));
    expect(toA()).toBe(3);
    expect(second.outcomes.every((o) => o.code === 'circuit_open')).toBe(true);

    // Cool-down over, agent still down: one probe, which fails and reopens.
    t += 30_000;
    const third = await bridge().run(mskEvent(records(4, 'events', 4)));
    expect(toA()).toBe(4);
    expect(third.outcomes.every((o) => o.status === 'failed')).toBe(true);

    // Cool-down over, agent back: the probe succeeds and the circuit closes for the rest.
    t += 30_000;
    down = false;
    const fourth = await bridge().run(mskEvent(records(4, 'events', 4)));
    expect(fourth.response).toEqual({ batchItemFailures: [] });
    expect(breakers.openTargets()).toEqual([]);
  });
});

describe('circuit breaker: what counts', () => {
  test('an answer, even a permanent error, resets the count of consecutive transient failures', async () => {
    sim.setBehaviour((r) => (r.method !== 'message/send' ? undefined : Number(/"n": (\d+)/.exec(r.text ?? '')?.[1]) % 2 === 0 ? { kind: 'http', status: 503 } : { kind: 'rpcError', code: -32602, message: 'bad params' }));
    const breakers = new CircuitBreakers({ threshold: 2, coolDownMs: 60_000 });
    const b = makeBridge(env([{ name: 'a', topic_pattern: 'events', agent_id: AGENT }], { ORDERING: 'none', MAX_CONCURRENCY: '1', MAX_RETRIES: '0' }), {
      breakers,
      deadLetters: { send: async () => new Set() },
    });
    const res = await b.run(mskEvent(records(8, 'events', 8)));
    expect(res.outcomes.map((o) => o.code)).toEqual(Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? 'http_503' : 'jsonrpc_-32602')));
    expect(breakers.openTargets()).toEqual([]);
  });
});

describe('per-agent limits', () => {
  test('routes of one target URL share one limiter with the smallest limit', () => {
    const b = makeBridge(env([
      { name: 'a', topic_pattern: 'x', agent_id: AGENT, max_in_flight: 3 },
      { name: 'b', topic_pattern: 'y', agent_id: AGENT, max_in_flight: 2, rate_per_second: 5 },
      { name: 'c', topic_pattern: 'z', agent_id: OTHER },
    ]));
    expect(b.deps.plans.get('a')!.target.limits).toEqual({ maxInFlight: 2, ratePerSecond: 5 });
    expect(b.deps.plans.get('b')!.target.limits).toEqual({ maxInFlight: 2, ratePerSecond: 5 });
    expect(b.deps.plans.get('c')!.target.limits).toBeUndefined();
  });

  test('max_in_flight below MAX_CONCURRENCY: the measured in-flight maximum at the agent never exceeds it, nothing fails for waiting', async () => {
    sim.setLatency(30);
    const b = makeBridge(env([{ name: 'a', topic_pattern: 'events', agent_id: AGENT, max_in_flight: 2 }, { name: 'b', topic_pattern: 'other', agent_id: OTHER }], { ORDERING: 'none', MAX_CONCURRENCY: '10' }));
    let inA = 0;
    let maxA = 0;
    sim.setBehaviour(async (r) => {
      if (r.agentId !== AGENT) return undefined;
      inA++;
      maxA = Math.max(maxA, inA);
      await new Promise((res) => setTimeout(res, 30));
      inA--;
      return undefined;
    });
    const res = await b.run(mskEvent([...records(30, 'events', 6), ...records(10, 'other', 2)]));
    expect(res.response).toEqual({ batchItemFailures: [] });
    expect(maxA).toBe(2);
    // The other agent used more of the global concurrency at the same time.
    expect(sim.stats().maxInFlight).toBeGreaterThan(2);
  });

  test('rate_per_second: starts spread over time, all delivered inside the deadline', async () => {
    const b = makeBridge(env([{ name: 'a', topic_pattern: 'events', agent_id: AGENT, rate_per_second: 10 }], { ORDERING: 'none' }));
    const res = await b.run(mskEvent(records(15)));
    expect(res.response).toEqual({ batchItemFailures: [] });
    const times = sim.requests.map((r) => r.receivedAt).sort((x, y) => x - y);
    // A burst of 10, then 10 per second: the 15th starts at least ~0.5 s after the first.
    expect(times[14] - times[0]).toBeGreaterThanOrEqual(400);
  });
});

describe('Kafka headers and trace context', () => {
  const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  test('only allow-listed headers travel (metadata and HTTP), binary values as base64, traceparent to the agent and the log line', async () => {
    const b = makeBridge(env([{ name: 'a', topic_pattern: 'events', agent_id: AGENT, metadata_headers: ['tenant', 'blob', 'absent'], forward_headers: ['x-tenant', 'blob'] }]));
    const event = mskEvent([{ topic: 'events', partition: 0, offset: 1, value: { n: 1 }, headers: { tenant: 't-1', 'x-tenant': 't-1', secret: 's3cr3t', traceparent: TP, tracestate: 'vendor=1' } }]);
    // A binary header value (not UTF-8).
    ((event.records['events-0'][0] as { headers: Array<Record<string, number[]>> }).headers).push({ blob: [0xff, 0x00, 0xfe] });
    const res = await b.run(event);
    expect(res.response).toEqual({ batchItemFailures: [] });
    const [req] = sim.requests;
    const meta = (req.body as { params: { message: { metadata: { kafka: { headers: unknown } } } } }).params.message.metadata.kafka.headers;
    expect(meta).toEqual({ tenant: 't-1', blob: { base64: Buffer.from([0xff, 0x00, 0xfe]).toString('base64') } });
    expect(req.headers['x-tenant']).toBe('t-1');
    expect(req.headers.blob).toBeUndefined();
    expect(req.headers.traceparent).toBe(TP);
    expect(req.headers.tracestate).toBe('vendor=1');
    expect(req.rawBody).not.toContain('s3cr3t');
    expect(JSON.stringify(req.headers)).not.toContain('s3cr3t');
    expect(b.logs.find((l) => l.message === 'record delivered')).toMatchObject({ traceparent: TP });
  });

  test('nothing travels by default; an invalid traceparent is not propagated', async () => {
    const b = makeBridge(env([{ name: 'a', topic_pattern: 'events', agent_id: AGENT }]));
    await b.run(mskEvent([{ topic: 'events', partition: 0, offset: 1, value: { n: 1 }, headers: { tenant: 't', traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' } }]));
    const [req] = sim.requests;
    expect((req.body as { params: { message: { metadata: { kafka: Record<string, unknown> } } } }).params.message.metadata.kafka.headers).toBeUndefined();
    expect(req.headers.tenant).toBeUndefined();
    expect(req.headers.traceparent).toBeUndefined();
    expect(b.logs.find((l) => l.message === 'record delivered')?.traceparent).toBeUndefined();
  });

  test('traceparent reaches an OpenAI-compatible target too', async () => {
    const b = makeBridge(env([openaiRoute()]));
    await b.run(mskEvent([{ topic: 'events', partition: 0, offset: 1, value: { n: 1 }, headers: { traceparent: TP } }]));
    expect(chat()[0].headers.traceparent).toBe(TP);
  });
});

describe('templated per-record URLs (url_template)', () => {
  test("a header fills the path of a non-Archestra route's URL (no token sent); a record without it is dead-lettered, not sent", async () => {
    const agent = await startSdkA2AServer();
    try {
      const letters: unknown[] = [];
      const b = makeBridge(env([{ name: 't', topic_pattern: 'events', agent_id: 'per-tenant', url_template: `${agent.baseUrl}/a2a/{header.endpoint}` }], { ORDERING: 'none' }), {
        deadLetters: {
          send: async (l) => {
            letters.push(...l);
            return new Set();
          },
        },
      });
      const res = await b.run(
        mskEvent([
          { topic: 'events', partition: 0, offset: 1, value: { n: 1 }, headers: { endpoint: 'jsonrpc' } },
          { topic: 'events', partition: 1, offset: 1, value: { n: 2 }, headers: { endpoint: 'jsonrpc' } },
          { topic: 'events', partition: 2, offset: 1, value: { n: 3 } },
        ]),
      );
      expect(res.response).toEqual({ batchItemFailures: [] });
      const posts = agent.requests.filter((r) => r.method === 'POST');
      expect(posts.map((r) => r.path)).toEqual(['/a2a/jsonrpc', '/a2a/jsonrpc']);
      expect(posts.every((r) => r.headers.authorization === undefined)).toBe(true);
      expect(res.outcomes.map((o) => o.status)).toEqual(['delivered', 'delivered', 'dead_lettered']);
      expect(res.outcomes[2].message).toBe('url_template: the record has no (or an empty) header "endpoint"');
      expect(letters).toHaveLength(1);
    } finally {
      await agent.close();
    }
  });

  test('validated at cold start: a template on the Archestra origin (the token) or with a placeholder in the host is refused', () => {
    expect(() => loadSettings(env([{ name: 't', topic_pattern: 'e', agent_id: 'a', url_template: `${sim.url}/v1/a2a/{header.agent}` }]))).toThrow(
      'route "t": url_template is for agents outside Archestra',
    );
    expect(() => loadSettings(env([{ name: 't', topic_pattern: 'e', agent_id: 'a', url_template: 'https://{header.tenant}.example.com/a2a' }]))).toThrow(
      'field "url_template": may only use placeholders after the host',
    );
  });
});
