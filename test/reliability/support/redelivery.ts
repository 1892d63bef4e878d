// A batch redelivered as Lambda would (each reported partition from its reported offset on) until
// nothing is reported, with the idempotency store on, and judged across its invocations: nothing lost, nothing
// dead-lettered twice, and every record run by its agent once, except a resend after a lease on an unknown
// outcome lapsed (the documented window, counted).
import type { BatchRun, BatchSpec, BuiltRecord, RunOptions } from './harness';
import type { InvariantId, Violation } from './classify';
import { hash32 } from './prng';

/** Rounds before a batch counts as unsettled. Faults fade out over the first rounds, so a sound bridge settles. */
export const MAX_ROUNDS = 8;

export interface SettledVerdict {
  rounds: number;
  settled: boolean;
  /** Records run again after their lease lapsed (the agent had run them, the bridge never saw the answer). */
  windowResends: number;
  /** Records run again after the store's write following their send failed (the claim lapsed at its hold). */
  storeWriteResends: number;
  /** Redeliveries that found the record leased (reported without sending). */
  leasedRedeliveries: number;
  /** Records dead-lettered from a verdict the store remembered (the agent not run again). */
  fromStoredVerdict: number;
  lost: number;
  duplicates: number;
  violations: Violation[];
}

/** The records Lambda sends again after this response: from each listed partition, its offsets from the listed one. */
export function redelivered(records: BuiltRecord[], response: BatchRun['result']['response']): BuiltRecord[] {
  const from = new Map<string, number>();
  for (const f of response.batchItemFailures) from.set(f.itemIdentifier.partition, Math.min(from.get(f.itemIdentifier.partition) ?? Infinity, f.itemIdentifier.offset));
  const lowest = new Map<string, number>();
  for (const r of records) if (r.offset !== null) lowest.set(r.partitionKey, Math.min(lowest.get(r.partitionKey) ?? Infinity, r.offset));
  return records.filter((r) => {
    const at = from.get(r.partitionKey);
    if (at === undefined) return false;
    // A record without an offset sits somewhere in its partition: it comes back only with the whole partition.
    return r.offset === null ? at <= (lowest.get(r.partitionKey) ?? Infinity) : r.offset >= at;
  });
}

/** The conditions of redelivery `round` (1, 2, ...): the same batch, fewer faults, the operator's fixes in place. */
export function roundSpec(spec: BatchSpec, round: number): BatchSpec {
  return {
    ...spec,
    faultRate: round >= 3 ? 0 : spec.faultRate / 2 ** round,
    dlqFailRate: round >= 2 ? 0 : spec.dlqFailRate,
    dlqDown: false,
    wrongToken: false,
    awsFaultRate: round >= 2 ? 0 : spec.awsFaultRate,
    remainingMs: 60_000,
  };
}

/**
 * Runs the batch, then its redeliveries until nothing is reported (at most MAX_ROUNDS invocations). Between two
 * invocations the store's clock moves on by `leaseMs` and 5 s: every lease taken in one has lapsed in the next.
 */
export async function runUntilSettled(
  spec: BatchSpec,
  o: RunOptions,
  leaseMs: number,
  run: (spec: BatchSpec, o: RunOptions) => Promise<BatchRun>,
): Promise<BatchRun[]> {
  const rounds = [await run(spec, { ...o, storeSkewMs: 0 })];
  while (rounds.length < MAX_ROUNDS) {
    const last = rounds[rounds.length - 1];
    if (last.result.response.batchItemFailures.length === 0) break;
    const round = rounds.length;
    const records = redelivered(rounds[0].records, last.result.response);
    rounds.push(await run(roundSpec(spec, round), { ...o, storeSkewMs: round * (leaseMs + 5_000), redeliver: { records, faultSeed: hash32(spec.seed, `round-${round}`) } }));
  }
  return rounds;
}

/** Dead-letter codes the bridge decides alone (no agent verdict involved). */
const LOCAL_CODES = new Set(['poison', 'render_failed', 'schema_error']);

type Round = Pick<BatchRun, 'records' | 'result' | 'ran' | 'unknown' | 'storeWriteFailed'> & { deadLetters: Array<{ record: { topic?: unknown; partition?: unknown; offset?: unknown } }> };

/** Pure: the verdict over all invocations of one batch (unit-tested in classify.test.ts). */
export function judgeSettled(rounds: Round[], skipExpected: (id: string) => boolean): SettledVerdict {
  const v: SettledVerdict = { rounds: rounds.length, settled: false, windowResends: 0, storeWriteResends: 0, leasedRedeliveries: 0, fromStoredVerdict: 0, lost: 0, duplicates: 0, violations: [] };
  const last = rounds[rounds.length - 1];
  v.settled = last.result.response.batchItemFailures.length === 0;
  const add = (invariant: InvariantId, detail: string, record?: string) => v.violations.push({ invariant, detail, ...(record ? { record } : {}) });
  if (!v.settled) add('5.settled', `still reported after ${rounds.length} invocations: ${JSON.stringify(last.result.response.batchItemFailures.map((f) => `${f.itemIdentifier.partition}@${f.itemIdentifier.offset}`))}`);
  for (const r of rounds[0].records) {
    if (r.offset === null) continue; // its place in the partition is unknown: judged per invocation only
    const id = r.id;
    let runs = 0;
    let allowed = 1;
    let handled = false;
    let letters = 0;
    for (let i = 0; i < rounds.length; i++) {
      const x = rounds[i];
      const n = x.ran.get(id) ?? 0;
      // A run after an earlier one is allowed only when that earlier invocation never learnt its outcome (the
      // lease lapsed before this one) or could not record it in the store.
      if (n > 0 && runs > 0) {
        const prev = rounds.slice(0, i).filter((p) => (p.ran.get(id) ?? 0) > 0).pop()!;
        if (prev.unknown.has(id)) {
          v.windowResends++;
          allowed++;
        } else if (prev.storeWriteFailed.has(id)) {
          v.storeWriteResends++;
          allowed++;
        }
      }
      runs += n;
      const out = x.result.outcomes.find((q) => q.partitionKey === r.partitionKey && q.offset === r.offset);
      if (out?.status === 'delivered' || out?.status === 'duplicate' || out?.status === 'unrouted' || out?.status === 'tombstone') handled = true;
      if (out?.status === 'failed' && out.code === 'in_progress' && i > 0) v.leasedRedeliveries++;
      const lettered = x.deadLetters.filter((b) => b.record.topic === r.topic && b.record.partition === r.partition && b.record.offset === r.offset).length;
      if (lettered > 0 && out?.status === 'dead_lettered' && out.attempts === 0 && !LOCAL_CODES.has(out.code ?? '') && (x.ran.get(id) ?? 0) === 0 && i > 0) v.fromStoredVerdict++;
      letters += lettered;
      if (out?.status === 'dead_lettered') handled = true;
    }
    if (runs > allowed) {
      v.duplicates++;
      add('5.duplicate', `run by its agent ${runs} times over ${rounds.length} invocations; ${allowed - 1} resend(s) explained by a lapsed lease or a failed store write`, id);
    }
    if (letters > 1) add('5.dead-lettered-twice', `dead-lettered ${letters} times over ${rounds.length} invocations`, id);
    if (v.settled && !handled && !skipExpected(id)) {
      v.lost++;
      add('5.lost', 'settled, yet neither delivered, dead-lettered nor skipped in any invocation', id);
    }
  }
  return v;
}
