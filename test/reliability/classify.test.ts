import type { FateCode } from '../../lambda/fate';
// The judge of the no-loss suite is itself tested: each rule on a hand-made observation.
import { judgeSettled } from './support/redelivery';
import { classifyRecord, judge, reportedOffsets, type InvariantId, type Observation, type ObservedRecord } from './support/classify';

const rec = (partitionKey: string, offset: number | null, over: Partial<ObservedRecord> = {}): ObservedRecord => ({
  id: `${partitionKey}@${offset}`,
  partitionKey,
  offset,
  chain: partitionKey,
  skipExpected: false,
  status: 'delivered',
  successes: 1,
  sendsAfterSuccess: 0,
  retries: 0,
  deadLetters: 0,
  corruptLetters: 0,
  deadLetterWriteFailed: false,
  ...over,
});

const failed = (over: Partial<ObservedRecord> = {}): Partial<ObservedRecord> => ({ status: 'failed', successes: 0, code: 'http_503', ...over });
const lettered: Partial<ObservedRecord> = { status: 'dead_lettered', successes: 0, deadLetters: 1 };

function obs(records: ObservedRecord[], listed: Array<[string, number]> = [], more: Partial<Observation> = {}): Observation {
  return {
    records,
    response: { batchItemFailures: listed.map(([partition, offset]) => ({ itemIdentifier: { partition, offset } })) },
    arrivals: [],
    deliveries: [],
    sends: [],
    ...more,
  };
}

const kinds = (o: Observation): InvariantId[] => [...new Set(judge(o).violations.map((v) => v.invariant))].sort();

describe('record classes', () => {
  const offsets = reportedOffsets({ batchItemFailures: [{ itemIdentifier: { partition: 't-0', offset: 5 } }] });

  test('reported means at or after the listed offset of its partition', () => {
    expect(classifyRecord(rec('t-0', 4, failed()), offsets).has('reported')).toBe(false);
    expect(classifyRecord(rec('t-0', 5, failed()), offsets).has('reported')).toBe(true);
    expect(classifyRecord(rec('t-0', 9, failed()), offsets).has('reported')).toBe(true);
    expect(classifyRecord(rec('t-1', 9, failed()), offsets).has('reported')).toBe(false);
  });

  test('a record without an offset is reported only when its partition resumes at or below its lowest offset in the batch', () => {
    expect(classifyRecord(rec('t-0', null, failed()), offsets, 5).has('reported')).toBe(true);
    expect(classifyRecord(rec('t-0', null, failed()), offsets, 9).has('reported')).toBe(true);
    // Listed, but above records of the batch: Lambda would skip them, and the offset-less record among them.
    expect(classifyRecord(rec('t-0', null, failed()), offsets, 4).has('reported')).toBe(false);
    expect(classifyRecord(rec('t-0', null, failed()), offsets).has('reported')).toBe(false);
    expect(classifyRecord(rec('t-1', null, failed()), offsets, 0).has('reported')).toBe(false);
  });

  test('delivered, dead-lettered and skipped come from the agent, the queue and the bridge status', () => {
    expect([...classifyRecord(rec('t-1', 1), offsets)]).toEqual(['delivered']);
    expect([...classifyRecord(rec('t-1', 1, lettered), offsets)]).toEqual(['dead_lettered']);
    expect([...classifyRecord(rec('t-1', 1, { status: 'unrouted', successes: 0 }), offsets)]).toEqual(['skipped']);
    expect([...classifyRecord(rec('t-1', 1, { status: 'failed', successes: 0 }), offsets)]).toEqual([]);
  });
});

