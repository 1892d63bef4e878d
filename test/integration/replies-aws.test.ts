// Reply destinations on AWS against moto_server: SQS read back directly, SNS through an SQS subscription,
// EventBridge through a rule that targets SQS. The envelope is checked as the consumer receives it; hostile
// reply text and a destination that refuses the write (no idempotency store: the dead-letter queue keeps it).
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateEventBusCommand, EventBridgeClient, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import type { DeadLetterBody } from '../../lambda/dead-letter';
import type { ReplyEnvelope } from '../../lambda/reply/envelope';
import { isSend, type ArchestraSim } from '../../sim/archestra';
import { makeBridge, totals } from '../support/bridge';
import { mskEvent, type TestRecord } from '../support/kafka';
import { motoEnv, type MotoServer } from '../support/moto';
import { useAwsPeers } from '../support/aws-peers';
import type { Dynalite } from '../support/dynalite';
import { createDynamoIdempotency } from '../../lambda/io/dynamo-idempotency';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tsx } from '../support/cli';

jest.setTimeout(90_000);

const AGENT = '88888888-8888-4888-8888-888888888888';
const TOKEN = 'tok-replies-aws-5d21';
const ACCOUNT = '123456789012';
let moto: MotoServer;
let sim: ArchestraSim;
let sqs: SQSClient;
let sns: SNSClient;
let events: EventBridgeClient;
let db: Dynalite;
useAwsPeers({ token: TOKEN, resetMoto: true }, (p) => {
  ({ moto, sim, db, sqs } = p);
  sns = new SNSClient(moto.clientConfig);
  events = new EventBridgeClient(moto.clientConfig);
});
afterAll(() => {
  for (const c of [sns, events]) c?.destroy();
});

async function queue(name: string): Promise<{ url: string; arn: string }> {
  const url = (await sqs.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl!;
  const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
  return { url, arn };
}
async function drain(url: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < 20 && out.length < n; i++) {
    const res = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    out.push(...(res.Messages ?? []).map((m) => m.Body!));
  }
  return out;
}
const bridge = (reply: string, env: Record<string, string> = {}) =>
  makeBridge({
    ARCHESTRA_URL: sim.url,
    ARCHESTRA_TOKEN: TOKEN,
    ROUTES_CONFIG: JSON.stringify([{ name: 'triage', topic_pattern: 'tickets', prompt_id: AGENT, reply }]),
    ...env,
  });
const records = (n: number): TestRecord[] => Array.from({ length: n }, (_, i) => ({ topic: 'tickets', partition: 1, offset: 40 + i, key: `t${i}`, value: { n: i } }));

test('SQS: one envelope per record, read back from the queue', async () => {
  const q = await queue('replies');
  const b = bridge(q.arn);
  const res = await b.run(mskEvent(records(3)));
  expect(res.response.batchItemFailures).toEqual([]);
  const got = (await drain(q.url, 3)).map((m) => JSON.parse(m) as ReplyEnvelope);
  expect(got.map((e) => e.data.record.offset).sort()).toEqual([40, 41, 42]);
  for (const e of got) {
    const o = res.outcomes.find((x) => x.offset === e.data.record.offset)!;
    expect(e).toMatchObject({ specversion: '1.0', id: `tickets-1-${o.offset}#triage`, data: { route: 'triage', agentId: AGENT, reply: { text: o.reply } } });
    expect(o.replyTo).toMatch(new RegExp(`^${q.arn} \\(message `));
  }
  expect(b.metrics.at(-1)!.perRoute.triage.counts.RepliesWritten).toBe(3);
});

