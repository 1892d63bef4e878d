// AWS faults: the SQS dead-letter write and the Secrets Manager token read against a moto_server that is
// stopped, a port nobody listens on, and an endpoint that accepts connections and never answers. Records
// that needed dead-lettering must then be reported (not lost); an unreadable token reports the whole batch
// and dead-letters nothing; and the invocation must still answer Lambda before its time runs out.
// Also the minimal cases of two dead-letter rules the no-loss property checks: a letter is written only once
// nothing below it in its partition is reported, and a failed letter write stops its chain.
import { createServer, type Server, type Socket } from 'node:net';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { DeadLetter, DeadLetterSink } from '../../lambda/dead-letter';
import { isSend, startArchestraSim, type ArchestraSim } from '../../sim/archestra';
import { makeBridge } from '../support/bridge';
import { mskEvent, type TestRecord } from '../support/kafka';
import { startMoto, type MotoServer } from '../support/moto';
import { freePort } from '../support/ports';
import { drainQueue, memoryDeadLetters } from './support/dlq';
import { writeFigures } from './support/profile';
import { startPeers } from '../support/peers';

const AGENT = '7c3d2e4f-9a5b-4c6d-8e7f-2a3b4c5d6e7f';
const TOKEN = `tok-aws-${Date.now().toString(16)}`;
const ROUTES = JSON.stringify([{ name: 'orders', topic_pattern: 'orders', prompt_id: AGENT }]);
const AWS_ENV = ['AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_SQS', 'AWS_ENDPOINT_URL_SECRETS_MANAGER', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'];

let sim: ArchestraSim;
let moto: MotoServer;
let sqs: SQSClient;
const saved = { ...process.env };
const figures: Record<string, unknown> = {};

/** The SDK clients the bridge builds find their endpoints through the standard variables, per service. */
function endpoints(e: { sqs?: string; secrets?: string }) {
  for (const k of AWS_ENV) delete process.env[k];
  Object.assign(process.env, { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' });
  if (e.sqs) process.env.AWS_ENDPOINT_URL_SQS = e.sqs;
  if (e.secrets) process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = e.secrets;
}

/** A TCP endpoint that accepts connections and never answers: a black-holed VPC endpoint, a hung proxy. */
async function blackHole(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.resume();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Runs the batch, but stops waiting at Lambda's own deadline (remainingMs): the function would be killed there. */
async function runAgainstTheClock(run: () => Promise<unknown>, remainingMs: number) {
  const started = Date.now();
  const pending = run().then((r) => ({ r, elapsed: Date.now() - started }));
  let timer: NodeJS.Timeout | undefined;
  const killed = new Promise<'killed'>((r) => (timer = setTimeout(() => r('killed'), remainingMs)));
  const first = await Promise.race([pending, killed]);
  clearTimeout(timer);
  return { first, pending };
}

/** A batch against a silent endpoint must still answer within 3 s of remaining time; the endpoint is closed after. */
async function expectAnswerBeforeDeadline(bridge: { run(event: unknown, remainingMs?: number): Promise<unknown> }, hole: { close(): Promise<void> }) {
  const { first, pending } = await runAgainstTheClock(() => bridge.run(mixed().event, 3000), 3000);
  try {
    expect(first).not.toBe('killed');
  } finally {
    await hole.close();
    await pending.catch(() => undefined);
  }
}

beforeAll(async () => {
  [sim, moto] = await startPeers(startArchestraSim({ tokens: [TOKEN] }), startMoto());
  sqs = new SQSClient(moto.clientConfig);
}, 60_000);

afterAll(async () => {
  process.env = saved;
  sqs?.destroy();
  await Promise.all([sim?.close(), moto?.stop()]);
  writeFigures('aws-faults', figures);
});

beforeEach(() => {
  sim.clear();
  sim.setBehaviour(undefined);
});

// A batch with something for each stage: deliverable records, an agent refusal (permanent), a poison record.
const mixed = (): { event: ReturnType<typeof mskEvent>; ids: string[] } => {
  const records: TestRecord[] = [
    { topic: 'orders', partition: 0, offset: 10, key: 'a', value: { n: 10 } },
    { topic: 'orders', partition: 0, offset: 11, key: 'b', value: { n: 11, refuse: true } },
    { topic: 'orders', partition: 0, offset: 13, key: 'd', value: { n: 13 } },
    { topic: 'orders', partition: 1, offset: 20, key: 'a', value: { n: 20, refuse: true } },
    { topic: 'orders', partition: 1, offset: 21, key: 'b', value: { n: 21 } },
  ];
  const event = mskEvent(records);
  // An undecodable value (invalid base64) at offset 12 of partition 0.
  (event.records['orders-0'] as Array<Record<string, unknown>>).splice(2, 0, { topic: 'orders', partition: 0, offset: 12, timestamp: 1, timestampType: 'CREATE_TIME', key: 'Yw==', value: '%%not-base64%%', headers: [] });
  return { event, ids: ['orders-0@10', 'orders-0@11', 'orders-0@12', 'orders-0@13', 'orders-1@20', 'orders-1@21'] };
};
const refuse = () => sim.setBehaviour((r) => (isSend(r) && /"refuse": true/.test(r.text ?? '') ? { kind: 'rpcError', code: -32602, message: 'Invalid params' } : undefined));
const statusOf = (outcomes: Array<{ partitionKey: string; offset: number | null; status: string }>) =>
  Object.fromEntries(outcomes.map((o) => [`${o.partitionKey}@${o.offset}`, o.status]));

describe('the SQS dead-letter queue fails', () => {
  test('moto_server stopped: the records that needed dead-lettering are reported as batch failures, nothing is lost', async () => {
    const own = await startMoto();
    const client = new SQSClient(own.clientConfig);
    const queueUrl = (await client.send(new CreateQueueCommand({ QueueName: 'dlq' }))).QueueUrl!;
    client.destroy();
    await own.stop();
    endpoints({ sqs: own.endpoint });
    refuse();
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: ROUTES, DLQ_URL: queueUrl, ORDERING: 'key' });
    const { event } = mixed();
    const started = Date.now();
    const result = await bridge.run(event, 10_000);
    figures.sqsStoppedMs = Date.now() - started;

    expect(statusOf(result.outcomes)).toEqual({
      'orders-0@10': 'delivered',
      'orders-0@11': 'failed',
      'orders-0@12': 'failed',
      'orders-0@13': 'delivered',
      'orders-1@20': 'failed',
      'orders-1@21': 'delivered',
    });
    // The first letter of each partition fails to write; a letter above it is not attempted at all: it is
    // reported with its partition rather than written where a redelivery would write it again.
    const failed = Object.fromEntries(result.outcomes.filter((x) => x.status === 'failed').map((o) => [`${o.partitionKey}@${o.offset}`, o.message]));
    expect(failed['orders-0@11']).toMatch(/dead-letter write failed: reported instead/);
    expect(failed['orders-1@20']).toMatch(/dead-letter write failed: reported instead/);
    expect(failed['orders-0@12']).toMatch(/left for redelivery: partition resumes below it/);
    expect(result.response.batchItemFailures).toEqual([
      { itemIdentifier: { partition: 'orders-0', offset: 11 } },
      { itemIdentifier: { partition: 'orders-1', offset: 20 } },
    ]);
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 60_000);

  test('nothing listening on the SQS port (connection refused): reported, nothing lost', async () => {
    const port = await freePort();
    endpoints({ sqs: `http://127.0.0.1:${port}` });
    refuse();
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: ROUTES, DLQ_URL: `http://127.0.0.1:${port}/123456789012/dlq`, ORDERING: 'key' });
    const result = await bridge.run(mixed().event, 10_000);
    expect(result.response.batchItemFailures).toEqual([
      { itemIdentifier: { partition: 'orders-0', offset: 11 } },
      { itemIdentifier: { partition: 'orders-1', offset: 20 } },
    ]);
    expect(result.outcomes.filter((o) => o.status === 'delivered').map((o) => o.offset)).toEqual([10, 13, 21]);
  }, 30_000);

  // The SQS client's requestTimeout must throw (`throwOnRequestTimeout`; @smithy/node-http-handler 4.x otherwise only
  // warns): against an endpoint that never answers, SendMessageBatch would wait past the invocation's deadline,
  // Lambda would kill the function with no batch response, and the whole batch, delivered records included,
  // would come back.
  test('an SQS endpoint that accepts connections and never answers: the batch still answers before Lambda\'s deadline', async () => {
    const hole = await blackHole();
    endpoints({ sqs: hole.url });
    refuse();
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: ROUTES, DLQ_URL: `${hole.url}/123456789012/dlq`, ORDERING: 'key' });
    await expectAnswerBeforeDeadline(bridge, hole);
  }, 30_000);
});

