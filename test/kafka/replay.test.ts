// `npm run replay` end to end: a KafkaBatchInfo message, as Lambda writes it to the mapping's on-failure
// queue, in moto's SQS; the records in librdkafka's mock cluster (kcat); the Archestra simulator as the agent.
// Replay fetches exactly the offsets the message names, runs them through the pipeline, and deletes the
// message only when all of them are settled.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { Partitioners, type Kafka } from 'kafkajs';
import { isSend, startArchestraSim, type ArchestraSim } from '../../sim/archestra';
import { createKafka, kafkaConnection } from '../../scripts/lib/kafka';
import { parseBatchInfo } from '../../scripts/lib/replay';
import { consume, sqsOnFailure } from '../../scripts/lib/consumer';
import { startKafkaMock, type KafkaMock } from '../support/kafka-mock';
import { startMoto, type MotoServer } from '../support/moto';

jest.setTimeout(120_000);

const ROOT = resolve(__dirname, '..', '..');
const TOKEN = 'replay-test-token-9c4a';
const AGENT = randomUUID();
const OTHER = randomUUID();

let mock: KafkaMock;
let kafka: Kafka;
let sim: ArchestraSim;
let moto: MotoServer;
let sqs: SQSClient;
let tmp: string;
let routes: string;

beforeAll(async () => {
  [mock, sim, moto] = await Promise.all([startKafkaMock(), startArchestraSim({ tokens: [TOKEN] }), startMoto()]);
  kafka = createKafka(kafkaConnection({ brokers: mock.bootstrap }, {}));
  sqs = new SQSClient(moto.clientConfig);
});
afterAll(async () => {
  sqs?.destroy();
  await Promise.all([mock?.stop(), sim?.close(), moto?.stop()]);
});
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'replay-test-'));
  routes = join(tmp, 'routes.json');
  writeFileSync(
    routes,
    JSON.stringify([
      { name: 'other', topic_pattern: 'replay.*', field_match: { kind: 'other' }, prompt_id: OTHER, transform_template: 'other {n}' },
      { name: 'orders', topic_pattern: 'replay.*', prompt_id: AGENT, transform_template: 'order {n} on {$topic}-{$partition}@{$offset}' },
    ]),
  );
  sim.clear();
  sim.setBehaviour(undefined);
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

/** 12 records, n -> partition n % 4, so partition p holds n = p, p+4, p+8 at offsets 0, 1, 2. */
async function produce(topic: string, kindOf: (n: number) => string = () => 'order'): Promise<void> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    for (let n = 0; n < 12; n++) await producer.send({ topic, messages: [{ partition: n % 4, key: `K${n}`, value: JSON.stringify({ n, kind: kindOf(n) }) }] });
  } finally {
    await producer.disconnect();
  }
}

/** Lambda's on-failure record for SQS and SNS destinations (AWS Lambda developer guide, "kafka-on-failure"). */
function batchInfoBody(recordsInfo: Record<string, [number, number]>, bootstrapServers: string): string {
  return JSON.stringify({
    requestContext: {
      requestId: randomUUID(),
      functionArn: 'arn:aws:lambda:us-east-1:123456789012:function:KafkaA2ABridge',
      condition: 'RetryAttemptsExhausted',
      approximateInvokeCount: 11,
    },
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    version: '1.0',
    timestamp: '2026-11-30T10:00:00.000Z',
    KafkaBatchInfo: {
      batchSize: Object.values(recordsInfo).reduce((n, [a, b]) => n + b - a + 1, 0),
      eventSourceArn: 'arn:aws:kafka:us-east-1:123456789012:cluster/orders/1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d-1',
      bootstrapServers,
      payloadSize: 2048,
      recordsInfo: Object.fromEntries(
        Object.entries(recordsInfo).map(([tp, [first, last]]) => [
          tp,
          { firstRecordOffset: String(first), lastRecordOffset: String(last), firstRecordTimestamp: '2026-11-30T09:59:58.000Z', lastRecordTimestamp: '2026-11-30T09:59:59.000Z' },
        ]),
      ),
    },
  });
}

async function queueWith(...bodies: string[]): Promise<string> {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `on-failure-${randomUUID().slice(0, 8)}` }));
  for (const b of bodies) await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: b }));
  return QueueUrl!;
}

async function visibleMessages(queueUrl: string): Promise<number> {
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
  return Number(Attributes!.ApproximateNumberOfMessages) + Number(Attributes!.ApproximateNumberOfMessagesNotVisible);
}

