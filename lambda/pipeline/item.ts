// The one way a record's stage changes. Every move the pipeline makes is listed here: a move not listed is a
// defect and throws, so a record cannot leave a settled status (or skip its send) unnoticed. The stage a sent
// record takes (settleSend) and the one its reply write gives it (applyReply) are decided here too.
import type { DeliveryResult } from '../deliver/agent-client';
import { type Stage, stageAfterDelivery } from '../fate';
import type { ReplyResult } from '../reply/stage';
import type { Item, PoisonItem } from './types';

/** From each stage, the stages a record may move to. Settled statuses without an entry are final. */
export const LEGAL_MOVES: Readonly<Record<Stage, readonly Stage[]>> = {
  // routed and rendered in its turn (send, dead_letter, unrouted, tombstone); failed: no token, or a defect
  pending: ['send', 'dead_letter', 'unrouted', 'tombstone', 'failed'],
  // the claim, the send and the reply decide; dead_lettered: a kept reply whose route lost its destination
  send: ['delivered', 'dead_letter', 'failed', 'duplicate', 'dead_lettered'],
  // the letter is written, or left for the redelivery
  dead_letter: ['dead_lettered', 'failed'],
  // a reply written (delivered again), kept (failed) or dead-lettered with its record
  delivered: ['delivered', 'failed', 'dead_lettered'],
  // a defect after a failure rewrites its code
  failed: ['failed'],
  dead_lettered: [],
  // Settled without a send; only the defect handler moves them on: an unexpected error in their step reports the
  // record (redelivered, never lost) rather than trusting a stage set before the error.
  unrouted: ['failed'],
  tombstone: ['failed'],
  duplicate: ['failed'],
};

export class IllegalTransitionError extends Error {
  constructor(from: Stage, to: Stage) {
    super(`a record cannot move from ${from} to ${to}`);
    this.name = 'IllegalTransitionError';
  }
}

/** True when a record at `from` may move to `to`. */
export function mayMove(from: Stage, to: Stage): boolean {
  return LEGAL_MOVES[from].includes(to);
}

/**
 * Moves `item` to `to`, setting `fields` with it (a code, a message, what the step learnt).
 * @throws IllegalTransitionError when the move is not in LEGAL_MOVES
 */
export function transition<T extends Item | PoisonItem>(item: T, to: Stage, fields: Partial<Omit<T, 'stage'>> = {}): T {
  if (!mayMove(item.stage, to)) throw new IllegalTransitionError(item.stage, to);
  return Object.assign(item, fields, { stage: to });
}

/**
 * A sent record's stage: `stageAfterDelivery` of the agent client's status, except a task awaiting input, which is
 * settled, not failed: delivered when its reply destination takes it, else the stage of its status (the dead-letter
 * step writes it).
 * @param awaiting - set when task mode left the task waiting for input; `toReply`: the route has a reply destination
 */
export function settleSend(item: Item, res: DeliveryResult, awaiting?: { toReply: boolean }): Item {
  return transition(item, awaiting?.toReply ? 'delivered' : stageAfterDelivery(res.status), {
    result: res,
    ...(awaiting ? { awaitingInput: true, code: 'awaiting_input', message: `task ${res.taskId} waits for input: ${res.message ?? ''}` } : { code: res.code, message: res.message }),
  });
}

/** A reply's write: delivered (with where it went, and `note` when it was rewritten), or failed with the reply kept. */
export function applyReply(item: Item, res: ReplyResult, note: string | undefined): Item {
  if (res.outcome === 'written') return transition(item, 'delivered', { replyTo: res.where, ...(note && { code: 'reply_rewritten', message: `reply ${note}` }) });
  return transition(item, 'failed', { code: 'reply_write_failed', message: `${res.error}; the reply is kept and written on redelivery`, replyWriteFailed: true });
}
