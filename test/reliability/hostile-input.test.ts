// Hostile input through the whole handler (decode -> route -> render -> deliver -> dead-letter -> report):
// random bytes, invalid base64 and UTF-8, odd header bytes, odd offsets and partitions, odd partition keys,
// template placeholders with odd characters, a 6 MB value, deeply nested JSON. Nothing may throw out of the
// handler, nothing may reject unhandled, and every bad record is dead-lettered with a reason.
import fc from 'fast-check';
import { joinChunks, toQueueMessages, type DeadLetter, type DeadLetterBody, type DeadLetterSink } from '../../lambda/dead-letter';
import { EventShapeError } from '../../lambda/decode';
import { isSend, startArchestraSim, type ArchestraSim } from '../../sim/archestra';
import { makeBridge } from '../support/bridge';
import { profile, writeFigures } from './support/profile';

const P = profile();
const AGENT = 'a06f5b7c-2d8e-4f9a-b1c2-5d6e7f8a9b0c';
const TOKEN = `tok-hostile-${process.pid}`;

/** Templates with odd placeholders are configuration, validated at cold start; they must still never throw. */
const ROUTES = [
  {
    name: 'odd-placeholders',
    topic_pattern: 'tpl.*',
    prompt_id: AGENT,
    transform_template:
      'ü={ü.ключ} sp={a b} proto={__proto__.x} ctor={constructor} idx={0} deep={a.b.c.d} dots={a..b} emoji={😀} ' +
      'q={"} nl={line\nbreak} hdr={$headers.x-y.z} empty-hdr={$headers.} key={$key} ts={$timestamp_iso} {{literal}}',
    on_missing: 'keep',
  },
  { name: 'must-have', topic_pattern: 'tplf.*', prompt_id: AGENT, transform_template: 'value={$value} id={id}', on_missing: 'fail' },
  { name: 'truncating', topic_pattern: 'big.trunc', prompt_id: AGENT, on_oversize: 'truncate' },
  { name: 'everything-else', topic_pattern: '/^/', prompt_id: AGENT },
];

let sim: ArchestraSim;
const rejections: unknown[] = [];
const onRejection = (reason: unknown) => rejections.push(reason);
const figures = { batches: 0, records: 0, delivered: 0, deadLettered: 0, deadLetteredPoison: 0, deadLetteredRender: 0, deadLetteredByAgent: 0, skipped: 0, reported: 0 };

beforeAll(async () => {
  process.on('unhandledRejection', onRejection);
  sim = await startArchestraSim({ tokens: [TOKEN] });
});
afterAll(async () => {
  process.off('unhandledRejection', onRejection);
  await sim.close();
  writeFigures('hostile-input', { profile: P.name, seed: P.seed, runs: P.propertyRuns, ...figures });
});
beforeEach(() => sim.clear());
afterEach(() => {
  expect(rejections).toEqual([]);
});

/** A healthy queue that keeps what a consumer would read back (chunked letters reassembled). */
function queue(): DeadLetterSink & { bodies: DeadLetterBody[]; letters: DeadLetter[] } {
  const bodies: DeadLetterBody[] = [];
  const letters: DeadLetter[] = [];
  return {
    bodies,
    letters,
    async send(ls) {
      for (const l of ls) {
        letters.push(l);
        const m = toQueueMessages(l, 256 * 1024);
        bodies.push(m.length === 1 ? (JSON.parse(m[0].body) as DeadLetterBody) : joinChunks(m.map((x) => x.body)));
      }
      return new Set();
    },
  };
}

const bridgeWith = (dlq: DeadLetterSink, env: Record<string, string> = {}) =>
  makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: JSON.stringify(ROUTES), MAX_RETRIES: '0', ...env }, { deadLetters: dlq });

const b64 = (s: string | Uint8Array) => Buffer.from(s as never).toString('base64');

// ---- arbitraries -------------------------------------------------------------------------------------------

