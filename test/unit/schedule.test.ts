import { buildChains, chainKey, PrioritySlots } from '../../lambda/schedule';
import { deferred, flushMicrotasks, record, type Deferred } from './helpers';

describe('chainKey', () => {
  const a1 = record({ partition: 0, offset: 1, key: 'A' });
  const a2 = record({ partition: 0, offset: 2, key: 'A' });
  const b3 = record({ partition: 0, offset: 3, key: 'B' });
  const n4 = record({ partition: 0, offset: 4, key: null });
  const n5 = record({ partition: 0, offset: 5, key: null });
  const a1p1 = record({ partition: 1, offset: 1, key: 'A' });

  test('partition mode: one chain per partition, keys ignored', () => {
    const keys = [a1, a2, b3, n4, n5].map((r) => chainKey('partition', r));
    expect(new Set(keys)).toEqual(new Set(['orders-0']));
    expect(chainKey('partition', a1p1)).toBe('orders-1');
  });

  test('key mode: same key in the same partition share a chain; different keys do not', () => {
    expect(chainKey('key', a1)).toBe(chainKey('key', a2));
    expect(chainKey('key', a1)).not.toBe(chainKey('key', b3));
  });

  test('key mode: the same key in another partition is another chain', () => {
    expect(chainKey('key', a1)).not.toBe(chainKey('key', a1p1));
  });

  test('key mode: records without a key are each independent', () => {
    expect(chainKey('key', n4)).not.toBe(chainKey('key', n5));
    expect(chainKey('key', n4)).not.toBe(chainKey('key', a1));
  });

  test('key mode orders by the raw key bytes: an empty key is a key', () => {
    const e1 = record({ offset: 1, key: '' });
    const e2 = record({ offset: 2, key: '' });
    expect(e1.keyB64).toBe('');
    expect(chainKey('key', e1)).toBe(chainKey('key', e2));
    expect(chainKey('key', e1)).not.toBe(chainKey('key', n4));
  });

  test('key mode: binary keys that decode to the same text stay distinct (raw base64 is the key)', () => {
    const x = record({ offset: 1, key: '\uFFFD', keyB64: Buffer.from([0xff]).toString('base64') });
    const y = record({ offset: 2, key: '\uFFFD', keyB64: Buffer.from([0xfe]).toString('base64') });
    expect(chainKey('key', x)).not.toBe(chainKey('key', y));
  });

  test('a key that looks like an offset marker cannot collide with a keyless record', () => {
    // Keyless chains are marked with "@", which is outside the base64 alphabet of real keys.
    const tricky = record({ partition: 0, offset: 9, key: '@4' });
    expect(tricky.keyB64).not.toContain('@');
    expect(chainKey('key', tricky)).not.toBe(chainKey('key', n4));
  });

  test('none mode: every record is its own chain, keys ignored', () => {
    const keys = [a1, a2, b3, n4, n5, a1p1].map((r) => chainKey('none', r));
    expect(new Set(keys).size).toBe(6);
  });
});

describe('buildChains', () => {
  const item = (partition: number, offset: number, key: string | null) => ({ id: `${partition}@${offset}`, at: record({ partition, offset, key }) });

  test('groups by chain key and sorts each chain by offset', () => {
    const items = [item(0, 5, 'A'), item(0, 2, 'B'), item(0, 1, 'A'), item(0, 3, 'A'), item(0, 4, 'B')];
    const chains = buildChains(items, 'key');
    expect(chains.map((c) => c.map((i) => i.id))).toEqual([
      ['0@1', '0@3', '0@5'],
      ['0@2', '0@4'],
    ]);
  });

  test('returns the longest chain first', () => {
    const items = [item(0, 1, 'S'), item(1, 1, 'L'), item(1, 2, 'L'), item(1, 3, 'L'), item(2, 1, 'M'), item(2, 2, 'M')];
    const lengths = buildChains(items, 'key').map((c) => c.length);
    expect(lengths).toEqual([3, 2, 1]);
  });

  test('partition mode: one chain per partition, offsets ascending', () => {
    const items = [item(1, 9, 'x'), item(0, 3, 'y'), item(1, 7, null), item(0, 1, 'z'), item(1, 8, 'x')];
    const chains = buildChains(items, 'partition');
    expect(chains.map((c) => c.map((i) => i.id))).toEqual([
      ['1@7', '1@8', '1@9'],
      ['0@1', '0@3'],
    ]);
  });

  test('none mode: all chains of length 1, every item present once', () => {
    const items = [item(0, 1, 'A'), item(0, 2, 'A'), item(1, 1, 'A')];
    const chains = buildChains(items, 'none');
    expect(chains.every((c) => c.length === 1)).toBe(true);
    expect(chains.flat().map((i) => i.id).sort()).toEqual(['0@1', '0@2', '1@1']);
  });

  test('key mode: keyless records are singleton chains', () => {
    const items = [item(0, 1, null), item(0, 2, null), item(0, 3, 'K'), item(0, 4, 'K')];
    expect(buildChains(items, 'key').map((c) => c.map((i) => i.id))).toEqual([['0@3', '0@4'], ['0@1'], ['0@2']]);
  });

  test('no items: no chains', () => {
    expect(buildChains([], 'key')).toEqual([]);
  });

  test('every item lands in exactly one chain', () => {
    const items = Array.from({ length: 50 }, (_, i) => item(i % 3, 100 - i, i % 4 === 0 ? null : `k${i % 5}`));
    for (const mode of ['partition', 'key', 'none'] as const) {
      const flat = buildChains(items, mode).flat();
      expect(flat).toHaveLength(items.length);
      expect(new Set(flat)).toEqual(new Set(items));
    }
  });
});

