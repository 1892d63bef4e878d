// Per-container memory of how the agents answered each credential. Archestra blocks an IP after 10 failed
// authentications in 60 s, and Lambda retries a failed batch at once in the same warm container: what an
// invocation learns about a token must outlive it. Pure bookkeeping (no I/O); the clock is injected.

/** How a request's answer bears on the credential it carried. */
export type CredentialVerdict =
  /** The agent authenticated it (it answered the request itself, success or not). */
  | 'accepted'
  /** The agent refused it (401/403, JSON-RPC -32600 about auth, the 429 lockout). */
  | 'refused'
  /** Nothing learnt: network fault, timeout, 5xx before authentication. */
  | 'unknown';

export interface Permit {
  /** Called when the request's answer (or its failure) is known; later calls are ignored. */
  release(verdict: CredentialVerdict): void;
}

export interface GateOptions {
  /**
   * A refused value is not sent again before this has passed (unless the credential changes). It is also how
   * long an acceptance is trusted without a new one: a token revoked while the container was idle costs one
   * refusal, not one per concurrent request.
   */
  coolDownMs: number;
  /** One request at a time for a value never accepted. Off for "no credential": there is no token to get wrong. */
  trial?: boolean;
  now?: () => number;
}

/**
 * One gate per credential (the Archestra token; "no token" per foreign origin). A value that has never been
 * accepted goes out one request at a time: should it be wrong, it costs one refusal, not MAX_CONCURRENCY.
 * A refused value is not sent again until the cool-down has passed; a different value is a fresh start.
 */
export class CredentialGate {
  private accepted?: { value: string; at: number };
  private refused?: { value: string; at: number };
  private trial?: { value: string; done: Promise<void> };
  private readonly now: () => number;

  constructor(private readonly o: GateOptions) {
    this.now = o.now ?? Date.now;
  }

  /** When `value` was refused, if that refusal still holds (within the cool-down). */
  refusedAt(value: string): number | undefined {
    const r = this.refused;
    if (!r || r.value !== value) return undefined;
    if (this.now() - r.at >= this.o.coolDownMs) return undefined;
    return r.at;
  }

  /** Accepted by the agent within the last coolDownMs. */
  isAccepted(value: string): boolean {
    const a = this.accepted;
    return a !== undefined && a.value === value && this.now() - a.at < this.o.coolDownMs;
  }

  /**
   * Resolves with a permit to send one request with `value`, or 'refused' when the value is (now) known
   * refused. An unverified value waits here while another request tries it; `signal` ends the wait.
   */
  async acquire(value: string, signal?: AbortSignal): Promise<Permit | 'refused' | 'aborted'> {
    for (;;) {
      if (signal?.aborted) return 'aborted';
      if (this.refusedAt(value) !== undefined) return 'refused';
      if (this.isAccepted(value) || this.o.trial === false) {
        let released = false;
        return {
          release: (v) => {
            if (!released) this.settle(value, v);
            released = true;
          },
        };
      }
      if (!this.trial) {
        let end!: () => void;
        const trial = { value, done: new Promise<void>((r) => (end = r)) };
        this.trial = trial;
        let released = false;
        return {
          release: (v) => {
            if (released) return;
            released = true;
            this.settle(value, v);
            if (this.trial === trial) this.trial = undefined;
            end();
          },
        };
      }
      await waitFor(this.trial.done, signal);
    }
  }

  private settle(value: string, verdict: CredentialVerdict): void {
    if (verdict === 'accepted') {
      // A request that was already in flight when the value was refused may still come back accepted (a
      // revocation races it): the refusal stands until the cool-down or a new value.
      if (this.refusedAt(value) === undefined) this.accepted = { value, at: this.now() };
    } else if (verdict === 'refused') {
      this.refused = { value, at: this.now() };
      if (this.accepted?.value === value) this.accepted = undefined;
    }
  }
}

function waitFor(p: Promise<void>, signal?: AbortSignal): Promise<void> {
  if (!signal) return p;
  return new Promise<void>((resolve) => {
    const done = () => {
      signal.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
    void p.then(done);
  });
}

/** The gates of one container, by credential. */
export class CredentialGates {
  private readonly gates = new Map<string, CredentialGate>();
  constructor(private readonly o: GateOptions) {}

  /** `trial`: see GateOptions.trial. */
  for(credential: string, trial = true): CredentialGate {
    let g = this.gates.get(credential);
    if (!g) this.gates.set(credential, (g = new CredentialGate({ ...this.o, trial })));
    return g;
  }
}
