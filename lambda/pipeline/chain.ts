// The chain runner: a chain's records in offset order, each in its turn routed and rendered, held when a record
// before it failed, sent, and dead-lettered. A record whose step fails stops its chain; an unexpected error reports
// the record rather than crashing the invocation while other chains still send.
import { letterStep } from './letter-step';
import { prepare } from './prepare';
import { afterDefect, afterPrepare, move, notSent, type Track } from './record-state';
import type { Run } from './run';
import { sendRecord } from './send';

export async function runChain(run: Run, chain: readonly Track[], index: number): Promise<void> {
  const { deps } = run;
  // Chains beyond the concurrency limit could not send yet anyway: they step aside for one turn of the
  // event loop, so the first requests are on the wire while the rest of the batch is prepared.
  if (index >= deps.maxConcurrency) await new Promise<void>((resume) => setImmediate(resume));
  /** The record whose failure stopped the chain: everything after it is left for redelivery. */
  let stopped: Track | undefined;
  const stop = (track: Track) => {
    stopped = track;
    run.failures.mark(track.at.partitionKey, track.at.offset);
  };
  for (let i = 0; i < chain.length; i++) {
    const track = chain[i];
    try {
      await step(run, track, i, chain.length, stopped, stop);
    } catch (err) {
      // A defect must not crash the invocation while other chains still send: this record is reported.
      const { topic, partition } = 'poison' in track.state ? track.state.poison : track.state.record;
      deps.log.error('unexpected error while handling a record: reported for redelivery', { topic, partition, offset: track.at.offset, error: (err as Error)?.message });
      const next = afterDefect(track.state, err);
      if (next) {
        move(track, next);
        stop(track);
      }
    }
    run.settlement.settle(track.at.partitionKey, track.at.offset);
  }
}

async function step(run: Run, track: Track, i: number, chainLength: number, stopped: Track | undefined, stop: (t: Track) => void): Promise<void> {
  const { at } = track;
  let s = track.state;
  if (s.stage === 'pending') s = move(track, afterPrepare(prepare(s.record, run.deps)));
  // A partition that comes back whole (an offset-less record's letter failed) dead-letters nothing now, before
  // or after a send, and sends nothing unless the idempotency store would catch the redelivery.
  const resumes = run.resumesWhole.has(at.partitionKey) ? 'partition resumes from its lowest offset (a record without an offset could not be dead-lettered)' : undefined;
  if (s.stage === 'send') {
    const failedAt = run.failures.below(at.partitionKey, at.offset);
    if (resumes && run.hold) move(track, notSent(s, resumes));
    else if (stopped || (run.hold && failedAt !== undefined)) {
      move(track, notSent(s, stopped ? `held behind offset ${stopped.at.offset} of the same chain` : `partition resumes from offset ${failedAt}`));
    } else {
      await sendRecord(run, track, s, chainLength - i);
      if (track.state.stage === 'failed') stop(track);
    }
    s = track.state;
  }
  if (s.stage === 'dead_letter') await letterStep(run, track, s, { index: i, stopped: stopped !== undefined, resumes, stop: () => stop(track) });
}
