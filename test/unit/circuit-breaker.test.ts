import { CircuitBreakers } from '../../lambda/deliver/circuit-breaker';

describe('CircuitBreakers', () => {
  let t = 0;
  const make = (threshold = 3) => new CircuitBreakers({ threshold, coolDownMs: 1000, now: () => t });
  beforeEach(() => (t = 0));

  test('opens after N consecutive transient failures, for that target only', () => {
    const b = make();
    b.failure('a', 'http_503');
    b.failure('a', 'http_503');
    expect(b.admit('a').kind).toBe('closed');
    b.failure('a', 'http_503');
    expect(b.admit('a')).toEqual({ kind: 'open', until: 1000, reason: 'http_503' });
    expect(b.admit('b').kind).toBe('closed');
    expect(b.openTargets()).toEqual(['a']);
  });

  test('a success resets the count', () => {
    const b = make();
    b.failure('a', 'x');
    b.failure('a', 'x');
    b.success('a');
    b.failure('a', 'x');
    b.failure('a', 'x');
    expect(b.admit('a').kind).toBe('closed');
  });

  test('one probe after the cool-down; it closes the circuit on success, reopens it on failure', () => {
    const b = make(1);
    b.failure('a', 'x');
    t = 999;
    expect(b.admit('a').kind).toBe('open');
    t = 1000;
    expect(b.admit('a').kind).toBe('probe');
    expect(b.admit('a').kind).toBe('open'); // only one probe at a time
    b.failure('a', 'x');
    expect(b.admit('a')).toMatchObject({ kind: 'open', until: 2000 });
    t = 2000;
    expect(b.admit('a').kind).toBe('probe');
    b.success('a');
    expect(b.admit('a').kind).toBe('closed');
    expect(b.openTargets()).toEqual([]);
  });

  test('a neutral probe lets the next request probe; trip opens at once; threshold 0 never opens on failures', () => {
    const b = make(0);
    for (let i = 0; i < 10; i++) b.failure('a', 'x');
    expect(b.admit('a').kind).toBe('closed');
    b.trip('a', 'budget exhausted');
    expect(b.admit('a')).toMatchObject({ kind: 'open', reason: 'budget exhausted' });
    t = 1000;
    expect(b.admit('a').kind).toBe('probe');
    b.neutral('a');
    expect(b.admit('a').kind).toBe('probe');
  });
});
