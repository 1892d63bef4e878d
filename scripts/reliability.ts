// `npm run reliability`: runs the reliability suite (test/reliability) in its full profile and renders its
// report from the figures the tests themselves wrote: to reports/RELIABILITY.md (git-ignored, so verifying
// leaves the tree clean), or to docs/RELIABILITY.md with --update-docs. The report is only written after a
// green run, so every figure in it comes from a run that passed.
//
//   npm run reliability                      full profile (>= 1,000 generated batches), default seed
//   npm run reliability -- --update-docs     the same, and docs/RELIABILITY.md is rewritten
//   npm run reliability -- --seed 42         another seed
//   npm run reliability -- --profile medium  360 + 12 batches, when the full profile does not fit (about 30 min)
//   npm run reliability -- --profile fast    the quick profile `npm test` runs (handy to check the script)
//   npm run reliability -- --profile redelivery  1,020 batches (<= 12 records) with the idempotency store, each
//                                            redelivered until settled
//   npm run reliability -- --no-write        run and print the summary, leave the document alone
import { spawnSync } from 'node:child_process';
import { cpus, totalmem, platform, arch, release } from 'node:os';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import type { PropertyFigures } from '../test/reliability/support/figures';
import { BEGIN as MUTATE_BEGIN, END as MUTATE_END } from './mutants';

interface Args {
  profile: 'fast' | 'medium' | 'full' | 'redelivery';
  seed?: string;
  write: boolean;
  out: string;
}

const ROOT = resolve(__dirname, '..');
export const DOCS_REPORT = resolve(ROOT, 'docs', 'RELIABILITY.md');
export const LOCAL_REPORT = resolve(ROOT, 'reports', 'RELIABILITY.md');

export function parseArgs(argv: string[]): Args {
  const a: Args = { profile: 'full', write: true, out: LOCAL_REPORT };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].includes('=') ? [argv[i].slice(0, argv[i].indexOf('=')), argv[i].slice(argv[i].indexOf('=') + 1)] : [argv[i], undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--profile': {
        const p = value();
        if (p !== 'fast' && p !== 'medium' && p !== 'full' && p !== 'redelivery') throw new Error(`--profile must be fast, medium, full or redelivery, got ${p}`);
        a.profile = p;
        break;
      }
      case '--seed':
        a.seed = value();
        if (!/^\d+$/.test(a.seed ?? '')) throw new Error(`--seed must be a non-negative integer, got ${a.seed}`);
        break;
      case '--no-write':
        a.write = false;
        break;
      case '--out':
        a.out = resolve(value());
        break;
      case '--update-docs':
        a.out = DOCS_REPORT;
        break;
      case '--help':
        process.stdout.write('usage: npm run reliability -- [--profile full|medium|fast|redelivery] [--seed N] [--no-write] [--update-docs | --out FILE]\n\nWrites reports/RELIABILITY.md (git-ignored) unless --update-docs (docs/RELIABILITY.md) or --out.\n');
        return process.exit(0);
      default:
        throw new Error(`unknown argument ${argv[i]} (see --help)`);
    }
  }
  return a;
}

// ---- the figures the test files write (see test/reliability/support/profile.ts writeFigures) -----------------

interface NoLoss {
  profile: string;
  seed: number;
  wallMs: number;
  figures: PropertyFigures;
}

interface JestReport {
  success: boolean;
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  testResults: Array<{ name: string; startTime: number; endTime: number; assertionResults: Array<{ title: string; fullName: string; status: string; duration: number | null }> }>;
}

const readJson = <T>(file: string): T | undefined => (existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : undefined);
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const pct = (n: number, of: number) => (of ? `${((100 * n) / of).toFixed(1)} %` : '-');

