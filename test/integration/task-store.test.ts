// The TASK and CONTEXT items of the DynamoDB idempotency edge (lambda/io/dynamo-idempotency.ts) against
// dynalite: a kept task is handed to exactly one later claim once its hold has passed, and a conversation's
// contextId expires on its own TTL.
import { createDynamoIdempotency } from '../../lambda/io/dynamo-idempotency';
import { startDynalite, type Dynalite } from '../support/dynalite';

let db: Dynalite;
let n = 0;
beforeAll(async () => {
  db = await startDynalite();
});
afterAll(() => db.stop());

async function stores(count: number, now?: () => number) {
  const table = `task-store-${++n}`;
  await db.createIdempotencyTable(table);
  // One store per "container": each has its own owner id, as separate Lambda environments do.
  return Array.from({ length: count }, () => createDynamoIdempotency({ table, ttlSeconds: 3600, endpoint: db.endpoint, now }));
}

test('a kept task is not taken while its hold lasts; after it, exactly one of two concurrent claims takes it over', async () => {
  const [a, b, c] = await stores(3);
  const key = 'orders-0-1#orders';
  expect(await a.claim(key, Date.now() + 60_000)).toBe('claimed');
  const task = { taskId: 't-1', url: 'http://agent/v2/a2a/x', startedAt: 1_700_000_000_000, holdUntilMs: Date.now() + 60_000 };
  await a.keepTask!(key, task);
  expect(await b.claim(key, Date.now() + 60_000)).toBe('in_progress');
  // The holder is done with it for now (its invocation ended): the hold ends.
  await a.keepTask!(key, { ...task, holdUntilMs: Date.now() - 1 });
  const [x, y] = await Promise.all([b.claim(key, Date.now() + 60_000), c.claim(key, Date.now() + 60_000)]);
  const won = [x, y].filter((r) => typeof r === 'object');
  expect(won).toEqual([{ task: { taskId: 't-1', url: 'http://agent/v2/a2a/x', startedAt: 1_700_000_000_000, holdUntilMs: expect.any(Number) } }]);
  expect([x, y]).toContain('in_progress');
  // The taker owns the claim now: it can complete it; a redelivery then finds it completed.
  const taker = x === 'in_progress' ? c : b;
  await taker.complete(key);
  expect(await a.claim(key, Date.now() + 60_000)).toBe('completed');
});

test('a task given up on is released: the next claim may send again', async () => {
  const [a, b] = await stores(2);
  const key = 'orders-0-2#orders';
  await a.claim(key, Date.now() + 60_000);
  await a.keepTask!(key, { taskId: 't-2', url: 'u', startedAt: 0, holdUntilMs: Date.now() + 60_000 });
  await a.release(key);
  expect(await b.claim(key, Date.now() + 60_000)).toBe('claimed');
});

test('a conversation is read back until its TTL, then it is over', async () => {
  let clock = Date.now();
  const [s] = await stores(1, () => clock);
  expect(await s.getContext!('ctx#r#a2V5')).toBeUndefined();
  await s.putContext!('ctx#r#a2V5', 'ctx-1', 60);
  expect(await s.getContext!('ctx#r#a2V5')).toBe('ctx-1');
  await s.putContext!('ctx#r#a2V5', 'ctx-2', 60);
  expect(await s.getContext!('ctx#r#a2V5')).toBe('ctx-2');
  clock += 61_000;
  expect(await s.getContext!('ctx#r#a2V5')).toBeUndefined();
});
