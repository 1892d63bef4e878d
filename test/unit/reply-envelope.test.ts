// The reply destination strings and the envelope: pure, so checked here exhaustively; the edges are
// tested against real peers (test/integration/replies-aws, test/kafka/replies).
import fc from 'fast-check';
import { parseDestination } from '../../lambda/reply/destination';
import { buildEnvelope, serializeEnvelope } from '../../lambda/reply/envelope';
import type { KafkaRecord } from '../../lambda/decode';

test('destination strings: kafka://, SQS, SNS and EventBridge bus ARNs; anything else named as wrong', () => {
  expect(parseDestination('kafka://orders.replies')).toEqual({ kind: 'kafka', topic: 'orders.replies', uri: 'kafka://orders.replies' });
  expect(parseDestination('arn:aws:sqs:eu-west-1:123456789012:replies.fifo')).toMatchObject({ kind: 'sqs', region: 'eu-west-1', account: '123456789012', name: 'replies.fifo' });
  expect(parseDestination('arn:aws:sns:us-east-1:123456789012:alerts')).toMatchObject({ kind: 'sns', name: 'alerts' });
  expect(parseDestination('arn:aws-cn:events:cn-north-1:123456789012:event-bus/agents')).toMatchObject({ kind: 'eventbridge', name: 'agents', region: 'cn-north-1' });
  expect(parseDestination('kafka://')).toMatch(/needs a Kafka topic name/);
  expect(parseDestination('kafka://a/b')).toMatch(/needs a Kafka topic name/);
  expect(parseDestination('arn:aws:events:us-east-1:123456789012:rule/x')).toMatch(/is an event bus ARN/);
  expect(parseDestination('arn:aws:lambda:us-east-1:123456789012:function:f')).toMatch(/is not a destination/);
  expect(parseDestination('https://example.com')).toMatch(/is not a destination/);
});

const record = (over: Partial<KafkaRecord> = {}): KafkaRecord => ({
  partitionKey: 't-3',
  topic: 't',
  partition: 3,
  offset: 9,
  timestamp: 1,
  timestampType: 'CREATE_TIME',
  keyB64: Buffer.from('k').toString('base64'),
  valueB64: null,
  key: 'k',
  value: '{}',
  json: {},
  headers: { a: '1', b: '2' },
  rawHeaders: [],
  ...over,
});

test('the envelope carries the chosen headers only, the coordinates and the answer', () => {
  const e = buildEnvelope({ record: record(), route: { name: 'r', agentId: 'ag', replyHeaders: ['b', 'missing'] }, text: 'hi', taskId: 'task-1', attempts: 2, latencyMs: 5, at: new Date(0) });
  expect(e).toEqual({
    specversion: '1.0',
    id: 't-3-9#r',
    source: 'urn:kafka-a2a-bridge:route:r',
    type: 'dev.kafka-a2a-bridge.reply.v1',
    subject: 't/3/9',
    time: '1970-01-01T00:00:00.000Z',
    datacontenttype: 'application/json',
    data: { version: 1, route: 'r', agentId: 'ag', record: { topic: 't', partition: 3, offset: 9, key: 'k', keyBase64: 'aw==', timestamp: 1, headers: { b: '2' } }, reply: { text: 'hi' }, taskId: 'task-1', attempts: 2, latencyMs: 5 },
  });
});

test('any reply text serializes to parseable JSON within the limit, and a cut text is a prefix of the original', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 3000 }), fc.integer({ min: 900, max: 4000 }), (text, max) => {
      const e = buildEnvelope({ record: record(), route: { name: 'r', agentId: 'a' }, text, attempts: 1, at: new Date(0) });
      const out = serializeEnvelope(e, max);
      expect(Buffer.byteLength(out, 'utf8')).toBeLessThanOrEqual(max);
      expect(out).not.toMatch(/[\uFFFE\uFFFF]/);
      const back = JSON.parse(out) as typeof e;
      expect(text.startsWith(back.data.reply.text)).toBe(true);
      if (back.data.reply.text !== text) expect(back.data.reply.truncatedFromBytes).toBe(Buffer.byteLength(text, 'utf8'));
    }),
    { numRuns: 300 },
  );
});