test('SNS: published to the topic, received by its SQS subscriber', async () => {
  const q = await queue('sns-sub');
  const topic = (await sns.send(new CreateTopicCommand({ Name: 'replies' }))).TopicArn!;
  await sns.send(new SubscribeCommand({ TopicArn: topic, Protocol: 'sqs', Endpoint: q.arn, Attributes: { RawMessageDelivery: 'true' } }));
  const b = bridge(topic);
  expect((await b.run(mskEvent(records(2)))).response.batchItemFailures).toEqual([]);
  const got = (await drain(q.url, 2)).map((m) => JSON.parse(m) as ReplyEnvelope);
  expect(got.map((e) => e.id).sort()).toEqual(['tickets-1-40#triage', 'tickets-1-41#triage']);
  expect(totals(b).RepliesWritten).toBe(2);
});

test('EventBridge: put on the bus, routed by a rule to SQS with the envelope as detail', async () => {
  const q = await queue('eb-target');
  const bus = (await events.send(new CreateEventBusCommand({ Name: 'replies' }))).EventBusArn!;
  await events.send(new PutRuleCommand({ Name: 'all-replies', EventBusName: 'replies', EventPattern: JSON.stringify({ source: ['kafka-a2a-bridge'] }) }));
  await events.send(new PutTargetsCommand({ Rule: 'all-replies', EventBusName: 'replies', Targets: [{ Id: 'q', Arn: q.arn }] }));
  const b = bridge(bus);
  expect((await b.run(mskEvent(records(1)))).response.batchItemFailures).toEqual([]);
  const [msg] = await drain(q.url, 1);
  const event = JSON.parse(msg) as { source: string; 'detail-type': string; detail: ReplyEnvelope };
  expect(event.source).toBe('kafka-a2a-bridge');
  expect(event['detail-type']).toBe('dev.kafka-a2a-bridge.reply.v1');
  expect(event.detail).toMatchObject({ id: 'tickets-1-40#triage', data: { route: 'triage', record: { offset: 40, key: 't0' } } });
});

test('hostile reply text: lone surrogates, control characters, U+FFFF and a reply over the limit arrive as valid JSON', async () => {
  const q = await queue('hostile');
  const hostile = `a\uD800b\u0000c\u001b\uFFFF\uFFFEd\uDC00😀`;
  const huge = '\u00e9'.repeat(400_000); // 800 KB of UTF-8: over SQS's 256 KB
  let call = 0;
  sim.setBehaviour((r) => (isSend(r) ? { kind: 'message', text: call++ === 0 ? hostile : huge } : undefined));
  const b = bridge(q.arn, { MAX_CONCURRENCY: '1', ORDERING: 'partition' });
  const res = await b.run(mskEvent(records(2)));
  expect(res.response.batchItemFailures).toEqual([]);
  const got = (await drain(q.url, 2)).map((m) => JSON.parse(m) as ReplyEnvelope).sort((x, y) => x.data.record.offset - y.data.record.offset);
  expect(got[0].data.reply.text).toBe(hostile);
  expect(got[0].data.reply.truncatedFromBytes).toBeUndefined();
  expect(got[1].data.reply.truncatedFromBytes).toBe(800_000);
  expect(huge.startsWith(got[1].data.reply.text)).toBe(true);
  expect(Buffer.byteLength(JSON.stringify(got[1]))).toBeLessThanOrEqual(256 * 1024);
});

test('without an idempotency store, a refused reply write dead-letters the record with its reply: no second agent run', async () => {
  const dlq = await queue('dlq');
  const b = bridge(`arn:aws:sqs:us-east-1:${ACCOUNT}:does-not-exist`, { DLQ_URL: dlq.url });
  const res = await b.run(mskEvent(records(1)));
  expect(res.response.batchItemFailures).toEqual([]);
  expect(res.outcomes[0]).toMatchObject({ status: 'dead_lettered', code: 'reply_write_failed', replyWriteFailed: true });
  const [letter] = (await drain(dlq.url, 1)).map((m) => JSON.parse(m) as DeadLetterBody);
  expect(letter.kind).toBe('reply_unwritten');
  expect(letter.reply).toMatchObject({ id: 'tickets-1-40#triage', data: { reply: { text: res.outcomes[0].reply } } });
  expect(totals(b).ReplyWriteFailures).toBe(1);
  expect(sim.requests.filter(isSend)).toHaveLength(1);
});

