import { applyReply, IllegalTransitionError, LEGAL_MOVES, mayMove, settleSend, transition } from '../../lambda/pipeline/item';
import type { DeliveryResult } from '../../lambda/deliver/delivery-types';
import type { DeliveryStatus } from '../../lambda/fate';
import type { Item, PoisonItem } from '../../lambda/pipeline/types';
import { FINAL_STATUSES, type Stage } from '../../lambda/fate';
import type { KafkaRecord } from '../../lambda/decode';

const STAGES: Stage[] = ['pending', 'send', 'dead_letter', ...FINAL_STATUSES];
const record = { partitionKey: 't-0', topic: 't', partition: 0, offset: 7 } as KafkaRecord;
const at = (stage: Stage): Item => ({ record, stage, code: 'old', message: 'old message' });

describe('transition (lambda/pipeline/item.ts)', () => {
  it('lists every stage, and only stages, as a source and a destination', () => {
    expect(Object.keys(LEGAL_MOVES).sort()).toEqual([...STAGES].sort());
    for (const to of Object.values(LEGAL_MOVES).flat()) expect(STAGES).toContain(to);
  });

  const legal = STAGES.flatMap((from) => LEGAL_MOVES[from].map((to) => [from, to] as const));
  it.each(legal)('moves %s -> %s, setting the given fields and keeping the rest', (from, to) => {
    const item = at(from);
    const same = transition(item, to, { code: 'new_code', claimKey: 'k' });
    expect(same).toBe(item); // in place: the chains hold the item itself
    expect(item).toEqual({ record, stage: to, code: 'new_code', message: 'old message', claimKey: 'k' });
  });

  const illegal = STAGES.flatMap((from) => STAGES.filter((to) => !LEGAL_MOVES[from].includes(to)).map((to) => [from, to] as const));
  it.each(illegal)('refuses %s -> %s and leaves the item as it was', (from, to) => {
    const item = at(from);
    expect(() => transition(item, to, { code: 'new_code' })).toThrow(IllegalTransitionError);
    expect(() => transition(item, to)).toThrow(`a record cannot move from ${from} to ${to}`);
    expect(item).toEqual(at(from));
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

  it('moves a poison record (no KafkaRecord) the same way', () => {
    const p: PoisonItem = { poison: { partitionKey: 't-0', topic: 't', partition: 0, offset: null, reason: 'bad', raw: {} } as PoisonItem['poison'], stage: 'dead_letter', code: 'poison', message: 'bad' };
    transition(p, 'failed', { message: 'bad (dead-letter write failed: reported instead)' });
    expect(p).toMatchObject({ stage: 'failed', code: 'poison', message: 'bad (dead-letter write failed: reported instead)' });
    expect(() => transition(p, 'delivered')).toThrow(IllegalTransitionError);
  });
});

describe('settleSend and applyReply (the stages a send and a reply write give)', () => {
  const res = (status: DeliveryStatus): DeliveryResult => ({ status, code: `c_${status}`, message: `m ${status}`, attempts: 2, retries: 1, taskId: 'T1' });
  const STATUSES: DeliveryStatus[] = ['delivered', 'permanent', 'transient', 'auth', 'deadline', 'held', 'unknown', 'task'];

  it.each(STATUSES)('a sent record with status %s takes stageAfterDelivery and the result\'s code and message', (status) => {
    const item = at('send');
    settleSend(item, res(status));
    expect(item).toEqual({ record, stage: status === 'delivered' ? 'delivered' : status === 'permanent' ? 'dead_letter' : 'failed', code: `c_${status}`, message: `m ${status}`, result: res(status) });
  });

  it('a task awaiting input is delivered to its reply destination, else keeps its status\'s stage for the dead-letter step', () => {
    const toReply = settleSend(at('send'), res('permanent'), { toReply: true });
    expect(toReply).toMatchObject({ stage: 'delivered', awaitingInput: true, code: 'awaiting_input', message: 'task T1 waits for input: m permanent' });
    expect(settleSend(at('send'), res('permanent'), { toReply: false })).toMatchObject({ stage: 'dead_letter', awaitingInput: true, code: 'awaiting_input' });
  });

  it('only a record being sent can be settled by a send', () => {
    for (const s of ['pending', 'dead_letter', 'failed', 'duplicate'] as const) expect(() => settleSend(at(s), res('delivered'))).toThrow(IllegalTransitionError);
  });

  it('a written reply delivers (noting a rewrite); an unwritten one fails the record with its reply kept', () => {
    expect(applyReply(at('delivered'), { outcome: 'written', where: 'replies/0@5' }, undefined)).toEqual({ record, stage: 'delivered', code: 'old', message: 'old message', replyTo: 'replies/0@5' });
    expect(applyReply(at('send'), { outcome: 'written', where: 'q' }, 'rewritten')).toMatchObject({ stage: 'delivered', code: 'reply_rewritten', message: 'reply rewritten', replyTo: 'q' });
    expect(applyReply(at('delivered'), { outcome: 'kept', error: 'broker down' }, undefined)).toMatchObject({
      stage: 'failed',
      code: 'reply_write_failed',
      message: 'broker down; the reply is kept and written on redelivery',
      replyWriteFailed: true,
    });
    expect(() => applyReply(at('dead_lettered'), { outcome: 'written', where: 'q' }, undefined)).toThrow(IllegalTransitionError);
  });
});
