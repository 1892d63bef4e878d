// The handler under the failures production meets. Each test pins one rule against real peers
// (the Archestra sim, moto_server for Secrets Manager and SQS, dynalite for DynamoDB, with test/support/fault-proxy
// in front of the AWS ones to throttle, hang or fail single operations) and fails on code that breaks that rule.
import { request } from 'node:http';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CredentialGates } from '../../lambda/deliver/credential-gate';
import { createDynamoIdempotency } from '../../lambda/io/dynamo-idempotency';
import { isSend, startArchestraSim, type ArchestraSim, type RecordedRequest } from '../../sim/archestra';
import { makeBridge } from '../support/bridge';
import { startDynalite, type Dynalite } from '../support/dynalite';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy';
import { mskEvent, type TestRecord } from '../support/kafka';
import { startMoto, type MotoServer } from '../support/moto';
import { writeFigures } from './support/profile';

const AGENT = '1d2c3b4a-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
const TOKEN = `tok-rf-${Date.now().toString(16)}`;
const ROUTES = JSON.stringify([{ name: 'orders', topic_pattern: 'orders', prompt_id: AGENT }]);
const AWS_ENV = ['AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_SQS', 'AWS_ENDPOINT_URL_SECRETS_MANAGER', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'];
const THROTTLED = { status: 400, body: JSON.stringify({ __type: 'ThrottlingException', message: 'Rate exceeded' }), headers: { 'content-type': 'application/x-amz-json-1.1' } };

let sim: ArchestraSim;
let moto: MotoServer;
let dynamo: Dynalite;
const proxies: FaultProxy[] = [];
const saved = { ...process.env };
const figures: Record<string, number> = {};

beforeAll(async () => {
  [sim, moto, dynamo] = await Promise.all([startArchestraSim({ tokens: [TOKEN] }), startMoto(), startDynalite()]);
}, 60_000);
afterAll(async () => {
  process.env = saved;
  await Promise.all([sim?.close(), moto?.stop(), dynamo?.stop(), ...proxies.map((p) => p.close())]);
  writeFigures('real-failures', figures);
});
beforeEach(() => {
  sim.clear();
  sim.setBehaviour(undefined);
  sim.setLatency(undefined);
  delete sim.agents[AGENT];
});

async function proxy(target: string): Promise<FaultProxy> {
  const p = await startFaultProxy(target);
  proxies.push(p);
  return p;
}

/** The SDK clients the bridge builds find their endpoints through the standard variables, per service. */
function endpoints(e: { sqs?: string; secrets?: string }) {
  for (const k of AWS_ENV) delete process.env[k];
  Object.assign(process.env, { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' });
  if (e.sqs) process.env.AWS_ENDPOINT_URL_SQS = e.sqs;
  if (e.secrets) process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = e.secrets;
}

async function secret(value: string): Promise<string> {
  const sm = new SecretsManagerClient(moto.clientConfig);
  try {
    return (await sm.send(new CreateSecretCommand({ Name: `archestra/rf-${Math.random().toString(16).slice(2)}`, SecretString: value }))).ARN!;
  } finally {
    sm.destroy();
  }
}

async function putSecret(arn: string, value: string) {
  const sm = new SecretsManagerClient(moto.clientConfig);
  try {
    await sm.send(new PutSecretValueCommand({ SecretId: arn, SecretString: value }));
  } finally {
    sm.destroy();
  }
}

const records = (n: number, o: { key?: (i: number) => string | null; partitions?: number; from?: number } = {}): TestRecord[] =>
  Array.from({ length: n }, (_, i) => ({ topic: 'orders', partition: i % (o.partitions ?? 1), offset: (o.from ?? 0) + i, key: o.key ? o.key(i) : `k${i}`, value: { n: i } }));

/** Requests the agent refused for their credential: 401/403, 200 + -32600, or the 429 lockout. */
const refusals = (reqs: RecordedRequest[]) => reqs.filter((r) => r.status === 401 || r.status === 403 || r.status === 429 || r.errorCode === -32600);

/** Runs a batch, but stops waiting at Lambda's own deadline: the function would be killed there. */
async function againstTheClock<T>(run: () => Promise<T>, remainingMs: number): Promise<{ result?: T; elapsed: number; killed: boolean; pending: Promise<unknown> }> {
  const started = Date.now();
  const pending = run();
  let timer: NodeJS.Timeout | undefined;
  const killed = new Promise<'killed'>((r) => (timer = setTimeout(() => r('killed'), remainingMs)));
  const first = await Promise.race([pending, killed]);
  clearTimeout(timer);
  return first === 'killed' ? { killed: true, elapsed: Date.now() - started, pending } : { result: first as T, killed: false, elapsed: Date.now() - started, pending };
}

describe('defect 1: a token re-read that fails during a batch', () => {
  test('Secrets Manager throttles once the cached token expired mid-batch: processBatch does not throw, the cached token keeps delivering', async () => {
    const front = await proxy(moto.endpoint);
    endpoints({ secrets: front.url });
    const arn = await secret(JSON.stringify({ token: TOKEN }));
    // The first read passes (the batch starts with a cached token), every later one is throttled.
    let reads = 0;
    front.setDecide((r) => (r.operation.endsWith('GetSecretValue') && ++reads > 1 ? THROTTLED : 'pass'));
    sim.setLatency(60);
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN_SECRET_ARN: arn, ROUTES_CONFIG: ROUTES, ORDERING: 'key', TOKEN_CACHE_TTL_SECONDS: '0.1' });
    // Two keys of 6 records each: every record after the first waits past the cache's TTL.
    const result = await bridge.run(mskEvent(records(12, { key: (i) => `k${i % 2}` })));
    expect(reads).toBeGreaterThan(1); // the refresh was attempted, and throttled
    expect(result.outcomes.map((o) => o.status)).toEqual(Array(12).fill('delivered'));
    expect(sim.requests.filter(isSend)).toHaveLength(12);
  }, 60_000);

  test('a cached token the agent then refuses, with Secrets Manager still throttling: every record reported, no exception, one refusal', async () => {
    const front = await proxy(moto.endpoint);
    endpoints({ secrets: front.url });
    const arn = await secret(TOKEN);
    let reads = 0;
    front.setDecide((r) => (r.operation.endsWith('GetSecretValue') && ++reads > 1 ? THROTTLED : 'pass'));
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN_SECRET_ARN: arn, ROUTES_CONFIG: ROUTES, ORDERING: 'none', MAX_CONCURRENCY: '2' });
    expect((await bridge.run(mskEvent(records(2)))).response.batchItemFailures).toEqual([]);
    sim.clear();
    sim.agents[AGENT] = { tokens: ['rotated-elsewhere'] }; // the cached token is revoked
    const result = await bridge.run(mskEvent(records(8, { from: 10, partitions: 2 })));
    expect(result.outcomes.every((o) => o.status === 'failed')).toBe(true);
    expect(new Set(result.outcomes.map((o) => o.code))).toEqual(new Set(['token_unavailable']));
    expect(result.response.batchItemFailures).toEqual([
      { itemIdentifier: { partition: 'orders-0', offset: 10 } },
      { itemIdentifier: { partition: 'orders-1', offset: 11 } },
    ]);
    // The cached value was accepted a moment ago: its revocation costs at most the requests in flight (MAX_CONCURRENCY).
    expect(refusals(sim.requests).length).toBeGreaterThanOrEqual(1);
    expect(refusals(sim.requests).length).toBeLessThanOrEqual(2);
    expect(JSON.stringify([result, bridge.logs])).not.toContain(TOKEN);
  }, 60_000);
});

