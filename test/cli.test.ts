// The local CLIs as a newcomer runs them: `npm start`, `npm run invoke` and `npm run event` as child
// processes, against the embedded agent and against a test A2A server (the Archestra simulator) with
// scripted failures. Checks what a person reads (table, summary), the Lambda response and the exit status.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeEvent } from '../lambda/decode';
import { isSend, startArchestraSim, type ArchestraSim } from '../sim/archestra';
import { buildMskEvent } from '../scripts/lib/msk-event';
import { EVENTS_DIR, REFERENCE, SAMPLES } from '../scripts/lib/samples';
import { run, tsx } from './support/cli';

jest.setTimeout(60_000);

const TOKEN = 'cli-test-token-7d2f';
const routes = JSON.parse(readFileSync(join(EVENTS_DIR, 'routes.json'), 'utf8')) as Array<{ name: string; prompt_id: string }>;
const agentOf = (route: string) => routes.find((r) => r.name === route)!.prompt_id;

const invoke = (args: string[], o?: { env?: Record<string, string>; input?: string }) => tsx('scripts/invoke.ts', args, o);

/** The pretty JSON after the "Lambda response" heading. */
function responseOf(stdout: string): unknown {
  const at = stdout.lastIndexOf('Lambda response\n');
  expect(at).toBeGreaterThanOrEqual(0);
  return JSON.parse(stdout.slice(at + 'Lambda response\n'.length));
}

/** The table row of one record: its cells split on runs of 2+ spaces. */
function row(stdout: string, id: string): string[] {
  const line = stdout.split('\n').find((l) => l.startsWith(`${id} `));
  if (!line) throw new Error(`no row for ${id} in:\n${stdout}`);
  return line.split(/ {2,}/);
}

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'cli-test-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

describe('npm start (the demo)', () => {
  test('every sample record is answered, the tombstone skipped and the undecodable record dead-lettered; exit 0', async () => {
    const replyTmp = mkdtempSync(join(tmpdir(), 'demo-replies-'));
    const r = await run('npm', ['start', '--', '--dlq-dir', tmp, '--reply-dir', replyTmp]);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    // The sample route support-billing replies to SQS: locally, each reply is a file, and the demo says where.
    const replyFiles = readdirSync(replyTmp);
    expect(replyFiles.length).toBeGreaterThan(0);
    for (const f of replyFiles) expect(r.stdout).toContain(`-> arn:aws:sqs:us-east-1:123456789012:billing-ticket-replies -> ${join(replyTmp, f)}`);
    rmSync(replyTmp, { recursive: true, force: true });
    let records = 0;
    for (const s of SAMPLES) {
      expect(r.stdout).toContain(`events/${s.file}: ${s.title}`);
      const batch = decodeEvent(JSON.parse(readFileSync(join(EVENTS_DIR, s.file), 'utf8')));
      for (const rec of batch.records) {
        const cells = row(r.stdout, `${rec.partitionKey}@${rec.offset}`);
        records++;
        if (rec.undecodable !== undefined && !rec.topic.match(/\.(avro|proto)$/)) {
          // Binary that no route reads: dead-lettered with the reason decode found.
          expect(cells[3]).toBe('dead_lettered');
          expect(cells[5]).toBe(`poison: undecodable record: ${rec.undecodable}`);
        } else if (rec.value === null && rec.undecodable === undefined) {
          expect(cells[3]).toBe('tombstone');
        } else {
          expect(cells[3]).toBe('delivered');
          expect(cells[4]).toMatch(/^[\d.]+ m?s$/);
          expect(cells[5]).toMatch(/^Summary: \S/); // the embedded agent's answer
        }
      }
      for (const p of batch.poison) {
        expect(row(r.stdout, `${p.partitionKey}@${p.offset}`)[3]).toBe('dead_lettered');
        records++;
      }
    }
    expect(records).toBe(20);
    expect(r.stdout.match(/^Lambda response \{"batchItemFailures":\[\]\}$/gm)).toHaveLength(SAMPLES.length);
    expect(r.stdout).toMatch(/━━ 7 events, 20 records in [\d.]+ m?s: 18 delivered, 1 dead-lettered, 1 tombstone skipped, 0 failed/);
    expect(r.stdout).toContain('Every sample record was handled: 18 answered by the agent');
    // The schema sample: Avro (written with schema 2, and with schema 1 read through its writer schema), Glue-framed
    // Protobuf matched by field_match on the deserialized value, and the mapping's JSON with its schema metadata.
    expect(row(r.stdout, 'orders.avro-0@610').slice(1, 4)).toEqual(['orders-avro', `${agentOf('orders-avro').slice(0, 8)}…`, 'delivered']);
    expect(row(r.stdout, 'orders.avro-0@611')[5]).toMatch(/^Summary: Order ORD-201 was delivered \(19\.99 EUR\)/);
    expect(row(r.stdout, 'payments.proto-0@610')[1]).toBe('payments-protobuf');
    expect(row(r.stdout, 'orders.registry-0@610')[1]).toBe('orders-registry');
    const letters = readdirSync(tmp);
    expect(letters).toHaveLength(1);
    expect(JSON.parse(readFileSync(join(tmp, letters[0]), 'utf8'))).toMatchObject({
      kind: 'poison',
      error: { class: 'undecodable' },
      record: { topic: 'orders.events', partition: 0, offset: 3150, value: 'AAAAAAcOT1JE//6A' },
    });
  });
});

