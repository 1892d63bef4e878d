// The benchmark's pure parts (bench/workloads.ts): the ideal schedule, chains, statistics and events; and the
// in-process agent stub (bench/stub-http.cjs) against the bridge's own HTTP client.
import http from 'node:http';
import https from 'node:https';
import {
  buildBatches,
  buildEvent,
  chainLengths,
  emfLatencies,
  idealRoundsMs,
  idealScheduleMs,
  layout,
  longestChain,
  median,
  orderValue,
  sequentialMs,
  slotOccupancy,
  summarize,
  type Ordering,
} from '../../bench/workloads';
import { decodeEvent } from '../../lambda/decode';
import { interpretResponse, sendMessageBody } from '../../lambda/deliver/a2a-protocol';
import { httpPost } from '../../lambda/io/http';
import { buildChains } from '../../lambda/schedule';

const W1 = { records: 1000, partitions: 4, keys: 100 };

describe('layout', () => {
  it('puts key k in partition k mod partitions, keys cycling with the record index', () => {
    const l = layout(W1);
    expect(l).toHaveLength(1000);
    l.forEach((p, i) => {
      expect(p.key).toBe(`customer-${String(i % 100).padStart(4, '0')}`);
      expect(p.partition).toBe((i % 100) % 4);
    });
  });

  it('continues the cycle from a first index', () => {
    expect(layout({ records: 2, partitions: 4, keys: 100 }, 101)).toEqual([
      { partition: 1, key: 'customer-0001' },
      { partition: 2, key: 'customer-0002' },
    ]);
  });
});

describe('chains', () => {
  it('W1: 4 chains of 250 by partition, 100 of 10 by key, 1,000 of 1 with no ordering', () => {
    const l = layout(W1);
    expect(chainLengths(l, 'partition').sort()).toEqual([250, 250, 250, 250]);
    expect(chainLengths(l, 'key')).toEqual(Array(100).fill(10));
    expect(chainLengths(l, 'none')).toEqual(Array(1000).fill(1));
    expect(longestChain(l, 'partition')).toBe(250);
    expect(longestChain(l, 'key')).toBe(10);
    expect(longestChain(l, 'none')).toBe(1);
    expect(longestChain([], 'key')).toBe(0);
  });

  it('takes the largest chain when they differ', () => {
    const l = layout({ records: 7, partitions: 2, keys: 3 }); // keys 0,1,2,0,1,2,0 -> partitions 0,1,0,0,1,0,0
    expect(longestChain(l, 'partition')).toBe(5);
    expect(longestChain(l, 'key')).toBe(3);
  });

  it('a record without a key is a chain of its own in key mode', () => {
    const l = [
      { partition: 0, key: null },
      { partition: 0, key: null },
      { partition: 0, key: 'a' },
      { partition: 0, key: 'a' },
    ];
    expect(chainLengths(l, 'key').sort()).toEqual([1, 1, 2]);
  });

  it.each<Ordering>(['partition', 'key', 'none'])('agrees with the bridge (lambda/schedule.ts buildChains) in %s mode', (mode) => {
    const event = buildEvent({ records: 300, partitions: 4, keys: 30 });
    const items = decodeEvent(event).records.map((record) => ({ at: record }));
    const bridge = buildChains(items, mode).map((c) => c.length);
    expect(bridge.sort((a, b) => a - b)).toEqual(chainLengths(layout({ records: 300, partitions: 4, keys: 30 }), mode).sort((a, b) => a - b));
  });
});

describe('ideal schedule', () => {
  const at = (longest: number, records = 1000) => idealScheduleMs({ records, longestChain: longest, latencyMs: 50, concurrency: 16 });

  it('is bounded by the longest chain or by the concurrency, whichever is larger', () => {
    expect(at(250)).toBe(12_500); // partition: the chain decides
    expect(at(10)).toBe(3_125); // key: 1000 x 50 / 16
    expect(at(1)).toBe(3_125); // none
    expect(at(63)).toBe(3_150);
    expect(idealScheduleMs({ records: 10, longestChain: 1, latencyMs: 50, concurrency: 16 })).toBe(50);
  });

  it('with whole rounds, a partial round still costs a full latency', () => {
    expect(idealRoundsMs({ records: 1000, longestChain: 10, latencyMs: 50, concurrency: 16 })).toBe(63 * 50);
    expect(idealRoundsMs({ records: 1000, longestChain: 250, latencyMs: 50, concurrency: 16 })).toBe(12_500);
    expect(idealRoundsMs({ records: 32, longestChain: 1, latencyMs: 50, concurrency: 16 })).toBe(100);
  });

  it('the sequential baseline is records x latency, the ideal at concurrency 1', () => {
    expect(sequentialMs(1000, 50)).toBe(50_000);
    expect(idealScheduleMs({ records: 1000, longestChain: 1, latencyMs: 50, concurrency: 1 })).toBe(50_000);
  });

  it('rejects a concurrency below 1', () => {
    expect(() => idealScheduleMs({ records: 1, longestChain: 1, latencyMs: 50, concurrency: 0 })).toThrow(RangeError);
  });
});

