// Kafka reply destinations end to end: the real pipeline, the Archestra simulator as the agent, kcat's mock
// cluster as the reply topic's broker (read back with a kafkajs consumer group), dynalite as the idempotency store.
import { Kafka, logLevel } from 'kafkajs';
import { createDynamoIdempotency } from '../../lambda/io/dynamo-idempotency';
import type { ReplyEnvelope } from '../../lambda/reply/envelope';
import { isSend, startArchestraSim, type ArchestraSim } from '../../sim/archestra';
import { makeBridge, totals } from '../support/bridge';
import { startDynalite, type Dynalite } from '../support/dynalite';
import { mskEvent, type TestRecord } from '../support/kafka';
import { KCAT_INSTALL, startKafkaMock, type KafkaMock } from '../support/kafka-mock';
import { freePort } from '../support/ports';
import { onPath } from '../support/prerequisites';

jest.setTimeout(90_000);

const AGENT = '77777777-7777-4777-8777-777777777777';
const TOKEN = 'tok-replies-kafka-1e9d';
const haveKcat = onPath(process.env.KCAT ?? 'kcat');
if (!haveKcat) {
  console.warn(`SKIPPED test/kafka/replies.test.ts: kcat not found; ${KCAT_INSTALL}. These tests need its mock cluster.`);
}
const suite = haveKcat ? describe : describe.skip;

