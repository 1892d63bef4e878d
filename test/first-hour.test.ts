// The first hour as a user: the mistakes people make with the local CLIs, run as child processes the
// way a person runs them (through npm where npm is the point), against the Archestra simulator on 127.0.0.1.
// Each error must name its cause in one line and its fix in the next, never dump the usage or a stack trace,
// and a forgotten `--` must never send.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startArchestraSim, type ArchestraSim } from '../sim/archestra';
import { buildMskEvent } from '../scripts/lib/msk-event';
import { EVENTS_DIR, SAMPLES } from '../scripts/lib/samples';
import { parseRoutesText } from '../lambda/config/routes';
import { freePort } from './support/ports';
import { run, tsx, type Run } from './support/cli';

jest.setTimeout(180_000);

const TOKEN = 'first-hour-token-5b1c';
const AGENT = '3f0c2b1e-9a4d-4c6e-8b2a-1d5e7f9a0b3c';

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'first-hour-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

/** The one error style: `<cmd>: cause`, optionally `fix: ...`, then `more: <command> -- --help`; no usage, no stack. */
function expectErrorStyle(r: Run, name: string, help: string): string[] {
  expect(r.code).toBe(2);
  // npm's own notices ("npm warn Unknown cli config ...", its "> script" banner) come first when npm ran the command.
  const lines = r.stderr.trimEnd().split('\n').filter((l) => !/^npm (warn|error|verbose|info|http|timing) |^> |^$/.test(l));
  expect(lines[0].startsWith(`${name}: `)).toBe(true);
  expect(lines[lines.length - 1]).toBe(`more: ${help} -- --help`);
  expect(r.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m); // a stack frame
  expect(r.stderr).not.toMatch(/^options:$|^usage:/m);
  return lines;
}

function writeRoutes(routes: unknown): string {
  const file = join(tmp, 'routes.json');
  writeFileSync(file, JSON.stringify(routes));
  return file;
}

function writeEvent(messages: Array<Record<string, unknown>>, topic = 'customer.events'): string {
  const file = join(tmp, 'event.json');
  writeFileSync(file, JSON.stringify(buildMskEvent(messages.map((value) => ({ value: JSON.stringify(value) })), { topic })));
  return file;
}

describe('a flag npm swallowed (no `--`) is refused and nothing is sent', () => {
  let sim: ArchestraSim;
  beforeAll(async () => {
    sim = await startArchestraSim({ tokens: [TOKEN], acceptAnyAgent: true });
  });
  afterAll(() => sim.close());
  beforeEach(() => sim.clear());
  const env = () => ({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, MAX_RETRIES: '0' });

  test('npm run invoke <event> --dry-run against a live agent: exit 2, the fix with --, no request at all', async () => {
    const r = await run('npm', ['run', 'invoke', 'events/mixed-batch.json', '--dry-run'], { env: env() });
    const lines = expectErrorStyle(r, 'invoke', 'npm run invoke');
    expect(lines[0]).toBe('invoke: npm kept --dry-run for itself (no "--" before the flags), so nothing was run');
    expect(lines[1]).toBe("fix: put -- before the script's flags: npm run invoke -- events/mixed-batch.json --dry-run");
    expect(sim.requests).toHaveLength(0);
    // The same command with `--` is the dry run it meant: still nothing sent.
    const ok = await run('npm', ['run', '--silent', 'invoke', '--', 'events/mixed-batch.json', '--dry-run'], { env: env() });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('(dry run: nothing was sent)');
    expect(sim.requests).toHaveLength(0);
  });

  test.each([
    ['event', ['run', 'event', '--topic', 'orders', '{}'], '--topic'],
    ['doctor', ['run', 'doctor', '--json'], '--json'],
    ['redrive', ['run', 'redrive', '--dry-run'], '--dry-run'],
    ['consume', ['run', 'consume', '--self-managed'], '--self-managed'],
    ['replay', ['run', 'replay', '--dry-run'], '--dry-run'],
    ['demo', ['start', '--dlq-dir', 'x'], '--dlq-dir'],
    ['invoke', ['run', 'invoke', 'events/order-shipped.json', '--verbose'], '--verbose'],
  ])('%s refuses its own flag swallowed by npm', async (name, args, flag) => {
    const r = await run('npm', args, { env: env() });
    const help = name === 'demo' ? 'npm start' : `npm run ${name}`;
    const lines = expectErrorStyle(r, name, help);
    expect(lines[0]).toBe(`${name}: npm kept ${flag} for itself (no "--" before the flags), so nothing was run`);
    expect(lines[1]).toMatch(new RegExp(`^fix: put -- before the script's flags: ${help} -- .*${flag}`));
    expect(sim.requests).toHaveLength(0); // doctor fetches agent cards, invoke and replay send: none of it happened
  });
});

