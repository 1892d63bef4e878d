import { compileTopicPattern, createRecordRouter, createRouter } from '../../lambda/route';
import { jsonRecord, record, routes } from './helpers';

describe('compileTopicPattern', () => {
  test.each([
    ['orders', 'orders', true],
    ['orders', 'orders2', false],
    ['orders', 'Orders', false],
    ['orders', 'xorders', false],
    // No glob characters: regex metacharacters are plain text.
    ['a+b', 'a+b', true],
    ['a+b', 'aab', false],
    ['orders.eu', 'orders.eu', true],
    ['orders.eu', 'ordersXeu', false],
  ])('exact %p vs %p -> %p', (pattern, topic, expected) => {
    expect(compileTopicPattern(pattern)(topic)).toBe(expected);
  });

  test.each([
    ['orders.*', 'orders.eu', true],
    ['orders.*', 'orders.eu.created', true],
    ['orders.*', 'orders.', true],
    ['orders.*', 'ordersXeu', false], // the dot is literal
    ['orders.*', 'orders', false],
    ['orders.*', 'x.orders.eu', false], // anchored at the start
    ['*.created', 'orders.created', true],
    ['*.created', 'orders.created.v2', false], // anchored at the end
    ['*', 'anything-at-all', true],
    ['*', '', true],
    ['order?', 'orders', true],
    ['order?', 'order1', true],
    ['order?', 'order', false], // `?` is exactly one character
    ['order?', 'orders1', false],
    ['a.?.c', 'a.b.c', true],
    ['a.?.c', 'aXbXc', false],
    ['orders-*-v?', 'orders-eu-west-v2', true],
    ['orders-*-v?', 'orders-eu-west-v10', false],
    ['(x)*', '(x)yz', true], // parentheses are literal in a glob
    ['(x)*', 'xyz', false],
    ['a+*', 'a+b', true],
    ['a+*', 'aab', false],
    ['$*^', '$mid^', true],
    ['[ab]*', '[ab]c', true],
    ['[ab]*', 'ac', false],
  ])('glob %p vs %p -> %p', (pattern, topic, expected) => {
    expect(compileTopicPattern(pattern)(topic)).toBe(expected);
  });

  test.each([
    ['/^orders\\.(eu|us)$/', 'orders.eu', true],
    ['/^orders\\.(eu|us)$/', 'orders.us', true],
    ['/^orders\\.(eu|us)$/', 'orders.ap', false],
    ['/pay/', 'payments', true], // a regex is not anchored unless it says so
    ['/pay/', 'x-pay-y', true],
    ['/pay/', 'orders', false],
    ['/^t\\d+$/', 't42', true],
    ['/^t\\d+$/', 't4x', false],
  ])('regex %p vs %p -> %p', (pattern, topic, expected) => {
    expect(compileTopicPattern(pattern)(topic)).toBe(expected);
  });

  test('a lone "/" is an exact topic name, not an empty regex', () => {
    expect(compileTopicPattern('/')('/')).toBe(true);
    expect(compileTopicPattern('/')('orders')).toBe(false);
  });
});