describe('Secrets Manager fails', () => {
  async function secretOn(server: MotoServer): Promise<string> {
    const sm = new SecretsManagerClient(server.clientConfig);
    try {
      return (await sm.send(new CreateSecretCommand({ Name: `archestra/token-${Date.now()}`, SecretString: JSON.stringify({ token: TOKEN }) }))).ARN!;
    } finally {
      sm.destroy();
    }
  }

  test('moto_server stopped: the whole batch is reported, nothing is sent, nothing dead-lettered', async () => {
    const own = await startMoto();
    const arn = await secretOn(own);
    await own.stop();
    const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'dlq-sm-stopped' }))).QueueUrl!;
    endpoints({ secrets: own.endpoint, sqs: moto.endpoint });
    refuse();
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN_SECRET_ARN: arn, ROUTES_CONFIG: ROUTES, DLQ_URL: queueUrl });
    const result = await bridge.run(mixed().event, 10_000);
    expect(result.outcomes.every((o) => o.status === 'failed' && o.code === 'token_unavailable')).toBe(true);
    expect(result.outcomes).toHaveLength(6);
    expect(result.response.batchItemFailures).toEqual([
      { itemIdentifier: { partition: 'orders-0', offset: 10 } },
      { itemIdentifier: { partition: 'orders-1', offset: 20 } },
    ]);
    expect(sim.requests).toHaveLength(0);
    expect(await drainQueue(sqs, queueUrl)).toEqual([]);
    expect(JSON.stringify([result, bridge.logs])).not.toContain(TOKEN);
  }, 60_000);

  test('a token cached by an earlier invocation keeps delivering while Secrets Manager is down', async () => {
    const own = await startMoto();
    const arn = await secretOn(own);
    endpoints({ secrets: own.endpoint });
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN_SECRET_ARN: arn, ROUTES_CONFIG: ROUTES });
    const ev = (o: number) => mskEvent([{ topic: 'orders', partition: 0, offset: o, value: { n: o } }]);
    expect((await bridge.run(ev(1))).response.batchItemFailures).toEqual([]);
    await own.stop();
    const second = await bridge.run(ev(2));
    expect(second.outcomes[0].status).toBe('delivered');
  }, 60_000);

  // The same for the token read: a Secrets Manager call that never answers must time out and report the batch,
  // not wait for the secret until Lambda kills the function.
  test('a Secrets Manager endpoint that never answers: the whole batch is reported before Lambda\'s deadline', async () => {
    const hole = await blackHole();
    endpoints({ secrets: hole.url });
    const bridge = makeBridge({
      ARCHESTRA_URL: sim.url,
      ARCHESTRA_TOKEN_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:archestra-AbCdEf',
      ROUTES_CONFIG: ROUTES,
    });
    await expectAnswerBeforeDeadline(bridge, hole);
  }, 30_000);
});

