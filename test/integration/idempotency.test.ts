// Idempotency against a real DynamoDB-compatible server (dynalite): a redelivered record is never sent to
// an agent twice, concurrent invocations split the work, and a store outage loses nothing.
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { createDynamoIdempotency } from '../../lambda/io/dynamo-idempotency';
import { isSend, startArchestraSim, type ArchestraSim } from '../../sim/archestra';
import { startDynalite, type Dynalite } from '../support/dynalite';
import { makeBridge, totals } from '../support/bridge';
import { mskEvent, type TestRecord } from '../support/kafka';
import { startPeers } from '../support/peers';

const AGENT = '55555555-5555-4555-8555-555555555555';
const TOKEN = 'tok-idem-71c0';
/** A second invocation's token, so the agent can tell the two invocations' requests apart. */
const TOKEN_B = 'tok-idem-b-38e2';
let sim: ArchestraSim;
let db: Dynalite;
let table = 0;

beforeAll(async () => {
  [sim, db] = await startPeers(startArchestraSim({ tokens: [TOKEN, TOKEN_B] }), startDynalite());
});
afterAll(() => Promise.all([sim.close(), db.stop()]));
beforeEach(() => {
  sim.clear();
  sim.setBehaviour(undefined);
  sim.setLatency(undefined);
});

async function freshTable(): Promise<string> {
  const name = `idem-${++table}`;
  await db.createIdempotencyTable(name);
  return name;
}

function bridge(tableName: string, env: Record<string, string> = {}) {
  return makeBridge(
    { ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: JSON.stringify([{ name: 'orders', topic_pattern: 'orders.events', prompt_id: AGENT }]), ...env },
    { idempotency: createDynamoIdempotency({ table: tableName, ttlSeconds: 3600, endpoint: db.endpoint }) },
  );
}

const records = (n: number, partitions = 2): TestRecord[] =>
  Array.from({ length: n }, (_, i) => ({ topic: 'orders.events', partition: i % partitions, offset: 100 + i, key: `k${i % 5}`, value: { n: i } }));
const sentNumbers = () => sim.requests.filter(isSend).map((r) => (JSON.parse(r.text!) as { n: number }).n);