const FAULT_LABELS: Record<string, string> = {
  reset: 'connection reset (TCP RST, no answer)',
  hang: 'hang past the request timeout',
  slow: 'slow body (trickled, completes)',
  slow_stall: 'slow body that stalls (timeout mid-body)',
  http_500: 'HTTP 500',
  http_502: 'HTTP 502 (HTML body)',
  http_503: 'HTTP 503',
  http_429_retry_after: 'HTTP 429 with Retry-After (0 s or a past HTTP date)',
  http_429: 'HTTP 429 without Retry-After',
  rpc_retryable: 'HTTP 200 + JSON-RPC -32603 isRetryable:true',
  rpc_permanent: 'HTTP 200 + JSON-RPC -32602',
  rpc_internal: 'HTTP 200 + JSON-RPC -32603 without isRetryable',
  llm_permanent: 'HTTP 200 + JSON-RPC -32603 isRetryable:false',
  malformed: 'malformed JSON body',
  truncated: 'truncated body (Content-Length, half sent, closed)',
  wrong_id: 'reply with the wrong JSON-RPC id',
  task_never: 'Task that never finishes',
  task_polled: 'Task completed on its first poll',
  task_failed: 'Task ended `failed`',
  poll_reset: 'tasks/get: connection reset',
  poll_http_503: 'tasks/get: HTTP 503',
  poll_malformed: 'tasks/get: malformed JSON',
  auth_401: 'HTTP 401 + JSON-RPC -32600 (token refused)',
  auth_rpc: 'HTTP 200 + JSON-RPC -32600 about the token (Archestra\'s refusal)',
  auth_lockout: 'HTTP 429 "too many failed authentication attempts" (IP lockout)',
};

const AWS_FAULT_LABELS: Record<string, string> = {
  aws_throttle: 'throttled (ThrottlingException / ProvisionedThroughputExceeded)',
  aws_500: 'HTTP 500',
  aws_slow: 'slow answer (20-170 ms)',
  aws_hang: 'no answer at all (only with little time left: the deadline aborts it)',
};

const INVARIANT_LABELS: Array<[string, string]> = [
  ['1.lost', '1 - every record delivered, dead-lettered, reported or skipped by configuration (lost)'],
  ['1.skip', '1 - skipped only when no route matches / tombstone without template'],
  ['1.content', '1 - a dead letter holds the full record (base64 key/value, headers, coordinates, reason)'],
  ['1.dead-lettered+delivered', '1 - never dead-lettered AND delivered'],
  ['1.dead-lettered-twice', '1 - never dead-lettered twice'],
  ['1.dead-lettered+reported', '1 - never dead-lettered while at/after the reported offset (a record without an offset excepted: its place is unknown, its letter is written first)'],
  ['1.delivered+reported-same-chain', '1 - delivered AND reported only when delivered in another chain'],
  ['2.response', '2 - response identifiers exist, one per partition, at the lowest failed-or-unsent offset'],
  ['3.order', '3 - within a chain: offset order, nothing after a transient failure'],
  ['4.duplicate', '4 - no record delivered twice within one invocation (an unknown outcome is never retried there)'],
  ['ack', 'the bridge\'s verdict matches the agent\'s answers'],
  ['hold', 'no send starts above a partition\'s failure offset once it is known (no idempotency store)'],
  ['throws', 'the handler never throws'],
  ['deadline', 'the handler answers before Lambda\'s deadline'],
  ['after-return', 'no request reaches an agent after the handler answered'],
  ['refused-resend', 'a refused token is not sent again (within the cool-down)'],
  ['refusals', 'wrong token: at most 2 refused requests per container per 60 s'],
  ['5.settled', '5 - with the store, every batch settles within 8 redeliveries'],
  ['5.lost', '5 - settled: every record delivered, dead-lettered or skipped in some invocation (lost)'],
  ['5.duplicate', '5 - run by its agent once over all invocations, but for a resend after a lapsed lease or a failed store write (counted)'],
  ['5.dead-lettered-twice', '5 - never dead-lettered in two invocations'],
];

