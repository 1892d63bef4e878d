// `npm run consume` end to end against real peers: librdkafka's mock cluster (kcat) as the Kafka broker, the
// Archestra simulator as the agents (one fails each record's first send, one refuses), dynalite as the
// idempotency store. Checks what Lambda's event source mapping guarantees: every record ends delivered exactly
// once or dead-lettered, the group's committed offsets reach the end of the topic, and a reported partition is
// read again from the reported offset, in order.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Partitioners, type Kafka } from 'kafkajs';
import { isSend, startArchestraSim, type ArchestraSim } from '../../sim/archestra';
import { consume, type BatchReport } from '../../scripts/lib/consumer';
import { createKafka, kafkaConnection } from '../../scripts/lib/kafka';
import { createLocalBridge } from '../../scripts/lib/run-batch';
import { invoke } from '../../scripts/lib/run-batch';
import { startDynalite, type Dynalite } from '../support/dynalite';
import { MOCK_TOPIC_PARTITIONS, startKafkaMock, type KafkaMock } from '../support/kafka-mock';

jest.setTimeout(120_000);

const ROOT = resolve(__dirname, '..', '..');
const TOKEN = 'consume-test-token-5b1e';
const FLAKY = randomUUID();
const STEADY = randomUUID();
const REFUSER = randomUUID();

let mock: KafkaMock;
let kafka: Kafka;
let sim: ArchestraSim;
let dynamo: Dynalite;
let tmp: string;

beforeAll(async () => {
  mock = await startKafkaMock();
  kafka = createKafka(kafkaConnection({ brokers: mock.bootstrap }, {}));
  sim = await startArchestraSim({ tokens: [TOKEN] });
  dynamo = await startDynalite();
});
afterAll(async () => {
  await Promise.all([mock?.stop(), sim?.close(), dynamo?.stop()]);
});
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'consume-test-'));
  sim.clear();
  sim.setBehaviour(undefined);
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

interface Produced {
  n: number;
  kind: 'flaky' | 'steady' | 'refused' | 'poison';
  partition: number;
  offset: number;
}

/** Produces records with explicit partitions and returns their offsets (the mock assigns them in order). */
async function produce(topic: string, kinds: Produced['kind'][]): Promise<Produced[]> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const next = new Map<number, number>();
  const out: Produced[] = [];
  try {
    for (let n = 0; n < kinds.length; n++) {
      const partition = n % MOCK_TOPIC_PARTITIONS;
      const kind = kinds[n];
      // Undecodable: bytes that are not UTF-8, as an Avro-framed or corrupted value would be.
      const value = kind === 'poison' ? Buffer.from([0x00, 0xff, 0xfe, 0x80]) : JSON.stringify({ n, kind });
      await producer.send({ topic, messages: [{ partition, key: `K${n % 6}`, value, headers: { source: 'consume-test' } }] });
      const offset = next.get(partition) ?? 0;
      next.set(partition, offset + 1);
      out.push({ n, kind, partition, offset });
    }
  } finally {
    await producer.disconnect();
  }
  return out;
}

function routesFile(topic: string): string {
  const file = join(tmp, 'routes.json');
  writeFileSync(
    file,
    JSON.stringify([
      { name: 'flaky', topic_pattern: topic, field_match: { kind: 'flaky' }, prompt_id: FLAKY, transform_template: 'flaky {n}' },
      { name: 'refused', topic_pattern: topic, field_match: { kind: 'refused' }, prompt_id: REFUSER, transform_template: 'refused {n}' },
      { name: 'steady', topic_pattern: topic, prompt_id: STEADY, transform_template: 'steady {n} from {$headers.source}' },
    ]),
  );
  return file;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function consumeCli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const base: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    for (const k of Object.keys(base)) if (/^(ARCHESTRA_|DLQ_|ROUTES_CONFIG|IDEMPOTENCY_|MAX_RETRIES|RETRY_DELAY|KAFKA_|AWS_ENDPOINT_URL|npm_)/.test(k)) delete base[k];
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/consume.ts', ...args], { cwd: ROOT, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // A consumer that never stops is a failure of the test, not a process left behind.
    const guard = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(guard);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

async function committedVsEnd(groupId: string, topic: string) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const ends = await admin.fetchTopicOffsets(topic);
    const byPartition = (xs: Array<{ partition: number; offset: string }>) => Object.fromEntries(xs.map((x) => [x.partition, Number(x.offset)]));
    return { committed: byPartition(committed.partitions), end: byPartition(ends.map((e) => ({ partition: e.partition, offset: e.high }))) };
  } finally {
    await admin.disconnect();
  }
}

