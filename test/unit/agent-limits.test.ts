import { AgentLimiter, AgentLimits } from '../../lambda/deliver/agent-limits';

const tick = () => new Promise((r) => setImmediate(r));

describe('AgentLimiter', () => {
  test('never lets more than maxInFlight run; waiters go first come, first served', async () => {
    const l = new AgentLimiter({ maxInFlight: 2 });
    const order: number[] = [];
    const held: Array<() => void> = [];
    const all = [0, 1, 2, 3, 4].map(async (i) => {
      const r = await l.acquire();
      if (r === 'aborted') throw new Error('aborted');
      order.push(i);
      expect(l.active).toBeLessThanOrEqual(2);
      held.push(r);
    });
    await tick();
    expect(order).toEqual([0, 1]);
    while (order.length < 5) {
      held.shift()!();
      await tick();
    }
    for (const r of held) r();
    await Promise.all(all);
    expect(order).toEqual([0, 1, 2, 3, 4]);
    expect(l.maxSeen).toBe(2);
  });

  test('a waiter gives up when its signal fires, and is not counted', async () => {
    const l = new AgentLimiter({ maxInFlight: 1 });
    const first = await l.acquire();
    const ac = new AbortController();
    const waiting = l.acquire(ac.signal);
    ac.abort();
    expect(await waiting).toBe('aborted');
    (first as () => void)();
    expect(typeof (await l.acquire())).toBe('function');
  });

  test('rate: starts beyond the burst wait for the bucket to refill', async () => {
    const l = new AgentLimiter({ ratePerSecond: 20 });
    const t0 = Date.now();
    for (let i = 0; i < 25; i++) {
      const r = await l.acquire();
      (r as () => void)();
    }
    // 20 at once (a burst of one second), the other 5 at 20/s: at least ~250 ms.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
  });

  test('AgentLimits: one limiter per key, none without a limit', () => {
    const ls = new AgentLimits();
    expect(ls.for('u', undefined)).toBeUndefined();
    expect(ls.for('u', {})).toBeUndefined();
    expect(ls.for('u', { maxInFlight: 1 })).toBe(ls.for('u', { maxInFlight: 1 }));
    expect(ls.for('v', { maxInFlight: 1 })).not.toBe(ls.for('u', { maxInFlight: 1 }));
  });
});
