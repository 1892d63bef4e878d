// The AWS edges against moto_server: the SQS dead-letter queue (full record content, chunking, write
// failures) and the Secrets Manager token (JSON or plain, caching, unreadable secret).
import { CreateQueueCommand, DeleteQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { joinChunks, type DeadLetter, type DeadLetterBody } from '../../lambda/dead-letter';
import { createSqsDeadLetterSink } from '../../lambda/io/sqs-dead-letters';
import { sequence } from '../../sim/archestra';
import { isSend, type ArchestraSim } from '../../sim/archestra';
import { makeBridge, totals } from '../support/bridge';
import { mskEvent } from '../support/kafka';
import { useAwsPeers } from '../support/aws-peers';
import type { MotoServer } from '../support/moto';

const AGENT = '33333333-3333-4333-8333-333333333333';
const TOKEN = 'sm-token-value-9b2c';

let moto: MotoServer;
let sim: ArchestraSim;
let sqs: SQSClient;
let sm: SecretsManagerClient;
useAwsPeers({ token: TOKEN, resetMoto: true }, (p) => {
  ({ moto, sim, sqs } = p);
  sm = new SecretsManagerClient(p.moto.clientConfig);
});
afterAll(() => sm?.destroy());

async function queue(name = 'dlq'): Promise<string> {
  return (await sqs.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl!;
}

async function drain(url: string): Promise<string[]> {
  const bodies: string[] = [];
  for (;;) {
    const res = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    if (!res.Messages?.length) return bodies;
    bodies.push(...res.Messages.map((m) => m.Body!));
  }
}

const routes = JSON.stringify([
  { name: 'orders', topic_pattern: 'orders.*', prompt_id: AGENT, transform_template: 'Order {order_id}', on_missing: 'fail' },
]);

const env = (over: Record<string, string>) => ({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: routes, ...over });

describe('dead-letter queue (SQS on moto)', () => {
  test('permanent failures and undecodable records land in the queue with their full content', async () => {
    const dlq = await queue();
    sim.setBehaviour((r) => (isSend(r) && r.text === 'Order B' ? { kind: 'rpcError', code: -32602, message: 'Invalid params' } : undefined));
    const bridge = makeBridge(env({ DLQ_URL: dlq }));
    const event = mskEvent([
      { topic: 'orders.events', partition: 0, offset: 1, key: 'k1', value: { order_id: 'A' }, headers: { trace: 't-1' } },
      { topic: 'orders.events', partition: 0, offset: 2, key: 'k2', value: { order_id: 'B' }, headers: { trace: 't-2' } },
      { topic: 'orders.events', partition: 0, offset: 3, key: 'k3', value: { no_order: true } },
      { topic: 'orders.events', partition: 0, offset: 4, key: 'k4', value: { order_id: 'D' } },
    ]);
    // An undecodable value (invalid UTF-8) in the same partition.
    (event.records['orders.events-0'] as Array<Record<string, unknown>>).push({
      topic: 'orders.events', partition: 0, offset: 5, timestamp: 1, timestampType: 'CREATE_TIME', value: Buffer.from([0xff, 0xfe, 0x00]).toString('base64'), headers: [],
    });
    const result = await bridge.run(event);

    expect(result.response).toEqual({ batchItemFailures: [] });
    expect(result.outcomes.map((o) => [o.offset, o.status])).toEqual([
      [1, 'delivered'],
      [2, 'dead_lettered'],
      [3, 'dead_lettered'],
      [4, 'delivered'],
      [5, 'dead_lettered'],
    ]);
    const letters = (await drain(dlq)).map((b) => JSON.parse(b) as DeadLetterBody).sort((a, b) => Number(a.record.offset) - Number(b.record.offset));
    expect(letters).toHaveLength(3);
    const [rpc, render, poison] = letters;
    expect(rpc).toMatchObject({
      version: 1,
      kind: 'permanent_failure',
      error: { class: 'jsonrpc_-32602' },
      attempts: 1,
      route: 'orders',
      agentId: AGENT,
      eventSource: 'aws:kafka',
      requestId: 'test-request',
      record: {
        topic: 'orders.events',
        partition: 0,
        offset: 2,
        key: Buffer.from('k2').toString('base64'),
        value: Buffer.from(JSON.stringify({ order_id: 'B' })).toString('base64'),
        headers: [{ trace: [...Buffer.from('t-2')] }],
      },
    });
    expect(render).toMatchObject({ kind: 'poison', error: { class: 'render_failed', message: 'template field {order_id} is missing' }, attempts: 0 });
    expect(poison).toMatchObject({ kind: 'poison', error: { class: 'undecodable' }, record: { offset: 5, value: '//4A' } });
    expect(totals(bridge)).toMatchObject({ RecordsDeadLettered: 3, RecordsDelivered: 2 });
  });

  test('a record too large for one SQS message is split into chunks that reassemble exactly', async () => {
    const dlq = await queue();
    sim.setBehaviour(() => ({ kind: 'http', status: 400 }));
    const bridge = makeBridge(env({ DLQ_URL: dlq, MAX_TEXT_BYTES: String(8 * 1024 * 1024) }));
    const big = { order_id: 'BIG', blob: 'x'.repeat(600 * 1024) };
    const result = await bridge.run(mskEvent([{ topic: 'orders.events', partition: 2, offset: 9, value: big }]));
    expect(result.outcomes[0].status).toBe('dead_lettered');
    const bodies = await drain(dlq);
    expect(bodies.length).toBeGreaterThan(2);
    for (const b of bodies) expect(Buffer.byteLength(b)).toBeLessThanOrEqual(256 * 1024);
    const letter = joinChunks(bodies.reverse());
    expect(JSON.parse(Buffer.from(letter.record.value as string, 'base64').toString('utf8'))).toEqual(big);
  });

  test('when the queue cannot be written, the records are reported to Lambda instead of lost', async () => {
    const dlq = await queue();
    await sqs.send(new DeleteQueueCommand({ QueueUrl: dlq }));
    sim.setBehaviour(() => ({ kind: 'http', status: 400 }));
    const bridge = makeBridge(env({ DLQ_URL: dlq }));
    const result = await bridge.run(
      mskEvent([
        { topic: 'orders.events', partition: 0, offset: 7, key: 'a', value: { order_id: 'A' } },
        { topic: 'orders.events', partition: 1, offset: 3, key: 'b', value: { order_id: 'B' } },
      ]),
    );
    expect(result.outcomes.map((o) => o.status)).toEqual(['failed', 'failed']);
    expect(result.response.batchItemFailures).toEqual([
      { itemIdentifier: { partition: 'orders.events-0', offset: 7 } },
      { itemIdentifier: { partition: 'orders.events-1', offset: 3 } },
    ]);
  });

  test('an unreachable SQS endpoint is reported too (nothing dropped)', async () => {
    sim.setBehaviour(() => ({ kind: 'http', status: 404 }));
    const endpoint = process.env.AWS_ENDPOINT_URL;
    process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:1';
    try {
      const bridge = makeBridge(env({ DLQ_URL: 'http://127.0.0.1:1/123456789012/gone' }));
      const result = await bridge.run(mskEvent([{ topic: 'orders.events', partition: 0, offset: 1, value: { order_id: 'A' } }]));
      expect(result.outcomes[0]).toMatchObject({ status: 'failed', code: 'http_404' });
      expect(result.response.batchItemFailures).toEqual([{ itemIdentifier: { partition: 'orders.events-0', offset: 1 } }]);
    } finally {
      process.env.AWS_ENDPOINT_URL = endpoint;
    }
  });

  test('a record after a reported failure in its partition is not dead-lettered now (it comes back with the partition)', async () => {
    const dlq = await queue();
    sim.setBehaviour((r) => (isSend(r) && r.text === 'Order A' ? { kind: 'http', status: 503 } : isSend(r) && r.text === 'Order B' ? { kind: 'http', status: 400 } : undefined));
    const bridge = makeBridge(env({ DLQ_URL: dlq, MAX_RETRIES: '0', ORDERING: 'none' }));
    const result = await bridge.run(
      mskEvent([
        { topic: 'orders.events', partition: 0, offset: 1, value: { order_id: 'A' } },
        { topic: 'orders.events', partition: 0, offset: 2, value: { order_id: 'B' } },
      ]),
    );
    expect(result.response.batchItemFailures).toEqual([{ itemIdentifier: { partition: 'orders.events-0', offset: 1 } }]);
    expect(result.outcomes.map((o) => o.status)).toEqual(['failed', 'failed']);
    expect(await drain(dlq)).toEqual([]);
  });
});

describe('an undecodable record without an offset (moto)', () => {
  test('its letter is written first; if its partition then fails at its lowest offset, it comes back (a second letter later)', async () => {
    const dlq = await queue();
    sim.setBehaviour((r) => (isSend(r) && r.text === 'Order A' ? { kind: 'http', status: 503 } : undefined));
    const bridge = makeBridge(env({ DLQ_URL: dlq, MAX_RETRIES: '0' }));
    // A warm container: its token already accepted, so 5 and 6 go out together (a token never accepted yet
    // goes out one request at a time, and 6 would then wait for 5's failure and be held).
    await bridge.run(mskEvent([{ topic: 'orders.events', partition: 3, offset: 1, value: { order_id: 'warm' } }]));
    sim.clear();
    const event = mskEvent([
      { topic: 'orders.events', partition: 0, offset: 5, value: { order_id: 'A' } },
      { topic: 'orders.events', partition: 0, offset: 6, value: { order_id: 'B' } },
    ]);
    (event.records['orders.events-0'] as Array<Record<string, unknown>>).push({ topic: 'orders.events', partition: 0, timestamp: 7, value: '%%' });
    const result = await bridge.run(event);
    expect(result.outcomes.map((o) => [o.offset, o.status])).toEqual([
      [5, 'failed'],
      [6, 'delivered'],
      [null, 'dead_lettered'],
    ]);
    // Lambda resumes the partition at 5: the record without an offset is among what comes back.
    expect(result.response.batchItemFailures).toEqual([{ itemIdentifier: { partition: 'orders.events-0', offset: 5 } }]);
    const letters = (await drain(dlq)).map((b) => JSON.parse(b) as DeadLetterBody);
    expect(letters.map((l) => [l.kind, l.error.class, l.record.offset, l.record.value])).toEqual([['poison', 'undecodable', null, '%%']]);
  });
});

describe('the SQS dead-letter sink (moto)', () => {
  /** A letter as the pipeline builds it, small enough for one message. */
  const letter = (partitionKey: string, offset: number): DeadLetter => ({
    id: `${partitionKey}@${offset}`,
    partitionKey,
    offset,
    body: {
      version: 1,
      kind: 'permanent_failure',
      error: { class: 'http_400', message: 'refused' },
      attempts: 1,
      route: 'orders',
      agentId: AGENT,
      deadLetteredAt: '2026-01-01T00:00:00.000Z',
      eventSource: 'aws:kafka',
      requestId: 'r-1',
      record: { topic: partitionKey.replace(/-\d+$/, ''), partition: Number(/\d+$/.exec(partitionKey)![0]), offset, value: 'eA==' },
    },
  });

  /** A real SQS client to moto that records each SendMessageBatch call (its entries' letters) and can fail the first. */
  function observedClient(o: { failFirst?: boolean } = {}) {
    const client = new SQSClient(moto.clientConfig);
    const calls: string[][] = [];
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'SendMessageBatchCommand') {
          const entries = (args.input as { Entries: Array<{ MessageBody: string }> }).Entries;
          calls.push(entries.map((e) => { const b = JSON.parse(e.MessageBody) as DeadLetterBody; return `${b.record.topic}-${b.record.partition}@${b.record.offset}`; }));
          if (o.failFirst && calls.length === 1) throw new Error('injected: the first SendMessageBatch call fails');
        }
        return next(args);
      },
      { step: 'initialize', name: 'observeSendMessageBatch' },
    );
    return { client, calls };
  }

  test('letters of more than ten partitions written in one round are split into calls of at most ten entries, and all land', async () => {
    const dlq = await queue();
    const { client, calls } = observedClient();
    try {
      const letters = Array.from({ length: 12 }, (_, p) => letter(`orders.events-${p}`, 40 + p));
      const sink = createSqsDeadLetterSink({ queueUrl: dlq, maxMessageBytes: 256 * 1024, client });
      const failed = await sink.send(letters);
      expect([...failed]).toEqual([]);
      // SQS takes at most ten entries per SendMessageBatch.
      for (const c of calls) expect(c.length).toBeLessThanOrEqual(10);
      expect(calls.flat().sort()).toEqual(letters.map((l) => l.id).sort());
      const landed = (await drain(dlq)).map((b) => { const r = (JSON.parse(b) as DeadLetterBody).record; return `${r.topic}-${r.partition}@${r.offset}`; });
      expect(landed.sort()).toEqual(letters.map((l) => l.id).sort());
    } finally {
      client.destroy();
    }
  });

  test('a failed letter stops its partition: the later letter of that partition is reported failed and never sent', async () => {
    const dlq = await queue();
    const { client, calls } = observedClient({ failFirst: true });
    try {
      const sink = createSqsDeadLetterSink({ queueUrl: dlq, maxMessageBytes: 256 * 1024, client });
      const failed = await sink.send([letter('orders.events-0', 5), letter('orders.events-0', 6)]);
      expect([...failed].sort()).toEqual(['orders.events-0@5', 'orders.events-0@6']);
      expect(calls.flat()).not.toContain('orders.events-0@6');
      expect(await drain(dlq)).toEqual([]);
    } finally {
      client.destroy();
    }
  });
});