describe('with the idempotency store (dynalite)', () => {
  const withStore = async (table: string, reply: string, env: Record<string, string> = {}) => {
    await db.createIdempotencyTable(table);
    return makeBridge(
      { ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: JSON.stringify([{ name: 'triage', topic_pattern: 'tickets', prompt_id: AGENT, reply }]), ...env },
      { idempotency: createDynamoIdempotency({ table, ttlSeconds: 3600, endpoint: db.endpoint }) },
    );
  };

  test('a failed reply write is kept in the claim item and retried on redelivery without a second agent run', async () => {
    const arn = `arn:aws:sqs:us-east-1:${ACCOUNT}:late-queue`;
    const b = await withStore('replies-sqs-retry', arn);
    const first = await b.run(mskEvent(records(1)));
    expect(first.response.batchItemFailures).toEqual([{ itemIdentifier: { partition: 'tickets-1', offset: 40 } }]);
    expect(first.outcomes[0]).toMatchObject({ status: 'failed', code: 'reply_write_failed' });
    const item = await db.client.send(new GetItemCommand({ TableName: 'replies-sqs-retry', Key: { id: { S: 'tickets-1-40#triage' } } }));
    expect(item.Item?.status.S).toBe('REPLY_PENDING');
    expect((JSON.parse(item.Item!.reply.S!) as ReplyEnvelope).data.reply.text).toBe(first.outcomes[0].reply);

    const q = await queue('late-queue'); // the destination exists now
    const second = await b.run(mskEvent(records(1)));
    expect(second.response.batchItemFailures).toEqual([]);
    expect(second.outcomes[0]).toMatchObject({ status: 'delivered', code: 'reply_rewritten' });
    const [body] = await drain(q.url, 1);
    expect((JSON.parse(body) as ReplyEnvelope).data.reply.text).toBe(first.outcomes[0].reply);
    expect(sim.requests.filter(isSend)).toHaveLength(1);
    const done = await db.client.send(new GetItemCommand({ TableName: 'replies-sqs-retry', Key: { id: { S: 'tickets-1-40#triage' } } }));
    expect(done.Item?.status.S).toBe('COMPLETED');
    expect(done.Item?.reply).toBeUndefined();
  });

  test('a kept reply whose route lost its reply destination goes to the dead-letter queue, not nowhere', async () => {
    const b = await withStore('replies-removed', `arn:aws:sqs:us-east-1:${ACCOUNT}:never-created`);
    const first = await b.run(mskEvent(records(1)));
    expect(first.outcomes[0]).toMatchObject({ status: 'failed', code: 'reply_write_failed' });
    const dlq = await queue('dlq-removed');
    const after = makeBridge(
      { ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, DLQ_URL: dlq.url, ROUTES_CONFIG: JSON.stringify([{ name: 'triage', topic_pattern: 'tickets', prompt_id: AGENT }]) },
      { idempotency: createDynamoIdempotency({ table: 'replies-removed', ttlSeconds: 3600, endpoint: db.endpoint }) },
    );
    const second = await after.run(mskEvent(records(1)));
    expect(second.outcomes[0]).toMatchObject({ status: 'dead_lettered', code: 'reply_destination_removed' });
    const [letter] = (await drain(dlq.url, 1)).map((m) => JSON.parse(m) as DeadLetterBody);
    expect(letter).toMatchObject({ kind: 'reply_unwritten', reply: { data: { reply: { text: first.outcomes[0].reply } } } });
    expect(sim.requests.filter(isSend)).toHaveLength(1);
  });

  test('a reply over REPLY_STORE_MAX_BYTES overflows to the dead-letter queue; the record is completed, not rerun', async () => {
    const dlq = await queue('dlq-overflow');
    sim.setBehaviour((r) => (isSend(r) ? { kind: 'message', text: 'z'.repeat(5000) } : undefined));
    const b = await withStore('replies-overflow', `arn:aws:sqs:us-east-1:${ACCOUNT}:absent`, { DLQ_URL: dlq.url, REPLY_STORE_MAX_BYTES: '1024' });
    const res = await b.run(mskEvent(records(1)));
    expect(res.response.batchItemFailures).toEqual([]);
    expect(res.outcomes[0]).toMatchObject({ status: 'dead_lettered', code: 'reply_write_failed' });
    const [letter] = (await drain(dlq.url, 1)).map((m) => JSON.parse(m) as DeadLetterBody);
    expect(letter).toMatchObject({ kind: 'reply_unwritten', reply: { data: { reply: { text: 'z'.repeat(5000) } } } });
    const again = await b.run(mskEvent(records(1)));
    expect(again.outcomes[0].status).toBe('duplicate');
    expect(sim.requests.filter(isSend)).toHaveLength(1);
  });
});