interface InvocationDoc {
  type: 'invocation';
  invocation: number;
  partitions: Array<{ partition: string; first: number; last: number; count: number }>;
  response?: { batchItemFailures: Array<{ itemIdentifier: { partition: string; offset: number } }> };
  outcomes: Array<{ partitionKey: string; offset: number; status: string; route: string | null }>;
  committed: Record<string, number>;
  resumeFrom: Record<string, number>;
}

describe('npm run consume against the kcat mock cluster', () => {
  test('transient failures, refusals and poison: each record delivered exactly once or dead-lettered, offsets committed to the end, reported partitions re-read in order', async () => {
    const topic = `bridge.events.${randomUUID().slice(0, 8)}`;
    const groupId = `consume-e2e-${randomUUID().slice(0, 8)}`;
    const kinds: Produced['kind'][] = Array.from({ length: 40 }, (_, n) => (n === 7 || n === 22 ? 'poison' : n === 13 ? 'refused' : n % 5 === 1 ? 'flaky' : 'steady'));
    const produced = await produce(topic, kinds);
    const table = `idem-${randomUUID().slice(0, 8)}`;
    await dynamo.createIdempotencyTable(table);
    // The flaky agent fails the first send of every message (HTTP 503), then answers; the refuser rejects.
    sim.setBehaviour((r) => {
      if (!isSend(r)) return undefined;
      if (r.agentId === FLAKY && r.attempt === 1) return { kind: 'http', status: 503 };
      if (r.agentId === REFUSER) return { kind: 'rpcError', code: -32602, message: 'Invalid params' };
      return undefined;
    });

    const run = await consumeCli(
      ['--brokers', mock.bootstrap, '--topic', topic, '--group', groupId, '--starting-position', 'TRIM_HORIZON', '--batch-size', '8', '--batching-window', '0.2',
        '--idle-exit', '3', '--routes', routesFile(topic), '--dlq-dir', tmp, '--json'],
      {
        ARCHESTRA_URL: sim.url,
        ARCHESTRA_TOKEN: TOKEN,
        MAX_RETRIES: '0', // a transient failure is reported at once: the redelivery comes from the consumer
        IDEMPOTENCY_TABLE: table,
        AWS_ENDPOINT_URL: dynamo.endpoint,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
      },
    );
    expect(run.stderr).not.toMatch(/Error|error:/);
    const docs = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string });
    const invocations = docs.filter((d) => d.type === 'invocation') as InvocationDoc[];
    const summary = docs.at(-1) as { type: string; ok: boolean; stoppedBy: string; outstanding: object; counts: Record<string, number> };
    expect(summary).toMatchObject({ type: 'summary', ok: true, stoppedBy: 'idle', outstanding: {} });
    expect(run.code).toBe(0);

    // Every record delivered exactly once (one successful agent answer per record), or dead-lettered once.
    const answered = new Map<string, number>();
    for (const q of sim.requests) if (isSend(q) && q.outcome === 'message') answered.set(q.text!, (answered.get(q.text!) ?? 0) + 1);
    for (const p of produced.filter((x) => x.kind === 'flaky' || x.kind === 'steady')) {
      const text = p.kind === 'flaky' ? `flaky ${p.n}` : `steady ${p.n} from consume-test`;
      expect([text, answered.get(text)]).toEqual([text, 1]);
    }
    expect([...answered.values()].reduce((a, b) => a + b, 0)).toBe(produced.filter((x) => x.kind === 'flaky' || x.kind === 'steady').length);
    const letters = readdirSync(tmp).filter((f) => f.endsWith('.json') && f !== 'routes.json').map((f) => JSON.parse(readFileSync(join(tmp, f), 'utf8')));
    const lettered = letters.map((l) => `${l.record.partition}@${l.record.offset}:${l.kind}`).sort();
    expect(lettered).toEqual(
      produced
        .filter((x) => x.kind === 'poison' || x.kind === 'refused')
        .map((x) => `${x.partition}@${x.offset}:${x.kind === 'poison' ? 'poison' : 'permanent_failure'}`)
        .sort(),
    );
    // The flaky records really failed first: their partitions were reported and read again.
    const flakySends = sim.requests.filter((q) => isSend(q) && q.agentId === FLAKY);
    expect(flakySends.filter((q) => q.outcome === 'http')).toHaveLength(produced.filter((x) => x.kind === 'flaky').length);
    expect(invocations.some((i) => Object.keys(i.resumeFrom).length > 0)).toBe(true);
    expect(invocations.some((i) => i.partitions.length > 1)).toBe(true); // an event holds several partitions

    // Lambda's order: a partition's next batch starts where the previous one ended, or at the reported offset.
    const next = new Map<string, number>();
    for (const inv of invocations) {
      for (const p of inv.partitions) {
        expect([p.partition, p.first]).toEqual([p.partition, next.get(p.partition) ?? 0]);
        expect(p.count).toBe(p.last - p.first + 1);
        const reported = inv.response!.batchItemFailures.find((f) => f.itemIdentifier.partition === p.partition);
        expect(inv.resumeFrom[p.partition]).toBe(reported?.itemIdentifier.offset);
        expect(inv.committed[p.partition]).toBe(reported ? reported.itemIdentifier.offset : p.last + 1);
        next.set(p.partition, reported ? reported.itemIdentifier.offset : p.last + 1);
      }
    }
    // Each record's last outcome is settled; none is left failed.
    const last = new Map<string, string>();
    for (const inv of invocations) for (const o of inv.outcomes) last.set(`${o.partitionKey}@${o.offset}`, o.status);
    expect(last.size).toBe(produced.length);
    expect([...last.values()].filter((s) => !['delivered', 'duplicate', 'dead_lettered'].includes(s))).toEqual([]);

    // The group's committed offsets are the end of every partition.
    const { committed, end } = await committedVsEnd(groupId, topic);
    expect(committed).toEqual(end);
    expect(Object.values(end).reduce((a, b) => a + b, 0)).toBe(produced.length);
  });

  test('the table output, and a run stopped with a partition still reported exits 1 and leaves it uncommitted', async () => {
    const topic = `bridge.table.${randomUUID().slice(0, 8)}`;
    const groupId = `consume-table-${randomUUID().slice(0, 8)}`;
    const produced = await produce(topic, ['steady', 'flaky', 'steady', 'steady']);
    sim.setBehaviour((r) => (isSend(r) && r.agentId === FLAKY ? { kind: 'http', status: 503 } : undefined));
    const run = await consumeCli(
      ['--brokers', mock.bootstrap, '--topic', topic, '--group', groupId, '--starting-position', 'TRIM_HORIZON', '--batching-window', '1', '--max-batches', '1',
        '--routes', routesFile(topic), '--dlq-dir', tmp],
      { ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, MAX_RETRIES: '0' },
    );
    expect(run.code).toBe(1);
    const flaky = produced[1];
    const id = `${topic}-${flaky.partition}@${flaky.offset}`;
    expect(run.stdout).toMatch(/^joined group consume-table-\w+: 4 partitions/m);
    expect(run.stdout).toMatch(/^RECORD +ROUTE +AGENT +OUTCOME +LATENCY +REPLY \/ REASON$/m);
    expect(run.stdout).toMatch(new RegExp(`^${id.replace(/\./g, '\\.')} +flaky +${FLAKY.slice(0, 8)}… +failed +[\\d.]+ m?s +http_503`, 'm'));
    expect(run.stdout).toContain(`read again: ${topic}-${flaky.partition} from ${flaky.offset}`);
    expect(run.stdout).toMatch(new RegExp(`^committed .*${topic.replace(/\./g, '\\.')}-${flaky.partition} -> ${flaky.offset}(,|$)`, 'm'));
    expect(run.stdout).toContain(`left for redelivery: ${topic}-${flaky.partition} from ${flaky.offset}`);
    const { committed } = await committedVsEnd(groupId, topic);
    expect(committed[flaky.partition]).toBe(flaky.offset);
  });

  test('a partition paused for being far ahead of the invocations is still read again from a reported offset', async () => {
    const topic = `bridge.paused.${randomUUID().slice(0, 8)}`;
    const groupId = `consume-paused-${randomUUID().slice(0, 8)}`;
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    // One send: the 12 records arrive in one fetch, six batches ahead of a batch size of 2.
    await producer.send({ topic, messages: Array.from({ length: 12 }, (_, n) => ({ partition: 0, key: `K${n}`, value: JSON.stringify({ n, kind: n === 0 ? 'flaky' : 'steady' }) })) });
    await producer.disconnect();
    sim.setBehaviour((r) => (isSend(r) && r.agentId === FLAKY && r.attempt === 1 ? { kind: 'http', status: 503 } : undefined));
    const run = await consumeCli(
      ['--brokers', mock.bootstrap, '--topic', topic, '--group', groupId, '--starting-position', 'TRIM_HORIZON', '--batch-size', '2', '--batching-window', '0',
        '--idle-exit', '2', '--routes', routesFile(topic), '--dlq-dir', tmp, '--json'],
      { ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, MAX_RETRIES: '0', ORDERING: 'partition' },
    );
    expect(run.code).toBe(0);
    const invocations = run.stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((d) => d.type === 'invocation') as InvocationDoc[];
    expect(invocations[0]).toMatchObject({ partitions: [{ first: 0, last: 1 }], resumeFrom: { [`${topic}-0`]: 0 } });
    expect(invocations[1].partitions[0].first).toBe(0);
    const answered = sim.requests.filter((q) => isSend(q) && q.outcome === 'message').map((q) => q.text);
    expect(answered).toEqual(['flaky 0', ...Array.from({ length: 11 }, (_, i) => `steady ${i + 1} from {$headers.source}`)]);
    const { committed, end } = await committedVsEnd(groupId, topic);
    expect(committed[0]).toBe(12);
    expect(end[0]).toBe(12);
  });

  test('Ctrl-C (SIGINT) stops after the current invocation, with its records committed; exit 0', async () => {
    const topic = `bridge.sigint.${randomUUID().slice(0, 8)}`;
    await produce(topic, ['steady', 'steady']);
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/consume.ts', '--brokers', mock.bootstrap, '--topic', topic, '--group', `sigint-${randomUUID().slice(0, 8)}`,
      '--starting-position', 'TRIM_HORIZON', '--routes', routesFile(topic), '--dlq-dir', tmp], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: '1', ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    const code = await new Promise<number | null>((resolvePromise) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (/^committed /m.test(stdout) && !child.killed) child.kill('SIGINT');
      });
      child.on('close', (c) => resolvePromise(c));
    });
    expect(code).toBe(0);
    expect(stdout).toMatch(/^━━ stopped \(interrupted\): 1 invocation, 2 records in 1 batch: 2 delivered, 0 failed$/m);
    expect(stdout).toContain('every consumed record is settled');
  });

  test('usage and connection errors: exit 2 naming the problem; an unreachable cluster exits 1', async () => {
    const none = await consumeCli(['--brokers', 'localhost:9092']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/give at least one --topic/);
    const bad = await consumeCli(['--topic', 't', '--auth', 'iam', '--brokers', 'nope', '--batch-size', '5']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/broker "nope" is not host:port/);
    expect(bad.stderr).toMatch(/--auth iam needs the cluster's region/);
    const help = await consumeCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: npm run consume/);
    const down = await consumeCli(['--topic', 't', '--brokers', '127.0.0.1:1', '--idle-exit', '1']);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^consume: cannot reach Kafka at 127\.0\.0\.1:1 \(auth none, plaintext\)/m);
  });
});