describe('tasks and the dead-letter queue (moto)', () => {
  test('a task still unfinished at the route timeout is reported for redelivery, not dead-lettered', async () => {
    const dlq = await queue();
    sim.setBehaviour(sequence([{ kind: 'task', never: true }]));
    const slow = JSON.stringify([{ name: 'orders', topic_pattern: 'orders.*', prompt_id: AGENT, transform_template: 'Order {order_id}', timeout_seconds: 1 }]);
    const bridge = makeBridge(env({ DLQ_URL: dlq, ROUTES_CONFIG: slow }));
    const result = await bridge.run(mskEvent([{ topic: 'orders.events', partition: 0, offset: 3, value: { order_id: 'T' } }]));
    expect(result.outcomes[0]).toMatchObject({ status: 'failed', code: 'task_timeout' });
    expect(result.response.batchItemFailures).toEqual([{ itemIdentifier: { partition: 'orders.events-0', offset: 3 } }]);
    expect(await drain(dlq)).toEqual([]);
  });
});

describe('token from Secrets Manager (moto)', () => {
  test('reads a JSON secret once and caches it across invocations', async () => {
    const arn = (await sm.send(new CreateSecretCommand({ Name: 'archestra/token', SecretString: JSON.stringify({ token: TOKEN }) }))).ARN!;
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN_SECRET_ARN: arn, ROUTES_CONFIG: routes });
    const ev = (o: number) => mskEvent([{ topic: 'orders.events', partition: 0, offset: o, value: { order_id: String(o) } }]);
    expect((await bridge.run(ev(1))).response.batchItemFailures).toEqual([]);
    // Rotating the secret does not matter until the cache expires or the agent refuses the token.
    await sm.send(new PutSecretValueCommand({ SecretId: arn, SecretString: 'rotated-but-not-yet-read' }));
    expect((await bridge.run(ev(2))).response.batchItemFailures).toEqual([]);
    expect(sim.requests.map((r) => r.headers.authorization)).toEqual([`Bearer ${TOKEN}`, `Bearer ${TOKEN}`]);
  });

  test('a plain-string secret works, and a rotation is picked up after the agent refuses the old token', async () => {
    const arn = (await sm.send(new CreateSecretCommand({ Name: 'archestra/plain', SecretString: 'old-token' }))).ARN!;
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN_SECRET_ARN: arn, ROUTES_CONFIG: routes });
    const first = await bridge.run(mskEvent([{ topic: 'orders.events', partition: 0, offset: 1, value: { order_id: '1' } }]));
    expect(first.outcomes[0].status).toBe('failed');
    await sm.send(new PutSecretValueCommand({ SecretId: arn, SecretString: TOKEN }));
    const second = await bridge.run(mskEvent([{ topic: 'orders.events', partition: 0, offset: 1, value: { order_id: '1' } }]));
    expect(second.outcomes[0].status).toBe('delivered');
    const all = JSON.stringify([bridge.logs, first, second]);
    expect(all).not.toContain(TOKEN);
    expect(all).not.toContain('old-token');
  });

  test('an unreadable secret reports the whole batch for redelivery and dead-letters nothing', async () => {
    const dlq = await queue();
    const bridge = makeBridge({
      ARCHESTRA_URL: sim.url,
      ARCHESTRA_TOKEN_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf',
      ROUTES_CONFIG: routes,
      DLQ_URL: dlq,
    });
    const event = mskEvent([
      { topic: 'orders.events', partition: 0, offset: 4, value: { order_id: 'A' } },
      { topic: 'orders.events', partition: 0, offset: 5, value: { nothing: 1 } },
      { topic: 'orders.events', partition: 1, offset: 8, value: { order_id: 'C' } },
    ]);
    const result = await bridge.run(event);
    expect(result.response.batchItemFailures).toEqual([
      { itemIdentifier: { partition: 'orders.events-0', offset: 4 } },
      { itemIdentifier: { partition: 'orders.events-1', offset: 8 } },
    ]);
    expect(result.outcomes.every((o) => o.status === 'failed' && o.code === 'token_unavailable')).toBe(true);
    expect(sim.requests).toHaveLength(0);
    expect(await drain(dlq)).toEqual([]);
    expect(bridge.logs.find((l) => l.level === 'error')!.error).toMatch(/cannot read the token secret: ResourceNotFoundException/);
  });

  test('a JSON secret with an empty token is a configuration error like a missing field: nothing is sent with an empty bearer', async () => {
    const arn = (await sm.send(new CreateSecretCommand({ Name: 'archestra/empty', SecretString: JSON.stringify({ token: '' }) }))).ARN!;
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN_SECRET_ARN: arn, ROUTES_CONFIG: routes });
    const result = await bridge.run(mskEvent([{ topic: 'orders.events', partition: 0, offset: 1, value: { order_id: '1' } }]));
    expect(result.outcomes[0]).toMatchObject({ status: 'failed', code: 'token_invalid', message: 'secret JSON has no non-empty "token" field' });
    expect(sim.requests).toHaveLength(0);
  });

  test('a JSON secret without a token field is a clear error, and its content is never echoed', async () => {
    const arn = (await sm.send(new CreateSecretCommand({ Name: 'archestra/bad', SecretString: JSON.stringify({ tokn: 'secret-value-x' }) }))).ARN!;
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN_SECRET_ARN: arn, ROUTES_CONFIG: routes });
    const result = await bridge.run(mskEvent([{ topic: 'orders.events', partition: 0, offset: 1, value: { order_id: '1' } }]));
    expect(result.outcomes[0]).toMatchObject({ status: 'failed', code: 'token_invalid', message: 'secret JSON has no non-empty "token" field' });
    expect(JSON.stringify([bridge.logs, result])).not.toContain('secret-value-x');
  });
});