describe('createRouter', () => {
  test('returns the first route whose topic matches', () => {
    const rs = routes({ name: 'eu', topic_pattern: 'orders.eu' }, { name: 'any', topic_pattern: 'orders.*' });
    const router = createRouter(rs);
    expect(router(record({ topic: 'orders.eu' }))?.name).toBe('eu');
    expect(router(record({ topic: 'orders.us' }))?.name).toBe('any');
  });

  test('first match wins even when a later route is more specific', () => {
    const rs = routes({ name: 'broad', topic_pattern: '*' }, { name: 'specific', topic_pattern: 'orders' });
    expect(createRouter(rs)(record({ topic: 'orders' }))?.name).toBe('broad');
  });

  test('the returned object is the configured route itself', () => {
    const rs = routes({ name: 'only', topic_pattern: 'orders' });
    expect(createRouter(rs)(record())).toBe(rs[0]);
  });

  test('an unrouted record returns undefined', () => {
    const router = createRouter(routes({ topic_pattern: 'orders' }));
    expect(router(record({ topic: 'payments' }))).toBeUndefined();
  });

  test('an empty route list routes nothing', () => {
    expect(createRouter([])(record())).toBeUndefined();
  });

  describe('header_match', () => {
    const rs = routes(
      { name: 'created', header_match: { 'event-type': 'order.created' } },
      { name: 'changed', header_match: { 'event-type': ['order.updated', 'order.cancelled'] } },
      { name: 'fallback' },
    );
    const router = createRouter(rs);

    test.each([
      [{ 'event-type': 'order.created' }, 'created'],
      [{ 'event-type': 'order.updated' }, 'changed'],
      [{ 'event-type': 'order.cancelled' }, 'changed'],
      [{ 'event-type': 'order.shipped' }, 'fallback'],
      [{}, 'fallback'],
      [{ 'Event-Type': 'order.created' }, 'fallback'], // header names are case-sensitive in Kafka
      [{ 'event-type': 'ORDER.CREATED' }, 'fallback'], // values too
    ])('headers %j -> %s', (headers, expected) => {
      expect(router(record({ headers }))?.name).toBe(expected);
    });

    test('an empty header value matches only an empty configured value', () => {
      const r = createRouter(routes({ name: 'empty', header_match: { flag: '' } }));
      expect(r(record({ headers: { flag: '' } }))?.name).toBe('empty');
      expect(r(record({ headers: {} }))).toBeUndefined();
    });

    test('every configured header must match', () => {
      const r = createRouter(routes({ name: 'both', header_match: { a: '1', b: ['2', '3'] } }));
      expect(r(record({ headers: { a: '1', b: '3' } }))?.name).toBe('both');
      expect(r(record({ headers: { a: '1' } }))).toBeUndefined();
      expect(r(record({ headers: { a: '0', b: '2' } }))).toBeUndefined();
    });

    test('an inherited property name is not a present header', () => {
      const r = createRouter(routes({ name: 'proto', header_match: { toString: 'x' } }));
      expect(r(record({ headers: {} }))).toBeUndefined();
      expect(r(record({ headers: { toString: 'x' } }))?.name).toBe('proto');
    });
  });

  describe('field_match', () => {
    test('a top-level field with a single value', () => {
      const r = createRouter(routes({ name: 'big', field_match: { size: 'L' } }));
      expect(r(jsonRecord({ size: 'L' }))?.name).toBe('big');
      expect(r(jsonRecord({ size: 'M' }))).toBeUndefined();
    });

    test('a nested path (customer.tier) with a list of values', () => {
      const r = createRouter(routes({ name: 'vip', field_match: { 'customer.tier': ['gold', 'platinum'] } }, { name: 'rest' }));
      expect(r(jsonRecord({ customer: { tier: 'gold' } }))?.name).toBe('vip');
      expect(r(jsonRecord({ customer: { tier: 'platinum' } }))?.name).toBe('vip');
      expect(r(jsonRecord({ customer: { tier: 'silver' } }))?.name).toBe('rest');
      expect(r(jsonRecord({ customer: 'gold' }))?.name).toBe('rest');
      expect(r(jsonRecord({ tier: 'gold' }))?.name).toBe('rest');
    });

    test('array positions in the path (items.0.sku)', () => {
      const r = createRouter(routes({ name: 'first-sku', field_match: { 'items.0.sku': 'A-1' } }));
      expect(r(jsonRecord({ items: [{ sku: 'A-1' }, { sku: 'B-2' }] }))?.name).toBe('first-sku');
      expect(r(jsonRecord({ items: [{ sku: 'B-2' }, { sku: 'A-1' }] }))).toBeUndefined();
      expect(r(jsonRecord({ items: [] }))).toBeUndefined();
      expect(r(jsonRecord({ items: { 0: { sku: 'A-1' } } }))?.name).toBe('first-sku'); // "0" as an object key
    });

    test('a JSON array at the root is indexed too', () => {
      const r = createRouter(routes({ name: 'root', field_match: { '1': 'b' } }));
      expect(r(jsonRecord(['a', 'b']))?.name).toBe('root');
    });

    test.each([
      [3, 3, true],
      [3, '3', false],
      ['3', 3, false],
      [true, true, true],
      [true, 'true', false],
      [0, false, false],
      [1, true, false],
      [null, null, true],
      [null, 'null', false],
      [1.5, 1.5, true],
    ])('strict scalar equality: configured %p vs record value %p -> %p', (want, got, expected) => {
      const r = createRouter(routes({ name: 'eq', field_match: { v: want } }));
      expect(r(jsonRecord({ v: got }))?.name === 'eq').toBe(expected);
    });

    test('a null match requires the field to be present and null, not missing', () => {
      const r = createRouter(routes({ name: 'nul', field_match: { v: null } }));
      expect(r(jsonRecord({ v: null }))?.name).toBe('nul');
      expect(r(jsonRecord({}))).toBeUndefined();
    });

    test('a list of mixed scalars matches any of them, each strictly', () => {
      const r = createRouter(routes({ name: 'mixed', field_match: { v: [1, 'two', false] } }));
      expect(r(jsonRecord({ v: 1 }))?.name).toBe('mixed');
      expect(r(jsonRecord({ v: 'two' }))?.name).toBe('mixed');
      expect(r(jsonRecord({ v: false }))?.name).toBe('mixed');
      expect(r(jsonRecord({ v: '1' }))).toBeUndefined();
      expect(r(jsonRecord({ v: 2 }))).toBeUndefined();
    });

    test('an object or array value never equals a scalar', () => {
      const r = createRouter(routes({ name: 'x', field_match: { v: 'a' } }));
      expect(r(jsonRecord({ v: ['a'] }))).toBeUndefined();
      expect(r(jsonRecord({ v: { a: 'a' } }))).toBeUndefined();
    });

    test('every configured field must match', () => {
      const r = createRouter(routes({ name: 'both', field_match: { a: 1, 'b.c': 'x' } }));
      expect(r(jsonRecord({ a: 1, b: { c: 'x' } }))?.name).toBe('both');
      expect(r(jsonRecord({ a: 1, b: { c: 'y' } }))).toBeUndefined();
      expect(r(jsonRecord({ b: { c: 'x' } }))).toBeUndefined();
    });

    test('a tombstone never matches a field_match route, but still matches a topic-only route', () => {
      const rs = routes({ name: 'fields', field_match: { status: null } }, { name: 'any' });
      const r = createRouter(rs);
      const tomb = record({ value: null });
      expect(tomb.json).toBeUndefined();
      expect(r(tomb)?.name).toBe('any');
      expect(createRouter([rs[0]])(tomb)).toBeUndefined();
    });

    test('a non-JSON text value never matches a field_match route', () => {
      const r = createRouter(routes({ name: 'fields', field_match: { a: 'b' } }));
      expect(r(record({ value: 'a=b' }))).toBeUndefined();
    });
  });

  test('header_match and field_match must both hold', () => {
    const r = createRouter(routes({ name: 'both', header_match: { src: 'web' }, field_match: { kind: 'refund' } }, { name: 'other' }));
    expect(r(jsonRecord({ kind: 'refund' }, { headers: { src: 'web' } }))?.name).toBe('both');
    expect(r(jsonRecord({ kind: 'refund' }, { headers: { src: 'app' } }))?.name).toBe('other');
    expect(r(jsonRecord({ kind: 'sale' }, { headers: { src: 'web' } }))?.name).toBe('other');
  });

  test('conditions are evaluated per record even though topic matching is cached per topic', () => {
    const r = createRouter(routes({ name: 'vip', field_match: { vip: true } }, { name: 'std' }));
    const seq = [true, false, true, false].map((vip) => r(jsonRecord({ vip }))?.name);
    expect(seq).toEqual(['vip', 'std', 'vip', 'std']);
  });

  test('topic results for different topics do not leak into each other', () => {
    const r = createRouter(routes({ name: 'a', topic_pattern: 'a.*' }, { name: 'b', topic_pattern: 'b.*' }));
    expect(r(record({ topic: 'a.1' }))?.name).toBe('a');
    expect(r(record({ topic: 'b.1' }))?.name).toBe('b');
    expect(r(record({ topic: 'a.1' }))?.name).toBe('a');
    expect(r(record({ topic: 'c.1' }))).toBeUndefined();
  });

  test('glob, regex and exact routes combine in declaration order', () => {
    const r = createRouter(
      routes(
        { name: 'exact', topic_pattern: 'orders.eu' },
        { name: 'regex', topic_pattern: '/^orders\\.(us|ca)$/' },
        { name: 'glob', topic_pattern: 'orders.??' },
      ),
    );
    expect(['orders.eu', 'orders.us', 'orders.ca', 'orders.ap', 'orders.apac'].map((topic) => r(record({ topic }))?.name)).toEqual([
      'exact',
      'regex',
      'regex',
      'glob',
      undefined,
    ]);
  });
});

