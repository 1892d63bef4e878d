// A record's way through its chain as a state machine, and the one file where its status is decided: the states (a
// union on `stage`, each holding what that stage guarantees), the table of legal moves, and every decision, each a
// pure function from what a step learnt to the record's next state. The steps (chain.ts, send.ts, letter-step.ts) do
// the I/O and hand their facts in here; they never build a state themselves. The vocabulary (stages, statuses,
// codes) is lambda/fate.ts. Over 200 lines: every state and every decision stay in this one file, so that what a
// record can become, and when, is read in one place.
import type { KafkaRecord, PoisonRecord } from '../decode';
import { BridgeError } from '../errors';
import type { DeliveryResult } from '../deliver/delivery-types';
import type { DeliveryStatus, FateCode, Stage } from '../fate';
import type { Idempotency, StoredVerdict } from '../ports';
import type { ReplyResult } from '../reply/stage';
import type { Position } from '../schedule';
import type { RoutePlan } from './types';

/** What a record's steps learnt, carried from state to state for its dead letter, its claim and its outcome. */
export interface Trail {
  plan?: RoutePlan;
  /** Placeholders the template found no value for (counted and shown, never silent). */
  missingFields?: string[];
  result?: DeliveryResult;
  /** The idempotency key this invocation holds a claim (or a stored verdict) under. */
  claimKey?: string;
  /** A permanent verdict read from the store: the agent is not run again. */
  remembered?: StoredVerdict;
  /** Task mode: the task waits for a person (input-required); the record settles as awaiting_input. */
  awaitingInput?: boolean;
  replyTo?: string;
  replyWriteFailed?: boolean;
  errorsTo?: string;
}

interface Why {
  code: FateCode;
  message: string;
}

/** Decoded; routed and rendered in its turn. */
export interface Pending {
  stage: 'pending';
  record: KafkaRecord;
}
/** Routed and rendered: ready to claim and send. */
export interface Ready extends Trail {
  stage: 'send';
  record: KafkaRecord;
  plan: RoutePlan;
  text: string;
  /** Set when the route's URL is templated per record. */
  url?: string;
}
/** To be written to the dead-letter queue. */
export interface ToLetter extends Trail, Why {
  stage: 'dead_letter';
  record: KafkaRecord;
}
export interface Delivered extends Trail, Partial<Why> {
  stage: 'delivered';
  record: KafkaRecord;
  plan: RoutePlan;
}
/** Settled without a send. */
export interface Skipped extends Trail, Why {
  stage: 'unrouted' | 'tombstone' | 'duplicate';
  record: KafkaRecord;
}
/** Reported to Lambda: it comes back with its partition. */
export interface Failed extends Trail, Why {
  stage: 'failed';
  record: KafkaRecord;
}
export interface DeadLettered extends Trail, Why {
  stage: 'dead_lettered';
  record: KafkaRecord;
}
/** An undecodable record: no KafkaRecord, only the raw entry its letter carries. */
interface PoisonOf<S extends Stage> extends Why {
  stage: S;
  poison: PoisonRecord;
}
export type PoisonToLetter = PoisonOf<'dead_letter'>;
export type PoisonSettled = PoisonOf<'dead_lettered' | 'failed'>;
export type Poison = PoisonToLetter | PoisonSettled;

export type RecordState = Pending | Ready | ToLetter | Delivered | Skipped | Failed | DeadLettered;
export type State = RecordState | Poison;
export type SettledState = Exclude<RecordState, Pending | Ready | ToLetter> | PoisonSettled;

/** One entry of the batch: where it sits in its partition (for ordering and reporting) and its current state. */
export interface Track {
  readonly at: Position;
  state: State;
}
/** An undecodable record without an offset: it sits in no chain. */
export interface LooseTrack {
  state: Poison;
}

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
  // a lease or a defect after a failure rewrites its message or code
  failed: ['failed'],
  dead_lettered: [],
  // Settled without a send; only the defect handler moves them on: an unexpected error in their step reports the
  // record (redelivered, never lost) rather than trusting a stage set before the error.
  unrouted: ['failed'],
  tombstone: ['failed'],
  duplicate: ['failed'],
};

/** A defect: a step asked for a move the table does not have. The chain reports the record (afterDefect). */
export class IllegalTransitionError extends BridgeError {
  constructor(from: Stage, to: Stage) {
    super('illegal_transition', `a record cannot move from ${from} to ${to}`);
    this.name = 'IllegalTransitionError';
  }
}

/** True when a record at `from` may move to `to`. */
export function mayMove(from: Stage, to: Stage): boolean {
  return LEGAL_MOVES[from].includes(to);
}

/**
 * The one way a record's state changes: `next` replaces the track's state when LEGAL_MOVES allows the move.
 * @returns `next`, so a step goes on with the narrowed state
 * @throws IllegalTransitionError when the move is not in LEGAL_MOVES (the track keeps its state)
 */
export function move<S extends State>(track: { state: State }, next: S): S {
  if (!mayMove(track.state.stage, next.stage)) throw new IllegalTransitionError(track.state.stage, next.stage);
  track.state = next;
  return next;
}

