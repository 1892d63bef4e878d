// A record's dead-letter step in its chain: its letter is written only once everything below it in its partition is
// settled and none of it failed; else it is left for the redelivery. A permanent verdict's claim follows the letter
// (lambda/claim-settle.ts); a written letter is announced on the route's `errors` destination.
import { afterLetter as claimAfterLetter, applyStep } from '../claim-settle';
import { poisonLetter, recordLetter } from '../dead-letter';
import { letterReason } from './letters';
import { afterLetter, annotate, leftForRedelivery, move, type PoisonToLetter, type ToLetter, type Track } from './record-state';
import type { Run } from './run';

/** What the chain knows when a record's letter is due: its place, and whether a record before it stopped the chain. */
export interface LetterTurn {
  index: number;
  stopped: boolean;
  /** The partition comes back whole (an offset-less record of it could not be dead-lettered): why, else undefined. */
  resumes?: string;
  /** Marks the chain stopped at this record (its letter could not be written). */
  stop: () => void;
}

export async function letterStep(run: Run, track: Track, s: ToLetter | PoisonToLetter, turn: LetterTurn): Promise<void> {
  const { at } = track;
  if (turn.resumes) {
    await settleVerdict(run, s, false);
    move(track, leftForRedelivery(s, turn.resumes));
    return;
  }
  if (!turn.stopped) await run.settlement.below(at.partitionKey, at.offset);
  if (turn.stopped || run.failures.below(at.partitionKey, at.offset) !== undefined) {
    await settleVerdict(run, s, false);
    move(track, leftForRedelivery(s, 'partition resumes below it'));
    return;
  }
  // Written before the chain moves on: should the write fail, nothing after it has been sent meanwhile.
  const letter = 'poison' in s ? poisonLetter(s.poison, turn.index, run.letters.ctx) : recordLetter(s.record, letterReason(s), s.plan?.route, run.letters.ctx, undefined, s.awaitingInput ? s.result?.task : undefined);
  const [{ ok }] = await run.letters.write([{ target: track, letter }]);
  await settleVerdict(run, s, ok);
  if ('poison' in s) {
    if (move(track, afterLetter(s, ok)).stage === 'failed') turn.stop();
    return;
  }
  if (move(track, afterLetter(s, ok)).stage === 'failed') return turn.stop();
  const { deps, signals } = run;
  if (s.awaitingInput) {
    // Task mode: the letter holds the task id and its approval requests; the record is settled (code awaiting_input).
    const key = s.claimKey;
    if (key !== undefined) await deps.idempotency?.complete(key, signals.writeBy).catch((err: Error) => deps.log.warn('idempotency update failed', { key, error: err.message }));
    return;
  }
  const route = s.plan?.route;
  if (route?.errors && deps.replies) {
    // Best effort: the record is in the dead-letter queue whatever becomes of its announcement.
    const why = letterReason(s);
    const r = s.record;
    const res = await deps.replies.announce(route.errors, r, route, { class: why.class, message: why.message }, why.attempts, run.deadline, run.bootstrapServers);
    if (res.where) annotate(track, { errorsTo: res.where });
    else {
      annotate(track, { replyWriteFailed: true });
      deps.log.warn('error announcement not written (the record is in the dead-letter queue)', { topic: r.topic, partition: r.partition, offset: r.offset, error: res.error });
    }
  }
}

/** A permanent verdict's claim once its letter is written or left for the redelivery (lambda/claim-settle.ts). */
async function settleVerdict(run: Run, s: ToLetter | PoisonToLetter, written: boolean): Promise<void> {
  const store = run.deps.idempotency;
  if ('poison' in s || !store || s.claimKey === undefined) return;
  // A task waiting for input keeps its task claim: the redelivery polls it again rather than reading a verdict.
  if (s.awaitingInput || (!s.remembered && s.result?.status !== 'permanent')) return;
  const why = letterReason(s);
  const verdict = s.remembered ?? { class: why.class, code: s.code, message: why.message, attempts: why.attempts };
  await applyStep(store, s.claimKey, claimAfterLetter(written, verdict, !!s.remembered), run.signals.writeBy, (m, f) => run.deps.log.warn(m, f));
}
