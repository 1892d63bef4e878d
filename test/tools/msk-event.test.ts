// The event generator (scripts/lib/msk-event.ts): what it builds must read back through the handler's own
// decoder exactly as given, and the committed sample events must be what the generator builds.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { decodeEvent } from '../../lambda/decode';
import { buildMskEvent, formatEvent, murmur2, NotAnEventError, partitionForKey, toKafkaEvent, type KafkaMessage } from '../../scripts/lib/msk-event';
import { EVENTS_DIR, REFERENCE, SAMPLES, sampleText } from '../../scripts/lib/samples';

const T0 = Date.parse('2025-01-12T10:00:00Z');

describe('buildMskEvent round-trips through the decoder', () => {
  test('the reference messages: values, JSON, keys, headers, offsets and timestamps', () => {
    const event = buildMskEvent(
      [
        { value: REFERENCE.support, key: 'CUST-001', headers: { source: 'support-portal', 'x-priority': 'urgent' } },
        { value: JSON.stringify(REFERENCE.support), key: 'CUST-001' },
        { value: REFERENCE.order, topic: 'orders.events', partition: 3, key: 'ORD-123' },
        'plain text, not JSON',
      ],
      { topic: 'customer.events', startOffset: 41, timestamp: '2025-01-12T10:00:00Z', headers: { env: 'local' } },
    );
    expect(event.eventSource).toBe('aws:kafka');
    expect(event.eventSourceArn).toMatch(/^arn:aws:kafka:/);
    expect(Object.keys(event.records)).toEqual(['customer.events-0', 'orders.events-3']);

    const batch = decodeEvent(event);
    expect(batch.poison).toEqual([]);
    expect(batch.records.map((r) => [r.partitionKey, r.offset, r.timestamp])).toEqual([
      ['customer.events-0', 41, T0],
      ['customer.events-0', 42, T0 + 1],
      ['customer.events-0', 43, T0 + 3],
      ['orders.events-3', 41, T0 + 2],
    ]);
    const [first, second, plain, order] = batch.records;
    expect(first.json).toEqual(REFERENCE.support);
    expect(first.key).toBe('CUST-001');
    expect(first.headers).toEqual({ env: 'local', source: 'support-portal', 'x-priority': 'urgent' });
    expect(first.timestampType).toBe('CREATE_TIME');
    expect(second.json).toEqual(REFERENCE.support);
    expect(plain.value).toBe('plain text, not JSON');
    expect(plain.json).toBeUndefined();
    expect(order.json).toEqual(REFERENCE.order);
    expect(order.key).toBe('ORD-123');
  });

  test('tombstones, binary values, no key, explicit offsets and raw (undecodable) values', () => {
    const bytes = Uint8Array.from([0x00, 0x00, 0x00, 0x00, 0x07, 0xff, 0xfe]);
    const event = buildMskEvent(
      [
        { value: null, key: 'CUST-001' },
        { value: Buffer.from('héllo ✓', 'utf8'), key: null },
        { value: 'x', offset: 100 },
        { value: 'y' },
        { value: 'ignored', rawValue: 'not base64!' },
        { value: bytes },
      ],
      { topic: 'compacted', timestamp: T0 },
    );
    const recs = event.records['compacted-0'];
    expect(recs.map((r) => r.offset)).toEqual([0, 1, 100, 101, 102, 103]);
    expect(recs[0]).toMatchObject({ value: null, key: Buffer.from('CUST-001').toString('base64') });
    expect(recs[1]).not.toHaveProperty('key');

    const batch = decodeEvent(event);
    expect(batch.records.map((r) => [r.offset, r.value, r.undecodable])).toEqual([
      [0, null, undefined],
      [1, 'héllo ✓', undefined],
      [100, 'x', undefined],
      [101, 'y', undefined],
      [103, null, 'value is not valid UTF-8 text'],
    ]);
    expect(batch.records[1].key).toBeNull();
    expect(batch.poison.map((p) => [p.offset, p.reason])).toEqual([[102, 'undecodable record: value is not valid base64']]);
  });

  test('self-managed Kafka events', () => {
    const event = buildMskEvent(['a'], { source: 'self-managed', bootstrapServers: 'k1:9092' });
    expect(event).not.toHaveProperty('eventSourceArn');
    expect(event.bootstrapServers).toBe('k1:9092');
    expect(decodeEvent(event)).toMatchObject({ source: 'SelfManagedKafka', records: [{ value: 'a', topic: 'events', partition: 0, offset: 0 }] });
  });

  test('appending continues each partition after its highest offset and keeps the base records', () => {
    const base = buildMskEvent(['a', 'b'], { topic: 't', startOffset: 10, timestamp: T0 });
    const more = buildMskEvent(['c', { value: 'd', topic: 'u' }], { topic: 't', base, timestamp: T0 });
    expect(decodeEvent(more).records.map((r) => `${r.partitionKey}@${r.offset}=${r.value}`)).toEqual(['t-0@10=a', 't-0@11=b', 't-0@12=c', 'u-0@0=d']);
    expect(base.records['t-0']).toHaveLength(2); // the base event is not modified
  });

  test('--partitions spreads keyed messages like Kafka (murmur2), the others round-robin', () => {
    // Reference values from Kafka's UtilsTest.
    expect(murmur2(Buffer.from('21'))).toBe(-973932308);
    expect(murmur2(Buffer.from('foobar'))).toBe(-790332482);
    expect(murmur2(Buffer.from('a-little-bit-long-string'))).toBe(-985981536);
    expect(murmur2(Buffer.from('a-little-bit-longer-string'))).toBe(-1486304829);
    expect(murmur2(Buffer.from('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8'))).toBe(-58897971);
    expect(murmur2(Buffer.from('abc'))).toBe(479470107);

    const keys = ['CUST-001', 'CUST-002', 'CUST-003', 'CUST-001'];
    const event = buildMskEvent([...keys.map((key) => ({ value: key, key })), 'x', 'y', 'z'], { topic: 'c', partitions: 4 });
    const batch = decodeEvent(event);
    for (const r of batch.records.filter((x) => x.key !== null)) expect(r.partition).toBe(partitionForKey(r.key!, 4));
    expect(batch.records.filter((x) => x.key === null).map((x) => x.partition).sort()).toEqual([0, 1, 2]);
    const cust1 = batch.records.filter((r) => r.key === 'CUST-001');
    expect(new Set(cust1.map((r) => r.partition)).size).toBe(1);
    expect(cust1.map((r) => r.offset)).toEqual([cust1[0].offset, cust1[0].offset + 1]);
  });

  test('rejects impossible partitions and offsets', () => {
    expect(() => buildMskEvent(['a'], { partition: -1 })).toThrow(/partition/);
    expect(() => buildMskEvent([{ value: 'a', offset: 1.5 }])).toThrow(/offset/);
    expect(() => buildMskEvent(['a'], { partitions: 0 })).toThrow(/partitions/);
    expect(() => buildMskEvent(['a'], { timestamp: 'yesterday' })).toThrow(/timestamp/);
  });

  test('property: any messages read back with the same topic, partition, key, value and headers', () => {
    const text = fc.string({ unit: 'grapheme', maxLength: 40 });
    const message = fc.record(
      {
        topic: fc.constantFrom('customer.events', 'orders.events', 'a_b-c.1'),
        partition: fc.integer({ min: 0, max: 3 }),
        key: fc.option(text, { nil: null }),
        value: fc.oneof(text, fc.constant(null), fc.jsonValue().filter((v) => typeof v !== 'string' && v !== null)),
        headers: fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9.-]{0,12}$/), text, { maxKeys: 3 }),
      },
      { requiredKeys: ['topic', 'partition', 'value'] },
    );
    fc.assert(
      fc.property(fc.array(message, { maxLength: 12 }), fc.integer({ min: 0, max: 2 ** 40 }), (messages, start) => {
        const event = buildMskEvent(messages as KafkaMessage[], { startOffset: start, timestamp: T0 });
        // What a file holds: the formatted text must parse back to the same event.
        expect(JSON.parse(formatEvent(event))).toEqual(event);
        const batch = decodeEvent(JSON.parse(JSON.stringify(event)));
        expect(batch.poison).toEqual([]);
        expect(batch.records).toHaveLength(messages.length);
        const next = new Map<string, number>();
        for (const m of messages) {
          const pk = `${m.topic}-${m.partition}`;
          const offset = next.get(pk) ?? start;
          next.set(pk, offset + 1);
          const r = batch.records.find((x) => x.partitionKey === pk && x.offset === offset)!;
          expect(r).toBeDefined();
          expect(r.key).toBe(m.key ?? null);
          expect(r.headers).toEqual(m.headers ?? {});
          if (m.value === null) expect(r.value).toBeNull();
          else if (typeof m.value === 'string') expect(r.value).toBe(m.value);
          else expect(r.json).toEqual(JSON.parse(JSON.stringify(m.value)));
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('toKafkaEvent: replaying dead letters', () => {
  const event = buildMskEvent([{ value: REFERENCE.order, key: 'ORD-123', headers: { source: 'shop' } }], { topic: 'orders.events', partition: 2, startOffset: 7730, timestamp: T0 });
  const record = event.records['orders.events-2'][0];
  const letter = { version: 1, kind: 'permanent_failure', error: { class: 'jsonrpc_-32602', message: 'Invalid params' }, attempts: 1, route: 'orders', eventSource: 'aws:kafka', record };

  test('a Kafka event passes unchanged', () => {
    expect(toKafkaEvent(event)).toEqual({ event, origin: 'event', letters: 0 });
  });

  test('a dead letter becomes the original record at its original coordinates', () => {
    const { event: replay, origin } = toKafkaEvent(JSON.parse(JSON.stringify(letter)));
    expect(origin).toBe('dead-letter');
    expect(decodeEvent(replay)).toEqual(decodeEvent(event));
  });

  test('aws sqs receive-message output: every message, grouped by partition', () => {
    const other = { ...letter, record: { ...record, offset: 7731 } };
    const sqs = { Messages: [letter, other].map((l, i) => ({ MessageId: `m${i}`, ReceiptHandle: 'r', Body: JSON.stringify(l) })) };
    const { event: replay, origin, letters } = toKafkaEvent(sqs);
    expect([origin, letters]).toEqual(['sqs', 2]);
    expect(decodeEvent(replay).records.map((r) => `${r.partitionKey}@${r.offset}`)).toEqual(['orders.events-2@7730', 'orders.events-2@7731']);
  });

  test('chunks and unknown documents are refused with the reason', () => {
    expect(() => toKafkaEvent({ version: 1, kind: 'chunk', chunk: { index: 0, count: 2 }, data: '' })).toThrow(/join the chunks first/);
    expect(() => toKafkaEvent({ hello: 'world' })).toThrow(NotAnEventError);
    expect(() => toKafkaEvent({ Messages: [{ Body: 'not json' }] })).toThrow(/Body is not JSON/);
  });
});

describe('sample events', () => {
  test.each(SAMPLES.map((s) => [s.file, s]))('events/%s is what the generator builds (regenerate: npx tsx scripts/lib/samples.ts)', (file, s) => {
    expect(readFileSync(join(EVENTS_DIR, file), 'utf8')).toBe(sampleText(s));
  });

  test('they carry the reference messages, several topics and partitions, a tombstone, plain text, an undecodable value and a self-managed event', () => {
    const read = (f: string) => decodeEvent(JSON.parse(readFileSync(join(EVENTS_DIR, f), 'utf8')));
    expect(read('customer-support.json').records[0].json).toEqual(REFERENCE.support);
    expect(read('order-shipped.json').records[0].json).toEqual(REFERENCE.order);
    expect(read('analytics-metric.json').records[0].json).toEqual(REFERENCE.analytics);
    const mixed = read('mixed-batch.json');
    expect(new Set(mixed.records.map((r) => r.topic)).size).toBeGreaterThanOrEqual(3);
    expect(new Set(mixed.records.map((r) => r.partitionKey)).size).toBeGreaterThanOrEqual(4);
    expect(mixed.records.some((r) => r.key !== null && Object.keys(r.headers).length > 0)).toBe(true);
    const edge = read('edge-cases.json');
    expect(edge.records.filter((r) => r.value === null && r.undecodable === undefined)).toHaveLength(1);
    expect(edge.records.filter((r) => r.value !== null && r.json === undefined)).toHaveLength(1);
    // Binary on a topic no route reads with a schema: the router dead-letters it (see test/cli.test.ts).
    expect(edge.records.filter((r) => r.undecodable === 'value is not valid UTF-8 text')).toHaveLength(1);
    expect(edge.poison).toHaveLength(0);
    const schemas = read('schema-registry.json');
    expect(schemas.records.filter((r) => r.undecodable !== undefined).map((r) => r.topic)).toEqual(['orders.avro', 'payments.proto']);
    expect(schemas.records.find((r) => r.topic === 'orders.registry')?.valueSchema).toEqual({ dataFormat: 'AVRO', schemaId: expect.any(String) });
    expect(read('self-managed.json').source).toBe('SelfManagedKafka');
  });
});