/**
 * Adds what a step learnt after the record settled (where its errors went, a failed announcement): not a move,
 * the stage stays.
 */
export function annotate(track: { state: State }, facts: Pick<Trail, 'errorsTo' | 'replyWriteFailed'>): void {
  track.state = { ...track.state, ...facts };
}

// ---- decisions: what a step learnt -> the record's next state ------------------------------------------------

/** What routing and rendering made of a record (lambda/pipeline/prepare.ts). */
export type Prepared =
  | { kind: 'ready'; record: KafkaRecord; plan: RoutePlan; text: string; url?: string; missingFields?: string[] }
  | { kind: 'unrouted'; record: KafkaRecord }
  /** Its value could not be read with its route's schema (or its route's format). */
  | { kind: 'unreadable'; record: KafkaRecord; code: FateCode; reason: string }
  | { kind: 'tombstone'; record: KafkaRecord; plan: RoutePlan }
  /** The template, the per-record URL, or (a defect) routing itself failed. */
  | { kind: 'unrenderable'; record: KafkaRecord; plan?: RoutePlan; reason: string };

/** A record routed and rendered: ready to send, skipped, or poison. */
export function afterPrepare(p: Prepared): Ready | ToLetter | Skipped {
  const { record } = p;
  switch (p.kind) {
    case 'ready':
      return { stage: 'send', record, plan: p.plan, text: p.text, ...(p.url !== undefined && { url: p.url }), ...(p.missingFields && { missingFields: p.missingFields }) };
    case 'unrouted':
      return { stage: 'unrouted', record, code: 'unrouted', message: 'no route matches' };
    case 'unreadable':
      return { stage: 'dead_letter', record, code: p.code, message: p.reason };
    case 'tombstone':
      return { stage: 'tombstone', record, plan: p.plan, code: 'tombstone', message: 'tombstone with no template: nothing to send' };
    case 'unrenderable':
      return { stage: 'dead_letter', record, ...(p.plan && { plan: p.plan }), code: 'render_failed', message: p.reason };
  }
}

/** An undecodable record: dead-lettered with everything it arrived with. */
export function poisonState(poison: PoisonRecord): PoisonToLetter {
  return { stage: 'dead_letter', poison, code: 'poison', message: poison.reason };
}

/** Not sent: a record below it failed (its chain or its partition), or it lacks the time. */
export function notSent(s: Ready, message: string, code: 'not_sent' | 'deadline' = 'not_sent'): Failed {
  return { ...s, stage: 'failed', code, message };
}

/** What the idempotency store answered a claim; `no_time`: not claimed, the invocation's time is short. */
export type ClaimAnswer = Awaited<ReturnType<Idempotency['claim']>> | 'no_time';

/**
 * A claim that settles the record without a send: a duplicate, a record in another invocation's hands (or a store
 * that did not answer: `storeError`), no time left, or a permanent verdict an earlier invocation stored.
 * @returns undefined when the claim lets the record go on (claimed, a kept task to poll, a kept reply to write)
 */
export function afterClaim(s: Ready, claim: ClaimAnswer, key: string, storeError?: string): Failed | Skipped | ToLetter | undefined {
  if (claim === 'no_time') return notSent(s, 'not enough time left in this invocation', 'deadline');
  if (claim === 'completed') return { ...s, stage: 'duplicate', code: 'duplicate', message: 'already delivered by an earlier invocation' };
  if (claim === 'in_progress') return { ...s, stage: 'failed', code: 'in_progress', message: storeError ?? 'another invocation is delivering this record' };
  // An earlier invocation's permanent verdict: dead-lettered from it, the agent is not run again.
  // Its code was a FateCode when this bridge's fail() stored it.
  if (typeof claim === 'object' && 'verdict' in claim) return { ...s, stage: 'dead_letter', code: claim.verdict.code as FateCode, message: claim.verdict.message, remembered: claim.verdict, claimKey: key };
  return undefined;
}

/** A reply kept by an earlier invocation whose route has no reply destination any more: it goes to the DLQ. */
export const REPLY_DESTINATION_REMOVED = 'a kept reply whose route has no reply destination any more';
export function keptReplyLettered(s: Ready, written: boolean): DeadLettered | Failed {
  return { ...s, stage: written ? 'dead_lettered' : 'failed', code: 'reply_destination_removed', message: REPLY_DESTINATION_REMOVED };
}

/**
 * The record's stage once its delivery is over: the one place a delivery result becomes a record's fate.
 * Only `permanent` goes to the dead-letter queue; every other failure is reported for redelivery.
 */
export function stageAfterDelivery(status: DeliveryStatus): 'delivered' | 'dead_letter' | 'failed' {
  if (status === 'delivered') return 'delivered';
  if (status === 'permanent') return 'dead_letter';
  return 'failed';
}