test('a batch redelivered from a middle offset: the agent sees every record exactly once', async () => {
  const t = await freshTable();
  const b = bridge(t);
  const all = records(10, 1);
  expect((await b.run(mskEvent(all))).response.batchItemFailures).toEqual([]);
  const again = await b.run(mskEvent(all.slice(4)));
  expect(again.response.batchItemFailures).toEqual([]);
  expect(again.outcomes.every((o) => o.status === 'duplicate')).toBe(true);
  expect(sentNumbers().sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  expect(totals(b).DuplicatesSkipped).toBe(6);
  const item = await db.client.send(new GetItemCommand({ TableName: t, Key: { id: { S: 'orders.events-0-104#orders' } } }));
  expect(item.Item?.status.S).toBe('COMPLETED');
  expect(Number(item.Item?.expiresAt.N)).toBeGreaterThan(Date.now() / 1000 + 3500);
});

test('after a transient failure, records of other keys delivered meanwhile are not sent again on redelivery', async () => {
  const t = await freshTable();
  sim.setBehaviour((r) => (isSend(r) && r.attempt === 1 && (JSON.parse(r.text!) as { n: number }).n === 2 ? { kind: 'http', status: 503 } : undefined));
  const b = bridge(t, { MAX_RETRIES: '0', ORDERING: 'key' });
  const all = records(10, 1);
  const first = await b.run(mskEvent(all));
  expect(first.response.batchItemFailures).toEqual([{ itemIdentifier: { partition: 'orders.events-0', offset: 102 } }]);
  // Lambda resumes the partition from offset 102.
  const second = await b.run(mskEvent(all.slice(2)));
  expect(second.response.batchItemFailures).toEqual([]);
  const counts = new Map<number, number>();
  for (const n of sentNumbers()) counts.set(n, (counts.get(n) ?? 0) + 1);
  // n=2 was tried twice (503, then success); n=7 (same key, after it) once; everything else once.
  expect([...counts.entries()].sort((a, b2) => a[0] - b2[0])).toEqual([
    [0, 1], [1, 1], [2, 2], [3, 1], [4, 1], [5, 1], [6, 1], [7, 1], [8, 1], [9, 1],
  ]);
  expect(second.outcomes.filter((o) => o.status === 'delivered').map((o) => o.offset)).toEqual([102, 107]);
});

test('concurrent invocations over the same records deliver each record once; one found in progress is reported, never a duplicate', async () => {
  const t = await freshTable();
  // Invocation A's requests (its own token) are held at the agent until B has finished, so every record A
  // is sending is IN_PROGRESS, not COMPLETED, while B runs: B must report those, not skip them.
  let releaseA!: () => void;
  const gateA = new Promise<void>((resolve) => (releaseA = resolve));
  const a = bridge(t, { ORDERING: 'none', MAX_CONCURRENCY: '4' });
  // A warm container whose token the agent has accepted: a token never accepted yet goes out one request at a
  // time until its first answer (the lockout guard), and A's answers are held below.
  await a.run(mskEvent([{ topic: 'orders.events', partition: 7, offset: 1, key: 'warm', value: { n: -1 } }]));
  sim.clear();
  sim.setBehaviour(async (r) => {
    if (r.headers.authorization === `Bearer ${TOKEN}`) await gateA;
    return undefined;
  });
  const all = records(20, 2);
  const b = bridge(t, { ORDERING: 'none', MAX_CONCURRENCY: '4', ARCHESTRA_TOKEN: TOKEN_B });
  const runA = a.run(mskEvent(all));
  for (const until = Date.now() + 10_000; sim.requests.length < 4; ) {
    if (Date.now() > until) throw new Error(`invocation A sent ${sim.requests.length} request(s), expected 4`);
    await new Promise((r) => setTimeout(r, 5));
  }
  const heldByA = new Set(sim.requests.map((r) => (JSON.parse(r.text!) as { n: number }).n));
  let rb: Awaited<ReturnType<typeof b.run>>;
  try {
    rb = await b.run(mskEvent(all));
  } finally {
    releaseA();
  }
  const ra = await runA;
  const status = (run: typeof rb, n: number) => run.outcomes.find((o) => o.offset === 100 + n)!;
  // B: nothing A holds was sent, skipped or called a duplicate; each is reported (failed, in_progress).
  expect(rb.outcomes.filter((o) => o.status === 'duplicate')).toEqual([]);
  for (const n of heldByA) expect(status(rb, n)).toMatchObject({ status: 'failed', code: 'in_progress' });
  for (const o of rb.outcomes) expect(['delivered', 'failed']).toContain(o.status);
  const lowestFailed = (p: number) => Math.min(...rb.outcomes.filter((o) => o.status === 'failed' && o.partition === p).map((o) => o.offset as number));
  expect(rb.response.batchItemFailures).toEqual(
    [0, 1].filter((p) => Number.isFinite(lowestFailed(p))).map((p) => ({ itemIdentifier: { partition: `orders.events-${p}`, offset: lowestFailed(p) } })),
  );
  // A: what B delivered meanwhile is a duplicate for A; everything else A delivered itself.
  for (const n of all.map((_, i) => i)) {
    const byB = status(rb, n).status === 'delivered';
    expect(status(ra, n).status).toBe(byB ? 'duplicate' : 'delivered');
  }
  const counts = new Map<number, number>();
  for (const n of sentNumbers()) counts.set(n, (counts.get(n) ?? 0) + 1);
  expect(counts.size).toBe(20);
  expect([...counts.values()].every((c) => c === 1)).toBe(true);
  const redo = await a.run(mskEvent(all));
  expect(redo.outcomes.every((o) => o.status === 'duplicate')).toBe(true);
  expect(sentNumbers()).toHaveLength(20);
});

test('a record another invocation holds IN_PROGRESS is not sent and is reported, never skipped as a duplicate', async () => {
  const t = await freshTable();
  // Another invocation (another owner) claimed offset 101 and is still inside its deadline.
  await db.client.send(
    new PutItemCommand({
      TableName: t,
      Item: {
        id: { S: 'orders.events-0-101#orders' },
        status: { S: 'IN_PROGRESS' },
        owner: { S: 'another-invocation' },
        expiresAt: { N: String(Math.ceil(Date.now() / 1000) + 600) },
      },
    }),
  );
  const b = bridge(t, { ORDERING: 'key' });
  const result = await b.run(mskEvent(records(3, 1)));
  expect(sentNumbers().sort()).toEqual([0, 2]);
  expect(result.outcomes.map((o) => [o.offset, o.status, o.code])).toEqual([
    [100, 'delivered', undefined],
    [101, 'failed', 'in_progress'],
    [102, 'delivered', undefined],
  ]);
  expect(result.response.batchItemFailures).toEqual([{ itemIdentifier: { partition: 'orders.events-0', offset: 101 } }]);
  expect(totals(b).DuplicatesSkipped ?? 0).toBe(0);
  // The other invocation's claim is left alone.
  const item = await db.client.send(new GetItemCommand({ TableName: t, Key: { id: { S: 'orders.events-0-101#orders' } } }));
  expect(item.Item?.owner.S).toBe('another-invocation');
});

test('a claim another invocation left behind past its deadline is taken over: the record is delivered', async () => {
  const t = await freshTable();
  // An invocation that crashed: its IN_PROGRESS claim expired a minute ago (TTL deletion lags by hours).
  await db.client.send(
    new PutItemCommand({
      TableName: t,
      Item: {
        id: { S: 'orders.events-0-100#orders' },
        status: { S: 'IN_PROGRESS' },
        owner: { S: 'crashed-invocation' },
        expiresAt: { N: String(Math.floor(Date.now() / 1000) - 60) },
      },
    }),
  );
  const result = await bridge(t).run(mskEvent(records(1)));
  expect(result.outcomes[0]).toMatchObject({ status: 'delivered' });
  expect(sentNumbers()).toEqual([0]);
  const item = await db.client.send(new GetItemCommand({ TableName: t, Key: { id: { S: 'orders.events-0-100#orders' } } }));
  expect(item.Item?.status.S).toBe('COMPLETED');
});

test('a permanent failure that is dead-lettered releases the claim', async () => {
  const t = await freshTable();
  sim.setBehaviour(() => ({ kind: 'http', status: 400 }));
  const b = makeBridge(
    { ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: JSON.stringify([{ name: 'orders', topic_pattern: 'orders.events', prompt_id: AGENT }]) },
    { idempotency: createDynamoIdempotency({ table: t, ttlSeconds: 3600, endpoint: db.endpoint }), deadLetters: { send: async () => new Set<string>() } },
  );
  expect((await b.run(mskEvent(records(1)))).outcomes[0].status).toBe('dead_lettered');
  const item = await db.client.send(new GetItemCommand({ TableName: t, Key: { id: { S: 'orders.events-0-100#orders' } } }));
  expect(item.Item).toBeUndefined();
});

test('a permanent failure whose letter cannot be written keeps its verdict; the redelivery does not run the agent', async () => {
  const t = await freshTable();
  sim.setBehaviour(() => ({ kind: 'http', status: 400 }));
  const b = bridge(t); // no DLQ: the letter cannot be written
  await b.run(mskEvent(records(1)));
  const item = await db.client.send(new GetItemCommand({ TableName: t, Key: { id: { S: 'orders.events-0-100#orders' } } }));
  expect(item.Item?.status.S).toBe('FAILED');
  expect(JSON.parse(item.Item!.verdict.S!)).toEqual({ class: 'http_400', code: 'http_400', message: 'HTTP 400 from the agent endpoint', attempts: 1 });
  const again = await b.run(mskEvent(records(1)));
  expect(again.outcomes[0]).toMatchObject({ status: 'failed', code: 'http_400', attempts: 0 });
  expect(sim.requests.filter(isSend)).toHaveLength(1);
});

test('the store being down loses nothing: records are reported and nothing is sent', async () => {
  const down = makeBridge(
    { ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: JSON.stringify([{ name: 'orders', topic_pattern: 'orders.events', prompt_id: AGENT }]) },
    { idempotency: createDynamoIdempotency({ table: 'missing-table', ttlSeconds: 60, endpoint: db.endpoint }) },
  );
  const result = await down.run(mskEvent(records(6, 2)));
  expect(sim.requests).toHaveLength(0);
  expect(result.outcomes.every((o) => o.status === 'failed')).toBe(true);
  expect(result.outcomes[0].message).toMatch(/^idempotency store unavailable: Requested resource not found/);
  expect(result.response.batchItemFailures).toEqual([
    { itemIdentifier: { partition: 'orders.events-0', offset: 100 } },
    { itemIdentifier: { partition: 'orders.events-1', offset: 101 } },
  ]);
});
