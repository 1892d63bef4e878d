// The no-loss proof: generated batches (fast-check, fixed seed) of 1 to 200 records over several topics,
// partitions and keys (poison records with and without an offset among them), under every ORDERING mode,
// against the Archestra sim answering with seeded faults
// (resets, hangs, slow and stalled bodies, 5xx, 429 with and without Retry-After, JSON-RPC errors retryable
// and not, malformed and truncated bodies, wrong ids, tasks that never finish; circuits that open after 2
// transient failures in a row in a quarter of the batches; a per-agent max_in_flight on the payments route), with dead-letter writes that
// fail at random (in-memory sink) or go to a real SQS queue on moto_server. Every batch is judged by
// support/classify.ts; each invariant is one test below, with the first counterexample and how to replay it.
//
//   RELIABILITY_PROFILE=full   1,200 batches (400 per ORDERING mode) + 24 on SQS; default `fast` (72 + 6)
//   RELIABILITY_SEED=n         another fixed seed (default in support/profile.ts)
//   RELIABILITY_REPLAY=key:17  run only that batch of that property (printed with each counterexample)
//   RELIABILITY_SHRINK=1       let fast-check shrink a batch that throws (slow with real I/O)
//
// Invariant violations are collected, not thrown inside the property, so that every invariant gets its own
// test and its own figures; each failing test prints its first counterexample and the line to replay it.
import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateQueueCommand, DeleteQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import fc from 'fast-check';
import { startArchestraSim, type ArchestraSim } from '../../sim/archestra';
import { CredentialGates } from '../../lambda/deliver/credential-gate';
import { startDynalite, type Dynalite } from '../support/dynalite';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy';
import { startMoto, type MotoServer } from '../support/moto';
import type { InvariantId } from './support/classify';
import { drainQueue } from './support/dlq';
import { SEND_FAULTS } from './support/faults';
import { Tally } from './support/figures';
import { batchArb, describeRun, ORDERINGS, runBatch, skipExpected, type BatchSpec, type Ordering, type RunOptions } from './support/harness';
import { judgeSettled, runUntilSettled } from './support/redelivery';
import { profile, writeFigures } from './support/profile';

const P = profile();
const TOKEN = `tok-${randomBytes(12).toString('hex')}`;
const tally = new Tally();
const replay = process.env.RELIABILITY_REPLAY?.split(':') as [string, string] | undefined;
let sim: ArchestraSim;
let moto: MotoServer | undefined;
let sqs: SQSClient | undefined;
let dynamo: Dynalite | undefined;
let dynamoClient: DynamoDBClient | undefined;
const proxies: FaultProxy[] = [];
let aws: RunOptions['aws'];
// The wrong-token batches are one warm container: they share its credential memory (default AUTH_COOLDOWN_SECONDS).
const gates = new CredentialGates({ coolDownMs: 60_000 });
const savedEnv = { ...process.env };
let wallMs = 0;

type Label = Ordering | 'sqs';
const SEED_OFFSET: Record<Label, number> = { partition: 1, key: 2, none: 3, sqs: 4 };

async function property(label: Label, numRuns: number, arb: fc.Arbitrary<BatchSpec>, runOne: (spec: BatchSpec, index: number) => Promise<void>) {
  if (replay && replay[0] !== label) return;
  const seed = P.seed + SEED_OFFSET[label];
  let index = replay ? Number(replay[1]) : 0;
  await fc.assert(
    fc.asyncProperty(arb, async (spec) => {
      await runOne(spec, index++);
    }),
    { seed, numRuns: replay ? 1 : numRuns, ...(replay ? { path: replay[1] } : {}), endOnFailure: !P.shrink },
  );
}

/** The lease after an unknown outcome in these batches: REQUEST_TIMEOUT 0.3 s plus the default UNKNOWN_OUTCOME_MARGIN_SECONDS (60). */
const LEASE_MS = 300 + 60_000;

const replayHint = (label: Label, i: number) => `replay: RELIABILITY_SEED=${P.seed} RELIABILITY_REPLAY=${label}:${i}`;