function replay(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const base: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    for (const k of Object.keys(base)) if (/^(ARCHESTRA_|DLQ_|ROUTES_CONFIG|IDEMPOTENCY_|MAX_RETRIES|KAFKA_|AWS_ENDPOINT_URL|npm_)/.test(k)) delete base[k];
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/replay.ts', '--routes', routes, '--dlq-dir', tmp, ...args], {
      cwd: ROOT,
      env: {
        ...base,
        ARCHESTRA_URL: sim.url,
        ARCHESTRA_TOKEN: TOKEN,
        MAX_RETRIES: '0',
        AWS_ENDPOINT_URL: moto.endpoint,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

/** The CLI's exit code; when it is not the one expected, the failure shows what the CLI printed. */
function expectExit(run: { code: number | null; stdout: string; stderr: string }, code: number): void {
  if (run.code !== code) throw new Error(`replay exited ${run.code}, expected ${code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`);
}

const sentTexts = () => sim.requests.filter(isSend).map((q) => q.text!).sort();

describe('npm run replay', () => {
  test('dry run, then replay: exactly the named offsets are sent, the message is deleted, anything else in the queue is left alone', async () => {
    const topic = `replay.orders.${randomUUID().slice(0, 6)}`;
    await produce(topic);
    // Partition 1 from offset 1 (n=5, 9), partition 2 only offset 0 (n=2); the rest of the topic is not named.
    const body = batchInfoBody({ [`${topic}-1`]: [1, 2], [`${topic}-2`]: [0, 0] }, mock.bootstrap);
    const deadLetter = JSON.stringify({ version: 1, kind: 'poison', record: { topic, partition: 0, offset: 0 } });
    const queue = await queueWith(body, deadLetter);

    const dry = await replay(['--queue', queue, '--dry-run']);
    expectExit(dry, 0);
    expect(sim.requests).toHaveLength(0);
    expect(dry.stdout).toContain(`${topic}-1@1  orders -> agent ${AGENT}  would send`);
    expect(dry.stdout).toContain(`    | order 5 on ${topic}-1@1`);
    expect(dry.stdout).toMatch(/dry run: 2 messages, 3 records selected; nothing sent, nothing deleted/);
    expect(await visibleMessages(queue)).toBe(2);

    // The brokers come from the message's bootstrapServers (no --brokers).
    const run = await replay(['--queue', queue]);
    expect(run.stderr).toBe('');
    expectExit(run, 0);
    expect(sentTexts()).toEqual([`order 2 on ${topic}-2@0`, `order 5 on ${topic}-1@1`, `order 9 on ${topic}-1@2`]);
    expect(run.stdout).toMatch(/message \S+ \(RetryAttemptsExhausted\): replay\.orders\.\w+-1@1\.\.2, replay\.orders\.\w+-2@0\.\.0 · 3 records fetched, 3 selected/);
    expect(run.stdout).toMatch(/skipped: not a Kafka on-failure record/);
    expect(run.stdout).toMatch(/━━ 2 messages, 3 records replayed: 3 delivered, 0 failed · 1 message deleted, 1 kept/);
    // Only the dead letter is left (and visible again at once).
    const left = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue, MaxNumberOfMessages: 10 }));
    expect(left.Messages?.map((m) => m.Body)).toEqual([deadLetter]);
  });

  test('records that fail again keep their message and exit 1; with the idempotency store, a second run sends only what was not delivered', async () => {
    const topic = `replay.fail.${randomUUID().slice(0, 6)}`;
    await produce(topic);
    const table = `idem-${randomUUID().slice(0, 8)}`;
    const dynamo = new DynamoDBClient(moto.clientConfig);
    await dynamo.send(
      new CreateTableCommand({ TableName: table, AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }], BillingMode: 'PAY_PER_REQUEST' }),
    );
    dynamo.destroy();
    const queue = await queueWith(batchInfoBody({ [`${topic}-3`]: [0, 2] }, mock.bootstrap));
    // Partition 3 holds n = 3, 7, 11 at offsets 0, 1, 2; the agent fails n = 7.
    sim.setBehaviour((r) => (isSend(r) && r.text === `order 7 on ${topic}-3@1` ? { kind: 'http', status: 503 } : undefined));
    const run = await replay(['--queue', queue, '--brokers', mock.bootstrap, '--json'], { IDEMPOTENCY_TABLE: table });
    expectExit(run, 1);
    const doc = JSON.parse(run.stdout);
    // Under the default ORDERING=key, n = 11 (another key) is delivered although n = 7 before it failed.
    expect(doc).toMatchObject({ ok: false, deleted: 0, counts: { delivered: 2, failed: 1 } });
    expect(doc.messages[0]).toMatchObject({ fetched: 3, selected: 3, deleted: false, kept: 'records failed again' });
    expect(doc.messages[0].response).toEqual({ batchItemFailures: [{ itemIdentifier: { partition: `${topic}-3`, offset: 1 } }] });
    expect(Object.keys(doc.failedAgain).join()).toMatch(/http_503/);
    expect(await visibleMessages(queue)).toBe(1);

    // Once the agent is fixed, the same message is replayed and deleted; only n = 7 reaches the agent again.
    sim.clear();
    sim.setBehaviour(undefined);
    const again = await replay(['--queue', queue, '--brokers', mock.bootstrap, '--json'], { IDEMPOTENCY_TABLE: table });
    expectExit(again, 0);
    expect(JSON.parse(again.stdout)).toMatchObject({ ok: true, deleted: 1, counts: { delivered: 1, duplicate: 2, failed: 0 } });
    expect(sentTexts()).toEqual([`order 7 on ${topic}-3@1`]);
    expect(await visibleMessages(queue)).toBe(0);
  });

  test('filters: only the selected records are sent and the message is kept for the rest', async () => {
    const topic = `replay.filter.${randomUUID().slice(0, 6)}`;
    await produce(topic, (n) => (n === 4 ? 'other' : 'order'));
    const queue = await queueWith(batchInfoBody({ [`${topic}-0`]: [0, 2] }, mock.bootstrap));
    const byRoute = await replay(['--queue', queue, '--route', 'other']);
    expectExit(byRoute, 0);
    expect(sentTexts()).toEqual(['other 4']);
    expect(byRoute.stdout).toContain('kept: 2 records left out by the filters');
    sim.clear();
    const byOffset = await replay(['--queue', queue, '--from-offset', '2']);
    expectExit(byOffset, 0);
    expect(sentTexts()).toEqual([`order 8 on ${topic}-0@2`]);
    expect(await visibleMessages(queue)).toBe(1);
    const badRoute = await replay(['--queue', queue, '--route', 'nope']);
    expectExit(badRoute, 2);
    expect(badRoute.stderr).toMatch(/--route names no route of .*: nope/);
  });

  test('offsets Kafka does not hold are reported and the message kept; a file is read and never deleted', async () => {
    const topic = `replay.gone.${randomUUID().slice(0, 6)}`;
    await produce(topic);
    const file = join(tmp, 'message.json');
    writeFileSync(file, batchInfoBody({ [`${topic}-0`]: [1, 5] }, mock.bootstrap));
    const run = await replay(['--file', file]);
    expectExit(run, 1);
    expect(run.stdout).toContain(`missing ${topic}-0@3..5: beyond the end of the log (3)`);
    expect(sentTexts()).toEqual([`order 4 on ${topic}-0@1`, `order 8 on ${topic}-0@2`]);
    expect(run.stdout).toMatch(/kept: records could not be fetched/);
  });

  test('a batch the consumer gave up on (its invocation kept throwing) is recovered by replay from the on-failure queue', async () => {
    const topic = `replay.giveup.${randomUUID().slice(0, 6)}`;
    await produce(topic);
    const queue = await queueWith();
    const summary = await consume({
      kafka,
      topics: [topic],
      groupId: `giveup-${randomUUID().slice(0, 8)}`,
      startingPosition: 'TRIM_HORIZON',
      batchSize: 100,
      batchingWindowMs: 500,
      source: 'msk',
      bootstrapServers: mock.bootstrap,
      retryAttempts: 0,
      idleExitMs: 1500,
      invoke: async () => {
        throw new Error('the function fails as a whole');
      },
      onFailure: sqsOnFailure(sqs, queue),
    });
    expect(summary).toMatchObject({ gaveUp: 1, records: 12 });
    expect(sim.requests).toHaveLength(0);
    const run = await replay(['--queue', queue]);
    expectExit(run, 0);
    expect(run.stdout).toMatch(/━━ 1 message, 12 records replayed: 12 delivered, 0 failed · 1 message deleted, 0 kept/);
    expect(sentTexts()).toHaveLength(12);
    expect(await visibleMessages(queue)).toBe(0);
  });

  test('usage errors exit 2; the parser reads Lambda\'s record, also through SNS, and refuses anything else', async () => {
    const none = await replay([]);
    expectExit(none, 2);
    expect(none.stderr).toMatch(/give the on-failure queue \(--queue URL\) or a file/);
    const empty = await replay(['--queue', await queueWith()]);
    expectExit(empty, 0);
    expect(empty.stdout).toMatch(/━━ 0 messages, 0 records replayed: 0 failed · 0 messages deleted, 0 kept/);
    const body = batchInfoBody({ 'a.b-c-12': [40, 41] }, 'b-1:9092');
    expect(parseBatchInfo(body)).toMatchObject({ condition: 'RetryAttemptsExhausted', bootstrapServers: 'b-1:9092', ranges: [{ partitionKey: 'a.b-c-12', topic: 'a.b-c', partition: 12, first: 40, last: 41 }] });
    expect(parseBatchInfo(JSON.stringify({ Type: 'Notification', Message: body })).ranges).toHaveLength(1);
    expect(() => parseBatchInfo('{"version":1,"kind":"poison"}')).toThrow(/not a Kafka on-failure record/);
    expect(() => parseBatchInfo(JSON.stringify({ KafkaBatchInfo: { recordsInfo: { t: { firstRecordOffset: '1', lastRecordOffset: '2' } } } }))).toThrow(/"t" is not a topic-partition/);
  });
});