describe('PrioritySlots', () => {
  /** Starts `slots.run(priority, …)` with a task the test finishes by hand; records start order and peak concurrency. */
  function harness(max: number) {
    const slots = new PrioritySlots(max);
    const started: string[] = [];
    const gates = new Map<string, Deferred<string>>();
    let running = 0;
    let peak = 0;
    const start = (name: string, priority: number) => {
      const gate = deferred<string>();
      gates.set(name, gate);
      const done = slots.run(priority, async () => {
        running++;
        peak = Math.max(peak, running);
        started.push(name);
        try {
          return await gate.promise;
        } finally {
          running--;
        }
      });
      return done;
    };
    const finish = async (name: string, value = name) => {
      gates.get(name)!.resolve(value);
      await flushMicrotasks();
    };
    const fail = async (name: string, error: unknown) => {
      gates.get(name)!.reject(error);
      await flushMicrotasks();
    };
    return { slots, started, start, finish, fail, peak: () => peak, running: () => running };
  }

  test.each([[0], [-1], [1.5], [Number.NaN]])('concurrency %p is a RangeError', (max) => {
    expect(() => new PrioritySlots(max)).toThrow(RangeError);
  });

  test('runs up to the limit at once and queues the rest', async () => {
    const h = harness(2);
    const all = ['a', 'b', 'c', 'd'].map((n) => h.start(n, 0));
    await flushMicrotasks();
    expect(h.started).toEqual(['a', 'b']);
    expect(h.slots.active).toBe(2);
    await h.finish('a');
    expect(h.started).toEqual(['a', 'b', 'c']);
    expect(h.slots.active).toBe(2);
    await h.finish('b');
    await h.finish('c');
    await h.finish('d');
    await expect(Promise.all(all)).resolves.toEqual(['a', 'b', 'c', 'd']);
    expect(h.peak()).toBe(2);
    expect(h.slots.active).toBe(0);
  });

  test('serves the highest priority waiting first; ties first come, first served', async () => {
    const h = harness(1);
    const all = [h.start('first', 0), h.start('low', 1), h.start('high-1', 5), h.start('mid', 3), h.start('high-2', 5), h.start('low-2', 1)];
    await flushMicrotasks();
    expect(h.started).toEqual(['first']);
    for (const n of ['first', 'high-1', 'high-2', 'mid', 'low', 'low-2']) {
      expect(h.started[h.started.length - 1]).toBe(n);
      await h.finish(n);
    }
    expect(h.started).toEqual(['first', 'high-1', 'high-2', 'mid', 'low', 'low-2']);
    await Promise.all(all);
    expect(h.peak()).toBe(1);
  });

  test('a late high-priority arrival overtakes earlier low-priority waiters', async () => {
    const h = harness(1);
    const all = [h.start('running', 0), h.start('low', 1)];
    await flushMicrotasks();
    all.push(h.start('urgent', 10));
    await h.finish('running');
    expect(h.started).toEqual(['running', 'urgent']);
    await h.finish('urgent');
    await h.finish('low');
    await Promise.all(all);
  });

  test('a failing task releases its slot and its rejection reaches the caller', async () => {
    const h = harness(1);
    const failing = h.start('boom', 0);
    const next = h.start('next', 0);
    await flushMicrotasks();
    const caught = failing.catch((e: Error) => e.message);
    await h.fail('boom', new Error('kaput'));
    await expect(caught).resolves.toBe('kaput');
    expect(h.started).toEqual(['boom', 'next']);
    await h.finish('next');
    await expect(next).resolves.toBe('next');
    expect(h.slots.active).toBe(0);
  });

  test('a task that throws synchronously also releases its slot', async () => {
    const slots = new PrioritySlots(1);
    await expect(
      slots.run(0, () => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(slots.active).toBe(0);
    await expect(slots.run(0, async () => 'after')).resolves.toBe('after');
  });

  test('callers arriving at every microtask step of a slot hand-over never overshoot the limit', async () => {
    const h = harness(1);
    const all = [h.start('a', 0), h.start('b', 0)];
    await flushMicrotasks();
    h.finish('a').catch(() => undefined); // resolves a's gate now; the hand-over to b runs over the next microtasks
    const late: string[] = [];
    for (let i = 0; i < 10; i++) {
      await Promise.resolve();
      late.push(`late${i}`);
      all.push(h.start(`late${i}`, 0));
      expect(h.running()).toBeLessThanOrEqual(1);
    }
    await flushMicrotasks();
    expect(h.started).toEqual(['a', 'b']);
    for (const n of ['b', ...late]) {
      expect(h.running()).toBe(1);
      await h.finish(n);
    }
    await Promise.all(all);
    expect(h.started).toEqual(['a', 'b', ...late]); // equal priority: first come, first served
    expect(h.peak()).toBe(1);
    expect(h.slots.active).toBe(0);
  });

  test('under a randomised load the limit is never exceeded and every task runs once', async () => {
    const max = 3;
    const h = harness(max);
    const names = Array.from({ length: 40 }, (_, i) => `t${i}`);
    let seed = 12345;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const all = names.map((n) => h.start(n, Math.floor(rnd() * 5)));
    await flushMicrotasks();
    const finished = new Set<string>();
    while (finished.size < names.length) {
      const runningNow = h.started.filter((n) => !finished.has(n));
      expect(runningNow.length).toBeLessThanOrEqual(max);
      expect(h.slots.active).toBeLessThanOrEqual(max);
      const pick = runningNow[Math.floor(rnd() * runningNow.length)];
      finished.add(pick);
      await h.finish(pick);
    }
    await Promise.all(all);
    expect(h.peak()).toBe(max);
    expect([...h.started].sort()).toEqual([...names].sort());
    expect(h.slots.active).toBe(0);
  });
});