describe('statistics', () => {
  it('median of odd and even counts, unsorted input left alone', () => {
    const xs = [5, 1, 3];
    expect(median(xs)).toBe(3);
    expect(xs).toEqual([5, 1, 3]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(() => median([])).toThrow(RangeError);
  });

  it('summarize gives median, min, max and count', () => {
    expect(summarize([10, 30, 20, 50, 40])).toEqual({ median: 30, min: 10, max: 50, n: 5 });
  });

  it('slot occupancy: round trips over parallelism x wall', () => {
    expect(slotOccupancy([50, 50, 50, 50], 2, 100)).toBe(1);
    expect(slotOccupancy([50, 50], 4, 100)).toBe(0.25);
    expect(() => slotOccupancy([1], 0, 100)).toThrow(RangeError);
  });
});

describe('EMF latencies', () => {
  it('groups A2ALatency values per invocation, ending each at the RecordsReceived blob', () => {
    const emf = (o: object) => JSON.stringify({ _aws: { Timestamp: 0, CloudWatchMetrics: [] }, ...o });
    const stdout = [
      emf({ ColdStart: 1 }),
      '{"level":"INFO","message":"record delivered"}',
      emf({ route: 'r', RecordsDelivered: 3, A2ALatency: [51, 52] }),
      emf({ route: 'r', A2ALatency: 53 }),
      emf({ RecordsReceived: 3, RecordsDelivered: 3 }),
      emf({ route: 'r', A2ALatency: [60] }),
      emf({ RecordsReceived: 1 }),
      'not json',
    ].join('\n');
    expect(emfLatencies(stdout)).toEqual([[51, 52, 53], [60]]);
  });
});

describe('events', () => {
  it('builds a Lambda MSK event: base64 keys and values, byte-array headers, contiguous offsets per partition', () => {
    const event = buildEvent({ records: 8, partitions: 4, keys: 8, valueBytes: 1024 });
    expect(event.eventSource).toBe('aws:kafka');
    expect(Object.keys(event.records).sort()).toEqual(['orders-0', 'orders-1', 'orders-2', 'orders-3']);
    for (const [pk, list] of Object.entries(event.records)) {
      expect(list.map((r) => r.offset)).toEqual([0, 1]);
      for (const r of list) {
        expect(`${r.topic}-${r.partition}`).toBe(pk);
        const key = Buffer.from(r.key, 'base64').toString();
        expect(Number(key.slice(-4)) % 4).toBe(r.partition);
        const value = Buffer.from(r.value, 'base64').toString();
        expect(JSON.parse(value).customer.id).toBe(key);
        expect(value.length).toBeGreaterThanOrEqual(1000);
        expect(value.length).toBeLessThanOrEqual(1024);
        expect(Buffer.from(r.headers[1]['trace-id']).toString()).toMatch(/^trace-\d{8}$/);
      }
    }
    const decoded = decodeEvent(event);
    expect(decoded.poison).toEqual([]);
    expect(decoded.records).toHaveLength(8);
  });

  it('sizes values close to the requested bytes', () => {
    for (const bytes of [600, 1024, 4096]) {
      const n = JSON.stringify(orderValue(123, 'customer-0123', bytes)).length;
      expect(n).toBeLessThanOrEqual(bytes);
      expect(n).toBeGreaterThan(bytes - 10);
    }
  });

  it('splits a run into batches whose offsets continue per partition', () => {
    const batches = buildBatches({ records: 10, partitions: 2, keys: 4, batchRecords: 4 }); // record i in partition i mod 2
    expect(batches.map((b) => Object.values(b.records).reduce((n, l) => n + l.length, 0))).toEqual([4, 4, 2]);
    const offsets = (p: number) => batches.flatMap((b) => (b.records[`orders-${p}`] ?? []).map((r) => r.offset));
    expect(offsets(0)).toEqual([0, 1, 2, 3, 4]);
    expect(offsets(1)).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('agent stub (bench/stub-http.cjs)', () => {
  const { installStubHttp } = require('../../bench/stub-http.cjs') as { installStubHttp(): () => void };
  const realHttp = http.request;
  const realHttps = https.request;
  let uninstall: (() => void) | undefined;
  afterEach(() => {
    uninstall?.();
    uninstall = undefined;
  });

  it.each(['http://127.0.0.1:9/v1/a2a/agent', 'https://agent.invalid/v1/a2a/agent'])(
    "answers lambda/io/http.ts's POST to %s in process with a reply the bridge accepts (A2A v0.3, the bench's routes)",
    async (url) => {
      uninstall = installStubHttp();
      const rpcId = 'kafka:orders-0-42#"quoted"';
      const body = JSON.stringify(sendMessageBody('0.3', { rpcId, messageId: 'm-1', text: 'hello', metadata: {} }));
      const reply = await httpPost(url, { 'content-type': 'application/json' }, body, 1000);
      expect(reply.status).toBe(200);
      expect(reply.retryAfter).toBeNull();
      expect(JSON.parse(reply.text).id).toBe(rpcId);
      expect(interpretResponse('0.3', reply.status, reply.text, rpcId, reply.retryAfter)).toEqual({ kind: 'success', reply: expect.stringMatching(/^Summary: x+\.\.\.$/) });
    },
  );

  it('puts the real request functions back', () => {
    uninstall = installStubHttp();
    expect(http.request).not.toBe(realHttp);
    expect(https.request).not.toBe(realHttps);
    uninstall();
    uninstall = undefined;
    expect(http.request).toBe(realHttp);
    expect(https.request).toBe(realHttps);
  });
});