describe('dead letters and the partition\'s reported offset (minimal cases of the no-loss property)', () => {
  /** An in-memory queue that refuses the letters of the given records (`<partition>@<offset>`). */
  function refusing(ids: string[]): DeadLetterSink & { written: DeadLetter[] } {
    const written: DeadLetter[] = [];
    return {
      written,
      async send(letters) {
        const failed = new Set<string>();
        for (const l of letters) {
          if (ids.includes(`${l.partitionKey}@${l.offset}`)) failed.add(l.id);
          else written.push(l);
        }
        return failed;
      },
    };
  }

  test('a healthy queue: both refusals are dead-lettered and nothing is reported (control)', async () => {
    sim.setBehaviour((r) => (isSend(r) ? { kind: 'rpcError', code: -32602 } : undefined));
    const dlq = memoryDeadLetters({ seed: 1, failRate: 0 });
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: ROUTES, ORDERING: 'none' }, { deadLetters: dlq });
    const result = await bridge.run(mskEvent([1, 2].map((o) => ({ topic: 'orders', partition: 0, offset: o, value: { n: o } }))));
    expect(result.response.batchItemFailures).toEqual([]);
    expect(dlq.bodies.map((b) => b.record.offset).sort()).toEqual([1, 2]);
  });

  // A letter is written only once the records below it in its partition have settled, and not at all above a
  // failure. The write of offset 1 fails, so offset 1 is reported; a letter for offset 2 would then sit at/after the
  // reported offset: Lambda would redeliver it, send it to the agent again and dead-letter it a second time.
  test('when one dead-letter write fails, no record of its partition above it stays dead-lettered', async () => {
    sim.setBehaviour((r) => (isSend(r) ? { kind: 'rpcError', code: -32602 } : undefined));
    const dlq = refusing(['orders-0@1']);
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: ROUTES, ORDERING: 'none' }, { deadLetters: dlq });
    const result = await bridge.run(mskEvent([1, 2].map((o) => ({ topic: 'orders', partition: 0, offset: o, value: { n: o } }))));
    expect(result.response.batchItemFailures).toEqual([{ itemIdentifier: { partition: 'orders-0', offset: 1 } }]);
    // Offset 2 comes back with the redelivery, so its letter must not be in the queue.
    expect(dlq.written.map((l) => l.offset)).toEqual([]);
  });

  // A letter is written in its record's turn in the chain, and a failed write stops the chain. Offset 1
  // (undecodable) cannot be dead-lettered, so the partition is reported from 1; offsets 2 and 3 of the same
  // (partition) chain come back with the redelivery, so sending them now would deliver them twice.
  test('when a dead-letter write fails, the records after it in its chain have not been delivered meanwhile', async () => {
    const dlq = refusing(['orders-0@1']);
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: ROUTES, ORDERING: 'partition' }, { deadLetters: dlq });
    const event = mskEvent([2, 3].map((o) => ({ topic: 'orders', partition: 0, offset: o, value: { n: o } })));
    (event.records['orders-0'] as unknown[]).unshift({ topic: 'orders', partition: 0, offset: 1, timestamp: 1, value: '%%', headers: [] });
    const result = await bridge.run(event);
    expect(result.response.batchItemFailures).toEqual([{ itemIdentifier: { partition: 'orders-0', offset: 1 } }]);
    expect(sim.requests.filter(isSend).map((r) => r.text)).toEqual([]);
  });
});
