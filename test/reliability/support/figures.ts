// Totals over the generated batches of a property run: what docs/RELIABILITY.md reports.
import { addRecordCounts, INVARIANTS, zeroCounts, type InvariantId, type RecordCounts, type Violation } from './classify';
import type { AwsFault, FaultKind } from './faults';
import type { BatchRun, Ordering, RunFigures } from './harness';
import type { SettledVerdict } from './redelivery';

export interface Counterexample {
  /** How to regenerate the batch: the property's seed and the run's index (fast-check `path`). */
  replay: string;
  description: string;
  violations: Violation[];
}

/** The run figures summed over the batches. */
type SummedRunFigures = Pick<RunFigures, 'requests' | 'sends' | 'polls' | 'faults' | 'dlqWriteFailures' | 'statuses' | 'codes' | 'durationMs'>;

/** The SettledVerdict figures summed over the redelivered batches. */
const SETTLED_SUMS = ['windowResends', 'storeWriteResends', 'leasedRedeliveries', 'fromStoredVerdict', 'lost', 'duplicates'] as const;

export interface PropertyFigures extends RecordCounts, SummedRunFigures {
  batches: number;
  byOrdering: Record<Ordering, number>;
  /** Batches whose dead letters went to a real SQS queue on moto_server. */
  sqsBatches: number;
  /** Batches started with little time left (the deadline in play). */
  deadlineBatches: number;
  /** Batches during which the dead-letter queue was down (every write failed). */
  dlqDownBatches: number;
  /** Batches whose token came from a Secrets Manager secret (moto, re-read every 50 ms), with the idempotency store on, with a wrong token. */
  secretBatches: number;
  idempotencyBatches: number;
  wrongTokenBatches: number;
  /** Batches whose Secrets Manager / DynamoDB calls met injected faults, and those faults by kind. */
  awsFaultBatches: number;
  awsFaults: Partial<Record<AwsFault, number>>;
  /** Requests the agent refused for their credential; in the wrong-token batches (one warm container) alone. */
  refused: number;
  wrongTokenRefused: number;
  /** Most refusals in any 60 s window over the wrong-token batches (one container, default AUTH_COOLDOWN_SECONDS). */
  wrongTokenRefusedPer60s: number;
  /** Longest answer of a batch with little time left, as a share of the time Lambda gave it. */
  worstDeadlineShare: number;
  recordsPerBatch: { min: number; max: number; mean: number };
  topicPartitions: number;
  /** Undecodable records the event gave no offset, and how many of them ended reported (their write failed). */
  offsetless: number;
  offsetlessReported: number;
  faultsTotal: number;
  /** Violations (records or batch-level findings) per invariant, and how many batches had any. */
  violations: Record<InvariantId, number>;
  batchesWithViolations: Record<InvariantId, number>;
  /** The batches with the store, each redelivered until settled, judged across their invocations. */
  redelivery: Pick<SettledVerdict, (typeof SETTLED_SUMS)[number]> & {
    batches: number;
    settled: number;
    invocations: number;
    mostInvocations: number;
    records: number;
    /** The lease after an unknown outcome: the route timeout plus UNKNOWN_OUTCOME_MARGIN_SECONDS, ms. */
    leaseMs: number;
  };
}

export class Tally {
  readonly f: PropertyFigures;
  /** First counterexample per invariant. */
  readonly examples = new Map<InvariantId, Counterexample>();
  private sizes: number[] = [];
  /** When each refusal of a wrong-token batch happened (ms), for the 60 s window figure. */
  private refusalTimes: number[] = [];

  constructor() {
    const zero = () => Object.fromEntries(INVARIANTS.map((i) => [i, 0])) as Record<InvariantId, number>;
    this.f = {
      batches: 0,
      byOrdering: { partition: 0, key: 0, none: 0 },
      sqsBatches: 0,
      deadlineBatches: 0,
      dlqDownBatches: 0,
      secretBatches: 0,
      idempotencyBatches: 0,
      wrongTokenBatches: 0,
      awsFaultBatches: 0,
      awsFaults: {},
      refused: 0,
      wrongTokenRefused: 0,
      wrongTokenRefusedPer60s: 0,
      worstDeadlineShare: 0,
      recordsPerBatch: { min: 0, max: 0, mean: 0 },
      ...zeroCounts(),
      topicPartitions: 0,
      requests: 0,
      sends: 0,
      polls: 0,
      faults: {},
      faultsTotal: 0,
      dlqWriteFailures: 0,
      statuses: {},
      codes: {},
      violations: zero(),
      batchesWithViolations: zero(),
      durationMs: 0,
      offsetless: 0,
      offsetlessReported: 0,
      redelivery: { batches: 0, settled: 0, invocations: 0, mostInvocations: 0, records: 0, windowResends: 0, storeWriteResends: 0, leasedRedeliveries: 0, fromStoredVerdict: 0, lost: 0, duplicates: 0, leaseMs: 0 },
    };
  }