/** The previous document's figures (label -> value) and its run date: shown beside the new ones. */
function previous(file: string): { date?: string; values: Map<string, string> } {
  const values = new Map<string, string>();
  if (!existsSync(file)) return { values };
  let date: string | undefined;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    if (cells.length < 2 || cells[1] === '---' || cells[1] === '---:') continue;
    if (cells[0] === 'Date') date = cells[1];
    // The first value column of a table is the figure (a previous-run column, if any, comes after it).
    if (!values.has(cells[0])) values.set(cells[0], cells[1]);
  }
  return { date, values };
}

function machine(): string {
  const c = cpus();
  return `${c.length} x ${c[0]?.model.trim() ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ${platform()} ${release()} ${arch()}, Node ${process.version}`;
}

function render(a: Args, seed: string, jest: JestReport, wallMs: number, dir: string): string {
  const nl = readJson<NoLoss>(join(dir, 'no-loss.json'));
  const hostile = readJson<Record<string, number | string>>(join(dir, 'hostile-input.json'));
  const security = readJson<Record<string, number | string>>(join(dir, 'security.json'));
  const deadline = readJson<Record<string, { elapsedMs: number; remainingMs: number }>>(join(dir, 'deadline.json'));
  const aws = readJson<Record<string, number>>(join(dir, 'aws-faults.json'));
  const real = readJson<Record<string, number>>(join(dir, 'real-failures.json'));
  if (!nl) throw new Error(`no figures from the no-loss suite in ${dir}`);
  const prev = previous(a.out);
  const was = (label: string) => prev.values.get(label) ?? 'not measured';
  const f = nl.figures;
  const files = jest.testResults
    .map((r) => ({ name: r.name.replace(/^.*test\/reliability\//, ''), ms: r.endTime - r.startTime, tests: r.assertionResults.length }))
    .sort((x, y) => x.name.localeCompare(y.name));
  // Jest's JSON report does not say which tests are marked `test.failing`: such a test names itself "BUG <letter>".
  const bugs = jest.testResults.flatMap((r) =>
    r.assertionResults.filter((t) => /\[BUG [A-Z]/.test(t.title) || /^BUG [A-Z]:/.test(t.title)).map((t) => ({ file: r.name.replace(/^.*test\/reliability\//, ''), title: t.title })),
  );
  const L: string[] = [];
  const row = (...cells: Array<string | number>) => L.push(`| ${cells.join(' | ')} |`);

  L.push('# Reliability', '');
  L.push(
    '> Generated by `npm run reliability -- --update-docs` (scripts/reliability.ts) from the figures the reliability suite',
    '> (test/reliability) wrote during a green run. Do not edit by hand: rerun the script.',
    '',
  );
  row('Run', '');
  row('---', '---');
  row('Date', new Date().toISOString());
  const profileNote: Record<Args['profile'], string> = {
    full: '',
    medium: ' (120 batches per ORDERING mode + 12 on SQS: the full profile, 400 + 24, takes about 30 min since the AWS peers joined)',
    fast: ' (the quick profile of `npm test`)',
    redelivery: ' (340 batches per ORDERING mode of at most 12 records, every one with the idempotency store and redelivered until settled; no SQS batches)',
  };
  row('Profile', `\`${a.profile}\`${profileNote[a.profile]}`);
  row('Seed', `\`${seed}\` (replay one batch: \`RELIABILITY_PROFILE=${a.profile} RELIABILITY_SEED=${seed} RELIABILITY_REPLAY=<mode>:<index> npx jest test/reliability/no-loss.test.ts\`)`);
  row('Machine', machine());
  row('Wall time', `${secs(wallMs)} for the whole suite (${jest.numTotalTests} tests, ${jest.numPassedTests} passed); no-loss property ${secs(nl.wallMs)}`);
  L.push('');

  L.push('## No loss under random faults', '');
  L.push(
    `${int(f.batches)} generated batches (fast-check) of ${f.recordsPerBatch.min} to ${f.recordsPerBatch.max} records (mean ${f.recordsPerBatch.mean}) over the topics`,
    '`orders.eu`, `orders.us` (A2A 0.3 route, no template), `payments` (A2A 1.0 route, template with `on_missing: fail`) and',
    '`metrics` (no route), partitions 0-3, keys `k0`-`k7` or none, with poison records (invalid base64, invalid UTF-8,',
    'and undecodable records without an offset, which count as reported only when their partition is listed at its lowest',
    'offset in the batch), template failures, tombstones and empty values mixed in. Besides its ORDERING mode, each batch draws MAX_CONCURRENCY 1-16,',
    'MAX_RETRIES 0-3, a fault rate (0, 3, 8, 15 or 30 % of requests), sometimes little time left (0.9-2.5 s), and a dead-letter',
    'write failure rate; REQUEST_TIMEOUT and the route timeout are 0.3 s. Requests go over real HTTP to the Archestra sim',
    '(sim/archestra.ts); each request\'s fault is drawn from (batch seed, JSON-RPC id, attempt), so concurrency does not change',
    'which request meets which fault.',
    '',
    `Dead letters: ${int(f.batches - f.sqsBatches)} batches use an in-memory sink that splits letters exactly as the SQS sink`,
    '(toQueueMessages) and reassembles them (joinChunks), and injects write failures per letter (10 or 40 % in some batches)',
    `or for the whole batch ("queue down", ${int(f.dlqDownBatches)} batches); ${int(f.sqsBatches)} batches write to a real SQS queue on`,
    'moto_server, read back and checked message by message.',
    '',
  );
  L.push(`The right-hand column is the previous run of this document (${prev.date ?? 'none'}), for comparison; figures it did not measure say so.`, '');
  const fig = (label: string, value: string) => row(label, value, was(label));
  row('Figure', 'Value', 'Previous run');
  row('---', '---:', '---:');
  fig('Batches (partition / key / none)', `${int(f.batches)} (${int(f.byOrdering.partition)} / ${int(f.byOrdering.key)} / ${int(f.byOrdering.none)})`);
  fig('Batches on a real SQS queue (moto)', int(f.sqsBatches));
  fig('Batches with little time left', int(f.deadlineBatches));
  fig('Batches with the token from Secrets Manager (moto, re-read every 50 ms)', int(f.secretBatches));
  fig('Batches with the idempotency store (dynalite)', int(f.idempotencyBatches));
  fig('Batches with AWS faults injected (Secrets Manager / DynamoDB)', int(f.awsFaultBatches));
  fig('Batches with a wrong token (one warm container)', int(f.wrongTokenBatches));
  fig('Records', int(f.records));
  fig('Topic-partitions (summed over batches)', int(f.topicPartitions));
  fig('Undecodable records without an offset (of which reported at their partition\'s lowest offset)', `${int(f.offsetless ?? 0)} (${int(f.offsetlessReported ?? 0)})`);
  fig('Requests to the agent (sends / task polls)', `${int(f.requests)} (${int(f.sends)} / ${int(f.polls)})`);
  fig('Faults injected', `${int(f.faultsTotal)} (${pct(f.faultsTotal, f.requests)} of requests)`);
  fig('Dead-letter writes made to fail', int(f.dlqWriteFailures));
  fig('**Delivered** (the agent answered with success)', `${int(f.delivered)} (${pct(f.delivered, f.records)})`);
  fig('**Dead-lettered** (full record in the queue)', `${int(f.deadLettered)} (${pct(f.deadLettered, f.records)})`);
  fig('**Reported** (at/after the response offset of its partition)', `${int(f.reported)} (${pct(f.reported, f.records)})`);
  fig('Skipped by configuration (no route, tombstone)', `${int(f.skipped)} (${pct(f.skipped, f.records)})`);
  fig('of which delivered AND reported (sent in another chain before its partition failed: comes back)', int(f.deliveredAndReported));
  fig('Agent success that raced the bridge\'s timeout (reported, comes back)', int(f.unacknowledged));
  fig('Sent again within an invocation after a success the bridge never saw (never; such a resend is a duplicate)', int(f.retriedAfterUnseenSuccess ?? 0));
  fig('Requests the agent refused for their credential', int(f.refused));
  fig('**Refused requests per container per 60 s, wrong token** (property, one warm container, default cool-down)', `**${int(f.wrongTokenRefusedPer60s)}**`);
  fig('Slowest answer with little time left, share of the time Lambda gave', f.worstDeadlineShare ? `${(f.worstDeadlineShare * 100).toFixed(1)} %` : '-');
  fig('**Lost**', `**${int(f.lost)}**`);
  fig('**Duplicates within an invocation**', `**${int(f.duplicates)}**`);
  L.push('');

  const rd = f.redelivery;
  if (rd && rd.batches > 0) {
    L.push('### Redelivered until settled, with the idempotency store', '');
    L.push(
      'Each batch with the store is redelivered as Lambda would (every reported partition from its reported offset on) until',
      'nothing is reported, with fewer faults in each redelivery (half the rate, none from the third; the dead-letter queue,',
      'the token and the AWS calls repaired from the second). Between two invocations the store\'s clock moves on past every',
      `lease. The unknown-outcome window: a lease lasts the route timeout plus UNKNOWN_OUTCOME_MARGIN_SECONDS, here ${secs(rd.leaseMs)}`,
      '(0.3 s + the default 60 s) from the moment the outcome became unknown; a record run by its agent again counts as the window',
      'only when the invocation of its previous run never learnt that run\'s outcome (or failed to write it to the store).',
      '',
    );
    row('Figure', 'Value');
    row('---', '---:');
    row('Batches redelivered until settled (of which settled)', `${int(rd.batches)} (${int(rd.settled)})`);
    row('Records in them', int(rd.records));
    row('Invocations (most for one batch)', `${int(rd.invocations)} (${int(rd.mostInvocations)})`);
    row('Redeliveries that found the record leased: reported without sending', int(rd.leasedRedeliveries));
    row('Records dead-lettered from a remembered verdict, the agent not run again', int(rd.fromStoredVerdict));
    row(`**Run again after the lease lapsed** (the documented window, ${secs(rd.leaseMs)})`, `**${int(rd.windowResends)}**`);
    row('Run again after the store write following the send failed (the claim lapsed)', int(rd.storeWriteResends));
    row('**Lost after settling**', `**${int(rd.lost)}**`);
    row('**Run more often than the windows explain**', `**${int(rd.duplicates)}**`);
    L.push('');
  }

  L.push('### Faults injected, by type', '');
  row('Fault', 'Injected');
  row('---', '---:');
  for (const [k, label] of Object.entries(FAULT_LABELS)) row(label, int(f.faults[k as keyof typeof f.faults] ?? 0));
  row('Dead-letter write failures (per letter or queue down)', int(f.dlqWriteFailures));
  L.push('');
  L.push('Secrets Manager and DynamoDB calls, through a proxy in front of moto_server / dynalite (test/support/fault-proxy.ts):', '');
  row('AWS fault', 'Injected');
  row('---', '---:');
  for (const [k, label] of Object.entries(AWS_FAULT_LABELS)) row(label, int(f.awsFaults[k as keyof typeof f.awsFaults] ?? 0));
  L.push('');

  L.push('### Invariants', '');
  L.push('Every batch is judged by test/reliability/support/classify.ts (unit-tested in classify.test.ts). A violation is counted per record (or per batch-level finding).', '');
  row('Invariant', 'Violations', 'Batches', 'Verdict');
  row('---', '---:', '---:', '---');
  // (new invariants show "not measured" in older documents: the table below has no previous-run column)
  for (const [id, label] of INVARIANT_LABELS) {
    const n = f.violations[id as keyof typeof f.violations] ?? 0;
    row(label, int(n), int(f.batchesWithViolations[id as keyof typeof f.batchesWithViolations] ?? 0), n === 0 ? 'holds' : '**violated: known bug, see below**');
  }
  L.push('');

  L.push('### Final statuses and codes reported by the bridge', '');
  row('Status', 'Records');
  row('---', '---:');
  for (const [k, n] of Object.entries(f.statuses).sort((x, y) => y[1] - x[1])) row(k, int(n));
  L.push('');
  row('Code (not delivered)', 'Records');
  row('---', '---:');
  for (const [k, n] of Object.entries(f.codes).sort((x, y) => y[1] - x[1])) row(`\`${k}\``, int(n));
  L.push('');

  L.push('## Deadline', '');
  L.push('Production defaults (SAFETY_MARGIN_SECONDS 2, MIN_REQUEST_SECONDS 1, RETRY_DELAY 1), 5 s left, one ORDERING=partition chain.', '');
  row('Case', 'Returned after', 'Lambda deadline');
  row('---', '---:', '---:');
  if (deadline?.chain2s) row('agent answers in 2 s: 1 delivered, the rest reported from the next offset', secs(deadline.chain2s.elapsedMs), secs(deadline.chain2s.remainingMs));
  if (deadline?.cut3500ms) row('agent answers in 3.5 s: cut at the 3 s deadline, reported', secs(deadline.cut3500ms.elapsedMs), secs(deadline.cut3500ms.remainingMs));
  if (real?.dynamoHangMs) row('DynamoDB accepts connections and never answers (idempotency store on): claims aborted, reported', secs(real.dynamoHangMs), secs(4000));
  if (real?.completeHangMs) row('the DynamoDB complete hangs: delivered, claim left in place', secs(real.completeHangMs), secs(3000));
  if (real?.releaseHangMs) row('the DynamoDB release hangs: reported, claim lapses at the deadline', secs(real.releaseHangMs), secs(2500));
  if (real?.secretHangMs) row('a Secrets Manager re-read hangs mid-batch', secs(real.secretHangMs), secs(3000));
  L.push('');
  L.push('## Authentication and the IP lockout', '');
  L.push(
    'test/reliability/real-failures.test.ts, against the Archestra sim with Archestra\'s lockout on (10 failed authentications in 60 s),',
    'a wrong token in a Secrets Manager secret (moto), default settings (MAX_CONCURRENCY 10, AUTH_COOLDOWN_SECONDS 60), six',
    'invocations of 50 records in one warm container, as Lambda retries a failed batch at once:',
    '',
  );
  row('Figure', 'Value', 'Before issue 12');
  row('---', '---:', '---:');
  if (real?.refusedPerContainerPer60s !== undefined) row('**Refused requests per container per 60 s, wrong token, default settings** (must be <= 2)', `**${int(real.refusedPerContainerPer60s)}**`, '11 per invocation (reported in issue 12, not re-measured)');
  if (real?.maxClaimsInFlight !== undefined) row('Idempotency claims in flight at once, ORDERING=none, 200 records, MAX_CONCURRENCY 10', int(real.maxClaimsInFlight), '500 for 500 records (reported in issue 12, not re-measured)');
  L.push('');

  L.push('## Hostile input', '');
  if (hostile) {
    L.push(
      `${int(Number(hostile.batches))} fuzzed batches, ${int(Number(hostile.records))} records (random bytes, invalid base64 and UTF-8, odd header bytes, odd offsets,`,
      'partitions and partition keys, odd template placeholders), plus named cases: a 6 MB value, 200,000-deep JSON, each kind of',
      'undecodable field. Nothing threw out of the handler, no unhandled rejection, every bad record was dead-lettered with a reason.',
      '',
    );
    row('Figure', 'Records');
    row('---', '---:');
    row('Delivered', int(Number(hostile.delivered)));
    row('Dead-lettered as undecodable (poison)', int(Number(hostile.deadLetteredPoison)));
    row('Dead-lettered, render failed', int(Number(hostile.deadLetteredRender)));
    row('Dead-lettered, refused by the agent', int(Number(hostile.deadLetteredByAgent)));
    row('Skipped', int(Number(hostile.skipped)));
    L.push('');
  }

  L.push('## Security', '');
  if (security) {
    L.push(
      `The token (\`tok-\` + 32 random hex digits) was searched for in ${int(Number(security.tokenScans))} captures (${int(Number(security.scannedBytes))} characters): captured`,
      'logs and metrics, outcomes, responses, dead letters, settings errors, and the real Powertools logger output on stdout/stderr.',
      `JSON-RPC body safety: ${int(Number(security.bodySafetyRecords))} records of arbitrary text (controls, quotes, separators, lone surrogates)`,
      `reached the agent as valid JSON carrying exactly the rendered text; truncation: ${int(Number(security.truncationRecords))} records under`,
      'MAX_TEXT_BYTES from 1 to 4,096 stayed within the limit, cut at a character boundary and marked.',
      '',
    );
  }
  if (aws) L.push(`AWS faults: with moto_server stopped, a batch whose dead letters could not be written answered in ${secs(aws.sqsStoppedMs ?? 0)} with those records reported.`, '');

  L.push('## Known bugs (tests marked `test.failing`)', '');
  if (bugs.length === 0) L.push('None.', '');
  else {
    L.push('These tests assert the behaviour the specification requires and currently fail; they are kept, marked `test.failing`, until the bridge is fixed (then `test.failing` turns red and must become `test`).', '');
    row('File', 'Test');
    row('---', '---');
    for (const b of bugs) row(b.file, b.title.replace(/\|/g, '\\|'));
    L.push('');
  }

  L.push('## Suite', '');
  row('File', 'Tests', 'Time');
  row('---', '---:', '---:');
  for (const x of files) row(x.name, x.tests, secs(x.ms));
  L.push('');
  return `${L.join('\n')}\n`;
}

function main() {
  const a = parseArgs(process.argv.slice(2));
  const root = ROOT;
  const dir = mkdtempSync(join(tmpdir(), 'reliability-'));
  const seed = a.seed ?? '';
  const env = { ...process.env, RELIABILITY_PROFILE: a.profile, RELIABILITY_OUT: dir, ...(a.seed ? { RELIABILITY_SEED: a.seed } : {}) };
  const jestJson = join(dir, 'jest.json');
  process.stdout.write(`reliability: profile ${a.profile}${a.seed ? `, seed ${a.seed}` : ''}; figures in ${dir}\n`);
  const started = Date.now();
  const res = spawnSync(process.execPath, [require.resolve('jest/bin/jest'), 'test/reliability', '--runInBand', '--json', `--outputFile=${jestJson}`], {
    cwd: root,
    env,
    stdio: 'inherit',
  });
  const wallMs = Date.now() - started;
  const jest = readJson<JestReport>(jestJson);
  if (res.status !== 0 || !jest?.success) {
    process.stderr.write(`reliability: the suite failed (exit ${res.status ?? res.signal}); ${a.out} left unchanged. Figures: ${dir}\n`);
    process.exit(1);
  }
  const noLoss = readJson<NoLoss>(join(dir, 'no-loss.json'));
  const doc = render(a, String(noLoss?.seed ?? seed), jest, wallMs, dir);
  if (a.write) {
    // The mutation-testing section is written by `npm run mutate` into docs/, not from these figures: keep it.
    const previous = existsSync(a.out) ? readFileSync(a.out, 'utf8') : existsSync(DOCS_REPORT) ? readFileSync(DOCS_REPORT, 'utf8') : '';
    const kept = previous.indexOf(MUTATE_BEGIN) !== -1 && previous.indexOf(MUTATE_END) > previous.indexOf(MUTATE_BEGIN)
      ? previous.slice(previous.indexOf(MUTATE_BEGIN), previous.indexOf(MUTATE_END) + MUTATE_END.length)
      : undefined;
    mkdirSync(dirname(a.out), { recursive: true });
    writeFileSync(a.out, kept ? `${doc.replace(/\n*$/, '\n\n')}${kept}\n` : doc);
    process.stdout.write(`reliability: wrote ${a.out} (${secs(wallMs)})\n`);
  } else process.stdout.write(doc);
  rmSync(dir, { recursive: true, force: true });
}

if (require.main === module) main();