describe('the consumer loop in process: an invocation that throws', () => {
  async function runLoop(topic: string, throwing: (call: number) => boolean, retryAttempts: number) {
    const bridge = await createLocalBridge({ env: { PATH: process.env.PATH }, routesFile: routesFile(topic), dlqDir: tmp });
    const reports: BatchReport<unknown>[] = [];
    const failures: unknown[] = [];
    let calls = 0;
    try {
      const summary = await consume({
        kafka,
        topics: [topic],
        groupId: `loop-${randomUUID().slice(0, 8)}`,
        startingPosition: 'TRIM_HORIZON',
        batchSize: 100,
        batchingWindowMs: 500,
        source: 'msk',
        bootstrapServers: mock.bootstrap,
        retryAttempts,
        idleExitMs: 2000,
        invoke: async (event) => {
          if (throwing(++calls)) throw new Error(`injected failure ${calls}`);
          const { result } = await invoke(bridge, event, { timeoutSeconds: 60 });
          return { response: result.response };
        },
        onBatch: (r) => void reports.push(r),
        onFailure: async (info) => void failures.push(info),
      });
      return { summary, reports, failures };
    } finally {
      await bridge.close();
    }
  }

  test('is retried with the same batch, and nothing is committed until it succeeds', async () => {
    const topic = `bridge.throw.${randomUUID().slice(0, 8)}`;
    await produce(topic, ['steady', 'steady', 'steady', 'steady', 'steady', 'steady']);
    const { summary, reports } = await runLoop(topic, (call) => call === 1, -1);
    expect(reports[0]).toMatchObject({ invocation: 1, attempt: 1, error: 'injected failure 1', committed: {} });
    expect(reports[1]).toMatchObject({ invocation: 2, attempt: 2, response: { batchItemFailures: [] } });
    expect(reports[1].event).toEqual(reports[0].event);
    expect(summary).toMatchObject({ thrown: 1, gaveUp: 0, outstanding: {}, interrupted: false, records: 6 });
    expect(Object.values(summary.committed).reduce((a, b) => a + b, 0)).toBe(6);
  });

  test('a run that stops before the retry of a thrown invocation reports it as interrupted', async () => {
    const topic = `bridge.stop.${randomUUID().slice(0, 8)}`;
    await produce(topic, ['steady']);
    const summary = await consume({
      kafka, topics: [topic], groupId: `stop-${randomUUID().slice(0, 8)}`, startingPosition: 'TRIM_HORIZON', batchSize: 10, batchingWindowMs: 100,
      source: 'msk', bootstrapServers: mock.bootstrap, retryAttempts: -1, maxBatches: 1,
      invoke: async () => {
        throw new Error('down');
      },
    });
    expect(summary).toMatchObject({ invocations: 1, thrown: 1, interrupted: true, stoppedBy: 'max-batches', committed: {} });
  });

  test('after the retry attempts, its KafkaBatchInfo goes to the on-failure destination and the batch is committed past', async () => {
    const topic = `bridge.giveup.${randomUUID().slice(0, 8)}`;
    const produced = await produce(topic, ['steady', 'steady', 'steady', 'steady', 'steady']);
    const { summary, reports, failures } = await runLoop(topic, () => true, 1);
    expect(reports.map((r) => [r.attempt, r.error])).toEqual([
      [1, 'injected failure 1'],
      [2, 'injected failure 2'],
    ]);
    expect(failures).toHaveLength(1);
    const info = failures[0] as { requestContext: object; KafkaBatchInfo: { batchSize: number; bootstrapServers: string; recordsInfo: Record<string, object> } };
    expect(info.requestContext).toMatchObject({ condition: 'RetryAttemptsExhausted', approximateInvokeCount: 2 });
    expect(info.KafkaBatchInfo.batchSize).toBe(5);
    expect(info.KafkaBatchInfo.bootstrapServers).toBe(mock.bootstrap);
    const expected: Record<string, object> = {};
    for (const p of new Set(produced.map((x) => x.partition))) {
      const offs = produced.filter((x) => x.partition === p).map((x) => x.offset);
      expected[`${topic}-${p}`] = { firstRecordOffset: String(Math.min(...offs)), lastRecordOffset: String(Math.max(...offs)), firstRecordTimestamp: expect.any(String), lastRecordTimestamp: expect.any(String) };
    }
    expect(info.KafkaBatchInfo.recordsInfo).toEqual(expected);
    expect(summary).toMatchObject({ gaveUp: 1, outstanding: {} });
    expect(reports[1].committed).toEqual(Object.fromEntries(Object.entries(expected).map(([tp, v]) => [tp, Number((v as { lastRecordOffset: string }).lastRecordOffset) + 1])));
  });
});
