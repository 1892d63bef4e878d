import { decodeEvent, EventShapeError } from '../../lambda/decode';
import { b64, headerBytes, mskEvent, rawRecord, selfManagedEvent, signedHeaderBytes } from './helpers';

const one = (raw: unknown, partitionKey = 'orders-0') => decodeEvent(mskEvent({ [partitionKey]: [raw] }));

describe('decodeEvent: event shape', () => {
  test('an aws:kafka (MSK) event decodes every record of every partition', () => {
    const batch = decodeEvent(
      mskEvent({
        'orders-0': [rawRecord({ offset: 10 }), rawRecord({ offset: 11 })],
        'payments-2': [rawRecord({ topic: 'payments', partition: 2, offset: 7 })],
      }),
    );
    expect(batch.source).toBe('aws:kafka');
    expect(batch.poison).toEqual([]);
    expect(batch.records.map((r) => [r.partitionKey, r.topic, r.partition, r.offset])).toEqual([
      ['orders-0', 'orders', 0, 10],
      ['orders-0', 'orders', 0, 11],
      ['payments-2', 'payments', 2, 7],
    ]);
  });

  test('a SelfManagedKafka event decodes the same way and reports its source', () => {
    const batch = decodeEvent(selfManagedEvent({ 'orders-1': [rawRecord({ partition: 1, offset: 3, value: 'hello' })] }));
    expect(batch.source).toBe('SelfManagedKafka');
    expect(batch.records).toHaveLength(1);
    expect(batch.records[0]).toMatchObject({ partitionKey: 'orders-1', topic: 'orders', partition: 1, offset: 3, value: 'hello' });
  });

  test('a complete record keeps every field: timestamp, type, raw base64, key text, headers', () => {
    const raw = rawRecord({ offset: 42, timestamp: 1_712_345_678_901, timestampType: 'LOG_APPEND_TIME', key: 'order-7', value: '{"a":1}', headers: [{ type: 'created' }] });
    const [r] = one(raw).records;
    expect(r).toEqual({
      partitionKey: 'orders-0',
      topic: 'orders',
      partition: 0,
      offset: 42,
      timestamp: 1_712_345_678_901,
      timestampType: 'LOG_APPEND_TIME',
      keyB64: b64('order-7'),
      valueB64: b64('{"a":1}'),
      key: 'order-7',
      value: '{"a":1}',
      json: { a: 1 },
      headers: { type: 'created' },
      rawHeaders: [{ type: headerBytes('created') }],
    });
  });

  test('an empty records object is an empty batch', () => {
    expect(decodeEvent(mskEvent({}))).toEqual({ source: 'aws:kafka', records: [], poison: [] });
  });

  test.each([
    ['an SQS event', { Records: [{ eventSource: 'aws:sqs', body: '{}' }] }],
    ['a Kinesis-like eventSource', { eventSource: 'aws:kinesis', records: {} }],
    ['an object without eventSource', { records: { 'orders-0': [] } }],
    ['null', null],
    ['a string', 'aws:kafka'],
    ['a number', 42],
  ])('%s is an EventShapeError (the batch cannot be read at all)', (_label, event) => {
    expect(() => decodeEvent(event)).toThrow(EventShapeError);
  });

  test('the EventShapeError names the unsupported source and what was expected', () => {
    expect(() => decodeEvent({ eventSource: 'aws:sqs', records: {} })).toThrow(/unsupported eventSource "aws:sqs".*"aws:kafka" or "SelfManagedKafka"/);
  });

  test.each([
    ['missing', undefined],
    ['an array', [rawRecord()]],
    ['null', null],
    ['a string', 'orders-0'],
  ])('records that is %s is an EventShapeError', (_label, records) => {
    const e = { eventSource: 'aws:kafka', records };
    expect(() => decodeEvent(e)).toThrow(EventShapeError);
    expect(() => decodeEvent(e)).toThrow(/records must be an object/);
  });

  test('EventShapeError is a named Error', () => {
    const err = new EventShapeError('x');
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('EventShapeError');
  });
});