beforeAll(async () => {
  const started = Date.now();
  // Archestra's IP lockout is on: a bridge that sent a wrong token too often would see 429s for everything.
  sim = await startArchestraSim({ tokens: [TOKEN], authLockout: { maxFailures: 10, windowMs: 60_000 } });
  // The AWS peers, each behind a proxy that injects the batch's faults: Secrets Manager (moto) holding the token,
  // DynamoDB (dynalite) holding the idempotency table.
  [moto, dynamo] = await Promise.all([startMoto(), startDynalite()]);
  const [smProxy, dbProxy] = await Promise.all([startFaultProxy(moto.endpoint), startFaultProxy(dynamo.endpoint)]);
  proxies.push(smProxy, dbProxy);
  Object.assign(process.env, { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_ENDPOINT_URL_SECRETS_MANAGER: smProxy.url });
  const sm = new SecretsManagerClient(moto.clientConfig);
  const secretArn = (await sm.send(new CreateSecretCommand({ Name: 'reliability/token', SecretString: JSON.stringify({ token: TOKEN }) }))).ARN!;
  sm.destroy();
  await dynamo.createIdempotencyTable('reliability-idempotency');
  // As the handler builds it (lambda/io/dynamo-idempotency.ts), pointed at the proxy.
  dynamoClient = new DynamoDBClient({
    endpoint: dbProxy.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 3,
    requestHandler: { requestTimeout: 3000, connectionTimeout: 1000, throwOnRequestTimeout: true },
  });
  aws = { secretArn, secrets: smProxy, dynamo: dbProxy, dynamoClient, table: 'reliability-idempotency' };
  // Warm-up, not counted: the first fetch loads undici and the first batch compiles the hot paths; a cold
  // start stalling the event loop past the 300 ms request timeout would only measure the test process.
  await runBatch({ ...fc.sample(batchArb(fc.constant('key'), { dlqFaults: false, maxRecords: 40 }), { seed: 1, numRuns: 1 })[0], faultRate: 0 }, { sim, token: TOKEN });

  // In-memory dead-letter sink with seeded write failures, every ORDERING mode.
  for (const mode of ORDERINGS) {
    await property(mode, P.batchesPerMode, batchArb(fc.constant(mode), { dlqFaults: true, aws: true, ...(P.storeOnly && { storeOnly: true, maxRecords: P.storeOnly.maxRecords }) }), async (spec, i) => {
      const o: RunOptions = { sim, token: TOKEN, aws, gates, batchId: `${mode}-${i}` };
      if (!spec.idempotency) {
        const run = await runBatch(spec, o);
        tally.add(run, replayHint(mode, i), () => describeRun(run));
        return;
      }
      // With the store, redelivered as Lambda would until nothing is reported, judged across it all.
      const rounds = await runUntilSettled(spec, o, LEASE_MS, runBatch);
      tally.add(rounds[0], replayHint(mode, i), () => describeRun(rounds[0]));
      const specOf = new Map(rounds[0].records.map((r) => [r.id, r.spec]));
      const sv = judgeSettled(rounds, (id) => skipExpected(specOf.get(id)!));
      tally.addRedelivery(rounds, sv, LEASE_MS, replayHint(mode, i), () => rounds.map((r, k) => `invocation ${k}: ${describeRun(r, 4)}`).join('\n'));
    });
  }

  // A real SQS dead-letter queue on moto_server: what lands in the queue is read back and checked.
  if (!replay || replay[0] === 'sqs') {
    Object.assign(process.env, { AWS_ENDPOINT_URL_SQS: moto.endpoint });
    sqs = new SQSClient(moto.clientConfig);
    const client = sqs;
    await property('sqs', P.motoBatches, batchArb(fc.constantFrom(...ORDERINGS), { dlqFaults: false, maxRecords: 120 }), async (spec, i) => {
      const queueUrl = (await client.send(new CreateQueueCommand({ QueueName: `reliability-${i}` }))).QueueUrl!;
      const run = await runBatch(spec, { sim, token: TOKEN, gates, sqs: { queueUrl, read: () => drainQueue(client, queueUrl) } });
      await client.send(new DeleteQueueCommand({ QueueUrl: queueUrl }));
      tally.add(run, replayHint('sqs', i), () => describeRun(run), true);
    });
  }
  wallMs = Date.now() - started;
}, P.name === 'fast' ? 420_000 : 90 * 60_000);

afterAll(async () => {
  process.env = savedEnv;
  sqs?.destroy();
  dynamoClient?.destroy();
  await Promise.all([sim?.close(), moto?.stop(), dynamo?.stop(), ...proxies.map((p) => p.close())]);
  writeFigures('no-loss', { profile: P.name, seed: P.seed, wallMs, figures: tally.f, examples: Object.fromEntries(tally.examples) });
});

const held = (...ids: InvariantId[]) => {
  const message = tally.report(ids);
  if (message) throw new Error(message);
};