describe('every bad input names its cause and its fix', () => {
  test('a missing --file: no stack trace, ENOENT in words', async () => {
    const r = await tsx('scripts/event.ts', ['--file', 'missing.jsonl']);
    const lines = expectErrorStyle(r, 'event', 'npm run event');
    expect(lines[0]).toBe('event: cannot read --file missing.jsonl: no such file or directory');
    expect(lines[1]).toMatch(/^fix: check the path/);
  });

  test('a missing event file: ENOENT in words and how to make an event', async () => {
    const r = await tsx('scripts/invoke.ts', ['events/nope.json']);
    const lines = expectErrorStyle(r, 'invoke', 'npm run invoke');
    expect(lines[0]).toBe('invoke: cannot read the event events/nope.json: no such file or directory');
    expect(lines[1]).toMatch(/^fix: .*npm run event -- --out/);
  });

  test.each([
    ['invoke', 'scripts/invoke.ts', ['events/order-shipped.json', '--dryrun'], 'unknown flag --dryrun: did you mean --dry-run?'],
    ['event', 'scripts/event.ts', ['--topik', 'orders', '{}'], 'unknown flag --topik: did you mean --topic?'],
    ['replay', 'scripts/replay.ts', ['--fil', 'x.json'], 'unknown flag --fil: did you mean --file?'],
    ['doctor', 'scripts/doctor.ts', ['--zzzzzz'], 'unknown flag --zzzzzz'],
    ['event', 'scripts/event.ts', ['--topic'], '--topic needs a value'],
  ])('%s %j', async (name, script, args, cause) => {
    const r = await tsx(script, args);
    const lines = expectErrorStyle(r, name, `npm run ${name}`);
    expect(lines[0]).toBe(`${name}: ${cause}`);
  });

  test('an empty event file and an empty --file are named as empty', async () => {
    const empty = join(tmp, 'empty.json');
    writeFileSync(empty, '\n');
    const a = await tsx('scripts/invoke.ts', [empty]);
    expect(expectErrorStyle(a, 'invoke', 'npm run invoke')[0]).toBe(`invoke: the event ${empty} is empty`);
    const b = await tsx('scripts/event.ts', ['--file', empty]);
    expect(expectErrorStyle(b, 'event', 'npm run event')[0]).toBe(`event: --file ${empty} is empty`);
  });

  test('MAX_RETRIES=abc names the value given; a route field typo gets "did you mean"', async () => {
    const routes = writeRoutes([{ name: 'support', topic_pattern: 'customer.events', promt_id: AGENT }]);
    const r = await tsx('scripts/invoke.ts', ['events/order-shipped.json', '--routes', routes], { env: { MAX_RETRIES: 'abc' } });
    const lines = expectErrorStyle(r, 'invoke', 'npm run invoke');
    expect(r.stderr).toMatch(/^ {2}- MAX_RETRIES: .*\(got "abc"\)$/m);
    expect(r.stderr).not.toMatch(/received NaN$/m);
    expect(r.stderr).toContain('unknown field(s) promt_id (did you mean prompt_id?)');
    expect(lines[lines.length - 2]).toMatch(/^fix: correct the settings or routes named above/);
  });
});

