import fc from 'fast-check';
import { nextPollPause, POLL_MAX_MS, retryBackoffMs } from '../../lambda/deliver/backoff';

describe('retryBackoffMs', () => {
  it('doubles per retry, adds at most one base delay of jitter', () => {
    expect(retryBackoffMs(100, 0, 0)).toBe(100);
    expect(retryBackoffMs(100, 3, 0)).toBe(800);
    expect(retryBackoffMs(100, 1, 0.5)).toBe(250);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 0, max: 8 }), fc.double({ min: 0, max: 0.999, noNaN: true }), (base, retry, r) => {
        const ms = retryBackoffMs(base, retry, r);
        return ms >= base * 2 ** retry && ms <= base * 2 ** retry + base;
      }),
    );
  });

  it('takes the Retry-After as given, even zero', () => {
    expect(retryBackoffMs(100, 5, 0.9, 0)).toBe(0);
    expect(retryBackoffMs(100, 0, 0.9, 7000)).toBe(7000);
  });
});

describe('nextPollPause', () => {
  it('grows by half up to the cap', () => {
    expect(nextPollPause(250)).toBe(375);
    expect(nextPollPause(4000)).toBe(POLL_MAX_MS);
    expect(nextPollPause(1000, 1200)).toBe(1200);
  });
});
