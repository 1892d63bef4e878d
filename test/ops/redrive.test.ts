// `npm run redrive` as an operator runs it, against a real SQS poison queue (moto_server), the Archestra
// simulator as the agents, and dynalite as the idempotency store. Letters are written the way the function
// writes them (recordLetter, toQueueMessages: chunks included).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateQueueCommand, ReceiveMessageCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { decodeEvent, type KafkaRecord } from '../../lambda/decode';
import { poisonLetter, recordLetter, toQueueMessages, type DeadLetter, type DeadLetterBody } from '../../lambda/dead-letter';
import { isSend, startArchestraSim, type ArchestraSim } from '../../sim/archestra';
import { buildMskEvent } from '../../scripts/lib/msk-event';
import { startDynalite, type Dynalite } from '../support/dynalite';
import { startMoto, type MotoServer } from '../support/moto';
import { tsx } from '../support/cli';
import { startPeers } from '../support/peers';

jest.setTimeout(90_000);

const TOKEN = 'redrive-test-token-0a7e';
const ORDERS = '55555555-5555-4555-8555-555555555555';
const SUPPORT = '66666666-6666-4666-8666-666666666666';
const CTX = { at: '2025-01-12T10:00:00.000Z', source: 'aws:kafka', requestId: 'req-1' };

let moto: MotoServer;
let sim: ArchestraSim;
let db: Dynalite;
let sqs: SQSClient;
let dir: string;
let routes: string;

beforeAll(async () => {
  [moto, sim, db] = await startPeers(startMoto(), startArchestraSim({ tokens: [TOKEN] }), startDynalite());
  sqs = new SQSClient({ ...moto.clientConfig });
  dir = mkdtempSync(join(tmpdir(), 'redrive-'));
  routes = join(dir, 'routes.json');
  writeFileSync(
    routes,
    JSON.stringify([
      { name: 'orders', topic_pattern: 'orders.*', prompt_id: ORDERS, transform_template: 'Order {order_id}: {note}' },
      { name: 'support', topic_pattern: 'support.*', prompt_id: SUPPORT, transform_template: 'Ticket {ticket}' },
    ]),
  );
}, 60_000);
afterAll(async () => {
  sqs?.destroy();
  rmSync(dir, { recursive: true, force: true });
  await Promise.all([moto?.stop(), sim?.close(), db?.stop()]);
});
beforeEach(() => {
  sim.clear();
  sim.setBehaviour(undefined);
});

let queues = 0;
async function queue(): Promise<string> {
  return (await sqs.send(new CreateQueueCommand({ QueueName: `poison-${++queues}` }))).QueueUrl!;
}

function records(topic: string, values: object[], startOffset = 10): KafkaRecord[] {
  return decodeEvent(buildMskEvent(values.map((v) => JSON.stringify(v)), { topic, startOffset })).records;
}
const letterOf = (r: KafkaRecord, route: string, agentId: string, cls = 'agent_error', at = CTX.at) =>
  recordLetter(r, { kind: 'permanent_failure', class: cls, message: 'the agent refused', attempts: 1 }, { name: route, agentId }, { ...CTX, at });

async function put(url: string, letters: DeadLetter[], maxBytes = 256 * 1024): Promise<void> {
  const bodies = letters.flatMap((l) => toQueueMessages(l, maxBytes).map((m) => m.body));
  for (let i = 0; i < bodies.length; i += 10) {
    await sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: bodies.slice(i, i + 10).map((b, j) => ({ Id: `m${j}`, MessageBody: b })) }));
  }
}

async function drain(url: string): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const res = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: 30 }));
    if (!res.Messages?.length) return out;
    out.push(...res.Messages.map((m) => m.Body!));
  }
}

function cli(script: string, args: string[], env: Record<string, string> = {}) {
  const aws = { AWS_ENDPOINT_URL_SQS: moto.endpoint, AWS_ENDPOINT_URL_DYNAMODB: db.endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };
  return tsx(script, args, { env: { ...aws, ...env } });
}
const redrive = (args: string[], env: Record<string, string> = {}) =>
  cli('scripts/redrive.ts', ['--routes', routes, '--timeout', '60', ...args], { ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ...env });

const sends = () => sim.requests.filter(isSend).map((r) => r.text);

