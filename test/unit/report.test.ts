import { batchResponse, failureOffsets } from '../../lambda/report';

const f = (partitionKey: string, offset: number) => ({ partitionKey, offset });

describe('failureOffsets', () => {
  test('keeps the lowest failed offset per partition, whatever the input order', () => {
    const offsets = failureOffsets([f('t-0', 9), f('t-0', 5), f('t-1', 3), f('t-0', 7), f('t-1', 2), f('u-0', 100)]);
    expect([...offsets.entries()].sort()).toEqual([
      ['t-0', 5],
      ['t-1', 2],
      ['u-0', 100],
    ]);
  });

  test('offset 0 is a real offset (not treated as absent)', () => {
    expect(failureOffsets([f('t-0', 4), f('t-0', 0), f('t-0', 2)]).get('t-0')).toBe(0);
  });

  test('nothing failed: an empty map', () => {
    expect(failureOffsets([]).size).toBe(0);
  });

  test('accepts any iterable (a generator)', () => {
    function* gen() {
      yield f('a-0', 3);
      yield f('a-0', 1);
    }
    expect(failureOffsets(gen()).get('a-0')).toBe(1);
  });

  test('a topic with dashes is one partition key, not split', () => {
    expect([...failureOffsets([f('my-topic-name-3', 8)]).keys()]).toEqual(['my-topic-name-3']);
  });
});

describe('batchResponse', () => {
  test('the exact Kafka partial-batch response shape', () => {
    expect(batchResponse(failureOffsets([f('t-0', 5), f('t-0', 6)]))).toStrictEqual({
      batchItemFailures: [{ itemIdentifier: { partition: 't-0', offset: 5 } }],
    });
  });

  test('success: an empty batchItemFailures list (not undefined, not omitted)', () => {
    expect(batchResponse(new Map())).toStrictEqual({ batchItemFailures: [] });
  });

  test('one entry per failed partition, sorted by partition key for stable output', () => {
    const res = batchResponse(failureOffsets([f('z-1', 4), f('a-2', 9), f('a-10', 1), f('a-2', 3)]));
    expect(res).toStrictEqual({
      batchItemFailures: [
        { itemIdentifier: { partition: 'a-10', offset: 1 } },
        { itemIdentifier: { partition: 'a-2', offset: 3 } },
        { itemIdentifier: { partition: 'z-1', offset: 4 } },
      ],
    });
  });

  test('offsets stay numbers and survive JSON round-trips unchanged', () => {
    const res = batchResponse(new Map([['t-0', 12_345_678_901]]));
    expect(JSON.parse(JSON.stringify(res))).toStrictEqual(res);
    expect(typeof res.batchItemFailures[0].itemIdentifier.offset).toBe('number');
  });
});