describe('createRecordRouter: routes that read a schema', () => {
  const { compileReader } = require('../../lambda/schema/codecs') as typeof import('../../lambda/schema/codecs');
  const schema = JSON.stringify({ type: 'record', name: 'R', fields: [{ name: 'kind', type: 'string' }] });
  const rs = routes(
    { name: 'avro-urgent', topic_pattern: 't', header_match: { prio: 'urgent' }, value_format: { type: 'avro', schema_file: 'r.avsc' } },
    { name: 'text', topic_pattern: 't' },
  );
  const readers = new Map([['avro-urgent', { value: compileReader(rs[0].valueFormat!, { schema, writers: {} }, 'value') }]]);
  const router = createRecordRouter(rs, readers);
  // As decode leaves a value that is not UTF-8: no text, the bytes in valueB64, the reason in undecodable.
  const binary = (headers: Record<string, string>) => ({
    ...record({ topic: 't', headers, value: null, json: undefined }),
    valueB64: Buffer.from([0, 0, 0, 0, 1, 0xff]).toString('base64'),
    undecodable: 'value is not valid UTF-8 text',
  });

  test('header_match is checked before reading: a route whose headers do not match never judges the bytes', () => {
    expect(router(binary({}))).toEqual({ unreadable: { code: 'poison', reason: 'undecodable record: value is not valid UTF-8 text' } });
  });

  test('the first route whose topic and headers match owns the record: an unreadable value is its schema_error, not a fall-through', () => {
    const r = router(binary({ prio: 'urgent' }));
    expect(r.route).toBeUndefined();
    expect(r).toMatchObject({ unreadable: { code: 'schema_error', reason: expect.stringMatching(/^route "avro-urgent": value does not match its Avro schema \(r\.avsc, schema id 1\): /) } });
  });

  test('a text record skips nothing: the format-less route takes it when the schema route does not match', () => {
    expect(router(record({ topic: 't', value: 'hello' })).route?.name).toBe('text');
  });
});