describe('decodeEvent: key and value', () => {
  test('key and value are base64-decoded to UTF-8 text, multi-byte characters included', () => {
    const [r] = one(rawRecord({ key: 'clé-🔑', value: 'Grüße, 世界 🌍' })).records;
    expect(r.key).toBe('clé-🔑');
    expect(r.value).toBe('Grüße, 世界 🌍');
    expect(r.keyB64).toBe(b64('clé-🔑'));
    expect(r.valueB64).toBe(b64('Grüße, 世界 🌍'));
  });

  test.each([
    ['absent', undefined],
    ['null', null],
  ])('a %s value is a tombstone: value null, json undefined, valueB64 null', (_label, value) => {
    const raw = rawRecord({ key: 'k' });
    if (value === undefined) delete raw.value;
    else raw.value = value;
    const batch = one(raw);
    expect(batch.poison).toEqual([]);
    const [r] = batch.records;
    expect(r.value).toBeNull();
    expect(r.valueB64).toBeNull();
    expect(r.json).toBeUndefined();
    expect(r.key).toBe('k');
  });

  test.each([
    ['absent', undefined],
    ['null', null],
  ])('a %s key gives key and keyB64 null', (_label, key) => {
    const raw = rawRecord();
    if (key === undefined) delete raw.key;
    else raw.key = key;
    const [r] = one(raw).records;
    expect(r.key).toBeNull();
    expect(r.keyB64).toBeNull();
  });

  test('an empty (but present) value is the empty string, not a tombstone', () => {
    const [r] = one(rawRecord({ value: '' })).records;
    expect(r.value).toBe('');
    expect(r.json).toBeUndefined();
  });

  test('a key that is not valid UTF-8 still decodes (replacement characters), raw base64 kept for ordering', () => {
    const bytes = Uint8Array.from([0x6b, 0xff, 0xfe, 0x31]);
    const batch = one(rawRecord({ key: bytes }));
    expect(batch.poison).toEqual([]);
    expect(batch.records[0].key).toBe('k\uFFFD\uFFFD1');
    expect(batch.records[0].keyB64).toBe(Buffer.from(bytes).toString('base64'));
  });

  test.each([
    ['an object', { a: 1, nested: { list: [1, 'two', null, true] } }],
    ['an array', [1, 2, { x: 'y' }]],
    ['a number', 42.5],
    ['a negative number', -7],
    ['a JSON string', 'quoted'],
    ['true', true],
    ['false', false],
    ['null', null],
  ])('a JSON value (%s) is parsed into json', (_label, json) => {
    const [r] = one(rawRecord({ value: JSON.stringify(json) })).records;
    expect(r.value).toBe(JSON.stringify(json));
    expect(r.json).toEqual(json);
  });

  test('JSON with surrounding whitespace is still parsed', () => {
    const [r] = one(rawRecord({ value: '\n  {"a": [1, 2]}  \n' })).records;
    expect(r.json).toEqual({ a: [1, 2] });
  });

  test.each([
    ['plain text', 'hello world'],
    ['text that starts like JSON', '{not json'],
    ['a number followed by words', '42 apples'],
    ['whitespace only', '   '],
    ['XML', '<order id="1"/>'],
    ['a word starting with t', 'trust me'],
  ])('a non-JSON value (%s) is kept as text with json undefined', (_label, text) => {
    const batch = one(rawRecord({ value: text }));
    expect(batch.poison).toEqual([]);
    expect(batch.records[0].value).toBe(text);
    expect(batch.records[0].json).toBeUndefined();
  });
});