const text = fc.string({ unit: 'binary', maxLength: 60 });
const odd = fc.constantFrom<unknown>(null, undefined, -1, 1.5, 'abc', '', {}, [], true, Number.MAX_SAFE_INTEGER + 2, 2 ** 53);
const keyArb = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 24 }).map(b64) },
  { weight: 4, arbitrary: text.map(b64) },
  { weight: 2, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constantFrom('not base64!', 'YQ', 'YQ=', '====', '@@@@', 'Zm9v\n') },
  { weight: 1, arbitrary: odd },
);
const jsonForTemplates = fc.dictionary(fc.constantFrom('ü', 'a b', '__proto__', 'constructor', '0', 'a', 'id', '😀', '"', 'line\nbreak'), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 });
const valueArb = fc.oneof(
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }).map(b64) }, // random bytes: mostly invalid UTF-8
  { weight: 3, arbitrary: text.map(b64) },
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => b64(JSON.stringify(v))) },
  { weight: 4, arbitrary: jsonForTemplates.map((v) => b64(JSON.stringify(v))) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('%%%%', 'YWJj\u0000', 'YQ', 'a===', ' '.repeat(8), b64(Buffer.from([0xed, 0xa0, 0x80])), b64(Buffer.from([0xc0, 0xaf])), b64('\uFEFF{"id":1}'), ''),
  },
  { weight: 1, arbitrary: odd },
);
const headerValue = fc.oneof(
  { weight: 8, arbitrary: fc.array(fc.integer({ min: -128, max: 255 }), { maxLength: 12 }) },
  { weight: 2, arbitrary: text },
  { weight: 1, arbitrary: fc.array(fc.oneof(fc.integer({ min: -400, max: 400 }), fc.double(), fc.constant(null), fc.string()), { minLength: 1, maxLength: 4 }) },
  { weight: 1, arbitrary: odd },
);
const headerName = fc.oneof(text, fc.constantFrom('x-y.z', '', '__proto__', 'constructor', 'trace'));
const headersArb = fc.oneof(
  { weight: 10, arbitrary: fc.array(fc.dictionary(headerName, headerValue, { maxKeys: 2 }), { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.array(odd, { maxLength: 2 }) },
  { weight: 1, arbitrary: odd },
);
const topicArb = fc.oneof(fc.constantFrom('orders', 'tpl.x', 'tplf.y', 'big.trunc', 'a-b-c', 'ü topic'), text);
const recordArb = fc.record(
  {
    topic: fc.oneof({ weight: 15, arbitrary: topicArb }, { weight: 1, arbitrary: odd }),
    partition: fc.oneof({ weight: 15, arbitrary: fc.nat(9) }, { weight: 1, arbitrary: odd }, { weight: 1, arbitrary: fc.constantFrom('3', '07') }),
    offset: fc.oneof({ weight: 15, arbitrary: fc.nat(1_000_000) }, { weight: 1, arbitrary: odd }, { weight: 1, arbitrary: fc.nat(999).map(String) }),
    timestamp: fc.oneof(fc.nat(), fc.constantFrom<unknown>(8.64e15 + 1, -8.64e15 - 1, Number.MAX_SAFE_INTEGER, 'now', null, undefined, Number.NaN)),
    timestampType: fc.oneof(fc.constantFrom('CREATE_TIME', 'LOG_APPEND_TIME'), odd),
    key: keyArb,
    value: valueArb,
    headers: headersArb,
  },
  { requiredKeys: ['topic', 'partition', 'offset', 'value'] },
);
/** Partition keys as Lambda builds them, and not: no dash, a bad suffix, `__proto__`, unicode. */
const partitionKeyFor = (r: Record<string, unknown>, variant: number): string =>
  variant === 0 ? `${String(r.topic)}-${String(r.partition)}` : ['__proto__', 'nodash', 'topic-x', 'ü-00000000001', '-1', 'constructor-2'][variant % 6];

const eventArb = fc
  .array(fc.tuple(recordArb, fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat(5) }), fc.nat(30)), { minLength: 1, maxLength: 30 })
  .map((entries) => {
    const records: Record<string, unknown> = {};
    let count = 0;
    for (const [r, variant, extra] of entries) {
      const pk = partitionKeyFor(r, variant);
      if (!Object.hasOwn(records, pk)) Object.defineProperty(records, pk, { value: [], enumerable: true, writable: true });
      const list = records[pk];
      if (Array.isArray(list)) list.push(extra === 0 ? 'not a record' : extra === 1 ? null : r);
      count++;
    }
    // Now and then a partition entry that is not an array at all.
    if (entries.length % 7 === 3) {
      Object.defineProperty(records, 'orders-99', { value: { offset: 1 }, enumerable: true });
      count++;
    }
    return { event: { eventSource: entries.length % 2 ? 'aws:kafka' : 'SelfManagedKafka', records }, count };
  });

// ---- the property ------------------------------------------------------------------------------------------