describe('npm run invoke with the embedded agent', () => {
  test('a mixed batch: table, summary and an empty failure list; exit 0', async () => {
    const r = await run('npm', ['run', '--silent', 'invoke', '--', 'events/mixed-batch.json', '--dlq-dir', tmp]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^agent {3}embedded A2A agent at http:\/\/127\.0\.0\.1:\d+ /m);
    expect(r.stdout).toMatch(/^RECORD +ROUTE +AGENT +OUTCOME +LATENCY +REPLY \/ REASON$/m);
    expect(row(r.stdout, 'customer.events-0@500').slice(0, 4)).toEqual(['customer.events-0@500', 'support-billing', `${agentOf('support-billing').slice(0, 8)}…`, 'delivered']);
    expect(row(r.stdout, 'customer.events-1@500')[1]).toBe('urgent-escalation'); // header_match wins over field_match
    expect(row(r.stdout, 'customer.events-0@500')[5]).toMatch(/^Summary: Billing issue from customer CUST-001 \(priority high\): Double charged/);
    expect(r.stdout).toMatch(/^8 records in [\d.]+ m?s: 8 delivered, 0 failed · batch OK: nothing for Lambda to redeliver$/m);
    expect(responseOf(r.stdout)).toEqual({ batchItemFailures: [] });
  });

  test('--json: outcomes, counts, the dead letter written locally and the response', async () => {
    const r = await invoke(['events/edge-cases.json', '--json', '--dlq-dir', tmp]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({
      ok: true,
      functionName: 'kafka-a2a-bridge-local',
      eventSource: 'aws:kafka',
      agent: { mode: 'embedded' },
      counts: { delivered: 1, tombstone: 1, dead_lettered: 1, failed: 0 },
      response: { batchItemFailures: [] },
    });
    expect(doc.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(doc.records.map((o: { partitionKey: string; status: string }) => `${o.partitionKey}:${o.status}`)).toEqual([
      'customer.profiles-0:tombstone',
      'app.logs-0:delivered',
      'orders.events-0:dead_lettered',
    ]);
    expect(doc.records[1].reply).toMatch(/^Summary: Log line from app\.logs-0@3150 at 2025-01-12T10:00:00\.001Z \(key payment-service\)/);
    expect(doc.deadLetters.files).toHaveLength(1);
    expect(JSON.parse(readFileSync(doc.deadLetters.files[0], 'utf8'))).toMatchObject({ kind: 'poison', record: { offset: 3150 } });
  });

  test('the context counts down from --timeout: with too little time left nothing is sent and the batch fails; exit 1', async () => {
    // 2.5 s timeout - 2 s safety margin leaves less than MIN_REQUEST_SECONDS (1 s) for a request.
    const r = await invoke(['events/order-shipped.json', '--timeout', '2.5', '--dlq-dir', tmp]);
    expect(r.code).toBe(1);
    expect(row(r.stdout, 'orders.events-2@7730')[3]).toBe('failed');
    expect(r.stdout).toMatch(/deadline: not enough time left in this invocation/);
    expect(responseOf(r.stdout)).toEqual({ batchItemFailures: [{ itemIdentifier: { partition: 'orders.events-2', offset: 7730 } }] });
  });

  test('a batch over 50 records from stdin shows progress', async () => {
    const messages = Array.from({ length: 60 }, (_, i) => ({ value: { ...REFERENCE.order, order_id: `ORD-${i}` }, key: `ORD-${i}` }));
    const event = buildMskEvent(messages, { topic: 'orders.events', partitions: 4 });
    const r = await invoke(['-', '--dlq-dir', tmp], { input: JSON.stringify(event) });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^progress: 60\/60 records \(100%\)$/m);
    expect(r.stdout).toMatch(/^60 records in [\d.]+ m?s: 60 delivered, 0 failed/m);
  });

  test('usage and configuration errors exit 2 with the reason', async () => {
    const missing = await invoke(['events/nope.json']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read the event events\/nope\.json: no such file or directory/);
    const badRoutes = join(tmp, 'routes.json');
    writeFileSync(badRoutes, JSON.stringify([{ name: 'x', topic_pattern: 'a', prompt_id: 'p', transform_template: '{$nope}' }]));
    const bad = await invoke(['events/order-shipped.json', '--routes', badRoutes]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/configuration error: .*route 0 \("x"\): field "transform_template": unknown metadata placeholder \{\$nope\}/s);
  });
});

describe('npm run invoke against a test A2A server (ARCHESTRA_URL, ARCHESTRA_TOKEN)', () => {
  let sim: ArchestraSim;
  beforeAll(async () => {
    sim = await startArchestraSim({ tokens: [TOKEN], summarize: (t) => `test agent read ${t.length} chars` });
  });
  afterAll(() => sim.close());
  beforeEach(() => {
    sim.clear();
    sim.setBehaviour(undefined);
  });
  const env = () => ({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, MAX_RETRIES: '0' });

  test('delivers with the token to the routes\' agents', async () => {
    const r = await invoke(['events/self-managed.json', '--dlq-dir', tmp], { env: env() });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`agent   ${sim.url} (token from ARCHESTRA_TOKEN)`);
    expect(row(r.stdout, 'orders.events-0@42')[5]).toMatch(/^test agent read \d+ chars$/);
    const sends = sim.requests.filter(isSend);
    expect(sends.map((s) => s.agentId).sort()).toEqual([agentOf('orders'), agentOf('support-billing')].sort());
    for (const s of sends) expect(s.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(responseOf(r.stdout)).toEqual({ batchItemFailures: [] });
  });

  test('a failing agent (HTTP 503) fails the batch: the table, the summary and the response name its partitions; exit 1', async () => {
    const orders = agentOf('orders');
    sim.setBehaviour((req) => (isSend(req) && req.agentId === orders ? { kind: 'http', status: 503 } : undefined));
    const r = await invoke(['events/mixed-batch.json', '--dlq-dir', tmp], { env: env() });
    expect(r.code).toBe(1);
    for (const id of ['orders.events-2@500', 'orders.events-2@501', 'orders.events-0@500']) expect(row(r.stdout, id)[3]).toBe('failed');
    expect(row(r.stdout, 'orders.events-2@500')[5]).toMatch(/503/);
    for (const id of ['customer.events-0@500', 'customer.events-1@500', 'analytics.events-0@501']) expect(row(r.stdout, id)[3]).toBe('delivered');
    expect(r.stdout).toMatch(/^8 records in [\d.]+ m?s: 5 delivered, 3 failed · batch FAILED: Lambda redelivers orders\.events-0 from offset 500, orders\.events-2 from offset 500$/m);
    expect(responseOf(r.stdout)).toEqual({
      batchItemFailures: [
        { itemIdentifier: { partition: 'orders.events-0', offset: 500 } },
        { itemIdentifier: { partition: 'orders.events-2', offset: 500 } },
      ],
    });
    expect(sim.requests.filter((q) => isSend(q) && q.agentId === orders)).toHaveLength(2); // 501 held behind 500, no retries
  });

  test('a record the agent refuses is dead-lettered (Lambda: batch OK; locally exit 1), and replaying its dead letter delivers it once fixed', async () => {
    const orders = agentOf('orders');
    sim.setBehaviour((req) => (isSend(req) && req.agentId === orders ? { kind: 'rpcError', code: -32602, message: 'Invalid params' } : undefined));
    const first = await invoke(['events/order-shipped.json', '--dlq-dir', tmp], { env: env() });
    expect(first.code).toBe(1); // every record dead-lettered: nothing reached an agent
    expect(responseOf(first.stdout)).toEqual({ batchItemFailures: [] });
    expect(row(first.stdout, 'orders.events-2@7730').slice(3)).toEqual(['dead_lettered', expect.stringMatching(/^[\d.]+ m?s$/), 'jsonrpc_-32602: Invalid params']);
    const [letter] = readdirSync(tmp);
    const prompt = sim.requests.find(isSend)!.text;

    sim.clear();
    sim.setBehaviour(undefined);
    const replay = await invoke([join(tmp, letter), '--dlq-dir', tmp], { env: env() });
    expect(replay.code).toBe(0);
    expect(replay.stdout).toMatch(/\(1 dead letter, replayed at the original offsets\): 1 record \(aws:kafka\)/);
    expect(row(replay.stdout, 'orders.events-2@7730')[3]).toBe('delivered');
    expect(sim.requests.filter(isSend).map((q) => q.text)).toEqual([prompt]);
  });

  test('--dry-run prints each record\'s route and prompt and sends nothing', async () => {
    const r = await invoke(['events/mixed-batch.json', '--dry-run'], { env: env() });
    expect(r.code).toBe(0);
    expect(sim.requests).toHaveLength(0);
    expect(r.stdout).toContain(`customer.events-0@500  support-billing -> agent ${agentOf('support-billing')}  would send`);
    expect(r.stdout).toContain(`    POST ${sim.url}/v1/a2a/${agentOf('support-billing')}`);
    expect(r.stdout).toContain('    | Billing issue from customer CUST-001 (priority high): Double charged for subscription');
    expect(r.stdout).toContain('8 records: 8 would be sent, 0 not (dry run: nothing was sent)');
  });
});

describe('npm run event', () => {
  test('builds an event from stdin JSONL with keys, partitions and headers that the handler decodes', async () => {
    const lines = [REFERENCE.support, { ...REFERENCE.support, customer_id: 'CUST-002' }, { ...REFERENCE.support, customer_id: 'CUST-001' }].map((m) => JSON.stringify(m));
    const r = await tsx('scripts/event.ts', ['--topic', 'customer.events', '--key-field', 'customer_id', '--partitions', '3', '--header', 'source=cli', '--offset', '7', '--timestamp', '2025-01-12T10:00:00Z'], {
      input: `${lines.join('\n')}\n`,
    });
    expect(r.code).toBe(0);
    const batch = decodeEvent(JSON.parse(r.stdout));
    expect(batch.poison).toEqual([]);
    expect(batch.records).toHaveLength(3);
    for (const rec of batch.records) {
      expect(rec.topic).toBe('customer.events');
      expect(rec.key).toBe((rec.json as { customer_id: string }).customer_id);
      expect(rec.headers).toEqual({ source: 'cli' });
      expect(rec.offset).toBeGreaterThanOrEqual(7);
    }
    const cust1 = batch.records.filter((x) => x.key === 'CUST-001');
    expect(cust1[0].partition).toBe(cust1[1].partition);
    expect(cust1.map((x) => x.offset)).toEqual([7, 8]);
    expect(Math.min(...batch.records.map((x) => x.timestamp!))).toBe(Date.parse('2025-01-12T10:00:00Z'));
  });

  test('arguments to --out, then --append another topic; invoke answers both', async () => {
    const file = join(tmp, 'e.json');
    const a = await tsx('scripts/event.ts', ['--topic', 'orders.events', '--key', 'ORD-123', '--out', file, JSON.stringify(REFERENCE.order)]);
    expect(a.code).toBe(0);
    expect(a.stderr).toContain(`wrote ${file}: 1 message into orders.events-0`);
    const b = await tsx('scripts/event.ts', ['--append', file, '--topic', 'analytics.events', '--self-managed', '--out', file, JSON.stringify(REFERENCE.analytics)]);
    expect(b.code).toBe(0);
    const r = await invoke([file, '--dlq-dir', tmp]);
    expect(r.code).toBe(0);
    expect(row(r.stdout, 'orders.events-0@0')[1]).toBe('orders');
    expect(row(r.stdout, 'analytics.events-0@0')[1]).toBe('analytics');
  });
});