/**
 * A sent record's state: `stageAfterDelivery` of the agent client's status, except a task awaiting input, which is
 * settled, not failed: delivered when its reply destination takes it, else dead-lettered by the letter step.
 * @param awaiting - set when task mode left the task waiting for input; `toReply`: the route has a reply destination
 */
export function afterSend(s: Ready, res: DeliveryResult, claimKey?: string, awaiting?: { toReply: boolean }): Delivered | ToLetter | Failed {
  const learnt = { result: res, ...(claimKey !== undefined && { claimKey }), ...(awaiting && { awaitingInput: true }) };
  if (awaiting) {
    const why = { code: 'awaiting_input' as const, message: `task ${res.taskId} waits for input: ${res.message ?? ''}` };
    return awaiting.toReply ? { ...s, ...learnt, ...why, stage: 'delivered' } : { ...s, ...learnt, ...why, stage: 'dead_letter' };
  }
  const stage = stageAfterDelivery(res.status);
  if (stage === 'delivered') return { ...s, ...learnt, stage, code: res.code, message: res.message };
  // Every failed result carries its code; a result without one is the client's defect, and says so.
  return { ...s, ...learnt, stage, code: res.code ?? 'internal_error', message: res.message ?? `${res.status} without a code` };
}

/** A send whose outcome is unknown keeps its claim as a lease: the message says until when. */
export function leased(s: Failed, untilMs: number): Failed {
  return { ...s, message: `${s.message}; not sent again before ${new Date(untilMs).toISOString()}` };
}

/** A reply's write: delivered (with where it went, and `note` when it was rewritten), or failed with the reply kept. */
export function afterReply(s: Ready | Delivered, res: ReplyResult, note?: string): Delivered | Failed {
  if (res.outcome === 'written') return { ...s, stage: 'delivered', replyTo: res.where, ...(note && { code: 'reply_rewritten' as const, message: `reply ${note}` }) };
  return { ...s, stage: 'failed', code: 'reply_write_failed', message: `${res.error}; the reply is kept and written on redelivery`, replyWriteFailed: true };
}

/** The reply could not even be prepared (a defect in its envelope): the record runs again on redelivery. */
export function replyUnprepared(s: Delivered, error: string): Failed {
  return { ...s, stage: 'failed', code: 'reply_write_failed', message: `reply could not be prepared: ${error}`, replyWriteFailed: true };
}

/** A reply too large to keep goes to the DLQ with its record, so the agent is not run again; unless that fails too. */
export function replyLettered(s: Delivered, written: boolean, error: string): DeadLettered | Failed {
  const unwritten = { code: 'reply_write_failed' as const, replyWriteFailed: true };
  if (written) return { ...s, ...unwritten, stage: 'dead_lettered', message: `${error}; the reply is in the dead-letter queue` };
  return { ...s, ...unwritten, stage: 'failed', message: `${error}; the dead-letter write failed too: the record runs again on redelivery` };
}

/** A letter written settles the record; one that failed reports it. */
export function afterLetter(s: ToLetter, written: boolean): DeadLettered | Failed;
export function afterLetter(s: PoisonToLetter, written: boolean): PoisonSettled;
export function afterLetter(s: ToLetter | PoisonToLetter, written: boolean): DeadLettered | Failed | PoisonSettled {
  if (written) return { ...s, stage: 'dead_lettered' };
  return { ...s, stage: 'failed', message: `${s.message} (dead-letter write failed: reported instead)` };
}

/** A letter not written now: a record below it failed, so it comes back with its partition. */
export function leftForRedelivery(s: ToLetter | PoisonToLetter, why: string): Failed | PoisonSettled {
  return { ...s, stage: 'failed', message: `${s.message} (left for redelivery: ${why})` };
}

/** No token: nothing can be judged, every record is reported. */
export function withoutToken(s: State, code: 'token_invalid' | 'token_unavailable', message: string): Failed | PoisonSettled {
  return 'poison' in s ? { ...s, stage: 'failed', code, message } : { ...s, stage: 'failed', code, message };
}

/**
 * An unexpected error in a record's step. Delivered and dead-lettered records keep their status (the agent ran, or
 * the letter is written); any other is reported rather than trusting a stage set before the error.
 * @returns undefined when the record keeps its state
 */
export function afterDefect(s: State, err: unknown): Failed | PoisonSettled | undefined {
  if (s.stage === 'delivered' || s.stage === 'dead_lettered') return undefined;
  const why = { code: 'internal_error' as const, message: `unexpected error: ${(err as Error)?.message ?? String(err)}` };
  return 'poison' in s ? { ...s, ...why, stage: 'failed' } : { ...s, ...why, stage: 'failed' };
}

/** The state a record ends the invocation with; one still in flight (a defect) is reported, never lost. */
export function settled(s: State): SettledState {
  if (s.stage === 'pending' || s.stage === 'send' || s.stage === 'dead_letter') {
    const why = { code: 'internal_error' as const, message: `left unsettled at ${s.stage}` };
    return 'poison' in s ? { ...s, ...why, stage: 'failed' } : { ...s, ...why, stage: 'failed' };
  }
  return s;
}