describe('npm run redrive', () => {
  it('dry run: shows each selected record with the prompt it would get, sends nothing, deletes nothing', async () => {
    const url = await queue();
    const [a, b] = records('orders.events', [{ order_id: 'A1', note: 'late' }, { order_id: 'A2', note: 'lost' }]);
    await put(url, [letterOf(a, 'orders', ORDERS), letterOf(b, 'orders', ORDERS)]);
    const r = await redrive(['--queue', url, '--dry-run']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('2 messages, 2 letters, 2 selected (2 records)');
    expect(r.stdout).toContain('| Order A1: late');
    expect(r.stdout).toContain('| Order A2: lost');
    expect(r.stdout).toContain('nothing was deleted');
    expect(sim.requests).toEqual([]);
    expect(await drain(url)).toHaveLength(2);
  });

  it('sends the selected records, joins chunked letters, deletes what settled and leaves the rest', async () => {
    const url = await queue();
    const big = 'x'.repeat(40_000);
    const [o1, o2] = records('orders.events', [{ order_id: 'B1', note: 'ok' }, { order_id: 'B2', note: big }]);
    const [s1] = records('support.tickets', [{ ticket: 'T-9' }]);
    // B2's letter is over the 16 KB limit used here: it travels as chunks, as the function would write it.
    // A letter whose topic no route matches any more: it went nowhere, so its message must stay.
    const [gone] = records('retired.events', [{ order_id: 'R' }]);
    await put(url, [letterOf(o1, 'orders', ORDERS), letterOf(o2, 'orders', ORDERS), letterOf(s1, 'support', SUPPORT), letterOf(gone, 'orders', ORDERS)], 16 * 1024);
    const r = await redrive(['--queue', url, '--route', 'orders']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1); // the unrouted one
    expect(sends()).toEqual(['Order B1: ok', `Order B2: ${big}`]);
    expect(r.stdout).toMatch(/3 record\(s\) redriven in .*: 2 delivered/);
    const left = (await drain(url)).map((b) => JSON.parse(b) as DeadLetterBody);
    expect(left.map((l) => `${l.route} ${String(l.record.topic)}`).sort()).toEqual(['orders retired.events', 'support support.tickets']);
  });

  it('a permanent failure is dead-lettered again as a new message and the old one deleted; a transient one stays', async () => {
    const url = await queue();
    // One partition each, so that no record waits behind another's failure.
    const orders = [{ order_id: 'P', note: 'perm' }, { order_id: 'T', note: 'trans' }, { order_id: 'K', note: 'fine' }];
    const [p, t, ok] = decodeEvent(buildMskEvent(orders.map((o, i) => ({ value: JSON.stringify(o), partition: i })), { topic: 'orders.events', startOffset: 10 })).records;
    await put(url, [letterOf(p, 'orders', ORDERS), letterOf(t, 'orders', ORDERS), letterOf(ok, 'orders', ORDERS)]);
    sim.setBehaviour((req) => {
      if (!isSend(req)) return undefined;
      if (req.text?.startsWith('Order P')) return { kind: 'rpcError', code: -32602, message: 'Invalid params: refused' };
      if (req.text?.startsWith('Order T')) return { kind: 'http', status: 503 };
      return undefined;
    });
    const r = await redrive(['--queue', url], { MAX_RETRIES: '0' });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/failed again/);
    const left = (await drain(url)).map((b) => JSON.parse(b) as DeadLetterBody);
    const byOrder = (id: string) => left.filter((l) => Buffer.from(String(l.record.value), 'base64').toString().includes(`"order_id":"${id}"`));
    expect(byOrder('K')).toHaveLength(0); // delivered: deleted
    expect(byOrder('P')).toHaveLength(1); // the new letter of this run
    expect(byOrder('P')[0].requestId).not.toBe(CTX.requestId);
    expect(byOrder('T')).toHaveLength(1); // the original, left for the next attempt
    expect(byOrder('T')[0].requestId).toBe(CTX.requestId);
  });

  it('with the idempotency store, a record delivered already (here by npm run invoke) is not sent again', async () => {
    const table = 'redrive-idem';
    await db.createIdempotencyTable(table);
    const event = buildMskEvent([JSON.stringify({ order_id: 'D1', note: 'once' })], { topic: 'orders.events', startOffset: 77 });
    const eventFile = join(dir, 'event.json');
    writeFileSync(eventFile, JSON.stringify(event));
    const env = { ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, IDEMPOTENCY_TABLE: table };
    const first = await cli('scripts/invoke.ts', [eventFile, '--routes', routes, '--json'], env);
    expect(first.code).toBe(0);
    expect((JSON.parse(first.stdout) as { counts: { delivered: number } }).counts.delivered).toBe(1);
    const again = await cli('scripts/invoke.ts', [eventFile, '--routes', routes, '--json'], env);
    expect((JSON.parse(again.stdout) as { counts: { duplicate: number } }).counts.duplicate).toBe(1);
    expect(sends()).toEqual(['Order D1: once']);

    const url = await queue();
    await put(url, [letterOf(decodeEvent(event).records[0], 'orders', ORDERS)]);
    const r = await redrive(['--queue', url, '--json'], { IDEMPOTENCY_TABLE: table });
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { counts: { duplicate: number }; deleted: number };
    expect(doc.counts.duplicate).toBe(1);
    expect(doc.deleted).toBe(1);
    expect(sends()).toEqual(['Order D1: once']);
    expect(await drain(url)).toEqual([]);
  });

  it('filters by class, time, partition and offsets; leaves undecodable letters and incomplete chunk sets alone', async () => {
    const url = await queue();
    const recs = records('orders.events', [{ order_id: 'F0', note: 'a' }, { order_id: 'F1', note: 'b' }, { order_id: 'F2', note: 'c' }], 100);
    const undecodable = poisonLetter({ partitionKey: 'orders.events-0', topic: 'orders.events', partition: 0, offset: 5, reason: 'value is not valid UTF-8', raw: { value: '//79' } }, 0, CTX);
    const chunks = toQueueMessages(letterOf(records('orders.events', [{ order_id: 'C', note: 'y'.repeat(40_000) }], 300)[0], 'orders', ORDERS), 16 * 1024);
    await put(url, [letterOf(recs[0], 'orders', ORDERS, 'timeout', '2025-01-10T00:00:00.000Z'), letterOf(recs[1], 'orders', ORDERS), letterOf(recs[2], 'orders', ORDERS), undecodable]);
    await sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: [{ Id: 'c0', MessageBody: chunks[0].body }] })); // one chunk of its set
    // A letter that holds the agent's answer (its reply could not be written) is never sent to the agent again.
    const answered = recordLetter(records('orders.events', [{ order_id: 'ANS', note: 'z' }], 500)[0], { kind: 'reply_unwritten', class: 'reply_write_failed', message: 'x', attempts: 1 }, { name: 'orders', agentId: ORDERS }, CTX);
    await put(url, [answered]);

    const r = await redrive(['--queue', url, '--since', '2025-01-11T00:00:00Z', '--offsets', '101-101', '--partition', '0', '--class', 'agent_error']);
    expect(r.code).toBe(0);
    expect(sends()).toEqual(['Order F1: b']);
    expect(r.stdout).toMatch(/left\s+1 message\(s\): chunk set .*: 1 of \d+ chunks received/);
    expect(r.stdout).toContain("left    1 letter(s) holding an agent's reply that could not be written");
    // Everything not redriven is visible again at once: a second reader sees it all.
    const r2 = await redrive(['--queue', url, '--dry-run']);
    expect(r2.stdout).toContain('5 messages, 4 letters, 2 selected (2 records)'); // F0, F2; the undecodable and the answered ones; the lone chunk is no letter
    expect(r2.stdout).toContain('1 undecodable letter(s): pass --class undecodable to redrive them');
    expect(await drain(url)).toHaveLength(5);
  });

  it('refuses to run without a real agent, and answers usage errors with exit status 2', async () => {
    const url = await queue();
    const noAgent = await cli('scripts/redrive.ts', ['--routes', routes, '--queue', url], {});
    expect(noAgent.code).toBe(2);
    expect(noAgent.stderr).toContain('redrive sends to the real agents: set ARCHESTRA_URL');
    for (const args of [[], ['--queue', url, '--offsets', '9-1'], ['--queue', url, '--since', 'yesterday'], ['--queue', url, '--max', '0']]) {
      const r = await redrive(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^redrive: /);
    }
    expect(sim.requests).toEqual([]);
  });
});