describe('invariant 1', () => {
  test('a clean batch has no violation and the right counts', () => {
    const v = judge(obs([rec('t-0', 1), rec('t-0', 2, lettered), rec('t-0', 3, { status: 'tombstone', successes: 0, skipExpected: true }), rec('t-0', 4, failed())], [['t-0', 4]]));
    expect(v.violations).toEqual([]);
    expect(v.counts).toMatchObject({ records: 4, delivered: 1, deadLettered: 1, skipped: 1, reported: 1, lost: 0, duplicates: 0 });
  });

  test('a failed record that is not reported is lost (and the response is wrong)', () => {
    const o = obs([rec('t-0', 1), rec('t-0', 2, failed())]);
    expect(kinds(o)).toEqual(['1.lost', '2.response']);
    expect(judge(o).counts.lost).toBe(1);
  });

  test('dead-lettered and delivered, dead-lettered and reported, dead-lettered twice, partial content', () => {
    expect(kinds(obs([rec('t-0', 1, { ...lettered, successes: 1 })]))).toContain('1.dead-lettered+delivered');
    expect(kinds(obs([rec('t-0', 1, failed()), rec('t-0', 2, lettered)], [['t-0', 1]]))).toEqual(['1.dead-lettered+reported']);
    // A record without an offset was written first (its place is unknown): a later failure at the partition's
    // lowest offset may bring it back, a duplicate letter that cannot be avoided, not a violation.
    expect(kinds(obs([rec('t-0', 1, failed()), rec('t-0', null, lettered)], [['t-0', 1]]))).toEqual([]);
    expect(kinds(obs([rec('t-0', 1, { ...lettered, deadLetters: 2 })]))).toEqual(['1.dead-lettered-twice']);
    expect(kinds(obs([rec('t-0', 1, { ...lettered, corruptLetters: 1 })]))).toEqual(['1.content']);
  });

  test('skipping is checked against the oracle', () => {
    expect(kinds(obs([rec('t-0', 1, { status: 'unrouted', successes: 0 })]))).toEqual(['1.skip']);
    expect(kinds(obs([rec('t-0', 1, { skipExpected: true })]))).toEqual(['1.skip']);
  });

  test('delivered and reported is allowed when another chain failed below it', () => {
    const o = obs([rec('t-0', 1, { ...failed(), chain: 'a' }), rec('t-0', 2, { chain: 'b' })], [['t-0', 1]], {
      deliveries: [
        { recordId: 't-0@1', start: 0, end: 10, status: 'transient' },
        { recordId: 't-0@2', start: 0, end: 5, status: 'delivered' },
      ],
      sends: [{ recordId: 't-0@2', at: 1 }],
    });
    const v = judge(o);
    expect(v.violations).toEqual([]);
    expect(v.counts.deliveredAndReported).toBe(1);
  });

  test('delivered and reported is a violation when its own chain failed below it (here: a dead-letter write)', () => {
    const o = obs([rec('t-0', 1, failed({ code: 'http_400', deadLetterWriteFailed: true })), rec('t-0', 2)], [['t-0', 1]]);
    expect(kinds(o)).toEqual(['1.delivered+reported-same-chain']);
  });
});

describe('invariant 2: the response', () => {
  test('a failed record without an offset: its partition must be listed at its lowest offset in the batch, not any offset', () => {
    const batch = (at: number) => obs([rec('t-0', 5), rec('t-0', 6), rec('t-0', 7), rec('t-0', null, failed({ code: 'poison' }))], [['t-0', at]]);
    expect(kinds(batch(5))).toEqual([]);
    // At 7, offsets 5 and 6 (and wherever the offset-less record sits) would be skipped by Lambda.
    expect(kinds(batch(7))).toEqual(['1.lost', '2.response']);
    // Also when records with an offset failed too: the lowest of the batch, not the lowest failed.
    const both = (at: number) => obs([rec('t-0', 5), rec('t-0', 6, failed()), rec('t-0', null, failed({ code: 'poison' }))], [['t-0', at]]);
    expect(kinds(both(5))).toEqual([]);
    expect(kinds(both(6))).toEqual(['1.lost', '2.response']);
  });

  test('an identifier that is no record of the batch, a partition listed twice, not the lowest failed offset', () => {
    expect(kinds(obs([rec('t-0', 1, failed())], [['t-0', 1], ['t-9', 3]]))).toEqual(['2.response']);
    expect(kinds(obs([rec('t-0', 1, failed()), rec('t-0', 2, failed())], [['t-0', 1], ['t-0', 2]]))).toEqual(['2.response']);
    expect(kinds(obs([rec('t-0', 1, failed()), rec('t-0', 2, failed())], [['t-0', 2]]))).toEqual(['1.lost', '2.response']);
  });

  test('a partition listed without a failed record, or at a handled record', () => {
    expect(kinds(obs([rec('t-0', 1)], [['t-0', 1]]))).toEqual(['2.response']);
  });
});