describe('decodeEvent: headers', () => {
  test('header byte arrays become UTF-8 text', () => {
    const [r] = one(rawRecord({ headers: [{ 'content-type': 'application/json' }, { 'x-trace.id': 'abc-123' }] })).records;
    expect(r.headers).toEqual({ 'content-type': 'application/json', 'x-trace.id': 'abc-123' });
  });

  test('signed negative bytes (as Java serialises them) decode as the unsigned bytes would', () => {
    const text = 'Zürich – 東京 🚀';
    const raw = rawRecord();
    raw.headers = [{ city: signedHeaderBytes(text) }];
    expect(signedHeaderBytes(text).some((b) => b < 0)).toBe(true); // the fixture really holds negative bytes
    const [r] = one(raw).records;
    expect(r.headers.city).toBe(text);
  });

  test('several header entries, and several names in one entry, are all kept', () => {
    const raw = rawRecord();
    raw.headers = [{ a: headerBytes('1'), b: headerBytes('2') }, { c: headerBytes('3') }, { d: [] }];
    const [r] = one(raw).records;
    expect(r.headers).toEqual({ a: '1', b: '2', c: '3', d: '' });
  });

  test('a repeated header name keeps the last value', () => {
    const raw = rawRecord();
    raw.headers = [{ v: headerBytes('first') }, { v: headerBytes('second') }];
    expect(one(raw).records[0].headers).toEqual({ v: 'second' });
  });

  test('a header given as a string (some test tools do) is accepted as is', () => {
    const raw = rawRecord();
    raw.headers = [{ type: 'created' }];
    expect(one(raw).records[0].headers).toEqual({ type: 'created' });
  });

  test('absent or null headers give an empty map; rawHeaders keeps what was received', () => {
    const a = rawRecord();
    delete a.headers;
    const b = rawRecord();
    b.headers = null;
    const [ra] = one(a).records;
    const [rb] = one(b).records;
    expect(ra.headers).toEqual({});
    expect(ra.rawHeaders).toEqual([]);
    expect(rb.headers).toEqual({});
  });

  test('rawHeaders keeps the bytes exactly as received (signed values included)', () => {
    const raw = rawRecord();
    raw.headers = [{ x: [-61, -68] }];
    const [r] = one(raw).records;
    expect(r.rawHeaders).toEqual([{ x: [-61, -68] }]);
    expect(r.headers.x).toBe('ü');
  });
});

describe('decodeEvent: partition and topic fallback from the "<topic>-<partition>" key', () => {
  test('a key without digits after its last dash yields no partition: a record without its own is poison', () => {
    const batch = decodeEvent({ eventSource: 'aws:kafka', records: { 'orders-': [{ offset: 1, value: b64('x') }] } });
    expect(batch.records).toEqual([]);
    expect(batch.poison[0]).toMatchObject({ topic: null, partition: null, offset: 1, reason: 'undecodable record: record has no topic' });
  });

  test('topic and partition missing from the record are taken from the key', () => {
    const raw = rawRecord({ offset: 5 });
    delete raw.topic;
    delete raw.partition;
    const batch = one(raw, 'orders-4');
    expect(batch.poison).toEqual([]);
    expect(batch.records[0]).toMatchObject({ partitionKey: 'orders-4', topic: 'orders', partition: 4, offset: 5 });
  });

  test('a topic containing dashes splits at the last dash', () => {
    const raw = rawRecord({ offset: 1 });
    delete raw.topic;
    delete raw.partition;
    const [r] = one(raw, 'my-topic-name-3').records;
    expect(r.topic).toBe('my-topic-name');
    expect(r.partition).toBe(3);
    expect(r.partitionKey).toBe('my-topic-name-3');
  });

  test('fields in the record win over the key', () => {
    const [r] = one(rawRecord({ topic: 'real.topic', partition: 9 }), 'other-1').records;
    expect(r.topic).toBe('real.topic');
    expect(r.partition).toBe(9);
    expect(r.partitionKey).toBe('other-1'); // what Lambda expects back is always the key itself
  });

  test('numeric strings are accepted for partition and offset', () => {
    const raw = rawRecord();
    raw.partition = '2';
    raw.offset = '1234567';
    const [r] = one(raw, 'orders-2').records;
    expect(r.partition).toBe(2);
    expect(r.offset).toBe(1234567);
  });

  test('an invalid partition in the record falls back to the key', () => {
    const raw = rawRecord();
    raw.partition = -1;
    expect(one(raw, 'orders-6').records[0].partition).toBe(6);
  });

  test.each([['nodash'], ['orders-x'], ['-3'], ['orders-1.5']])('with no topic/partition in the record, key %p gives a poison record', (key) => {
    const raw = rawRecord({ offset: 8 });
    delete raw.topic;
    delete raw.partition;
    const batch = one(raw, key);
    expect(batch.records).toEqual([]);
    expect(batch.poison).toHaveLength(1);
    expect(batch.poison[0]).toMatchObject({ partitionKey: key, offset: 8 });
    expect(batch.poison[0].reason).toMatch(/no topic|no valid partition/);
  });
});

