import type { KafkaRecord, PoisonRecord } from '../../lambda/decode';
import type { DeliveryResult } from '../../lambda/deliver/delivery-types';
import { type DeliveryStatus, FINAL_STATUSES, type Stage } from '../../lambda/fate';
import {
  afterClaim,
  afterDefect,
  afterLetter,
  afterPrepare,
  afterReply,
  afterSend,
  annotate,
  IllegalTransitionError,
  keptReplyLettered,
  LEGAL_MOVES,
  leased,
  leftForRedelivery,
  mayMove,
  move,
  notSent,
  poisonState,
  type Ready,
  type RecordState,
  replyLettered,
  replyUnprepared,
  settled,
  type State,
  type ToLetter,
  withoutToken,
} from '../../lambda/pipeline/record-state';
import type { RoutePlan } from '../../lambda/pipeline/types';

const STAGES: Stage[] = ['pending', 'send', 'dead_letter', ...FINAL_STATUSES];
const record = { partitionKey: 't-0', topic: 't', partition: 0, offset: 7, keyB64: null } as KafkaRecord;
const plan = { route: { name: 'r', agentId: 'a' } } as RoutePlan;
const poison: PoisonRecord = { partitionKey: 't-0', topic: 't', partition: 0, offset: null, reason: 'bad', raw: {} };
// A state at each stage, with the fields that stage requires (the states' own shapes are checked by tsc).
const at = (stage: Stage): RecordState => ({ stage, record, plan, text: 'hi', code: 'timeout', message: 'old message' }) as RecordState;
const ready = (): Ready => ({ stage: 'send', record, plan, text: 'hi' });
const track = (state: State) => ({ at: { partitionKey: 't-0', offset: 7, keyB64: null }, state });

describe('move (lambda/pipeline/record-state.ts)', () => {
  it('lists every stage, and only stages, as a source and a destination', () => {
    expect(Object.keys(LEGAL_MOVES).sort()).toEqual([...STAGES].sort());
    for (const to of Object.values(LEGAL_MOVES).flat()) expect(STAGES).toContain(to);
  });

  const legal = STAGES.flatMap((from) => LEGAL_MOVES[from].map((to) => [from, to] as const));
  it.each(legal)('moves %s -> %s: the track holds the next state', (from, to) => {
    const t = track(at(from));
    const next = at(to);
    expect(move(t, next)).toBe(next);
    expect(t.state).toBe(next);
  });

  const illegal = STAGES.flatMap((from) => STAGES.filter((to) => !LEGAL_MOVES[from].includes(to)).map((to) => [from, to] as const));
  it.each(illegal)('refuses %s -> %s and leaves the track as it was', (from, to) => {
    const before = at(from);
    const t = track(before);
    expect(() => move(t, at(to))).toThrow(IllegalTransitionError);
    expect(() => move(t, at(to))).toThrow(`a record cannot move from ${from} to ${to}`);
    expect(t.state).toBe(before);
  });

  it('has settled statuses that nothing leaves but a defect report, and no way back to pending or send', () => {
    expect(LEGAL_MOVES.dead_lettered).toEqual([]);
    for (const s of ['unrouted', 'tombstone', 'duplicate'] as const) expect(LEGAL_MOVES[s]).toEqual(['failed']);
    for (const from of STAGES) {
      expect(mayMove(from, 'pending')).toBe(false);
      if (from !== 'pending') expect(mayMove(from, 'send')).toBe(false);
    }
    expect(legal.length + illegal.length).toBe(STAGES.length ** 2);
    expect(legal.length).toBe(19);
  });

  it('moves a poison record (no KafkaRecord) by the same table', () => {
    const t = track(poisonState(poison));
    expect(t.state).toEqual({ stage: 'dead_letter', poison, code: 'poison', message: 'bad' });
    move(t, afterLetter(poisonState(poison), false));
    expect(t.state).toMatchObject({ stage: 'failed', code: 'poison', message: 'bad (dead-letter write failed: reported instead)' });
    expect(() => move(t, afterLetter(poisonState(poison), true))).toThrow(IllegalTransitionError);
  });

  it('annotate adds what was learnt after settling without moving the stage', () => {
    const t = track(at('dead_lettered'));
    annotate(t, { errorsTo: 'errors/0@1' });
    expect(t.state).toMatchObject({ stage: 'dead_lettered', errorsTo: 'errors/0@1', message: 'old message' });
  });
});

