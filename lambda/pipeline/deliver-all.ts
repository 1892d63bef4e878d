// Every chain of the batch, run under the concurrency slots. Builds the invocation's shared state (run.ts), writes the
// letters of undecodable records without an offset first, then runs each chain (chain.ts) to its end.
import { poisonLetter } from '../dead-letter';
import { PartitionFailures, Settlement } from '../partition-state';
import { buildChains, PrioritySlots } from '../schedule';
import type { LetterWriter } from './letters';
import { runChain } from './chain';
import { afterLetter, type LooseTrack, move, type Track } from './record-state';
import type { Run, Signals } from './run';
import type { PipelineDeps } from './types';

export async function deliverAll(
  tracks: Track[],
  loose: LooseTrack[],
  deadline: number,
  letters: LetterWriter,
  deps: PipelineDeps,
  signals: Signals,
  bootstrapServers?: string,
): Promise<void> {
  // Undecodable records without an offset cannot be ordered: written first, reported through their
  // partition's lowest offset if the write fails.
  const due = loose.flatMap((t, i) => (t.state.stage === 'dead_letter' ? [{ target: { track: t, state: t.state }, letter: poisonLetter(t.state.poison, i, letters.ctx) }] : []));
  for (const { target, ok } of await letters.write(due)) move(target.track, afterLetter(target.state, ok));

  const run: Run = {
    deps,
    now: deps.now ?? Date.now,
    deadline,
    signals,
    letters,
    bootstrapServers,
    failures: new PartitionFailures(),
    settlement: new Settlement(tracks.map((t) => t.at)),
    slots: new PrioritySlots(deps.maxConcurrency),
    // Idempotency calls have a limit of their own: with ORDERING=none a whole batch would otherwise claim at once.
    storeSlots: new PrioritySlots(deps.maxConcurrency),
    // One of them unwritten is reported through its partition's lowest offset, so the whole partition comes back:
    // nothing of it may be dead-lettered now, nor (without an idempotency store) sent, or it would be twice.
    resumesWhole: new Set(loose.filter((t) => t.state.stage === 'failed').map((t) => t.state.poison.partitionKey)),
    hold: !deps.idempotency,
  };
  // Settled, not all: every chain has ended (no request can leave after the handler returned) before this resolves.
  await Promise.allSettled(buildChains(tracks, deps.ordering).map((chain, index) => runChain(run, chain, index)));
}
