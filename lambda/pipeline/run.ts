// The state one invocation's chains share (Run), built once by deliverAll (deliver-all.ts) and handed to each step:
// the deadline and its signals, the letter writer, the partition bookkeeping and the concurrency slots.
import type { PartitionFailures, Settlement } from '../partition-state';
import type { PrioritySlots } from '../schedule';
import type { LetterWriter } from './letters';
import type { PipelineDeps } from './types';

export interface Run {
  deps: PipelineDeps;
  now: () => number;
  /** Epoch ms: no request starts after it (Lambda's deadline less SAFETY_MARGIN_SECONDS). */
  deadline: number;
  signals: Signals;
  letters: LetterWriter;
  bootstrapServers?: string;
  /** Lowest failed offset per partition. */
  failures: PartitionFailures;
  /** Which offsets of each partition are still in play (a letter waits for those below it). */
  settlement: Settlement;
  /** MAX_CONCURRENCY slots for sends, and a limit of their own for idempotency calls. */
  slots: PrioritySlots;
  storeSlots: PrioritySlots;
  /** Partitions that come back whole: an offset-less record of theirs could not be dead-lettered. */
  resumesWhole: ReadonlySet<string>;
  /** No idempotency store: a record above a failure is not sent (it would run twice). */
  hold: boolean;
}

export interface Signals {
  startedAt: number;
  /** When `writeBy` fires (epoch ms). */
  writeByMs: number;
  /** Fires at the delivery deadline: claims, token reads, waits for a credential's trial. */
  deadline: AbortSignal;
  /** Fires just before Lambda's own timeout: completes and releases of claims. */
  writeBy: AbortSignal;
}