test(`fuzzed records: nothing throws, nothing rejects unhandled, every bad record is dead-lettered with a reason (${P.propertyRuns} batches, seed ${P.seed})`, async () => {
  await fc.assert(
    fc.asyncProperty(eventArb, async ({ event, count }) => {
      sim.clear();
      const dlq = queue();
      const bridge = bridgeWith(dlq);
      const result = await bridge.run(event);
      figures.batches++;
      figures.records += count;

      // Every record comes out, once.
      expect(result.outcomes).toHaveLength(count);
      // A healthy agent and a healthy queue: nothing needs redelivery.
      expect(result.response).toEqual({ batchItemFailures: [] });
      for (const o of result.outcomes) {
        expect(['delivered', 'dead_lettered', 'unrouted', 'tombstone']).toContain(o.status);
        if (o.code === 'poison' || o.code === 'render_failed') expect(o.status).toBe('dead_lettered');
        if (o.status === 'dead_lettered') expect(o.message).toEqual(expect.stringMatching(/\S/));
      }
      // One letter per dead-lettered record, each with a reason and the record as received.
      const dead = result.outcomes.filter((o) => o.status === 'dead_lettered');
      expect(dlq.bodies).toHaveLength(dead.length);
      for (const b of dlq.bodies) {
        expect(b.error.class).toEqual(expect.stringMatching(/\S/));
        expect(b.error.message).toEqual(expect.stringMatching(/\S/));
        expect(b.record).toHaveProperty('offset');
      }
      // What the agent received parsed as JSON (the sim would have answered 400 otherwise).
      for (const r of sim.requests) expect(r.body).toBeDefined();
      expect(JSON.stringify([result, dlq.bodies, bridge.logs])).not.toContain(TOKEN);

      figures.delivered += result.outcomes.filter((o) => o.status === 'delivered').length;
      figures.deadLettered += dead.length;
      figures.deadLetteredPoison += dead.filter((o) => o.code === 'poison').length;
      figures.deadLetteredRender += dead.filter((o) => o.code === 'render_failed').length;
      figures.deadLetteredByAgent += dead.filter((o) => o.code !== 'poison' && o.code !== 'render_failed').length;
      figures.skipped += result.outcomes.filter((o) => o.status === 'unrouted' || o.status === 'tombstone').length;
    }),
    { seed: P.seed + 11, numRuns: P.propertyRuns, endOnFailure: !P.shrink },
  );
}, P.name === 'fast' ? 60_000 : 600_000);

// ---- named hostile cases -----------------------------------------------------------------------------------

const one = (topic: string, value: unknown, extra: Record<string, unknown> = {}) => ({
  eventSource: 'aws:kafka',
  records: { [`${topic}-0`]: [{ topic, partition: 0, offset: 7, timestamp: 1, timestampType: 'CREATE_TIME', value, headers: [], ...extra }] },
});