test('errors: a record the agent refuses is dead-lettered with its content and announced on the route\'s errors queue', async () => {
  const dlq = await queue('dlq-errors');
  const errors = await queue('route-errors');
  sim.setBehaviour((r) => (isSend(r) ? { kind: 'rpcError', code: -32602, message: 'invalid params: no such customer' } : undefined));
  const b = makeBridge({
    ARCHESTRA_URL: sim.url,
    ARCHESTRA_TOKEN: TOKEN,
    DLQ_URL: dlq.url,
    ROUTES_CONFIG: JSON.stringify([{ name: 'triage', topic_pattern: 'tickets', prompt_id: AGENT, errors: errors.arn }]),
  });
  const res = await b.run(mskEvent(records(1)));
  expect(res.response.batchItemFailures).toEqual([]);
  expect(res.outcomes[0]).toMatchObject({ status: 'dead_lettered' });
  expect(res.outcomes[0].errorsTo).toMatch(new RegExp(`^${errors.arn} \\(message `));
  const [letter] = (await drain(dlq.url, 1)).map((m) => JSON.parse(m) as DeadLetterBody);
  expect(letter.kind).toBe('permanent_failure');
  const [event] = (await drain(errors.url, 1)).map((m) => JSON.parse(m) as { type: string; id: string; data: { error: { message: string }; deadLettered: boolean; record: { offset: number } } });
  expect(event).toMatchObject({ type: 'dev.kafka-a2a-bridge.error.v1', id: 'tickets-1-40#triage!error', data: { deadLettered: true, record: { offset: 40 } } });
  expect(event.data.error.message).toContain('no such customer');
});

test('npm run invoke --live-replies writes to the route\'s real destination (moto SQS) instead of the local folder', async () => {
  const q = await queue('live-replies');
  const dir = mkdtempSync(join(tmpdir(), 'live-replies-'));
  try {
    const routes = join(dir, 'routes.json');
    writeFileSync(routes, JSON.stringify([{ name: 'triage', topic_pattern: 'customer.events', prompt_id: '0d767152-0fe3-4f13-8226-c4d63ff51129', reply: q.arn }]));
    const r = await tsx('scripts/invoke.ts', ['events/customer-support.json', '--routes', routes, '--live-replies', '--json', '--dlq-dir', join(dir, 'dlq'), '--reply-dir', join(dir, 'replies')], {
      env: motoEnv(moto),
    });
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { replies: Array<{ to: string }> };
    expect(doc.replies).toHaveLength(1);
    expect(doc.replies[0].to).toMatch(new RegExp(`^${q.arn} \\(message `));
    expect(existsSync(join(dir, 'replies'))).toBe(false);
    const [body] = await drain(q.url, 1);
    expect(JSON.parse(body)).toMatchObject({ specversion: '1.0', data: { route: 'triage' } });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