describe('invariant 3: order within a chain', () => {
  test('the agent must receive a chain in offset order', () => {
    const o = obs([rec('t-0', 1), rec('t-0', 2)], [], { arrivals: [{ recordId: 't-0@2', seq: 1 }, { recordId: 't-0@1', seq: 2 }] });
    expect(kinds(o)).toEqual(['3.order']);
  });

  test('retries of one record may follow each other; other chains interleave freely', () => {
    const o = obs([rec('t-0', 1), rec('t-0', 2), rec('t-0', 3, { chain: 'other' })], [], {
      arrivals: [
        { recordId: 't-0@1', seq: 1 },
        { recordId: 't-0@3', seq: 2 },
        { recordId: 't-0@1', seq: 3 },
        { recordId: 't-0@2', seq: 4 },
      ],
    });
    expect(judge(o).violations).toEqual([]);
  });

  test('nothing of the chain is sent after a transient failure', () => {
    const o = obs([rec('t-0', 1, failed()), rec('t-0', 2)], [['t-0', 1]], {
      deliveries: [{ recordId: 't-0@1', start: 0, end: 5, status: 'transient' }],
      arrivals: [{ recordId: 't-0@1', seq: 1 }, { recordId: 't-0@2', seq: 2 }],
      sends: [{ recordId: 't-0@2', at: 6 }],
    });
    expect(kinds(o)).toEqual(expect.arrayContaining(['3.order']));
  });

  test('the next record of a chain is not sent before the previous one is settled', () => {
    const o = obs([rec('t-0', 1), rec('t-0', 2)], [], {
      deliveries: [{ recordId: 't-0@1', start: 0, end: 10, status: 'delivered' }],
      sends: [{ recordId: 't-0@2', at: 4 }],
    });
    expect(kinds(o)).toEqual(['3.order']);
  });
});

describe('invariant 4 and the agreement with the agent', () => {
  test('two successes, or a send after success, is a duplicate', () => {
    expect(kinds(obs([rec('t-0', 1, { successes: 2 })]))).toEqual(['4.duplicate']);
    expect(kinds(obs([rec('t-0', 1, { sendsAfterSuccess: 1 })]))).toEqual(['4.duplicate']);
    expect(judge(obs([rec('t-0', 1, { successes: 2 })])).counts.duplicates).toBe(1);
  });

  test('a resend within the invocation after a success the bridge never saw is a duplicate, not a window', () => {
    // No unknown outcome is retried within an invocation, so any such resend is a failure of the property, never
    // the counted window (which only a redelivery with the store opens).
    const v = judge(obs([rec('t-0', 1, { successes: 2, sendsAfterSuccess: 1, retries: 1 })]));
    expect(v.violations.map((x) => x.invariant)).toEqual(['4.duplicate', '4.duplicate']);
    expect(v.counts).toMatchObject({ retriedAfterUnseenSuccess: 0, duplicates: 1 });
    expect(kinds(obs([rec('t-0', 1, { successes: 2, sendsAfterSuccess: 0, retries: 1 })]))).toEqual(['4.duplicate']);
  });

  test('"delivered" without a successful answer is a phantom; a success read as an error is a misreading', () => {
    // ... and a phantom is lost: the bridge acknowledges a record the agent never got.
    expect(kinds(obs([rec('t-0', 1, { successes: 0 })]))).toEqual(['1.lost', 'ack']);
    expect(kinds(obs([rec('t-0', 1, { status: 'failed', code: 'malformed_reply', successes: 1 })], [['t-0', 1]]))).toEqual(['2.response', 'ack']);
  });

  test('a success that raced the timeout is counted, not a violation: the record is reported and comes back', () => {
    const v = judge(obs([rec('t-0', 1, { status: 'failed', code: 'timeout', successes: 1 })], [['t-0', 1]]));
    expect(v.violations).toEqual([]);
    expect(v.counts.unacknowledged).toBe(1);
  });
});

