// The deadline, with the production defaults (SAFETY_MARGIN_SECONDS 2, MIN_REQUEST_SECONDS 1, RETRY_DELAY 1)
// rather than the fast ones test/support/bridge.ts sets: with 5 s left and an agent taking 2 s per answer, the
// handler returns before Lambda's deadline with what it could not send reported at the right offset.
import { isSend, startArchestraSim, type ArchestraSim } from '../../sim/archestra';
import { makeBridge } from '../support/bridge';
import { mskEvent } from '../support/kafka';
import { writeFigures } from './support/profile';

const AGENT = '9e5f4a6b-1c7d-4e8f-a09b-4c5d6e7f8a9b';
const TOKEN = 'tok-deadline-test';
const PRODUCTION = { SAFETY_MARGIN_SECONDS: '2', MIN_REQUEST_SECONDS: '1', RETRY_DELAY: '1', REQUEST_TIMEOUT: '60' };
const REMAINING_MS = 5000;

let sim: ArchestraSim;
const figures: Record<string, unknown> = {};
beforeAll(async () => {
  sim = await startArchestraSim({ tokens: [TOKEN] });
});
afterAll(async () => {
  await sim.close();
  writeFigures('deadline', figures);
});
beforeEach(() => {
  sim.clear();
  sim.setBehaviour(undefined);
  sim.setLatency(undefined);
});

const bridgeFor = (over: Record<string, string> = {}) =>
  makeBridge({
    ARCHESTRA_URL: sim.url,
    ARCHESTRA_TOKEN: TOKEN,
    ROUTES_CONFIG: JSON.stringify([{ name: 'orders', topic_pattern: 'orders', prompt_id: AGENT }]),
    ORDERING: 'partition',
    ...PRODUCTION,
    ...over,
  });
const chain = (count: number) => mskEvent(Array.from({ length: count }, (_, i) => ({ topic: 'orders', partition: 4, offset: 100 + i, key: `k${i}`, value: { n: 100 + i } })));
const sentOffsets = () => sim.requests.filter(isSend).map((r) => (JSON.parse(r.text!) as { n: number }).n);

test('5 s left, 2 s per answer, one partition chain: one record delivered, the rest reported from the next offset, back before the deadline', async () => {
  sim.setLatency(2000);
  const bridge = bridgeFor();
  const started = Date.now();
  const result = await bridge.run(chain(5), REMAINING_MS);
  const elapsed = Date.now() - started;
  figures.chain2s = { elapsedMs: elapsed, remainingMs: REMAINING_MS };

  // The deadline is 5 s - 2 s margin = 3 s; after the first answer (2 s) less than MIN_REQUEST (1 s) is left.
  expect(elapsed).toBeLessThan(REMAINING_MS);
  expect(elapsed).toBeLessThan(3000);
  expect(sentOffsets()).toEqual([100]);
  expect(result.outcomes.map((o) => [o.offset, o.status, o.code])).toEqual([
    [100, 'delivered', undefined],
    [101, 'failed', 'deadline'],
    [102, 'failed', 'not_sent'],
    [103, 'failed', 'not_sent'],
    [104, 'failed', 'not_sent'],
  ]);
  expect(result.response).toEqual({ batchItemFailures: [{ itemIdentifier: { partition: 'orders-4', offset: 101 } }] });
  expect(sim.requests.every((r) => !r.clientAborted)).toBe(true);
});

test('an answer that would come after the deadline is cut short at the deadline and its record reported', async () => {
  sim.setLatency(3500);
  const bridge = bridgeFor();
  const started = Date.now();
  const result = await bridge.run(chain(3), REMAINING_MS);
  const elapsed = Date.now() - started;
  figures.cut3500ms = { elapsedMs: elapsed, remainingMs: REMAINING_MS };

  // The request's timeout is min(REQUEST_TIMEOUT, time to the deadline) = 3 s.
  expect(elapsed).toBeGreaterThanOrEqual(2900);
  expect(elapsed).toBeLessThan(REMAINING_MS - 1000);
  expect(sentOffsets()).toEqual([100]);
  expect(result.outcomes.map((o) => [o.offset, o.status, o.code])).toEqual([
    [100, 'failed', 'deadline'],
    [101, 'failed', 'not_sent'],
    [102, 'failed', 'not_sent'],
  ]);
  expect(result.response).toEqual({ batchItemFailures: [{ itemIdentifier: { partition: 'orders-4', offset: 100 } }] });
});

test('a retry whose backoff would run past the deadline is not attempted: reported at once', async () => {
  // 503 with Retry-After 4 s: waiting would end after the 3 s deadline.
  sim.setBehaviour((r) => (isSend(r) ? { kind: 'http', status: 503, retryAfter: 4 } : undefined));
  const bridge = bridgeFor({ MAX_RETRIES: '3' });
  const started = Date.now();
  const result = await bridge.run(chain(2), REMAINING_MS);
  const elapsed = Date.now() - started;
  expect(elapsed).toBeLessThan(1000);
  expect(sim.requests.filter(isSend)).toHaveLength(1);
  expect(result.outcomes[0]).toMatchObject({ status: 'failed', code: 'http_503' });
  expect(result.outcomes[0].message).toMatch(/no time left to retry/);
  expect(result.response).toEqual({ batchItemFailures: [{ itemIdentifier: { partition: 'orders-4', offset: 100 } }] });
});