suite('replies to a Kafka topic (kcat mock cluster)', () => {
  let sim: ArchestraSim;
  let db: Dynalite;
  let mock: KafkaMock;

  beforeAll(async () => {
    [sim, db, mock] = await Promise.all([startArchestraSim({ tokens: [TOKEN] }), startDynalite(), startKafkaMock({ brokers: 1 })]);
  });
  afterAll(async () => {
    await Promise.all([sim?.close(), db?.stop(), mock?.stop()]);
  });
  beforeEach(() => {
    sim.clear();
    sim.setBehaviour(undefined);
  });

  const routes = (topic: string) => JSON.stringify([{ name: 'orders', topic_pattern: 'orders.events', prompt_id: AGENT, reply: `kafka://${topic}`, reply_headers: ['trace-id'] }]);
  const bridge = async (topic: string, brokers: string, table?: string) => {
    if (table) await db.createIdempotencyTable(table);
    return makeBridge(
      { ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: routes(topic), REPLY_KAFKA_BROKERS: brokers, ORDERING: 'key', MAX_RETRIES: '0' },
      table ? { idempotency: createDynamoIdempotency({ table, ttlSeconds: 3600, endpoint: db.endpoint }) } : {},
    );
  };
  const records = (n: number): TestRecord[] =>
    Array.from({ length: n }, (_, i) => ({ topic: 'orders.events', partition: 0, offset: 10 + i, key: `k${i % 3}`, value: { n: i }, headers: { 'trace-id': `t${i}`, secret: 'x' } }));

  /** Reads every message of the topic through a consumer group until `n` arrived. */
  async function readBack(topic: string, n: number): Promise<Array<{ key: string | null; partition: number; env: ReplyEnvelope; headers: Record<string, string> }>> {
    const kafka = new Kafka({ brokers: mock.brokers, logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: `read-${topic}`, maxWaitTimeInMs: 200 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const got: Array<{ key: string | null; partition: number; env: ReplyEnvelope; headers: Record<string, string> }> = [];
    await new Promise<void>((done, fail) => {
      const timer = setTimeout(() => fail(new Error(`only ${got.length} of ${n} replies arrived`)), 30_000);
      void consumer.run({
        eachMessage: async ({ message, partition }) => {
          got.push({
            key: message.key?.toString() ?? null,
            partition,
            env: JSON.parse(message.value!.toString()) as ReplyEnvelope,
            headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])),
          });
          if (got.length >= n) {
            clearTimeout(timer);
            done();
          }
        },
      });
    });
    await consumer.disconnect();
    return got;
  }

  test('one reply per delivered record, keyed by the source key, in source order per key, the envelope complete', async () => {
    const b = await bridge('orders.replies', mock.bootstrap);
    const res = await b.run(mskEvent(records(9)));
    expect(res.response.batchItemFailures).toEqual([]);
    expect(res.outcomes.every((o) => o.status === 'delivered' && o.replyTo?.startsWith('kafka://orders.replies (partition '))).toBe(true);
    const got = await readBack('orders.replies', 9);
    expect(got).toHaveLength(9);
    for (const key of ['k0', 'k1', 'k2']) {
      const mine = got.filter((g) => g.key === key);
      expect(new Set(mine.map((g) => g.partition)).size).toBe(1);
      expect(mine.map((g) => g.env.data.record.offset)).toEqual(records(9).filter((r) => r.key === key).map((r) => r.offset));
    }
    const first = got.find((g) => g.env.data.record.offset === 10)!;
    const outcome = res.outcomes.find((o) => o.offset === 10)!;
    expect(first.env).toMatchObject({
      specversion: '1.0',
      id: 'orders.events-0-10#orders',
      type: 'dev.kafka-a2a-bridge.reply.v1',
      subject: 'orders.events/0/10',
      data: { version: 1, route: 'orders', agentId: AGENT, record: { topic: 'orders.events', partition: 0, offset: 10, key: 'k0', headers: { 'trace-id': 't0' } }, reply: { text: outcome.reply } },
    });
    expect(first.env.data.record.headers).not.toHaveProperty('secret');
    expect(first.headers).toMatchObject({ 'ce-id': 'orders.events-0-10#orders', 'source-topic': 'orders.events', 'source-partition': '0', 'source-offset': '10' });
    expect(totals(b).RepliesWritten).toBe(9);
  });

  test('a reply topic outage loses no reply and never runs the agent twice: kept in the store, written on redelivery', async () => {
    const dead = `127.0.0.1:${await freePort()}`; // nothing listens: every write fails
    const down = await bridge('orders.outage', dead, 'replies-outage');
    const all = records(6);
    const first = await down.run(mskEvent(all), 20_000);
    // Each key's chain stops at its first unwritten reply: the rest waits, in order, for the redelivery.
    expect(first.response.batchItemFailures).toEqual([{ itemIdentifier: { partition: 'orders.events-0', offset: 10 } }]);
    const failed = first.outcomes.filter((o) => o.code === 'reply_write_failed');
    expect(failed.map((o) => o.offset)).toEqual([10, 11, 12]);
    expect(totals(down).ReplyWriteFailures).toBe(3);
    expect(sim.requests.filter(isSend)).toHaveLength(3);

    // The topic is back (the same store, a container with a working producer): Lambda resumes from offset 10.
    const up = makeBridge(
      { ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: routes('orders.outage'), REPLY_KAFKA_BROKERS: mock.bootstrap, ORDERING: 'key', MAX_RETRIES: '0' },
      { idempotency: createDynamoIdempotency({ table: 'replies-outage', ttlSeconds: 3600, endpoint: db.endpoint }) },
    );
    const second = await up.run(mskEvent(all));
    expect(second.response.batchItemFailures).toEqual([]);
    expect(second.outcomes.filter((o) => o.code === 'reply_rewritten').map((o) => o.offset)).toEqual([10, 11, 12]);
    // Six agent runs in all: three before the outage was noticed, three after; none repeated.
    const sent = sim.requests.filter(isSend).map((r) => (JSON.parse(r.text!) as { n: number }).n).sort();
    expect(sent).toEqual([0, 1, 2, 3, 4, 5]);
    const got = await readBack('orders.outage', 6);
    expect(got.map((g) => g.env.data.record.offset).sort()).toEqual([10, 11, 12, 13, 14, 15]);
    for (const key of ['k0', 'k1', 'k2']) {
      const offsets = got.filter((g) => g.key === key).map((g) => g.env.data.record.offset);
      expect(offsets).toEqual([...offsets].sort((a, b2) => a - b2));
    }
    // A third delivery of the same batch writes nothing more and runs no agent.
    const third = await up.run(mskEvent(all));
    expect(third.outcomes.every((o) => o.status === 'duplicate')).toBe(true);
    expect(sim.requests.filter(isSend)).toHaveLength(6);
  });
  test('reply_key: a template overrides the reply\'s key (here a JSON field of the value)', async () => {
    const b = makeBridge({
      ARCHESTRA_URL: sim.url,
      ARCHESTRA_TOKEN: TOKEN,
      ROUTES_CONFIG: JSON.stringify([{ name: 'orders', topic_pattern: 'orders.events', prompt_id: AGENT, reply: 'kafka://orders.keyed', reply_key: 'customer-{customer}' }]),
      REPLY_KAFKA_BROKERS: mock.bootstrap,
    });
    const recs = [0, 1, 2].map((i) => ({ topic: 'orders.events', partition: 0, offset: 70 + i, key: `k${i}`, value: { customer: `c${i % 2}` } }));
    expect((await b.run(mskEvent(recs))).response.batchItemFailures).toEqual([]);
    const got = await readBack('orders.keyed', 3);
    expect(got.map((g) => [g.env.data.record.offset, g.key]).sort()).toEqual([[70, 'customer-c0'], [71, 'customer-c1'], [72, 'customer-c0']]);
    // The envelope still names the source key.
    expect(got.find((g) => g.env.data.record.offset === 71)!.env.data.record.key).toBe('k1');
  });
});