describe('defect 2: a wrong token must not get the IP locked out', () => {
  test(`figure: wrong token in the secret, default settings, Lambda retrying at once in one warm container: at most 2 refusals per 60 s`, async () => {
    const locking = await startArchestraSim({ tokens: [TOKEN], authLockout: { maxFailures: 10, windowMs: 60_000 } });
    try {
      endpoints({ secrets: moto.endpoint });
      const arn = await secret(JSON.stringify({ token: 'not-the-token' }));
      // Default settings: MAX_CONCURRENCY 10, AUTH_COOLDOWN_SECONDS 60, TOKEN_CACHE_TTL_SECONDS 300.
      const bridge = makeBridge({ ARCHESTRA_URL: locking.url, ARCHESTRA_TOKEN_SECRET_ARN: arn, ROUTES_CONFIG: ROUTES, ORDERING: 'none' });
      const started = Date.now();
      for (let invocation = 0; invocation < 6; invocation++) {
        const result = await bridge.run(mskEvent(records(50, { partitions: 4 })));
        expect(result.outcomes.every((o) => o.status === 'failed')).toBe(true);
        expect(result.response.batchItemFailures).toHaveLength(4);
      }
      const refused = refusals(locking.requests);
      figures.refusedPerContainerPer60s = refused.length;
      expect(Date.now() - started).toBeLessThan(60_000);
      expect(refused.length).toBeLessThanOrEqual(2);
      expect(refused).toHaveLength(1); // the cool-down (60 s) outlasts this test: the one trial is all
      expect(refused.filter((r) => r.status === 429)).toHaveLength(0); // never locked out
    } finally {
      await locking.close();
    }
  }, 60_000);

  test('ARCHESTRA_TOKEN that is wrong: one refusal per container, no re-read, no probe, however many invocations', async () => {
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: 'wrong-token', ROUTES_CONFIG: ROUTES, ORDERING: 'none', MAX_CONCURRENCY: '50' });
    for (let i = 0; i < 3; i++) {
      const result = await bridge.run(mskEvent(records(60, { partitions: 3 })));
      // The first refusal's record reports http_401; the others auth_refused, or not_sent above it in its partition.
      expect(result.outcomes.every((o) => o.status === 'failed' && ['http_401', 'auth_refused', 'not_sent'].includes(o.code ?? ''))).toBe(true);
    }
    expect(sim.requests).toHaveLength(1);
  });

  test('the refusal is forgotten after AUTH_COOLDOWN_SECONDS: then one more request tries the token', async () => {
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: 'wrong-token', ROUTES_CONFIG: ROUTES, ORDERING: 'none', AUTH_COOLDOWN_SECONDS: '0.3' });
    await bridge.run(mskEvent(records(20)));
    expect(sim.requests).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 400));
    await bridge.run(mskEvent(records(20)));
    expect(sim.requests).toHaveLength(2);
  });

  test('a secret that changes after the refusal is picked up at the next read, and delivery resumes', async () => {
    endpoints({ secrets: moto.endpoint });
    const arn = await secret('not-the-token');
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN_SECRET_ARN: arn, ROUTES_CONFIG: ROUTES, ORDERING: 'none', TOKEN_CACHE_TTL_SECONDS: '0.3' });
    await bridge.run(mskEvent(records(10)));
    expect(refusals(sim.requests)).toHaveLength(1);
    await putSecret(arn, TOKEN);
    await new Promise((r) => setTimeout(r, 400));
    const result = await bridge.run(mskEvent(records(10, { from: 100 })));
    expect(result.response.batchItemFailures).toEqual([]);
    expect(refusals(sim.requests)).toHaveLength(1);
  }, 30_000);

  test('a token value never accepted has one request in flight; once accepted, the batch goes out concurrently', async () => {
    sim.setLatency(150);
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: ROUTES, ORDERING: 'none', MAX_CONCURRENCY: '10' });
    const result = await bridge.run(mskEvent(records(10)));
    expect(result.response.batchItemFailures).toEqual([]);
    const [first, ...rest] = [...sim.requests].sort((a, b) => a.receivedAt - b.receivedAt);
    // Nobody else was on the wire while the unverified token was tried ...
    for (const r of rest) expect(r.receivedAt).toBeGreaterThanOrEqual(first.respondedAt!);
    // ... and the nine others then overlapped (they did not wait for each other).
    expect(Math.max(...rest.map((r) => r.receivedAt)) - Math.min(...rest.map((r) => r.receivedAt))).toBeLessThan(150);
  });

  test("Archestra's lockout (HTTP 429 'too many failed authentications') is an auth failure: reported, not retried", async () => {
    const locking = await startArchestraSim({ tokens: [TOKEN], authLockout: { maxFailures: 1, windowMs: 60_000 } });
    try {
      // Someone else on this IP got it locked out.
      await new Promise<void>((resolve) => {
        const req = request(`${locking.agentUrl(AGENT)}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer nope' } }, (res) => {
          res.resume();
          res.on('end', () => resolve());
        });
        req.end('{}');
      });
      const bridge = makeBridge({ ARCHESTRA_URL: locking.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: ROUTES, ORDERING: 'none', MAX_RETRIES: '3' });
      const result = await bridge.run(mskEvent(records(5)));
      expect(result.outcomes.map((o) => [o.status, o.code])).toEqual([['failed', 'auth_lockout'], ...Array(4).fill(['failed', 'auth_refused'])]);
      expect(locking.requests.filter((r) => r.status === 429)).toHaveLength(1);
    } finally {
      await locking.close();
    }
  });
});

describe('defect 3: one auth gate per credential', () => {
  const both = () => mskEvent([...records(6, { partitions: 2 }), ...records(6, { partitions: 2 }).map((r) => ({ ...r, topic: 'partner' }))]);
  const routes = (partnerUrl: string) =>
    JSON.stringify([
      { name: 'partner', topic_pattern: 'partner', prompt_id: AGENT, url: partnerUrl },
      { name: 'orders', topic_pattern: 'orders', prompt_id: AGENT },
    ]);
  const statuses = (r: { outcomes: Array<{ route: string | null; status: string }> }, route: string) => r.outcomes.filter((o) => o.route === route).map((o) => o.status);

  test('a 401 from a route with its own url stops only that route: the Archestra route keeps delivering, its token is not re-read', async () => {
    const foreign = await startArchestraSim({ tokens: ['partner-only'] }); // the bridge sends it no token: 401
    try {
      // Counts the re-reads asked for (a forced refresh, whatever the interface calls it).
      const tokens = {
        reads: 0,
        fixed: false,
        get: async (o?: unknown) => {
          if (o === true || (o as { fresherThan?: number })?.fresherThan !== undefined) tokens.reads++;
          return TOKEN;
        },
      };
      const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: routes(foreign.agentUrl(AGENT)), ORDERING: 'partition' }, { tokens });
      // The partner's refusal comes back first; the Archestra records go one after the other (one partition chain).
      sim.setLatency(40);
      const result = await bridge.run(mskEvent([...records(6), ...records(2).map((r) => ({ ...r, topic: 'partner' }))]));
      expect(statuses(result, 'orders')).toEqual(Array(6).fill('delivered'));
      expect(statuses(result, 'partner')).toEqual(Array(2).fill('failed'));
      expect(tokens.reads).toBe(0);
    } finally {
      await foreign.close();
    }
  });

  test('a refused Archestra token stops only the Archestra routes: a route with its own url keeps delivering', async () => {
    const { startSdkA2AServer } = await import('../support/a2a-sdk-server');
    const open = await startSdkA2AServer();
    try {
      const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: 'wrong', ROUTES_CONFIG: routes(open.url), ORDERING: 'none' });
      const result = await bridge.run(both());
      expect(statuses(result, 'partner')).toEqual(Array(6).fill('delivered'));
      expect(statuses(result, 'orders')).toEqual(Array(6).fill('failed'));
      expect(refusals(sim.requests)).toHaveLength(1);
    } finally {
      await open.close();
    }
  });
});

describe('defect 4: every AWS call is bounded by the deadline', () => {
  const IDEM_ENV = { ARCHESTRA_URL: '', ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: ROUTES };
  let table = 0;
  async function store(front: FaultProxy) {
    const name = `idem-rf-${++table}`;
    await dynamo.createIdempotencyTable(name);
    const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
    const client = new DynamoDBClient({ endpoint: front.url, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 3, requestHandler: { requestTimeout: 3000, connectionTimeout: 1000, throwOnRequestTimeout: true } });
    return { name, client, idempotency: createDynamoIdempotency({ table: name, ttlSeconds: 3600, endpoint: front.url }) };
  }
  const statusOf = async (name: string, key: string) =>
    (await dynamo.client.send(new GetItemCommand({ TableName: name, Key: { id: { S: key } }, ConsistentRead: true }))).Item?.status?.S;

  test('a DynamoDB endpoint that never answers: remainingMs=4000 returns before Lambda\'s deadline, records reported', async () => {
    const front = await proxy(dynamo.endpoint);
    const s = await store(front);
    front.setDecide(() => 'hang');
    const bridge = makeBridge({ ...IDEM_ENV, ARCHESTRA_URL: sim.url, ORDERING: 'key' }, { idempotency: s.idempotency });
    const run = await againstTheClock(() => bridge.run(mskEvent(records(4)), 4000), 4000);
    figures.dynamoHangMs = run.elapsed;
    expect(run.killed).toBe(false);
    expect(run.result!.outcomes.every((o) => o.status === 'failed')).toBe(true);
    expect(sim.requests).toHaveLength(0);
    await run.pending;
    s.client.destroy();
  }, 30_000);

  test('no claim is taken when the time left cannot fit a request', async () => {
    const front = await proxy(dynamo.endpoint);
    const s = await store(front);
    const bridge = makeBridge({ ...IDEM_ENV, ARCHESTRA_URL: sim.url, MIN_REQUEST_SECONDS: '1' }, { idempotency: s.idempotency });
    // 1.2 s left - 0.5 s safety margin = 0.7 s before the deadline: less than MIN_REQUEST_SECONDS.
    const result = await bridge.run(mskEvent(records(3)), 1200);
    expect(result.outcomes.map((o) => o.code)).toEqual(['deadline', 'deadline', 'deadline']);
    expect(front.requests.filter((r) => r.operation.endsWith('PutItem'))).toHaveLength(0);
    s.client.destroy();
  });

  test('a complete that hangs: the handler answers in time, the record stays delivered and its claim stays (a redelivery is not sent)', async () => {
    const front = await proxy(dynamo.endpoint);
    const s = await store(front);
    front.setDecide((r) => (r.operation.endsWith('UpdateItem') ? 'hang' : 'pass'));
    const bridge = makeBridge({ ...IDEM_ENV, ARCHESTRA_URL: sim.url }, { idempotency: s.idempotency });
    const run = await againstTheClock(() => bridge.run(mskEvent(records(1)), 3000), 3000);
    figures.completeHangMs = run.elapsed;
    expect(run.killed).toBe(false);
    expect(run.result!.outcomes[0].status).toBe('delivered');
    expect(await statusOf(s.name, 'orders-0-0#orders')).toBe('IN_PROGRESS');
    // Lambda redelivers it (another container): the claim is still held, so it is reported, not sent again.
    front.setDecide(undefined);
    const other = makeBridge({ ...IDEM_ENV, ARCHESTRA_URL: sim.url }, { idempotency: createDynamoIdempotency({ table: s.name, ttlSeconds: 3600, endpoint: dynamo.endpoint }) });
    const again = await other.run(mskEvent(records(1)));
    expect(again.outcomes[0]).toMatchObject({ status: 'failed', code: 'in_progress' });
    expect(sim.requests.filter(isSend)).toHaveLength(1);
    s.client.destroy();
  }, 30_000);

  test('a release that hangs: the handler answers in time, the claim lapses at the deadline and the record is sent again later', async () => {
    const front = await proxy(dynamo.endpoint);
    const s = await store(front);
    front.setDecide((r) => (r.operation.endsWith('DeleteItem') ? 'hang' : 'pass'));
    sim.setBehaviour((r) => (isSend(r) ? { kind: 'http', status: 503 } : undefined));
    const bridge = makeBridge({ ...IDEM_ENV, ARCHESTRA_URL: sim.url, MAX_RETRIES: '0' }, { idempotency: s.idempotency });
    const run = await againstTheClock(() => bridge.run(mskEvent(records(1)), 2500), 2500);
    figures.releaseHangMs = run.elapsed;
    expect(run.killed).toBe(false);
    expect(run.result!.outcomes[0]).toMatchObject({ status: 'failed', code: 'http_503' });
    expect(await statusOf(s.name, 'orders-0-0#orders')).toBe('IN_PROGRESS');
    // The claim was held until the invocation's deadline only.
    // expiresAt is in whole seconds and compared with the current whole second: wait past both roundings.
    await new Promise((r) => setTimeout(r, 3500));
    sim.setBehaviour(undefined);
    front.setDecide(undefined);
    const again = await bridge.run(mskEvent(records(1)));
    expect(again.outcomes[0].status).toBe('delivered');
    s.client.destroy();
  }, 30_000);

  test('a Secrets Manager read that hangs mid-batch: the handler still answers before Lambda\'s deadline', async () => {
    const front = await proxy(moto.endpoint);
    endpoints({ secrets: front.url });
    const arn = await secret(TOKEN);
    let reads = 0;
    front.setDecide((r) => (r.operation.endsWith('GetSecretValue') && ++reads > 1 ? 'hang' : 'pass'));
    sim.setLatency(100);
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN_SECRET_ARN: arn, ROUTES_CONFIG: ROUTES, ORDERING: 'partition', TOKEN_CACHE_TTL_SECONDS: '0.1' });
    const run = await againstTheClock(() => bridge.run(mskEvent(records(40)), 3000), 3000);
    figures.secretHangMs = run.elapsed;
    expect(run.killed).toBe(false);
    expect(run.result!.outcomes.filter((o) => o.status === 'delivered').length).toBeGreaterThan(0);
    await run.pending;
  }, 30_000);
});

describe('defect 5: claims are bounded by MAX_CONCURRENCY', () => {
  test('ORDERING=none, 200 records, MAX_CONCURRENCY=10: at most 10 claims in flight, none failed', async () => {
    const front = await proxy(dynamo.endpoint);
    await dynamo.createIdempotencyTable('idem-rf-claims');
    const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
    const client = new DynamoDBClient({ endpoint: front.url, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    const store = createDynamoIdempotency({ table: 'idem-rf-claims', ttlSeconds: 3600, endpoint: front.url });
    // Counted at the store's seam as well as on the wire: how the HTTP edge spreads new connections decides how
    // many PutItems overlap at the proxy, while the pipeline's limit is on the claims it starts.
    const claims = { inFlight: 0, max: 0 };
    const counted = {
      ...store,
      claim: async (...args: Parameters<typeof store.claim>) => {
        claims.max = Math.max(claims.max, ++claims.inFlight);
        try {
          return await store.claim(...args);
        } finally {
          claims.inFlight--;
        }
      },
    };
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: ROUTES, ORDERING: 'none', MAX_CONCURRENCY: '10' }, { idempotency: counted });
    const result = await bridge.run(mskEvent(records(200, { partitions: 4 })));
    figures.maxClaimsInFlight = Math.max(claims.max, front.maxInFlight['DynamoDB_20120810.PutItem']);
    expect(claims.max).toBe(10);
    expect(front.maxInFlight['DynamoDB_20120810.PutItem']).toBeLessThanOrEqual(10);
    expect(result.outcomes.filter((o) => o.status === 'delivered')).toHaveLength(200);
    client.destroy();
  }, 60_000);
});

describe('defect 6: a chunked dead letter that partly fails', () => {
  test('the chunks after the first failed one are not sent; the record is reported', async () => {
    const front = await proxy(moto.endpoint);
    endpoints({ sqs: front.url });
    // Created through the proxy: moto names the queue URL after the Host it was asked on, and the SQS client
    // sends to the queue URL's host.
    const sqs = new SQSClient({ ...moto.clientConfig, endpoint: front.url });
    const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `dlq-chunks-${Date.now()}` }))).QueueUrl!;
    // Every write of chunk 2 fails (the SDK's retries included).
    front.setDecide((r) => (r.operation.endsWith('SendMessageBatch') && /\\"index\\":2,/.test(r.body) ? { status: 500, body: '{"__type":"InternalError"}' } : 'pass'));
    sim.setBehaviour((r) => (isSend(r) ? { kind: 'rpcError', code: -32602, message: 'Invalid params' } : undefined));
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: ROUTES, DLQ_URL: queueUrl, DLQ_MAX_MESSAGE_BYTES: String(16 * 1024) });
    const big = 'x'.repeat(80 * 1024);
    const result = await bridge.run(mskEvent([{ topic: 'orders', partition: 0, offset: 7, value: { big } }]));
    expect(result.response.batchItemFailures).toEqual([{ itemIdentifier: { partition: 'orders-0', offset: 7 } }]);
    const sent = front.requests.filter((r) => r.operation.endsWith('SendMessageBatch')).map((r) => Number(/\\"index\\":(\d+),/.exec(r.body)?.[1]));
    expect(Math.max(...sent)).toBe(2); // 0 and 1 written, 2 failed (retried by the SDK), nothing after it
    sqs.destroy();
  }, 60_000);
});

describe('defect 7: smaller ones', () => {
  test('a JSON secret\'s token is trimmed', async () => {
    endpoints({ secrets: moto.endpoint });
    const arn = await secret(JSON.stringify({ token: `  ${TOKEN}\n` }));
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN_SECRET_ARN: arn, ROUTES_CONFIG: ROUTES });
    expect((await bridge.run(mskEvent(records(1)))).outcomes[0].status).toBe('delivered');
  });

  test('a secret whose token holds a character no header allows: a configuration error, reported, nothing sent or retried', async () => {
    endpoints({ secrets: moto.endpoint });
    const arn = await secret(JSON.stringify({ token: 'abc\u0001def' }));
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN_SECRET_ARN: arn, ROUTES_CONFIG: ROUTES });
    const result = await bridge.run(mskEvent(records(2)));
    expect(result.outcomes.map((o) => [o.status, o.code])).toEqual([
      ['failed', 'token_invalid'],
      ['failed', 'token_invalid'],
    ]);
    expect(bridge.logs.some((l) => l.level === 'error' && /configuration error/.test(l.message))).toBe(true);
    expect(sim.requests).toHaveLength(0);
  });

  test('a header_match or field_match key named __proto__ is matched like any other', async () => {
    const routes = JSON.parse(`[{"name":"h","topic_pattern":"orders","prompt_id":"${AGENT}","header_match":{"__proto__":"yes"},"field_match":{"__proto__":1}}]`);
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: JSON.stringify(routes) });
    const value = JSON.parse('{"__proto__": 1}');
    const result = await bridge.run(
      mskEvent([
        { topic: 'orders', partition: 0, offset: 1, value, headers: { ['__proto__']: 'yes' } },
        { topic: 'orders', partition: 0, offset: 2, value, headers: { ['__proto__']: 'no' } },
      ]),
    );
    expect(result.outcomes.map((o) => o.status)).toEqual(['delivered', 'unrouted']);
  });
});

describe('defect 8: outages of the platform are transient', () => {
  test('an HTTP 200 that is not JSON (a proxy page) and -32603 without isRetryable: reported for redelivery, not dead-lettered', async () => {
    const dlq: unknown[] = [];
    sim.setBehaviour((r) =>
      isSend(r) ? (/"n": 0/.test(r.text ?? '') ? { kind: 'malformed', body: '<html>upstream unavailable</html>' } : { kind: 'rpcError', code: -32603, message: 'Internal error' }) : undefined,
    );
    const bridge = makeBridge(
      { ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: ROUTES, ORDERING: 'none', MAX_RETRIES: '1' },
      {
        deadLetters: {
          send: async (letters) => {
            dlq.push(...letters);
            return new Set();
          },
        },
      },
    );
    const result = await bridge.run(mskEvent(records(2, { partitions: 2 })));
    // The proxy page carries no verdict on a request that was read: unknown, so not retried (1
    // attempt); the platform's own -32603 says the run failed, so it is retried (2 attempts).
    expect(result.outcomes.map((o) => [o.status, o.code, o.attempts])).toEqual([
      ['failed', 'malformed_reply', 1],
      ['failed', 'jsonrpc_-32603', 2],
    ]);
    expect(dlq).toHaveLength(0);
    expect(result.response.batchItemFailures).toHaveLength(2);
  });
});

test('the credential memory is per container: a second pipeline sharing it (a warm invocation) does not try the refused token again', async () => {
  const gates = new CredentialGates({ coolDownMs: 60_000 });
  const env = { ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: 'wrong-token', ROUTES_CONFIG: ROUTES };
  await makeBridge(env, { gates }).run(mskEvent(records(3)));
  await makeBridge(env, { gates }).run(mskEvent(records(3)));
  expect(sim.requests).toHaveLength(1);
});
