// Per-target limits below the global MAX_CONCURRENCY, per container: at most `maxInFlight` requests at once
// and `ratePerSecond` starts (token bucket, burst of one second). A request over the limit waits its turn
// (first come, first served) until the caller's signal fires: it is never failed for waiting.

export interface LimitSpec {
  maxInFlight?: number;
  ratePerSecond?: number;
}

export type Release = () => void;

interface Waiter {
  grant: (r: Release) => void;
}

export class AgentLimiter {
  private inFlight = 0;
  /** The highest number of requests this limiter let run at once (for tests and logs). */
  maxSeen = 0;
  private tokens: number;
  private refilledAt: number;
  private readonly burst: number;
  private readonly queue: Waiter[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    readonly spec: LimitSpec,
    private readonly now: () => number = Date.now,
  ) {
    this.burst = spec.ratePerSecond !== undefined ? Math.max(1, Math.floor(spec.ratePerSecond)) : Infinity;
    this.tokens = this.burst;
    this.refilledAt = now();
  }

  private refill() {
    if (this.spec.ratePerSecond === undefined) return;
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.refilledAt) / 1000) * this.spec.ratePerSecond);
    this.refilledAt = t;
  }

  private canStart(): boolean {
    this.refill();
    return (this.spec.maxInFlight === undefined || this.inFlight < this.spec.maxInFlight) && this.tokens >= 1;
  }

  private take(): Release {
    this.inFlight++;
    this.maxSeen = Math.max(this.maxSeen, this.inFlight);
    if (this.spec.ratePerSecond !== undefined) this.tokens -= 1;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.inFlight--;
      this.pump();
    };
  }

  private pump() {
    while (this.queue.length && this.canStart()) this.queue.shift()!.grant(this.take());
    if (this.queue.length && this.timer === undefined && this.tokens < 1 && (this.spec.maxInFlight === undefined || this.inFlight < this.spec.maxInFlight)) {
      const waitMs = Math.ceil(((1 - this.tokens) / this.spec.ratePerSecond!) * 1000);
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, Math.max(1, waitMs));
      this.timer.unref?.();
    }
  }

  /** A start permit, or 'aborted' when `signal` fired first (the invocation's deadline). */
  acquire(signal?: AbortSignal): Promise<Release | 'aborted'> {
    if (signal?.aborted) return Promise.resolve('aborted');
    if (this.queue.length === 0 && this.canStart()) return Promise.resolve(this.take());
    return new Promise((resolve) => {
      const waiter: Waiter = {
        grant: (r) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(r);
        },
      };
      const onAbort = () => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        resolve('aborted');
        this.pump();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
      this.pump();
    });
  }

  get active(): number {
    return this.inFlight;
  }
}

/** The limiters of one container, one per target key. */
export class AgentLimits {
  private readonly limiters = new Map<string, AgentLimiter>();
  constructor(private readonly now: () => number = Date.now) {}

  /** undefined when the spec sets no limit (no waiting at all). */
  for(key: string, spec: LimitSpec | undefined): AgentLimiter | undefined {
    if (!spec || (spec.maxInFlight === undefined && spec.ratePerSecond === undefined)) return undefined;
    let l = this.limiters.get(key);
    if (!l) this.limiters.set(key, (l = new AgentLimiter(spec, this.now)));
    return l;
  }
}