describe(`no loss under random faults (profile ${P.name}, seed ${P.seed})`, () => {
  test('the generated batches cover every ORDERING mode, sizes from 1 to 200, and the fault catalogue', () => {
    if (replay) return;
    const f = tally.f;
    for (const mode of ORDERINGS) expect(f.byOrdering[mode]).toBeGreaterThanOrEqual(P.batchesPerMode);
    expect(f.sqsBatches).toBe(P.motoBatches);
    expect(f.batches).toBeGreaterThanOrEqual(3 * P.batchesPerMode + P.motoBatches);
    expect(f.recordsPerBatch.min).toBeLessThanOrEqual(P.name === 'full' ? 5 : 40);
    expect(f.recordsPerBatch.max).toBeGreaterThanOrEqual(P.storeOnly ? P.storeOnly.maxRecords - 5 : P.name === 'full' ? 195 : 150);
    const injected = SEND_FAULTS.filter((k) => (f.faults[k] ?? 0) > 0);
    expect(injected.length).toBeGreaterThanOrEqual(P.name === 'full' ? SEND_FAULTS.length : 14);
    expect(f.dlqWriteFailures).toBeGreaterThan(0);
    expect(f.deadlineBatches).toBeGreaterThan(0);
    // Undecodable records without an offset, some of whose dead-letter writes failed (reported instead).
    expect(f.offsetless).toBeGreaterThan(0);
    if (P.name === 'full') expect(f.offsetlessReported).toBeGreaterThan(0);
    // The generated faults also cover auth refusals of each kind, token-store and DynamoDB faults (hangs included),
    // the idempotency store on and off, and a wrong token in one warm container.
    for (const k of ['auth_401', 'auth_rpc', 'auth_lockout'] as const) expect(f.faults[k] ?? 0).toBeGreaterThan(0);
    expect(f.secretBatches).toBeGreaterThan(0);
    expect(f.idempotencyBatches).toBeGreaterThan(0);
    if (P.storeOnly) expect(f.idempotencyBatches).toBe(f.batches);
    else expect(f.idempotencyBatches).toBeLessThan(f.batches);
    expect(f.awsFaultBatches).toBeGreaterThan(0);
    expect(f.wrongTokenBatches).toBeGreaterThan(0);
    expect(f.refused).toBeGreaterThan(0);
    if (P.name === 'full') expect(f.awsFaults.aws_hang ?? 0).toBeGreaterThan(0);
  });

  test('the handler never throws, answers before Lambda\'s deadline, and nothing it started reaches an agent after it answered', () => {
    held('throws', 'deadline', 'after-return');
  });

  test('a refused token is not sent again within the cool-down; a wrong token costs at most 2 refused requests per container per 60 s', () => {
    held('refused-resend', 'refusals');
    expect(tally.f.wrongTokenRefusedPer60s).toBeLessThanOrEqual(2);
  });

  test('requests in flight to an agent never exceed its max_in_flight; circuits open under sustained faults and no record is lost to them', () => {
    held('agent-limit');
    expect(tally.f.codes.circuit_open ?? 0).toBeGreaterThan(0);
  });

  test('invariant 1: no record is lost (each is delivered, dead-lettered, reported, or skipped by configuration)', () => {
    held('1.lost', '1.skip');
    expect(tally.f.lost).toBe(0);
  });

  test('invariant 1: a dead letter carries the record\'s full content (coordinates, base64 key and value, headers, reason)', () => {
    held('1.content');
  });

  test('invariant 1: never dead-lettered AND delivered, never dead-lettered twice', () => {
    held('1.dead-lettered+delivered', '1.dead-lettered-twice');
  });

  // A letter is written only once nothing below it in its partition is reported: a failed write lowers its
  // partition's reported offset, and a letter already written above it would come back with the redelivery and be
  // dead-lettered a second time. The minimal case is in aws-faults.test.ts.
  test('invariant 1: never dead-lettered while also at/after the reported offset', () => {
    held('1.dead-lettered+reported');
  });

  // A letter is written in its record's turn in the chain and a failed write stops the chain: otherwise the failure
  // would report a record below records its own chain already delivered, which Lambda would send to the agent again.
  test('invariant 1: a record both delivered and reported was delivered in another chain than the failure', () => {
    held('1.delivered+reported-same-chain');
  });

  test('invariant 2: every identifier in the response is a record of the batch, one per partition, at its lowest failed-or-unsent offset', () => {
    held('2.response');
  });

  test('invariant 3: within a chain the agent receives records in offset order, and nothing after a transient failure', () => {
    held('3.order');
  });

  test('invariant 4: no record is delivered twice within one invocation outside the documented window (a retry after a success the bridge never saw, counted), and the bridge\'s verdict matches the agent\'s answers', () => {
    held('4.duplicate', 'ack');
    expect(tally.f.duplicates).toBe(0);
  });

  // The hold covers every send, not only the first: a delivery that waited for a concurrency slot, and a retry,
  // also check it, since Lambda redelivers a record above the failure and a send now would reach the agent twice.
  // The minimal cases are in hold.test.ts.
  test('without an idempotency store, no send starts above a partition\'s failure offset once the failure is known', () => {
    held('hold');
  });

  test('with the store, each batch redelivered until settled: nothing lost or dead-lettered twice, every record run by its agent once but for the counted resends after a lapsed lease', () => {
    held('5.settled', '5.lost', '5.duplicate', '5.dead-lettered-twice');
    const r = tally.f.redelivery;
    if (replay) return;
    expect(r.batches).toBe(tally.f.idempotencyBatches);
    expect(r.batches).toBeGreaterThan(0);
    expect(r.settled).toBe(r.batches);
    expect(r.lost).toBe(0);
    expect(r.duplicates).toBe(0);
    // The batches did need redelivering, and the store's memory was used: leases held, verdicts remembered.
    expect(r.invocations).toBeGreaterThan(r.batches);
    expect(r.leasedRedeliveries + r.fromStoredVerdict).toBeGreaterThan(0);
  });
});
