// A record whose outcome is unknown is run by its agent once, against the Archestra simulator (which, like
// Archestra's /v1/a2a, keeps running a request whose client went away), dynalite for the idempotency store and moto
// For the dead-letter queue: a 1.5 s agent behind REQUEST_TIMEOUT=0.4 is sent the record once across redeliveries,
// And a permanent failure above a transient one is run once and dead-lettered from its stored verdict.
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { createDynamoIdempotency } from '../../lambda/io/dynamo-idempotency';
import { isSend, type ArchestraSim } from '../../sim/archestra';
import { makeBridge } from '../support/bridge';
import type { Dynalite } from '../support/dynalite';
import { mskEvent, type TestRecord } from '../support/kafka';
import { useAwsPeers } from '../support/aws-peers';
import { drainQueue } from './support/dlq';

const AGENT = '13131313-1313-4131-8131-131313131313';
const TOKEN = 'tok-unknown-5d1e';
let sim: ArchestraSim;
let db: Dynalite;
let sqs: SQSClient;
let tables = 0;
useAwsPeers({ token: TOKEN, endpointVariable: 'AWS_ENDPOINT_URL_SQS' }, (p) => ({ sim, db, sqs } = p));

const ROUTES = JSON.stringify([{ name: 'orders', topic_pattern: 'orders', prompt_id: AGENT }]);
const rec = (offset: number, key = 'k', n = offset): TestRecord => ({ topic: 'orders', partition: 0, offset, key, value: { n } });
const sendsOf = (n: number) => sim.requests.filter((q) => isSend(q) && (JSON.parse(q.text!) as { n?: number }).n === n).length;

/** A fresh table, and a store whose clock can be moved on (time passing between redeliveries). */
async function store() {
  const table = `unknown-${++tables}`;
  await db.createIdempotencyTable(table);
  const clock = { skewMs: 0 };
  const idempotency = createDynamoIdempotency({ table, ttlSeconds: 3600, endpoint: db.endpoint, now: () => Date.now() + clock.skewMs });
  const item = async (key: string) => (await db.client.send(new GetItemCommand({ TableName: table, Key: { id: { S: key } }, ConsistentRead: true }))).Item;
  return { idempotency, clock, item };
}

describe('an agent slower than REQUEST_TIMEOUT (1.5 s against 0.4 s)', () => {
  const env = { ARCHESTRA_URL: '', ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: ROUTES, REQUEST_TIMEOUT: '0.4', MAX_RETRIES: '3' };
  beforeEach(() => sim.setLatency(1500));

  test('with the store: across 3 redeliveries the agent receives the record exactly once', async () => {
    const s = await store();
    const b = makeBridge({ ...env, ARCHESTRA_URL: sim.url }, { idempotency: s.idempotency });
    const event = mskEvent([rec(100)]);
    const first = await b.run(event);
    expect(first.outcomes[0]).toMatchObject({ status: 'failed', code: 'timeout', attempts: 1, retries: 0 });
    expect(first.response.batchItemFailures).toEqual([{ itemIdentifier: { partition: 'orders-0', offset: 100 } }]);
    // The claim is leased for the route timeout plus UNKNOWN_OUTCOME_MARGIN_SECONDS (default 60 s).
    const leased = await s.item('orders-0-100#orders');
    expect(leased?.status.S).toBe('IN_PROGRESS');
    const until = Number(leased?.leasedUntil.N);
    expect(until).toBeGreaterThan(Date.now() + 55_000);
    expect(until).toBeLessThan(Date.now() + 61_000);
    for (let i = 0; i < 3; i++) {
      const again = await b.run(event);
      expect(again.outcomes[0]).toMatchObject({ status: 'failed', code: 'in_progress', attempts: 0 });
      expect(again.response.batchItemFailures).toEqual([{ itemIdentifier: { partition: 'orders-0', offset: 100 } }]);
    }
    expect(sendsOf(100)).toBe(1);
  });

  test('after the lease lapses the record is sent again: the documented window, and the only second run', async () => {
    const s = await store();
    const b = makeBridge({ ...env, ARCHESTRA_URL: sim.url, UNKNOWN_OUTCOME_MARGIN_SECONDS: '30' }, { idempotency: s.idempotency });
    const event = mskEvent([rec(100)]);
    await b.run(event);
    s.clock.skewMs = 29_000; // inside the lease (0.4 s + 30 s)
    expect((await b.run(event)).outcomes[0]).toMatchObject({ status: 'failed', code: 'in_progress' });
    expect(sendsOf(100)).toBe(1);
    s.clock.skewMs = 33_000; // past it (the store compares whole seconds)
    sim.setLatency(undefined);
    const after = await b.run(event);
    expect(after.outcomes[0]).toMatchObject({ status: 'delivered' });
    expect(sendsOf(100)).toBe(2);
    expect((await s.item('orders-0-100#orders'))?.status.S).toBe('COMPLETED');
  });

  test('without the store: one send per invocation (no retry within it); every redelivery sends again', async () => {
    const b = makeBridge({ ...env, ARCHESTRA_URL: sim.url }, { idempotency: null });
    const event = mskEvent([rec(100)]);
    for (let i = 0; i < 4; i++) expect((await b.run(event)).outcomes[0]).toMatchObject({ status: 'failed', code: 'timeout', retries: 0 });
    expect(sendsOf(100)).toBe(4);
  });
});

