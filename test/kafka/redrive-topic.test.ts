// `npm run redrive -- --to-topic`: dead letters published back to Kafka byte for byte (key, value, headers),
// read back from librdkafka's mock cluster (kcat); each SQS message (moto) deleted only once its record is in
// the topic. No agent is involved.
import { randomUUID } from 'node:crypto';
import { CreateQueueCommand, SendMessageBatchCommand, SQSClient, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { Kafka } from 'kafkajs';
import { decodeEvent } from '../../lambda/decode';
import { poisonLetter, recordLetter, toQueueMessages } from '../../lambda/dead-letter';
import { createKafka, kafkaConnection } from '../../scripts/lib/kafka';
import { buildMskEvent } from '../../scripts/lib/msk-event';
import { tsx } from '../support/cli';
import { startKafkaMock, type KafkaMock } from '../support/kafka-mock';
import { motoEnv, startMoto, type MotoServer } from '../support/moto';
import { startPeers } from '../support/peers';

jest.setTimeout(120_000);

const CTX = { at: '2025-01-12T10:00:00.000Z', source: 'aws:kafka', requestId: 'req-1' };
let mock: KafkaMock;
let moto: MotoServer;
let sqs: SQSClient;
let kafka: Kafka;

beforeAll(async () => {
  [mock, moto] = await startPeers(startKafkaMock(), startMoto());
  sqs = new SQSClient(moto.clientConfig);
  kafka = createKafka(kafkaConnection({ brokers: mock.bootstrap }, {}));
});
afterAll(async () => {
  sqs?.destroy();
  await Promise.all([mock?.stop(), moto?.stop()]);
});

async function queueWith(bodies: string[]): Promise<string> {
  const url = (await sqs.send(new CreateQueueCommand({ QueueName: `poison-${randomUUID().slice(0, 8)}` }))).QueueUrl!;
  for (let i = 0; i < bodies.length; i += 10) {
    await sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: bodies.slice(i, i + 10).map((b, j) => ({ Id: `m${j}`, MessageBody: b })) }));
  }
  return url;
}

async function remaining(url: string): Promise<number> {
  const res = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }));
  return res.Messages?.length ?? 0;
}

async function readTopic(topic: string, n: number) {
  const consumer = kafka.consumer({ groupId: `check-${randomUUID()}` });
  const got: Array<{ key: string | null; value: string | null; headers: Record<string, string> }> = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((done, fail) => {
    const t = setTimeout(() => fail(new Error(`only ${got.length} of ${n} records in ${topic}`)), 60_000);
    void consumer.run({
      eachMessage: async ({ message }) => {
        got.push({
          key: message.key?.toString('base64') ?? null,
          value: message.value?.toString('base64') ?? null,
          headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString() : String(v)])),
        });
        if (got.length === n) {
          clearTimeout(t);
          done();
        }
      },
    });
  });
  await consumer.disconnect();
  return got;
}

const redrive = (args: string[]) =>
  tsx('scripts/redrive.ts', args, { env: motoEnv(moto, 'AWS_ENDPOINT_URL_SQS') });

test('publishes each selected record byte for byte and deletes its messages; a dry run publishes nothing', async () => {
  const topic = `retry-${randomUUID().slice(0, 8)}`;
  const event = buildMskEvent(
    [
      { key: 'ORD-1', value: JSON.stringify({ order_id: 'ORD-1' }), headers: { 'trace-id': 'abc', tenant: 'eu' } },
      { key: 'ORD-2', value: 'x'.repeat(40_000) },
    ],
    { topic: 'orders.events', startOffset: 5 },
  );
  const recs = decodeEvent(event).records;
  const letters = recs.map((r) => recordLetter(r, { kind: 'permanent_failure', class: 'agent_error', message: 'no', attempts: 1 }, { name: 'orders', agentId: 'a' }, CTX));
  const undecodable = poisonLetter({ partitionKey: 'orders.events-0', topic: 'orders.events', partition: 0, offset: 9, reason: 'x', raw: { value: '//79' } }, 0, CTX);
  // The second letter travels as chunks; the undecodable one is left unless asked for by class.
  const url = await queueWith([...letters, undecodable].flatMap((l) => toQueueMessages(l, 16 * 1024).map((m) => m.body)));

  const dry = await redrive(['--queue', url, '--to-topic', topic, '--brokers', mock.bootstrap, '--dry-run']);
  expect(dry.stderr).toBe('');
  expect(dry.code).toBe(0);
  expect(dry.stdout).toContain('2 record(s) would be published');

  const r = await redrive(['--queue', url, '--to-topic', topic, '--brokers', mock.bootstrap, '--json']);
  expect(r.code).toBe(0);
  expect(r.stderr).toContain('1 undecodable letter(s)'); // with --json the progress lines go to stderr
  const doc = JSON.parse(r.stdout) as { records: Array<{ id: string; status: string }>; deleted: number };
  expect(doc.records.map((x) => x.status)).toEqual(['published', 'published']);
  const got = (await readTopic(topic, 2)).sort((a, b) => String(a.key).localeCompare(String(b.key)));
  expect(got).toEqual(
    recs.map((rec) => ({
      key: rec.keyB64,
      value: rec.valueB64,
      headers: rec.offset === 5 ? { 'trace-id': 'abc', tenant: 'eu' } : {},
    })),
  );
  expect(await remaining(url)).toBe(1); // the undecodable letter
});

test('an unreachable cluster publishes nothing, deletes nothing, and says where it tried', async () => {
  const recs = decodeEvent(buildMskEvent([JSON.stringify({ order_id: 'X' })], { topic: 'orders.events' })).records;
  const url = await queueWith([JSON.stringify(recordLetter(recs[0], { kind: 'permanent_failure', class: 'agent_error', message: 'no', attempts: 1 }, undefined, CTX).body)]);
  const r = await redrive(['--queue', url, '--to-topic', 'retry', '--brokers', '127.0.0.1:9']);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/^redrive: cannot reach Kafka at 127\.0\.0\.1:9/);
  expect(await remaining(url)).toBe(1);
});
