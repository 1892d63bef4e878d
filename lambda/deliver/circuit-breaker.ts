// One circuit per target, per container (it outlives the invocation, like the credential gates): after
// `threshold` consecutive transient failures the target is not sent to for `coolDownMs`; its records are
// reported at once instead of each spending its retries; when the cool-down ends one request probes it.

export type Admission =
  | { kind: 'closed' }
  /** This request is the one probe after a cool-down: settle it with success / failure / neutral. */
  | { kind: 'probe' }
  | { kind: 'open'; until: number; reason: string };

interface Circuit {
  failures: number;
  openUntil?: number;
  probing: boolean;
  reason: string;
}

export interface BreakerOptions {
  /** Consecutive transient failures that open the circuit; 0 never opens it on failures. */
  threshold: number;
  coolDownMs: number;
  now?: () => number;
}

export class CircuitBreakers {
  private readonly circuits = new Map<string, Circuit>();
  private readonly now: () => number;

  constructor(private readonly o: BreakerOptions) {
    this.now = o.now ?? Date.now;
  }

  private circuit(key: string): Circuit {
    let c = this.circuits.get(key);
    if (!c) this.circuits.set(key, (c = { failures: 0, probing: false, reason: '' }));
    return c;
  }

  admit(key: string): Admission {
    const c = this.circuits.get(key);
    if (!c || c.openUntil === undefined) return { kind: 'closed' };
    if (c.probing || this.now() < c.openUntil) return { kind: 'open', until: c.openUntil, reason: c.reason };
    c.probing = true;
    return { kind: 'probe' };
  }

  /** The target answered (a reply or a permanent verdict): the circuit closes. */
  success(key: string): void {
    const c = this.circuits.get(key);
    if (!c) return;
    Object.assign(c, { failures: 0, openUntil: undefined, probing: false });
  }

  /** A transient failure: a failed probe reopens the circuit, the threshold-th in a row opens it. */
  failure(key: string, reason: string): void {
    const c = this.circuit(key);
    c.failures++;
    if (c.probing || (this.o.threshold > 0 && c.failures >= this.o.threshold)) this.open(c, reason);
  }

  /** Opens the circuit now whatever the count (an exhausted budget). */
  trip(key: string, reason: string): void {
    this.open(this.circuit(key), reason);
  }

  /** A probe that taught nothing (cut by the deadline, refused credential): the next request may probe. */
  neutral(key: string): void {
    const c = this.circuits.get(key);
    if (c) c.probing = false;
  }

  /** Targets whose circuit is open now (for the metric). */
  openTargets(): string[] {
    const t = this.now();
    return [...this.circuits.entries()].filter(([, c]) => c.openUntil !== undefined && (c.probing || t < c.openUntil)).map(([k]) => k);
  }

  private open(c: Circuit, reason: string) {
    Object.assign(c, { openUntil: this.now() + this.o.coolDownMs, probing: false, reason });
  }
}