  /** A batch's redeliveries (rounds[0] went through add()): their own per-invocation violations, and the verdict across all. */
  addRedelivery(rounds: BatchRun[], sv: SettledVerdict, leaseMs: number, replay: string, description: () => string): void {
    const r = this.f.redelivery;
    r.batches++;
    if (sv.settled) r.settled++;
    r.invocations += rounds.length;
    r.mostInvocations = Math.max(r.mostInvocations, rounds.length);
    r.records += rounds[0].records.length;
    for (const k of SETTLED_SUMS) r[k] += sv[k];
    r.leaseMs = leaseMs;
    const later = rounds.slice(1).flatMap((x, i) => x.verdict.violations.map((v) => ({ ...v, detail: `redelivery ${i + 1}: ${v.detail}` })));
    this.countViolations([...later, ...sv.violations], replay, description);
  }

  private countViolations(violations: Violation[], replay: string, description: () => string): void {
    const f = this.f;
    const seen = new Set<InvariantId>();
    for (const v of violations) {
      f.violations[v.invariant]++;
      seen.add(v.invariant);
    }
    for (const i of seen) {
      f.batchesWithViolations[i]++;
      if (!this.examples.has(i)) this.examples.set(i, { replay, description: description(), violations: violations.filter((v) => v.invariant === i).slice(0, 8) });
    }
  }

  add(run: BatchRun, replay: string, description: () => string, sqs = false): void {
    const f = this.f;
    f.batches++;
    f.byOrdering[run.spec.ordering]++;
    if (sqs) f.sqsBatches++;
    if (run.spec.remainingMs < 60_000) f.deadlineBatches++;
    if (run.spec.dlqDown) f.dlqDownBatches++;
    if (run.spec.tokenStore === 'secret' && !run.spec.wrongToken) f.secretBatches++;
    if (run.spec.idempotency) f.idempotencyBatches++;
    const awsInjected = Object.values(run.figures.awsFaults).reduce((s, n) => s + (n ?? 0), 0);
    if (awsInjected > 0) f.awsFaultBatches++;
    for (const [k, n] of Object.entries(run.figures.awsFaults) as Array<[AwsFault, number]>) f.awsFaults[k] = (f.awsFaults[k] ?? 0) + n;
    f.refused += run.figures.refused;
    if (run.spec.remainingMs < 60_000) f.worstDeadlineShare = Math.max(f.worstDeadlineShare, Math.round((run.figures.durationMs / run.spec.remainingMs) * 1000) / 1000);
    if (run.spec.wrongToken) {
      f.wrongTokenBatches++;
      f.wrongTokenRefused += run.figures.refused;
      for (const at of run.figures.refusedAt ?? []) this.refusalTimes.push(at);
      const t = this.refusalTimes;
      let most = 0;
      for (let i = 0, j = 0; i < t.length; i++) {
        while (t[i] - t[j] >= 60_000) j++;
        most = Math.max(most, i - j + 1);
      }
      f.wrongTokenRefusedPer60s = most;
      if (most > 2) {
        const v = { invariant: 'refusals' as const, detail: `${most} refused requests within 60 s in one container with a wrong token (the figure is at most 2)` };
        run.verdict.violations.push(v);
      }
    }
    this.sizes.push(run.records.length);
    addRecordCounts(f, run.verdict.counts);
    f.topicPartitions += new Set(run.records.map((r) => r.partitionKey)).size;
    const offsetless = run.observation.records.filter((r) => r.offset === null);
    f.offsetless += offsetless.length;
    f.offsetlessReported += offsetless.filter((r) => run.verdict.classes.get(r.id)?.has('reported')).length;
    f.requests += run.figures.requests;
    f.sends += run.figures.sends;
    f.polls += run.figures.polls;
    for (const [k, n] of Object.entries(run.figures.faults) as Array<[FaultKind, number]>) {
      f.faults[k] = (f.faults[k] ?? 0) + n;
      f.faultsTotal += n;
    }
    f.dlqWriteFailures += run.figures.dlqWriteFailures;
    for (const [k, n] of Object.entries(run.figures.statuses)) f.statuses[k] = (f.statuses[k] ?? 0) + n;
    for (const [k, n] of Object.entries(run.figures.codes)) f.codes[k] = (f.codes[k] ?? 0) + n;
    f.durationMs += run.figures.durationMs;
    this.countViolations(run.verdict.violations, replay, description);
    const n = this.sizes.length;
    f.recordsPerBatch = { min: Math.min(...this.sizes), max: Math.max(...this.sizes), mean: Math.round((f.records / n) * 10) / 10 };
  }

  /** Jest message for an invariant: empty when it held, else the counts and the first counterexample. */
  report(ids: readonly InvariantId[]): string {
    const lines: string[] = [];
    for (const id of ids) {
      const n = this.f.violations[id];
      if (n === 0) continue;
      const ex = this.examples.get(id)!;
      lines.push(
        `[${id}] ${n} violation(s) in ${this.f.batchesWithViolations[id]} of ${this.f.batches} batches. First counterexample (${ex.replay}):`,
        ex.description,
        ...ex.violations.map((v) => `    ${v.record ?? '(batch)'}: ${v.detail}`),
      );
    }
    return lines.join('\n');
  }
}
