// The pipeline's sequencing on its own (lambda/pipeline/: chain.ts, send.ts, letter-step.ts), with every edge an
// in-memory port: the agent behind the HttpPost seam answers by the record's text, the dead-letter sink and the
// idempotency store are maps. What the chains must do in which order, without a socket; the integration and
// reliability suites run the same pipeline against real peers.
import type { DeadLetter, DeadLetterSink, HttpPost, HttpReply, Idempotency, StoredVerdict } from '../../lambda/ports';
import { HttpError } from '../../lambda/io/http';
import { makeBridge } from '../support/bridge';
import { mskEvent } from '../support/kafka';

const TOKEN = 'tok-unit-pipeline-5c1d';
const ROUTES = JSON.stringify([{ name: 'orders', topic_pattern: 'orders', prompt_id: '9d2a6a0c-1f7e-4c55-8f0e-3b2f4c1d7a10' }]);

type Answer = HttpReply | HttpError;
const ok = (id: string): HttpReply => ({
  status: 200,
  text: JSON.stringify({ jsonrpc: '2.0', id, result: { kind: 'message', role: 'agent', messageId: `m-${id}`, parts: [{ kind: 'text', text: 'done' }] } }),
  retryAfter: null,
});
const status = (s: number): HttpReply => ({ status: s, text: 'no', retryAfter: null });

/** An agent that answers each record by its value (the rendered text is the value itself). */
function agent(answers: Record<string, Answer> = {}) {
  const sent: string[] = [];
  const post: HttpPost = async (_url, _headers, body) => {
    const req = JSON.parse(body) as { id: string; params: { message: { parts: Array<{ text: string }> } } };
    const text = req.params.message.parts[0].text;
    sent.push(text);
    await new Promise((r) => setImmediate(r));
    const a = answers[text] ?? ok(req.id);
    if (a instanceof HttpError) throw a;
    return a;
  };
  return { post, sent };
}

/** Dead letters in memory; `failing` offsets are refused (and, as the SQS sink does, the ones above them in their partition). */
function letterSink(failing: number[] = []) {
  const written: DeadLetter[] = [];
  const sink: DeadLetterSink = {
    async send(letters) {
      const failed = new Set<string>();
      const stopped = new Set<string>();
      for (const l of [...letters].sort((a, b) => (a.offset ?? -1) - (b.offset ?? -1))) {
        if (stopped.has(l.partitionKey) || failing.includes(l.offset ?? -1)) {
          failed.add(l.id);
          stopped.add(l.partitionKey);
        } else written.push(l);
      }
      return failed;
    },
  };
  return { sink, written, offsets: () => written.map((l) => l.offset) };
}

/** An idempotency store in memory, with what each record's claim answers scripted by offset. */
function store(answers: Record<number, Awaited<ReturnType<Idempotency['claim']>> | Error> = {}) {
  const calls: string[] = [];
  const claims = { inFlight: 0, max: 0 };
  // Keys are `topic-partition-offset#route` (lambda/deliver/ids.ts).
  const offsetOf = (key: string) => Number(key.split('#')[0].split('-').pop());
  const idem: Idempotency = {
    async claim(key) {
      calls.push(`claim ${key}`);
      claims.max = Math.max(claims.max, ++claims.inFlight);
      // A store round trip takes a few turns of the event loop: claims started together overlap.
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
      claims.inFlight--;
      const a = answers[offsetOf(key)];
      if (a instanceof Error) throw a;
      return a ?? 'claimed';
    },
    async complete(key) {
      calls.push(`complete ${key}`);
    },
    async release(key) {
      calls.push(`release ${key}`);
    },
    async lease(key) {
      calls.push(`lease ${key}`);
    },
    async fail(key, verdict: StoredVerdict) {
      calls.push(`fail ${key} ${verdict.code}`);
    },
  };
  return { idem, calls, claims };
}

const records = (...offsets: number[]) => mskEvent(offsets.map((offset) => ({ topic: 'orders', partition: 0, offset, key: `k${offset % 2}`, value: `r${offset}` })));

function bridge(o: { ordering?: string; answers?: Record<string, Answer>; failingLetters?: number[]; claims?: Parameters<typeof store>[0] } = {}) {
  const a = agent(o.answers);
  const dlq = letterSink(o.failingLetters);
  const st = o.claims ? store(o.claims) : undefined;
  const b = makeBridge(
    { ROUTES_CONFIG: ROUTES, ARCHESTRA_URL: 'https://agents.invalid', ARCHESTRA_TOKEN: TOKEN, ORDERING: o.ordering ?? 'partition', MAX_RETRIES: '0', MAX_CONCURRENCY: '4' },
    { post: a.post, deadLetters: dlq.sink, idempotency: st?.idem ?? null },
  );
  return { b, a, dlq, st };
}
const rows = (res: Awaited<ReturnType<ReturnType<typeof makeBridge>['run']>>) => res.outcomes.map((x) => [x.offset, x.status, x.code]);

