// Edge cases found by review, each pinned so it stays fixed.
import { parseRoutes } from '../../lambda/config/routes';
import { decodeEvent } from '../../lambda/decode';
import { parseRetryAfter } from '../../lambda/deliver/a2a-protocol';
import { compileRenderer } from '../../lambda/render';

const route = (extra: object = {}) => parseRoutes([{ name: 'r', topic_pattern: 't', prompt_id: 'a', ...extra }])[0];

test('a partition key without digits after its last dash yields no partition (the record must carry its own)', () => {
  const batch = decodeEvent({ eventSource: 'aws:kafka', records: { 'orders-': [{ offset: 1, value: Buffer.from('x').toString('base64') }] } });
  expect(batch.records).toEqual([]);
  expect(batch.poison[0]).toMatchObject({ topic: null, partition: null, offset: 1, reason: 'undecodable record: record has no topic' });
});

test('Retry-After that is neither delta-seconds nor an HTTP date is ignored', () => {
  expect(parseRetryAfter('-5')).toBeUndefined();
  expect(parseRetryAfter('soon')).toBeUndefined();
  expect(parseRetryAfter('2')).toBe(2000);
  expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))).toBe(10_000);
});

test('metadata placeholders other than $headers take no fields', () => {
  expect(() => route({ transform_template: '{$topic.x}' })).toThrow(/transform_template.*\{\$topic\.x\}: \{\$topic\} has no fields/);
});

test('with no template a JSON string value is sent as its content, without quotes', () => {
  const [rec] = decodeEvent({ eventSource: 'aws:kafka', records: { 't-0': [{ topic: 't', partition: 0, offset: 1, value: Buffer.from('"hello"').toString('base64') }] } }).records;
  expect(compileRenderer(route(), 1000)(rec)).toEqual({ ok: true, text: 'hello' });
});