test('a permanent failure above a transient one runs once and is dead-lettered once, from the stored verdict', async () => {
  const s = await store();
  const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `unknown-dlq-${tables}` }))).QueueUrl!;
  // Offset 100 (key a) meets 503s until `healed`; offset 101 (key b, its own chain) is refused: HTTP 400.
  let healed = false;
  sim.setBehaviour((q) => {
    if (!isSend(q)) return undefined;
    const n = (JSON.parse(q.text!) as { n: number }).n;
    if (n === 100 && !healed) return { kind: 'http', status: 503 };
    if (n === 101) return { kind: 'http', status: 400 };
    return undefined;
  });
  const b = makeBridge(
    { ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: ROUTES, ORDERING: 'key', MAX_RETRIES: '0', DLQ_URL: queueUrl },
    { idempotency: s.idempotency },
  );
  const event = mskEvent([rec(100, 'a'), rec(101, 'b')]);
  const first = await b.run(event);
  expect(first.outcomes.map((o) => [o.offset, o.status, o.code])).toEqual([
    [100, 'failed', 'http_503'],
    [101, 'failed', 'http_400'],
  ]);
  const stored = await s.item('orders-0-101#orders');
  expect(stored?.status.S).toBe('FAILED');
  expect(JSON.parse(stored!.verdict.S!)).toMatchObject({ code: 'http_400', attempts: 1 });

  // Redelivered while 100 still fails: 101 is not run again and still not dead-lettered.
  const second = await b.run(event);
  expect(second.outcomes[1]).toMatchObject({ offset: 101, status: 'failed', code: 'http_400', attempts: 0 });
  expect(await drainQueue(sqs, queueUrl)).toEqual([]);

  healed = true;
  const third = await b.run(event);
  expect(third.outcomes.map((o) => [o.offset, o.status])).toEqual([
    [100, 'delivered'],
    [101, 'dead_lettered'],
  ]);
  expect(third.response.batchItemFailures).toEqual([]);
  const letters = await drainQueue(sqs, queueUrl);
  expect(letters).toHaveLength(1);
  expect(letters[0]).toMatchObject({ record: { offset: 101 }, error: { class: 'http_400' }, attempts: 1 });
  expect(sendsOf(101)).toBe(1);
  expect((await s.item('orders-0-101#orders'))?.status.S).toBe('COMPLETED');

  // A further redelivery (Lambda may send a settled batch again) neither runs the agent nor letters it twice.
  const fourth = await b.run(mskEvent([rec(101, 'b')]));
  expect(fourth.outcomes[0]).toMatchObject({ status: 'duplicate' });
  expect(sendsOf(101)).toBe(1);
  expect(await drainQueue(sqs, queueUrl)).toEqual([]);
});

test('without the store: a record another chain delivered before its partition failed below it runs again on redelivery', async () => {
  // Offset 100 (key a) answers 503 after 1 s; offset 101 (key b, its own chain) is delivered meanwhile.
  sim.setBehaviour((q) => (isSend(q) && (JSON.parse(q.text!) as { n: number }).n === 100 && q.attempt === 1 ? { kind: 'http', status: 503, delayMs: 1000 } : undefined));
  const b = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: ROUTES, ORDERING: 'key', MAX_RETRIES: '0' }, { idempotency: null });
  // A first record proves the token, so the two chains below then send at once (a fresh token goes out alone).
  await b.run(mskEvent([{ ...rec(90, 'c'), topic: 'orders', partition: 1 }]));
  const event = mskEvent([rec(100, 'a'), rec(101, 'b')]);
  const first = await b.run(event);
  expect(first.outcomes.map((o) => o.status)).toEqual(['failed', 'delivered']);
  expect(first.response.batchItemFailures).toEqual([{ itemIdentifier: { partition: 'orders-0', offset: 100 } }]);
  await b.run(event); // Lambda resumes the partition from 100: 101 comes back
  expect(sendsOf(101)).toBe(2);
});
