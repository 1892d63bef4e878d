// The idempotency store's states against dynalite. A claim ends COMPLETED, released, leased (an
// unknown outcome) or FAILED (a permanent verdict not yet dead-lettered); what a later claim then returns.
import { createDynamoIdempotency } from '../../lambda/io/dynamo-idempotency';
import { startDynalite, type Dynalite } from '../support/dynalite';

let db: Dynalite;
let n = 0;
beforeAll(async () => {
  db = await startDynalite();
});
afterAll(() => db?.stop());

/** Two containers (two owners) on one fresh table, sharing a clock that the test moves on. */
async function twoContainers() {
  const table = `lease-${++n}`;
  await db.createIdempotencyTable(table);
  const clock = { now: Date.now() };
  const make = () => createDynamoIdempotency({ table, ttlSeconds: 3600, endpoint: db.endpoint, now: () => clock.now });
  return { a: make(), b: make(), clock };
}
const VERDICT = { class: 'http_400', code: 'http_400', message: 'HTTP 400 from the agent endpoint', attempts: 2 };

test('a lease holds the claim against every other invocation until it ends, then the record may be claimed again', async () => {
  const { a, b, clock } = await twoContainers();
  expect(await a.claim('k', clock.now + 5_000)).toBe('claimed');
  await a.lease!('k', clock.now + 60_000);
  clock.now += 30_000; // past the invocation's own hold, inside the lease
  expect(await b.claim('k', clock.now + 5_000)).toBe('in_progress');
  clock.now += 32_000; // past the lease (whole seconds)
  expect(await b.claim('k', clock.now + 5_000)).toBe('claimed');
});

test('only the claim\'s owner leases or fails it, and only while it is IN_PROGRESS', async () => {
  const { a, b, clock } = await twoContainers();
  expect(await a.claim('k', clock.now + 5_000)).toBe('claimed');
  await expect(b.lease!('k', clock.now + 60_000)).rejects.toThrow();
  await expect(b.fail!('k', VERDICT)).rejects.toThrow();
  await a.complete('k');
  await expect(a.lease!('k', clock.now + 60_000)).rejects.toThrow();
  await expect(a.fail!('k', VERDICT)).rejects.toThrow();
  expect(await b.claim('k', clock.now + 5_000)).toBe('completed');
});

test('a stored verdict is returned to any later claim, survives the invocation\'s hold, and is completed by whoever letters it', async () => {
  const { a, b, clock } = await twoContainers();
  expect(await a.claim('k', clock.now + 5_000)).toBe('claimed');
  await a.fail!('k', VERDICT);
  clock.now += 10 * 60_000;
  expect(await b.claim('k', clock.now + 5_000)).toEqual({ verdict: VERDICT });
  expect(await a.claim('k', clock.now + 5_000)).toEqual({ verdict: VERDICT });
  await b.complete('k');
  expect(await a.claim('k', clock.now + 5_000)).toBe('completed');
});

test('a released claim (not started) may be claimed again at once', async () => {
  const { a, b, clock } = await twoContainers();
  expect(await a.claim('k', clock.now + 5_000)).toBe('claimed');
  await a.release('k');
  expect(await b.claim('k', clock.now + 5_000)).toBe('claimed');
});
