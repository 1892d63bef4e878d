// The partition bookkeeping of one invocation (lambda/partition-state.ts): where each partition failed,
// and when everything below an offset is settled. Pure, so each rule is pinned here without I/O.
import { PartitionFailures, Settlement } from '../../lambda/partition-state';
import { flushMicrotasks } from './helpers';

describe('PartitionFailures', () => {
  test('nothing marked: no record is below a failure', () => {
    const f = new PartitionFailures();
    expect(f.below('t-0', 0)).toBeUndefined();
    expect(f.below('t-0', 1_000_000)).toBeUndefined();
  });

  test('a record strictly above the failure sees it; the failed record itself and those below do not', () => {
    const f = new PartitionFailures();
    f.mark('t-0', 10);
    expect(f.below('t-0', 11)).toBe(10);
    expect(f.below('t-0', 99)).toBe(10);
    expect(f.below('t-0', 10)).toBeUndefined();
    expect(f.below('t-0', 9)).toBeUndefined();
  });

  test('the lowest failure wins, whatever order the failures are marked in', () => {
    const f = new PartitionFailures();
    f.mark('t-0', 10);
    f.mark('t-0', 7);
    f.mark('t-0', 12);
    expect(f.below('t-0', 8)).toBe(7);
    expect(f.below('t-0', 11)).toBe(7);
    const g = new PartitionFailures();
    g.mark('t-0', 7);
    g.mark('t-0', 10);
    expect(g.below('t-0', 8)).toBe(7);
  });

  test('offset 0 is a failure like any other', () => {
    const f = new PartitionFailures();
    f.mark('t-0', 0);
    expect(f.below('t-0', 1)).toBe(0);
  });

  test('partitions are independent', () => {
    const f = new PartitionFailures();
    f.mark('t-0', 5);
    expect(f.below('t-1', 6)).toBeUndefined();
    expect(f.below('u-0', 6)).toBeUndefined();
  });
});

describe('Settlement', () => {
  /** Resolution flags for promises, read after the microtask queue has drained. */
  function watch(p: Promise<void>): { done: boolean } {
    const s = { done: false };
    void p.then(() => (s.done = true));
    return s;
  }
  const inPlay = (pk: string, ...offsets: number[]) => offsets.map((offset) => ({ partitionKey: pk, offset }));

  test('the lowest offset in play waits for nothing; a partition or offset unknown to it neither', async () => {
    const s = new Settlement(inPlay('t-0', 5, 6, 7));
    const lowest = watch(s.below('t-0', 5));
    const unknownPartition = watch(s.below('t-9', 100));
    const belowAll = watch(s.below('t-0', 2));
    await flushMicrotasks();
    expect(lowest.done).toBe(true);
    expect(unknownPartition.done).toBe(true);
    expect(belowAll.done).toBe(true);
  });

  test('an offset waits until every offset below it in its partition is settled, in whatever order', async () => {
    const s = new Settlement(inPlay('t-0', 5, 6, 7));
    const at7 = watch(s.below('t-0', 7));
    const at6 = watch(s.below('t-0', 6));
    s.settle('t-0', 6);
    await flushMicrotasks();
    expect(at6.done).toBe(false);
    expect(at7.done).toBe(false);
    s.settle('t-0', 5);
    await flushMicrotasks();
    // 5 and 6 are settled: both waiters go, although 7 itself is not settled yet.
    expect(at6.done).toBe(true);
    expect(at7.done).toBe(true);
  });

  test('a waiter wakes as soon as the offsets below it are settled, not later', async () => {
    const s = new Settlement(inPlay('t-0', 1, 2, 3, 4));
    const at3 = watch(s.below('t-0', 3));
    const at4 = watch(s.below('t-0', 4));
    s.settle('t-0', 1);
    s.settle('t-0', 2);
    await flushMicrotasks();
    expect(at3.done).toBe(true);
    expect(at4.done).toBe(false);
    s.settle('t-0', 3);
    await flushMicrotasks();
    expect(at4.done).toBe(true);
  });

  test('an offset not in play waits for the offsets in play below it', async () => {
    const s = new Settlement(inPlay('t-0', 1, 3));
    const at2 = watch(s.below('t-0', 2));
    await flushMicrotasks();
    expect(at2.done).toBe(false);
    s.settle('t-0', 1);
    await flushMicrotasks();
    expect(at2.done).toBe(true);
  });

  test('offsets are ordered as numbers (9 is below 10), given in any order', async () => {
    const s = new Settlement(inPlay('t-0', 10, 100, 9));
    const at10 = watch(s.below('t-0', 10));
    await flushMicrotasks();
    expect(at10.done).toBe(false);
    s.settle('t-0', 9);
    await flushMicrotasks();
    expect(at10.done).toBe(true);
    const at100 = watch(s.below('t-0', 100));
    await flushMicrotasks();
    expect(at100.done).toBe(false);
  });

  test('partitions are independent', async () => {
    const s = new Settlement([...inPlay('t-0', 1, 2), ...inPlay('t-1', 1, 2)]);
    const p0 = watch(s.below('t-0', 2));
    const p1 = watch(s.below('t-1', 2));
    s.settle('t-1', 1);
    await flushMicrotasks();
    expect(p0.done).toBe(false);
    expect(p1.done).toBe(true);
  });

  test('settling twice, or settling an offset or partition not in play, changes nothing', async () => {
    const s = new Settlement(inPlay('t-0', 1, 2, 3));
    s.settle('t-0', 1);
    s.settle('t-0', 1);
    s.settle('t-0', 42);
    s.settle('t-7', 1);
    const at3 = watch(s.below('t-0', 3));
    await flushMicrotasks();
    expect(at3.done).toBe(false);
    s.settle('t-0', 2);
    await flushMicrotasks();
    expect(at3.done).toBe(true);
  });
});