describe('decodeEvent: poison records never throw', () => {
  const poisonOf = (raw: unknown, key = 'orders-0') => {
    let batch: ReturnType<typeof decodeEvent> | undefined;
    expect(() => {
      batch = one(raw, key);
    }).not.toThrow();
    expect(batch!.records).toEqual([]);
    expect(batch!.poison).toHaveLength(1);
    return batch!.poison[0];
  };

  test.each([
    ['characters outside the alphabet', 'not*base64!'],
    ['wrong padding', 'abc'],
    ['padding in the middle', 'ab==cd=='],
    ['a non-string', 12345],
    ['an object', { data: 'x' }],
  ])('invalid base64 value (%s) is poison naming the value', (_label, value) => {
    const raw = rawRecord({ offset: 17 });
    raw.value = value;
    const p = poisonOf(raw);
    expect(p).toMatchObject({ partitionKey: 'orders-0', topic: 'orders', partition: 0, offset: 17 });
    expect(p.reason).toMatch(/^undecodable record: value is not (valid base64|a base64 string)/);
    expect(p.raw).toBe(raw);
  });

  test('invalid base64 key is poison naming the key', () => {
    const raw = rawRecord({ offset: 2 });
    raw.key = '%%%';
    expect(poisonOf(raw).reason).toMatch(/key is not valid base64/);
  });

  // A binary value is not poison yet: a route with a value_format may read it (lambda/route.ts); the router
  // dead-letters it with this same reason when none does (test/integration/schema-records.test.ts).
  test('a value that is not valid UTF-8 is kept as bytes and marked undecodable for the router', () => {
    const batch = one(rawRecord({ offset: 3, value: Uint8Array.from([0x7b, 0xc3, 0x28, 0x7d]) }));
    expect(batch.poison).toEqual([]);
    expect(batch.records[0]).toMatchObject({ offset: 3, value: null, json: undefined, valueB64: Buffer.from([0x7b, 0xc3, 0x28, 0x7d]).toString('base64') });
    expect(batch.records[0].undecodable).toBe('value is not valid UTF-8 text');
  });

  test('a truncated multi-byte sequence in the value is marked undecodable', () => {
    const bytes = Buffer.from('日本', 'utf8').subarray(0, 4);
    expect(one(rawRecord({ value: bytes })).records[0].undecodable).toMatch(/not valid UTF-8/);
  });

  test('a text value is never marked undecodable; the mapping\'s schema metadata is kept, malformed metadata ignored', () => {
    const batch = one({ ...rawRecord({ value: '{"a":1}' }), valueSchemaMetadata: { dataFormat: 'AVRO', schemaId: '42' }, keySchemaMetadata: 'junk' });
    expect(batch.records[0]).not.toHaveProperty('undecodable');
    expect(batch.records[0].valueSchema).toEqual({ dataFormat: 'AVRO', schemaId: '42' });
    expect(batch.records[0]).not.toHaveProperty('keySchema');
  });

  test.each([
    ['null', null],
    ['a number', 7],
    ['a string', 'record'],
    ['a boolean', true],
  ])('a record that is %s is poison with offset null, topic/partition from the key', (_label, raw) => {
    const p = poisonOf(raw, 'my-topic-1');
    expect(p).toEqual({ partitionKey: 'my-topic-1', topic: 'my-topic', partition: 1, offset: null, raw, reason: 'undecodable record: record is not an object' });
  });

  test.each([
    ['missing', undefined],
    ['negative', -1],
    ['fractional', 1.5],
    ['not numeric', 'abc'],
    ['beyond safe integers', 2 ** 60],
  ])('an offset that is %s makes the record poison with offset null', (_label, offset) => {
    const raw = rawRecord();
    if (offset === undefined) delete raw.offset;
    else raw.offset = offset;
    const p = poisonOf(raw);
    expect(p.offset).toBeNull();
    expect(p.reason).toMatch(/no valid offset/);
  });

  test.each([
    ['a number above 255', [104, 256]],
    ['a number below -128', [-129]],
    ['a fraction', [1.5]],
    ['a string element', ['a']],
    ['null element', [null]],
  ])('a header with a non-byte value (%s) is poison', (_label, bytes) => {
    const raw = rawRecord({ offset: 9 });
    raw.headers = [{ ok: headerBytes('fine') }, { bad: bytes }];
    const p = poisonOf(raw);
    expect(p.offset).toBe(9);
    expect(p.reason).toMatch(/header "bad" holds a non-byte value/);
  });

  test.each([
    ['headers not an array', { a: [1] }, /headers is not an array/],
    ['a header entry that is not an object', ['a'], /header entry is not an object/],
    ['a header entry that is an array', [[1, 2]], /header entry is not an object/],
    ['a header value that is an object', [{ a: { b: 1 } }], /header "a" is not a byte array/],
  ])('%s is poison', (_label, headers, reason) => {
    const raw = rawRecord();
    raw.headers = headers;
    expect(poisonOf(raw).reason).toMatch(reason);
  });

  test('a partition entry that is not an array is poison with offset null, the rest of the batch decodes', () => {
    const batch = decodeEvent(mskEvent({ 'bad-topic-2': { offset: 1 }, 'orders-0': [rawRecord({ offset: 1 })] }));
    expect(batch.records.map((r) => r.offset)).toEqual([1]);
    expect(batch.poison).toEqual([
      { partitionKey: 'bad-topic-2', topic: 'bad-topic', partition: 2, offset: null, raw: { offset: 1 }, reason: 'partition entry is not an array of records' },
    ]);
  });

  test('poison records sit beside good ones; order within the partition is kept', () => {
    const bad = rawRecord({ offset: 2 });
    bad.value = '!!!';
    const batch = decodeEvent(mskEvent({ 'orders-0': [rawRecord({ offset: 1 }), bad, rawRecord({ offset: 3 })] }));
    expect(batch.records.map((r) => r.offset)).toEqual([1, 3]);
    expect(batch.poison.map((p) => p.offset)).toEqual([2]);
  });

  test('a poison record keeps the topic and partition it carries', () => {
    const raw = rawRecord({ topic: 'payments', partition: 5, offset: 11 });
    raw.value = 'bad!';
    expect(poisonOf(raw, 'payments-5')).toMatchObject({ topic: 'payments', partition: 5, offset: 11 });
  });
});