describe('a chain in offset order (ORDERING=partition, no idempotency store)', () => {
  test('a failure stops its chain: nothing above it is sent, and the partition comes back from it', async () => {
    const { b, a } = bridge({ answers: { r2: status(503) } });
    const res = await b.run(records(1, 2, 3, 4));
    expect(a.sent).toEqual(['r1', 'r2']);
    expect(rows(res)).toEqual([
      [1, 'delivered', undefined],
      [2, 'failed', 'http_503'],
      [3, 'failed', 'not_sent'],
      [4, 'failed', 'not_sent'],
    ]);
    expect(res.outcomes[2].message).toBe('held behind offset 2 of the same chain');
    expect(res.response).toEqual({ batchItemFailures: [{ itemIdentifier: { partition: 'orders-0', offset: 2 } }] });
  });

  test("a permanent refusal is dead-lettered in its turn and the chain goes on", async () => {
    const { b, a, dlq } = bridge({ answers: { r2: status(400) } });
    const res = await b.run(records(1, 2, 3));
    expect(a.sent).toEqual(['r1', 'r2', 'r3']);
    expect(rows(res)).toEqual([
      [1, 'delivered', undefined],
      [2, 'dead_lettered', 'http_400'],
      [3, 'delivered', undefined],
    ]);
    expect(dlq.written.map((l) => [l.offset, l.body.kind, l.body.error.class])).toEqual([[2, 'permanent_failure', 'http_400']]);
    expect(res.response).toEqual({ batchItemFailures: [] });
  });

  test('a dead-letter write that fails reports the record and stops the chain before anything above it is sent', async () => {
    const { b, a, dlq } = bridge({ answers: { r2: status(400) }, failingLetters: [2] });
    const res = await b.run(records(1, 2, 3));
    expect(a.sent).toEqual(['r1', 'r2']);
    expect(dlq.written).toEqual([]);
    expect(rows(res)).toEqual([
      [1, 'delivered', undefined],
      [2, 'failed', 'http_400'],
      [3, 'failed', 'not_sent'],
    ]);
    expect(res.outcomes[1].message).toMatch(/\(dead-letter write failed: reported instead\)$/);
  });
});

describe('chains of one partition side by side (ORDERING=key)', () => {
  test("a refusal above another chain's failure is left for the redelivery, not dead-lettered (it would be twice)", async () => {
    // Keys alternate: 1 and 3 share a chain, 2 and 4 the other. Offset 1 fails; offset 4's refusal is above it.
    // With a store, records above a failure are still sent (a redelivery would find them claimed).
    const { b, dlq } = bridge({ ordering: 'key', answers: { r1: status(503), r4: status(400) }, claims: {} });
    const res = await b.run(records(1, 2, 3, 4));
    expect(dlq.written).toEqual([]);
    expect(res.outcomes.find((o) => o.offset === 4)).toMatchObject({ status: 'failed', code: 'http_400', message: expect.stringMatching(/\(left for redelivery: partition resumes below it\)$/) });
    expect(res.response).toEqual({ batchItemFailures: [{ itemIdentifier: { partition: 'orders-0', offset: 1 } }] });
  });

  test('without a store, a record above a failure of its partition is not sent, whatever its chain', async () => {
    const { b, a } = bridge({ ordering: 'key', answers: { r1: status(503) } });
    const res = await b.run(records(1, 2, 3, 4));
    // Offset 2 may already be on its way when 1 fails; 3 is held behind 1 in its own chain.
    expect(a.sent).not.toContain('r3');
    expect(res.outcomes.find((o) => o.offset === 3)).toMatchObject({ status: 'failed', code: 'not_sent' });
  });
});