describe('afterPrepare: what routing and rendering found', () => {
  it('a rendered record is ready with its plan, text, URL and missing fields', () => {
    expect(afterPrepare({ kind: 'ready', record, plan, text: 'hi', url: 'https://x/a', missingFields: ['$.a'] })).toEqual({ stage: 'send', record, plan, text: 'hi', url: 'https://x/a', missingFields: ['$.a'] });
    expect(afterPrepare({ kind: 'ready', record, plan, text: 'hi' })).toEqual({ stage: 'send', record, plan, text: 'hi' });
  });
  it('unrouted and tombstone are settled; unreadable and unrenderable go to the letter step', () => {
    expect(afterPrepare({ kind: 'unrouted', record })).toEqual({ stage: 'unrouted', record, code: 'unrouted', message: 'no route matches' });
    expect(afterPrepare({ kind: 'tombstone', record, plan })).toEqual({ stage: 'tombstone', record, plan, code: 'tombstone', message: 'tombstone with no template: nothing to send' });
    expect(afterPrepare({ kind: 'unreadable', record, code: 'schema_error', reason: 'no schema' })).toEqual({ stage: 'dead_letter', record, code: 'schema_error', message: 'no schema' });
    expect(afterPrepare({ kind: 'unrenderable', record, plan, reason: 'too long' })).toEqual({ stage: 'dead_letter', record, plan, code: 'render_failed', message: 'too long' });
    expect(afterPrepare({ kind: 'unrenderable', record, reason: 'boom' })).not.toHaveProperty('plan');
  });
});

describe('afterClaim: what the idempotency store answered', () => {
  it('settles a duplicate, a record in other hands, a store outage and a claim without time', () => {
    expect(afterClaim(ready(), 'completed', 'k')).toMatchObject({ stage: 'duplicate', code: 'duplicate', message: 'already delivered by an earlier invocation' });
    expect(afterClaim(ready(), 'in_progress', 'k')).toMatchObject({ stage: 'failed', code: 'in_progress', message: 'another invocation is delivering this record' });
    expect(afterClaim(ready(), 'in_progress', 'k', 'idempotency store unavailable: x')).toMatchObject({ stage: 'failed', code: 'in_progress', message: 'idempotency store unavailable: x' });
    expect(afterClaim(ready(), 'no_time', 'k')).toMatchObject({ stage: 'failed', code: 'deadline', message: 'not enough time left in this invocation' });
  });
  it('a stored verdict dead-letters the record from it, with the claim key', () => {
    const verdict = { class: 'http_400', code: 'http_400', message: 'bad request', attempts: 1 };
    expect(afterClaim(ready(), { verdict }, 'k')).toMatchObject({ stage: 'dead_letter', code: 'http_400', message: 'bad request', remembered: verdict, claimKey: 'k' });
  });
  it('lets the record go on when claimed, or when a task or a reply was kept', () => {
    expect(afterClaim(ready(), 'claimed', 'k')).toBeUndefined();
    expect(afterClaim(ready(), { task: { taskId: 'T', startedAtMs: 1, holdUntilMs: 2 } as never }, 'k')).toBeUndefined();
    expect(afterClaim(ready(), { replyPending: '{}' }, 'k')).toBeUndefined();
  });
  it('a kept reply whose route lost its destination is dead-lettered, or reported when the letter fails', () => {
    expect(keptReplyLettered(ready(), true)).toMatchObject({ stage: 'dead_lettered', code: 'reply_destination_removed' });
    expect(keptReplyLettered(ready(), false)).toMatchObject({ stage: 'failed', code: 'reply_destination_removed' });
  });
  it('a record held or short of time is not sent', () => {
    expect(notSent(ready(), 'held behind offset 3 of the same chain')).toMatchObject({ stage: 'failed', code: 'not_sent', message: 'held behind offset 3 of the same chain', plan, text: 'hi' });
  });
});

describe('afterSend: what the agent client made of the delivery', () => {
  const res = (status: DeliveryStatus): DeliveryResult => ({ status, code: 'timeout', message: `m ${status}`, attempts: 2, retries: 1, taskId: 'T1' });
  const STATUSES: DeliveryStatus[] = ['delivered', 'permanent', 'transient', 'auth', 'deadline', 'held', 'unknown', 'task'];

  it.each(STATUSES)('status %s: delivered, dead-lettered only when permanent, reported otherwise; code, message and claim key kept', (status) => {
    const next = afterSend(ready(), res(status), 'k');
    expect(next).toEqual({ stage: status === 'delivered' ? 'delivered' : status === 'permanent' ? 'dead_letter' : 'failed', record, plan, text: 'hi', code: 'timeout', message: `m ${status}`, result: res(status), claimKey: 'k' });
  });
  it('without a store there is no claim key; a failed result without a code says so', () => {
    expect(afterSend(ready(), res('delivered'))).not.toHaveProperty('claimKey');
    expect(afterSend(ready(), { status: 'transient', attempts: 1, retries: 0 })).toMatchObject({ stage: 'failed', code: 'internal_error', message: 'transient without a code' });
  });
  it("a task awaiting input is delivered to its reply destination, else goes to the letter step", () => {
    expect(afterSend(ready(), res('permanent'), 'k', { toReply: true })).toMatchObject({ stage: 'delivered', awaitingInput: true, code: 'awaiting_input', message: 'task T1 waits for input: m permanent' });
    expect(afterSend(ready(), res('permanent'), 'k', { toReply: false })).toMatchObject({ stage: 'dead_letter', awaitingInput: true, code: 'awaiting_input' });
  });
  it('an unknown outcome leased says until when', () => {
    const failed = afterSend(ready(), res('unknown'));
    expect(failed.stage).toBe('failed');
    if (failed.stage === 'failed') expect(leased(failed, Date.UTC(2026, 0, 1)).message).toBe('m unknown; not sent again before 2026-01-01T00:00:00.000Z');
  });
});