describe('decodeEvent: hostile and large values', () => {
  test('100k levels of unclosed "[" do not throw and are kept as text', () => {
    const text = '['.repeat(100_000);
    const batch = one(rawRecord({ value: text }));
    expect(batch.poison).toEqual([]);
    expect(batch.records[0].value).toBe(text);
    expect(batch.records[0].json).toBeUndefined();
  });

  test('100k levels of balanced nesting do not throw; the value text is kept', () => {
    const text = '['.repeat(100_000) + ']'.repeat(100_000);
    const batch = one(rawRecord({ value: text }));
    expect(batch.poison).toEqual([]);
    expect(batch.records[0].value).toBe(text);
  });

  // V8 parses any depth, but later stages (JSON.stringify) would overflow the stack: deep JSON stays text.
  test('100k levels of balanced nesting are kept as text (json undefined), not parsed', () => {
    const text = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(one(rawRecord({ value: text })).records[0].json).toBeUndefined();
  });

  test('a 1 MB value decodes exactly', () => {
    const value = `${'x'.repeat(1024 * 1024 - 8)}-é-🚀`; // multi-byte tail: exactly checks the UTF-8 round trip
    const batch = one(rawRecord({ value }));
    expect(batch.poison).toEqual([]);
    expect(batch.records[0].value).toBe(value);
  });

  // The base64 check must not use a regex with a repeated group: it overflows V8's stack on multi-MB values.
  test('a 6 MB value decodes', () => {
    const value = JSON.stringify({ blob: 'y'.repeat(6 * 1024 * 1024) });
    const batch = one(rawRecord({ value }));
    expect(batch.records[0].value).toBe(value);
    expect((batch.records[0].json as { blob: string }).blob).toHaveLength(6 * 1024 * 1024);
  });

  // Same root cause as above, on the poison path: a large record must become poison, never throw.
  test('a 6 MB value that is not valid base64 is poison, not a thrown error', () => {
    const raw = rawRecord({ offset: 4 });
    raw.value = `${'A'.repeat(8 * 1024 * 1024)}!`;
    const batch = one(raw);
    expect(batch.poison).toHaveLength(1);
    expect(batch.poison[0].offset).toBe(4);
  });
});