describe('the claim decides before the send (idempotency store)', () => {
  const verdict: StoredVerdict = { class: 'http_400', code: 'http_400', message: 'refused earlier', attempts: 1 };

  test('a stored verdict, a duplicate, a record in other hands and a store outage: none is sent', async () => {
    const { b, a, dlq, st } = bridge({ ordering: 'none', claims: { 1: { verdict }, 2: 'completed', 3: 'in_progress', 4: new Error('connection refused') } });
    const res = await b.run(records(1, 2, 3, 4, 5));
    expect(a.sent).toEqual(['r5']);
    expect(rows(res)).toEqual([
      [1, 'dead_lettered', 'http_400'],
      [2, 'duplicate', 'duplicate'],
      [3, 'failed', 'in_progress'],
      [4, 'failed', 'in_progress'],
      [5, 'delivered', undefined],
    ]);
    expect(res.outcomes[3].message).toBe('idempotency store unavailable: connection refused');
    expect(dlq.written.map((l) => [l.offset, l.body.error.message, l.body.attempts])).toEqual([[1, 'refused earlier', 1]]);
    // The stored verdict is completed once its letter is written, the delivered record once sent; nothing released.
    expect(st?.calls.filter((c) => !c.startsWith('claim')).sort()).toEqual(['complete orders-0-1#orders', 'complete orders-0-5#orders']);
    expect(res.response).toEqual({ batchItemFailures: [{ itemIdentifier: { partition: 'orders-0', offset: 3 } }] });
  });

  test('a stored verdict above a record reported in this invocation stays in the store, not yet dead-lettered', async () => {
    const { b, dlq, st } = bridge({ ordering: 'none', claims: { 1: 'in_progress', 2: { verdict } } });
    const res = await b.run(records(1, 2));
    expect(dlq.written).toEqual([]);
    expect(res.outcomes[1]).toMatchObject({ status: 'failed', code: 'http_400', message: 'refused earlier (left for redelivery: partition resumes below it)' });
    expect(st?.calls.filter((c) => !c.startsWith('claim'))).toEqual([]);
  });

  test('claims have a limit of their own: with ORDERING=none a batch never has more than MAX_CONCURRENCY in flight', async () => {
    const { b, st } = bridge({ ordering: 'none', claims: {} });
    const res = await b.run(records(...Array.from({ length: 40 }, (_, i) => i + 1)));
    expect(res.outcomes.every((o) => o.status === 'delivered')).toBe(true);
    expect(st?.claims.max).toBe(4);
  });

  test('after the send: delivered completes, an unknown outcome is leased, a transient one released', async () => {
    const { b, st } = bridge({ claims: {}, answers: { r2: status(503), r3: new HttpError('timeout', 'no reply', true) } });
    await b.run(mskEvent([
      { topic: 'orders', partition: 0, offset: 1, value: 'r1' },
      { topic: 'orders', partition: 1, offset: 2, value: 'r2' },
      { topic: 'orders', partition: 2, offset: 3, value: 'r3' },
    ]));
    expect(st?.calls.filter((c) => !c.startsWith('claim')).sort()).toEqual(['complete orders-0-1#orders', 'lease orders-2-3#orders', 'release orders-1-2#orders']);
  });
});

describe('undecodable records and a token that cannot be read', () => {
  test('an undecodable record with an offset is dead-lettered in its turn in its chain', async () => {
    const { b, dlq } = bridge();
    const event = records(1, 2, 3) as { records: Record<string, Array<Record<string, unknown>>> };
    event.records['orders-0'][1].value = 12345; // not base64 text: poison
    const res = await b.run(event);
    expect(rows(res)).toEqual([
      [1, 'delivered', undefined],
      [3, 'delivered', undefined],
      [2, 'dead_lettered', 'poison'],
    ]);
    expect(dlq.written.map((l) => [l.offset, l.body.kind, l.body.error.class])).toEqual([[2, 'poison', 'undecodable']]);
  });

  test('without a token every record is reported with the token code and nothing is sent or dead-lettered', async () => {
    const a = agent();
    const dlq = letterSink();
    const b = makeBridge(
      { ROUTES_CONFIG: ROUTES, ARCHESTRA_URL: 'https://agents.invalid', ARCHESTRA_TOKEN: TOKEN, ORDERING: 'partition' },
      { post: a.post, deadLetters: dlq.sink, idempotency: null, tokens: { get: async () => Promise.reject(new Error('secret store down')), fixed: false } as never },
    );
    const res = await b.run(records(1, 2));
    expect(a.sent).toEqual([]);
    expect(dlq.written).toEqual([]);
    expect(rows(res)).toEqual([
      [1, 'failed', 'token_unavailable'],
      [2, 'failed', 'token_unavailable'],
    ]);
    expect(res.response).toEqual({ batchItemFailures: [{ itemIdentifier: { partition: 'orders-0', offset: 1 } }] });
  });
});