describe('afterReply and the reply-write failures', () => {
  const delivered = afterSend(ready(), { status: 'delivered', attempts: 1, retries: 0, reply: 'ok' });
  it('a written reply delivers (noting a rewrite); an unwritten one fails the record with its reply kept', () => {
    if (delivered.stage !== 'delivered') throw new Error('expected delivered');
    expect(afterReply(delivered, { outcome: 'written', where: 'replies/0@5' })).toMatchObject({ stage: 'delivered', replyTo: 'replies/0@5' });
    expect(afterReply(delivered, { outcome: 'written', where: 'replies/0@5' })).not.toHaveProperty('code', 'reply_rewritten');
    expect(afterReply(ready(), { outcome: 'written', where: 'q' }, 'rewritten')).toMatchObject({ stage: 'delivered', code: 'reply_rewritten', message: 'reply rewritten', replyTo: 'q' });
    expect(afterReply(delivered, { outcome: 'kept', error: 'broker down' })).toMatchObject({ stage: 'failed', code: 'reply_write_failed', message: 'broker down; the reply is kept and written on redelivery', replyWriteFailed: true });
    expect(replyUnprepared(delivered, 'bad envelope')).toMatchObject({ stage: 'failed', code: 'reply_write_failed', message: 'reply could not be prepared: bad envelope', replyWriteFailed: true });
    expect(replyLettered(delivered, true, 'too big')).toMatchObject({ stage: 'dead_lettered', code: 'reply_write_failed', message: 'too big; the reply is in the dead-letter queue' });
    expect(replyLettered(delivered, false, 'too big')).toMatchObject({ stage: 'failed', message: 'too big; the dead-letter write failed too: the record runs again on redelivery' });
  });
});

describe('the letter step, token failures, defects and the end of the invocation', () => {
  const toLetter: ToLetter = { stage: 'dead_letter', record, code: 'http_400', message: 'refused' };
  it('a letter written settles the record; one that failed or was left reports it, saying why', () => {
    expect(afterLetter(toLetter, true)).toEqual({ ...toLetter, stage: 'dead_lettered' });
    expect(afterLetter(toLetter, false)).toEqual({ ...toLetter, stage: 'failed', message: 'refused (dead-letter write failed: reported instead)' });
    expect(leftForRedelivery(toLetter, 'partition resumes below it')).toEqual({ ...toLetter, stage: 'failed', message: 'refused (left for redelivery: partition resumes below it)' });
    expect(leftForRedelivery(poisonState(poison), 'x')).toMatchObject({ stage: 'failed', poison, message: 'bad (left for redelivery: x)' });
  });
  it('without a token every record and poison entry is reported with the token code', () => {
    expect(withoutToken({ stage: 'pending', record }, 'token_unavailable', 'down')).toEqual({ stage: 'failed', record, code: 'token_unavailable', message: 'down' });
    expect(withoutToken(poisonState(poison), 'token_invalid', 'empty')).toEqual({ stage: 'failed', poison, code: 'token_invalid', message: 'empty' });
  });
  it('a defect reports the record unless it was delivered or dead-lettered', () => {
    for (const stage of STAGES) {
      const next = afterDefect(at(stage), new Error('boom'));
      if (stage === 'delivered' || stage === 'dead_lettered') expect(next).toBeUndefined();
      else expect(next).toMatchObject({ stage: 'failed', code: 'internal_error', message: 'unexpected error: boom' });
    }
    expect(afterDefect(poisonState(poison), 'str')).toMatchObject({ stage: 'failed', poison, code: 'internal_error', message: 'unexpected error: str' });
  });
  it('a record still in flight at the end is reported, never lost; a settled one is kept as it is', () => {
    for (const stage of ['pending', 'send', 'dead_letter'] as const) expect(settled(at(stage))).toMatchObject({ stage: 'failed', code: 'internal_error', message: `left unsettled at ${stage}` });
    for (const stage of FINAL_STATUSES) {
      const s = at(stage);
      expect(settled(s)).toBe(s);
    }
    expect(settled(poisonState(poison))).toMatchObject({ stage: 'failed', poison });
  });
});