describe('hold: no send above a partition failure once it is known', () => {
  const base = [rec('t-0', 1, { ...failed(), chain: 'a' }), rec('t-0', 2, { chain: 'b' })];
  const failure = { recordId: 't-0@1', start: 0, end: 10, status: 'transient' as const };

  test('a send that started before the failure was known is fine (in flight)', () => {
    const o = obs(base, [['t-0', 1]], { deliveries: [failure, { recordId: 't-0@2', start: 1, end: 20, status: 'delivered' }], sends: [{ recordId: 't-0@2', at: 9 }] });
    expect(judge(o).violations).toEqual([]);
  });

  test('a first send that starts after it (queued for a slot) is a violation', () => {
    const o = obs(base, [['t-0', 1]], { deliveries: [failure, { recordId: 't-0@2', start: 1, end: 20, status: 'delivered' }], sends: [{ recordId: 't-0@2', at: 12 }] });
    const v = judge(o).violations;
    expect(v.map((x) => x.invariant)).toEqual(['hold']);
    expect(v[0].detail).toMatch(/first send, queued/);
  });

  test('a retry that starts after it is a violation', () => {
    const o = obs(base, [['t-0', 1]], {
      deliveries: [failure, { recordId: 't-0@2', start: 1, end: 20, status: 'delivered' }],
      sends: [{ recordId: 't-0@2', at: 2 }, { recordId: 't-0@2', at: 15 }],
    });
    expect(judge(o).violations[0].detail).toMatch(/a retry/);
  });

  test('a record below the failure is not held', () => {
    const o = obs([rec('t-0', 1, { chain: 'b' }), rec('t-0', 2, { ...failed(), chain: 'a' })], [['t-0', 2]], {
      deliveries: [{ recordId: 't-0@2', start: 0, end: 10, status: 'transient' }, { recordId: 't-0@1', start: 11, end: 20, status: 'delivered' }],
      sends: [{ recordId: 't-0@1', at: 12 }],
    });
    expect(judge(o).violations).toEqual([]);
  });
});

describe('the handler itself: it answers, in time, without throwing, and nothing of it outlives the answer', () => {
  const ok = [rec('t-0', 1)];

  test('a handler that threw is a violation', () => {
    expect(kinds(obs(ok, [], { threw: 'TokenUnavailableError: Rate exceeded' }))).toEqual(['throws']);
  });

  test('an answer at or after the time Lambda gave is a violation; before it is fine', () => {
    expect(kinds(obs(ok, [], { durationMs: 2500, remainingMs: 2500 }))).toEqual(['deadline']);
    expect(kinds(obs(ok, [], { durationMs: 2499, remainingMs: 2500 }))).toEqual([]);
  });

  test('a request reaching the agent after the handler returned is a violation', () => {
    expect(kinds(obs(ok, [], { lateRequests: 1 }))).toEqual(['after-return']);
    expect(kinds(obs(ok, [], { lateRequests: 0 }))).toEqual([]);
  });

  test('a send started after the agent refused the token is a violation', () => {
    expect(kinds(obs(ok, [], { sendsAfterRefusal: 2 }))).toEqual(['refused-resend']);
  });

  test('with the idempotency store on, sends above a partition failure are allowed (no hold check)', () => {
    const base = [rec('t-0', 1, { ...failed(), chain: 'a' }), rec('t-0', 2, { chain: 'b' })];
    const more = { deliveries: [{ recordId: 't-0@1', start: 0, end: 10, status: 'transient' as const }, { recordId: 't-0@2', start: 1, end: 20, status: 'delivered' as const }], sends: [{ recordId: 't-0@2', at: 12 }] };
    expect(kinds(obs(base, [['t-0', 1]], more))).toEqual(['hold']);
    expect(kinds(obs(base, [['t-0', 1]], { ...more, idempotency: true }))).toEqual([]);
  });
});

