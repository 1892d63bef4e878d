import { IllegalTransitionError, LEGAL_MOVES, mayMove, transition } from '../../lambda/pipeline/item';
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

  it('has settled statuses that nothing leaves, and no way back to pending or send', () => {
    for (const s of ['dead_lettered', 'unrouted', 'tombstone', 'duplicate'] as const) expect(LEGAL_MOVES[s]).toEqual([]);
    for (const from of STAGES) {
      expect(mayMove(from, 'pending')).toBe(false);
      if (from !== 'pending') expect(mayMove(from, 'send')).toBe(false);
    }
    expect(legal.length + illegal.length).toBe(STAGES.length ** 2);
    expect(legal.length).toBe(16);
  });

  it('moves a poison record (no KafkaRecord) the same way', () => {
    const p: PoisonItem = { poison: { partitionKey: 't-0', topic: 't', partition: 0, offset: null, reason: 'bad', raw: {} } as PoisonItem['poison'], stage: 'dead_letter', code: 'poison', message: 'bad' };
    transition(p, 'failed', { message: 'bad (dead-letter write failed: reported instead)' });
    expect(p).toMatchObject({ stage: 'failed', code: 'poison', message: 'bad (dead-letter write failed: reported instead)' });
    expect(() => transition(p, 'delivered')).toThrow(IllegalTransitionError);
  });
});