describe('failures a user meets first are explained as fixes', () => {
  test('a refused connection: every record fails, and one line says what to check', async () => {
    const port = await freePort(); // closed again: nothing listens there
    const url = `http://127.0.0.1:${port}`;
    const r = await tsx('scripts/invoke.ts', ['events/mixed-batch.json', '--dlq-dir', tmp], { env: { ARCHESTRA_URL: url, ARCHESTRA_TOKEN: TOKEN, MAX_RETRIES: '0' } });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^8 records in .*: 8 failed · batch FAILED/m);
    expect(r.stdout).toContain(`all 8 records: connection refused by ${url}: is ARCHESTRA_URL right, is the platform up?`);
    const json = await tsx('scripts/invoke.ts', ['events/mixed-batch.json', '--json', '--dlq-dir', tmp], { env: { ARCHESTRA_URL: url, ARCHESTRA_TOKEN: TOKEN, MAX_RETRIES: '0' } });
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, diagnosis: `all 8 records: connection refused by ${url}: is ARCHESTRA_URL right, is the platform up?` });
  });

  describe('against the simulator', () => {
    let sim: ArchestraSim;
    let open: ArchestraSim;
    beforeAll(async () => {
      // No agents registered: every agent id is unknown, as with a prompt_id copied from another platform.
      sim = await startArchestraSim({ tokens: [TOKEN], agents: {} });
      open = await startArchestraSim({ tokens: [TOKEN], acceptAnyAgent: true });
    });
    afterAll(async () => {
      await sim.close();
      await open.close();
    });
    beforeEach(() => sim.clear());

    test('every record dead-lettered ("Agent not found"): exit 1 and a summary instead of "batch OK"', async () => {
      const r = await tsx('scripts/invoke.ts', ['events/order-shipped.json', '--dlq-dir', tmp], { env: { ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, MAX_RETRIES: '0' } });
      expect(sim.requests.length).toBeGreaterThan(0);
      expect(r.code).toBe(1);
      expect(r.stdout).not.toContain('batch OK');
      expect(r.stdout).toMatch(/1 dead-lettered, 0 failed · every record was dead-lettered: none reached its agent/);
      expect(r.stdout).toMatch(/^the only record: agent not found at .*: is each route's prompt_id the id of an agent on this platform\?$/m);
      // What Lambda is told is unchanged: dead letters are settled, nothing to redeliver.
      expect(r.stdout).toMatch(/"batchItemFailures": \[\]/);
      const json = await tsx('scripts/invoke.ts', ['events/order-shipped.json', '--json', '--dlq-dir', tmp], { env: { ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, MAX_RETRIES: '0' } });
      expect(json.code).toBe(1);
      expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, counts: { dead_lettered: 1, delivered: 0 }, response: { batchItemFailures: [] } });
    });

    test('a refused token from the environment: the summary names ARCHESTRA_TOKEN, no word of a refreshed token', async () => {
      const r = await tsx('scripts/invoke.ts', ['events/order-shipped.json', '--dlq-dir', tmp], { env: { ARCHESTRA_URL: open.url, ARCHESTRA_TOKEN: 'wrong-token', MAX_RETRIES: '0' } });
      expect(open.requests.length).toBeGreaterThan(0);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^the only record: .* refused the token \(.+\): is ARCHESTRA_TOKEN an API key of this Archestra/m);
      expect(`${r.stdout}${r.stderr}`).not.toMatch(/refresh/i);
    });
  });

  test('ARCHESTRA_TOKEN without ARCHESTRA_URL is warned about', async () => {
    const r = await tsx('scripts/invoke.ts', ['events/order-shipped.json', '--dlq-dir', tmp], { env: { ARCHESTRA_TOKEN: TOKEN } });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('warning: ARCHESTRA_TOKEN is set but ARCHESTRA_URL is not: the embedded agent answers, not your Archestra');
  });

  test('a JSON file among the events that is no event does not break npm start: skipped with a note', async () => {
    // A copy of events/ in the test's own folder (--events-dir), so nothing is ever written into the repository.
    const dir = join(tmp, 'events');
    mkdirSync(dir);
    for (const s of SAMPLES) copyFileSync(join(EVENTS_DIR, s.file), join(dir, s.file));
    const stray = join(dir, 'zz-not-an-event.json');
    writeFileSync(stray, JSON.stringify({ notes: 'a copy of something, not a Kafka event' }));
    const r = await tsx('scripts/demo.ts', ['--events-dir', dir, '--dlq-dir', tmp, '--reply-dir', tmp]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`note    ${stray} skipped: not a Lambda Kafka event`);
    expect(r.stdout).toContain(`${join(dir, SAMPLES[0].file)}: ${SAMPLES[0].title}`);
    expect(r.stdout).toMatch(/Every sample record was handled/);
  });
});

describe('unfilled placeholders are flagged, never silent', () => {
  const template = 'Tell the customer at {customer_email}. Details: {details}';
  const routes = () => writeRoutes([{ name: 'support', topic_pattern: 'customer.events', prompt_id: AGENT, transform_template: template }]);

  test('new routes files keep the placeholder by default (on_missing "keep"): delivered, and now flagged', () => {
    const [route] = parseRoutesText(JSON.stringify([{ name: 'support', topic_pattern: 'x', prompt_id: AGENT, transform_template: template }]));
    expect(route.onMissing).toBe('keep');
  });

  test('a dry run marks the record and names the placeholders', async () => {
    const event = writeEvent([{ customer_id: 'C-1' }, { customer_id: 'C-2', customer_email: 'c2@example.com', details: 'refund' }]);
    const r = await tsx('scripts/invoke.ts', [event, '--routes', routes(), '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('    | Tell the customer at {customer_email}. Details: {details}');
    expect(r.stdout).toContain('    ! placeholders {customer_email}, {details} without a value in this record: the prompt would be sent incomplete');
    expect(r.stdout).toContain('    | Tell the customer at c2@example.com. Details: refund');
    expect(r.stdout.match(/^ {4}! /gm)).toHaveLength(1);
    expect(r.stdout).toMatch(/^1 of them with unfilled placeholders \(marked !\): .*"on_missing": "fail"/m);
  });

  test('a local run lists the record and the metric RecordsWithMissingFields counts it', async () => {
    const event = writeEvent([{ customer_id: 'C-1', details: 'refund' }, { customer_id: 'C-2', customer_email: 'c2@example.com', details: 'refund' }]);
    const r = await tsx('scripts/invoke.ts', [event, '--routes', routes(), '--dlq-dir', tmp, '--verbose']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('unfilled: customer.events-0@0 (route support) was sent with placeholder {customer_email} unfilled');
    expect(r.stdout).toMatch(/^1 record sent with unfilled placeholders: /m);
    const metrics = r.stderr.split('\n').filter((l) => l.startsWith('{"metrics"')).map((l) => JSON.parse(l));
    expect(metrics).toHaveLength(1);
    expect(metrics[0].metrics).toMatchObject({ RecordsDelivered: 2, RecordsWithMissingFields: 1 });
    expect(metrics[0].routes.support).toMatchObject({ RecordsWithMissingFields: 1 });
    const log = r.stderr.split('\n').filter((l) => l.includes('"missingFields"')).map((l) => JSON.parse(l));
    expect(log.map((l) => l.missingFields)).toEqual([['customer_email']]);
  });
});