// The judge across a batch's invocations (support/redelivery.ts).
describe('judgeSettled: a batch and its redeliveries with the store', () => {
  const built = (offset: number) =>
    ({ id: `t-0@${offset}`, partitionKey: 't-0', topic: 'orders.eu', partition: 0, offset, spec: {} as never, raw: {} }) as unknown as Parameters<typeof judgeSettled>[0][0]['records'][0];
  const round = (
    outs: Array<[number, string, FateCode?, number?]>,
    o: { reported?: number; ran?: number[]; unknown?: number[]; storeFailed?: number[]; letters?: number[] } = {},
  ): Parameters<typeof judgeSettled>[0][0] => ({
    records: [built(1), built(2)],
    result: {
      response: { batchItemFailures: o.reported === undefined ? [] : [{ itemIdentifier: { partition: 't-0', offset: o.reported } }] },
      outcomes: outs.map(([offset, status, code, attempts]) => ({ partitionKey: 't-0', topic: 'orders.eu', partition: 0, offset, route: 'r', agentId: null, status: status as never, code, attempts: attempts ?? 1, retries: 0 })),
      durationMs: 1,
    },
    ran: new Map((o.ran ?? []).map((off) => [`t-0@${off}`, 1])),
    unknown: new Set((o.unknown ?? []).map((off) => `t-0@${off}`)),
    storeWriteFailed: new Set((o.storeFailed ?? []).map((off) => `t-0@${off}`)),
    deadLetters: (o.letters ?? []).map((offset) => ({ record: { topic: 'orders.eu', partition: 0, offset } })),
  });
  const never = () => false;

  test('a run again after an unknown outcome is the counted window; after a seen success it is a duplicate', () => {
    const window = judgeSettled([round([[1, 'failed', 'timeout'], [2, 'delivered']], { reported: 1, ran: [1, 2], unknown: [1] }), round([[1, 'delivered'], [2, 'duplicate']], { ran: [1] })], never);
    expect(window).toMatchObject({ settled: true, windowResends: 1, duplicates: 0, lost: 0, violations: [] });
    const dup = judgeSettled([round([[1, 'failed', 'http_503'], [2, 'delivered']], { reported: 1, ran: [2] }), round([[1, 'delivered'], [2, 'delivered']], { ran: [1, 2] })], never);
    expect(dup.violations.map((v) => [v.invariant, v.record])).toEqual([['5.duplicate', 't-0@2']]);
  });

  test('a failed store write after the send explains one resend, counted apart', () => {
    const v = judgeSettled([round([[1, 'failed', 'http_503'], [2, 'delivered']], { reported: 1, ran: [2], storeFailed: [2] }), round([[1, 'delivered'], [2, 'delivered']], { ran: [1, 2] })], never);
    expect(v).toMatchObject({ storeWriteResends: 1, duplicates: 0, violations: [] });
  });

  test('unsettled, lost, and dead-lettered twice are violations; a letter from a stored verdict is counted', () => {
    expect(judgeSettled([round([[1, 'failed', 'http_503']], { reported: 1 })], never).violations.map((v) => v.invariant)).toContain('5.settled');
    expect(judgeSettled([round([[1, 'failed', 'http_503'], [2, 'failed', 'http_503']])], never).violations.map((v) => v.invariant)).toEqual(['5.lost', '5.lost']);
    const twice = judgeSettled([round([[1, 'dead_lettered', 'http_400'], [2, 'delivered']], { reported: 1, ran: [1, 2], letters: [1] }), round([[1, 'dead_lettered', 'http_400', 0], [2, 'duplicate']], { letters: [1] })], never);
    expect(twice.violations.map((v) => v.invariant)).toEqual(['5.dead-lettered-twice']);
    expect(twice.fromStoredVerdict).toBe(1);
  });
});

test('in a redelivery, a record the store skips as a duplicate is not lost', () => {
  expect(kinds(obs([rec('t-0', 1, { status: 'duplicate', successes: 0 })]))).toEqual([]);
  expect(kinds(obs([rec('t-0', 1, { status: 'delivered', successes: 0 })]))).toEqual(['1.lost', 'ack']);
});