describe('named hostile cases', () => {
  const SIX_MB = 6 * 1024 * 1024;

  test('a 6 MB value: dead-lettered with its reason by default, the full value recoverable from the (chunked) letter', async () => {
    const value = b64('x'.repeat(SIX_MB));
    const dlq = queue();
    const result = await bridgeWith(dlq).run(one('orders', value));
    expect(result.outcomes[0]).toMatchObject({ status: 'dead_lettered', code: 'render_failed', message: `rendered text is ${SIX_MB} bytes, over MAX_TEXT_BYTES ${256 * 1024}` });
    expect(dlq.bodies[0].record.value).toBe(value);
    expect(toQueueMessages(dlq.letters[0], 256 * 1024).length).toBeGreaterThan(20);
    expect(sim.requests.filter(isSend)).toHaveLength(0);
    expect(result.response.batchItemFailures).toEqual([]);
  }, 30_000);

  test('a 6 MB value on a route with on_oversize "truncate": the agent gets 256 KB at most, with the marker', async () => {
    sim.clear();
    const result = await bridgeWith(queue()).run(one('big.trunc', b64('é'.repeat(SIX_MB / 2))));
    expect(result.outcomes[0].status).toBe('delivered');
    const [sent] = sim.requests.filter(isSend);
    expect(Buffer.byteLength(sent.text!, 'utf8')).toBeLessThanOrEqual(256 * 1024);
    expect(sent.text).toMatch(new RegExp(`^é+\\n\\[truncated: ${SIX_MB} bytes in all\\]$`));
  }, 30_000);

  test.each([
    ['200,000 nested arrays', '['.repeat(200_000) + ']'.repeat(200_000)],
    ['200,000 unclosed arrays', '['.repeat(200_000)],
    ['100,000 nested objects', `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`],
    ['nesting just below the stack limit of JSON.stringify', '['.repeat(5000) + ']'.repeat(5000)],
  ])('deeply nested JSON (%s) does not throw: delivered or dead-lettered with a reason', async (_label, json) => {
    for (const topic of ['orders', 'tpl.x', 'big.trunc']) {
      const dlq = queue();
      const result = await bridgeWith(dlq).run(one(topic, b64(json)));
      const [o] = result.outcomes;
      expect(['delivered', 'dead_lettered']).toContain(o.status);
      if (o.status === 'dead_lettered') expect(dlq.bodies[0].error.message).toEqual(expect.stringMatching(/\S/));
      expect(result.response.batchItemFailures).toEqual([]);
    }
  }, 30_000);

  test.each([
    ['invalid base64', { value: 'not base64!' }, /value is not valid base64/],
    ['base64 without padding', { value: 'YQ' }, /value is not valid base64/],
    ['invalid UTF-8 (lone continuation byte)', { value: b64(Buffer.from([0x80])) }, /value is not valid UTF-8/],
    ['UTF-8 encoded surrogate', { value: b64(Buffer.from([0xed, 0xa0, 0x80])) }, /value is not valid UTF-8/],
    ['overlong UTF-8', { value: b64(Buffer.from([0xc0, 0xaf])) }, /value is not valid UTF-8/],
    ['a header byte of 256', { value: b64('x'), headers: [{ h: [256] }] }, /header "h" holds a non-byte value/],
    ['a header byte of -129', { value: b64('x'), headers: [{ h: [-129] }] }, /header "h" holds a non-byte value/],
    ['a fractional header byte', { value: b64('x'), headers: [{ h: [1.5] }] }, /header "h" holds a non-byte value/],
    ['a nested header array', { value: b64('x'), headers: [{ h: [[1]] }] }, /header "h" holds a non-byte value/],
    ['headers not an array', { value: b64('x'), headers: { h: [1] } }, /headers is not an array/],
    ['a key that is a number', { value: b64('x'), key: 42 }, /key is not a base64 string/],
    ['no offset', { value: b64('x'), offset: undefined }, /no valid offset/],
    ['a negative offset', { value: b64('x'), offset: -1 }, /no valid offset/],
  ])('%s: dead-lettered as poison with the reason and the record as received', async (_label, extra, reason) => {
    const dlq = queue();
    const ev = one('orders', b64('x'), extra as Record<string, unknown>);
    const raw = (ev.records['orders-0'] as Array<Record<string, unknown>>)[0];
    const result = await bridgeWith(dlq).run(ev);
    expect(result.outcomes[0]).toMatchObject({ status: 'dead_lettered', code: 'poison', message: expect.stringMatching(reason) });
    expect(dlq.bodies).toHaveLength(1);
    expect(dlq.bodies[0]).toMatchObject({ kind: 'poison', error: { class: 'undecodable', message: expect.stringMatching(reason) } });
    // A binary value decodes (the router, finding no route that reads it, dead-letters it): its letter is written
    // like every decoded record's, an absent key as null; the other cases keep the raw record's fields as they are.
    const binary = /UTF-8/.test(String(reason));
    for (const k of ['key', 'value', 'headers'] as const) expect(dlq.bodies[0].record[k]).toEqual(binary && k === 'key' && raw.key === undefined ? null : raw[k]);
    expect(result.response.batchItemFailures).toEqual([]);
  });

  test('signed Java header bytes decode; odd placeholders render (kept as typed) and the prompt reaches the agent intact', async () => {
    sim.clear();
    const value = b64(JSON.stringify({ ü: { ключ: 'ü-ok' }, 'a b': 'spaced', __proto__: { x: 'own proto' }, constructor: 'ctor', '0': 'zero', a: { b: { c: { d: 'deep' } } } }));
    const result = await bridgeWith(queue()).run(one('tpl.x', value, { key: b64('k'), headers: [{ 'x-y.z': [-61, -68] }, { '': [104, 105] }] }));
    expect(result.outcomes[0].status).toBe('delivered');
    const [sent] = sim.requests.filter(isSend);
    expect(sent.text).toContain('ü=ü-ok sp=spaced');
    expect(sent.text).toContain('ctor=ctor idx=zero deep=deep dots={a..b} emoji={😀}');
    expect(sent.text).toContain('hdr=ü empty-hdr=hi key=k');
    expect(sent.text).toContain('{literal}');
  });

  test('an event that is not a Kafka event at all is refused with a clear error (by design: no record to report)', async () => {
    const bridge = bridgeWith(queue());
    await expect(bridge.run({ eventSource: 'aws:sqs', Records: [] })).rejects.toBeInstanceOf(EventShapeError);
    await expect(bridge.run({ eventSource: 'aws:kafka', records: [] })).rejects.toBeInstanceOf(EventShapeError);
    await expect(bridge.run(null)).rejects.toBeInstanceOf(EventShapeError);
  });
});
