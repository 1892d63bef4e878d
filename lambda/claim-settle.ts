// What becomes of an idempotency claim once its record's send is over. Pure: the pipeline asks,
// the store (lambda/io/dynamo-idempotency.ts) does it.
import type { DeliveryStatus } from './deliver/agent-client';
import type { StoredVerdict } from './ports';
export type { StoredVerdict } from './ports';

export type ClaimStep =
  /** Delivered: COMPLETED, a redelivery is a duplicate. */
  | { kind: 'complete' }
  /** Provably not run by the agent (or not sent at all): the next delivery may send it. */
  | { kind: 'release' }
  /** Sent with no verdict: kept IN_PROGRESS until `untilMs`; only after it may the record be sent again. */
  | { kind: 'lease'; untilMs: number }
  /** Permanent: decided once the dead-letter stage knows whether the letter could be written now. */
  | { kind: 'await_letter' };

/** The step after a delivery attempt. `timeoutMs` is the route's request timeout, `marginMs` UNKNOWN_OUTCOME_MARGIN_SECONDS. */
export function afterDelivery(status: DeliveryStatus, nowMs: number, timeoutMs: number, marginMs: number): ClaimStep {
  if (status === 'delivered') return { kind: 'complete' };
  if (status === 'permanent') return { kind: 'await_letter' };
  // The agent may still be running it: no second run before it could have finished.
  if (status === 'unknown') return { kind: 'lease', untilMs: nowMs + timeoutMs + marginMs };
  return { kind: 'release' };
}

/**
 * A permanent verdict after the dead-letter stage. A fresh verdict whose letter is written ends the claim;
 * one that cannot be written yet (a lower offset failed, or the write failed) is kept with the claim, so the
 * redelivery dead-letters it from the store instead of running the agent again. A verdict read from the store
 * is completed once its letter is written (never lettered twice), and otherwise left as it is.
 */
export function afterLetter(written: boolean, verdict: StoredVerdict, fromStore: boolean): { kind: 'release' | 'complete' | 'none' } | { kind: 'fail'; verdict: StoredVerdict } {
  if (fromStore) return { kind: written ? 'complete' : 'none' };
  return written ? { kind: 'release' } : { kind: 'fail', verdict };
}

/** The part of the idempotency store (`Idempotency` in lambda/ports.ts) these steps use. */
export interface ClaimStore {
  complete(key: string, signal?: AbortSignal): Promise<void>;
  release(key: string, signal?: AbortSignal): Promise<void>;
  lease?(key: string, untilMs: number, signal?: AbortSignal): Promise<void>;
  fail?(key: string, verdict: StoredVerdict, signal?: AbortSignal): Promise<void>;
}

/**
 * Carries a step out on the store. A store without `lease` lets the claim lapse at the invocation's hold; one
 * without `fail` releases it. A write that fails is logged: the claim then lapses at the invocation's hold.
 */
export async function applyStep(
  store: ClaimStore,
  key: string,
  step: ClaimStep | ReturnType<typeof afterLetter>,
  signal: AbortSignal,
  warn: (message: string, fields: Record<string, unknown>) => void,
): Promise<void> {
  try {
    if (step.kind === 'complete') await store.complete(key, signal);
    else if (step.kind === 'release' || (step.kind === 'fail' && !store.fail)) await store.release(key, signal);
    else if (step.kind === 'lease') await store.lease?.(key, step.untilMs, signal);
    else if (step.kind === 'fail') await store.fail!(key, step.verdict, signal);
  } catch (err) {
    warn('idempotency update failed', { key, error: signal.aborted ? 'no answer before the deadline' : (err as Error).message });
  }
}
