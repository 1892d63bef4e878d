// The report: one markdown document from a run's results (or saved ones, --from), with the targets of the
// performance issues, met or missed and why, and the changes the figures point at.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './agent';
import { CORES } from './child';
import type { BenchOptions } from './options';
import type { W1Row } from './w1-scheduling';
import { REGIMES, type Regime, type W2Result, type W2Row } from './w2-cpu';
import { SECRET, SECRET_AND_TABLE, type W3Result } from './w3-cold-start';
import type { W4Row } from './w4-replies';
import { idealScheduleMs, type Summary } from './workloads';


export const int = (n: number | undefined) => (n !== undefined && Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
export const dec = (n: number | undefined, d = 2) => (n !== undefined && Number.isFinite(n) ? n.toFixed(d) : 'n/a');
export const pct = (n: number | undefined) => (n !== undefined && Number.isFinite(n) ? `${Math.round(n * 100)}%` : 'n/a');
export const overlap = (a: Summary, b: Summary) => a.n > 1 && b.n > 1 && a.min <= b.max && b.min <= a.max;
export const range = (s: Summary | undefined, f: (n: number) => string = int) => (s && s.n > 1 ? `${f(s.min)}–${f(s.max)}` : '—');
export const table = (head: string[], rows: string[][]) =>
  [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

export interface Target {
  what: string;
  goal: string;
  measured: string;
  met: boolean;
  /** How far from the goal, either way: "14%", "8.9x", "16 ms". */
  margin: string;
  /** Met, but by so little that run-to-run noise or another machine could flip it: the note explains it too. */
  close?: boolean;
  why?: string;
}

/** An earlier full run shown beside this one (`--previous`, bench/previous-run.json by default). */
export interface PreviousRun {
  /** How the report names the run, in prose and (short) in table rows. */
  label: string;
  short: string;
  commit: string;
  finished: string;
  /** What the code under test was then. */
  about: string;
  results: Results;
}

/** The run named by --previous, read once per report. */
export function loadPrevious(file: string | undefined): PreviousRun | undefined {
  return file ? (JSON.parse(readFileSync(path.resolve(ROOT, file), 'utf8')) as PreviousRun) : undefined;
}

export interface Results {
  w1?: W1Row[];
  w2?: W2Result;
  w3?: W3Result;
  w4?: W4Row[];
  elapsedS: number;
  loadBefore: number[];
  /** ISO time the bench started. */
  date?: string;
  /** The commit checked out when the bench started, and lambda/'s uncommitted changes then (the bundle was just built from them). */
  code?: { commit: string; lambdaChanges: string[] };
}

/** Read-only git queries; undefined outside a git checkout. */
export function codeUnderTest(): Results['code'] {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const changes = git('status', '--porcelain', '--', 'lambda', 'scripts/bundle-options.mjs', 'scripts/build.mjs');
    return { commit: git('rev-parse', '--short', 'HEAD'), lambdaChanges: changes ? changes.split('\n').map((l) => l.trim()) : [] };
  } catch {
    return undefined;
  }
}

/** W3: the token read from Secrets Manager against ARCHESTRA_TOKEN, same run, and what the difference is made of. */
function secretLines(w3: W3Result): string[] {
  const env = w3.variants.find((x) => x.name.startsWith('routes'));
  const sm = w3.variants.find((x) => x.name === SECRET);
  if (!env || !sm) return [];
  const both = w3.variants.find((x) => x.name === SECRET_AND_TABLE);
  const parts = w3.secrets;
  return [
    `The token from Secrets Manager against \`ARCHESTRA_TOKEN\`: spawn to answer ${dec(sm.spawnToAnswer.median, 0)} ms against ` +
      `${dec(env.spawnToAnswer.median, 0)} ms (${dec(sm.spawnToAnswer.median / env.spawnToAnswer.median)}x), the first invocation ` +
      `${dec(sm.firstInvoke.median, 0)} ms against ${dec(env.firstInvoke.median, 0)} ms` +
      (parts
        ? `. Of the ${dec(sm.firstInvoke.median - env.firstInvoke.median, 0)} ms more, moto_server answers a warm client's ` +
          `GetSecretValue in ${dec(parts.getSecretMs.median, 1)} ms; the rest is the signed request's own connection and signing`
        : '') +
      '.' +
      (both ? ` With the idempotency table as well (both CDK defaults), spawn to answer is ${dec(both.spawnToAnswer.median, 0)} ms (${range(both.spawnToAnswer)}).` : ''),
    '',
  ];
}

export function machine(r: Results): string[] {
  const cpus = os.cpus();
  const other = [...(r.w1 ?? []).map((x) => x.otherCores?.median), ...(r.w2?.rows ?? []).map((x) => x.otherCores?.median)].filter((x): x is number => x !== undefined);
  const lines = [
    `- Date: ${r.date ?? new Date().toISOString()}`,
    `- Node ${process.version} on ${os.type()} ${os.release()} (${os.arch()})`,
    `- CPU: ${cpus[0]?.model.trim() ?? 'unknown'}, ${cpus.length} logical cores (os.cpus()); memory ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- Load average when the bench started: ${r.loadBefore.map((x) => x.toFixed(2)).join(', ')} (1, 5, 15 min)`,
  ];
  if (other.length) {
    const worst = Math.max(...other);
    lines.push(
      `- Other processes' CPU during the runs (machine busy time from /proc/stat minus the agent and the measured process): ` +
        `${dec(Math.min(...other), 2)}–${dec(worst, 2)} cores of ${CORES} (medians per configuration)` +
        (worst > 0.25 ? ': **the machine was shared while measuring; wall-time figures carry that noise**' : ''),
    );
  }
  if (r.code) {
    lines.push(
      `- Code measured: commit ${r.code.commit}` +
        (r.code.lambdaChanges.length
          ? `, with uncommitted changes to the bundle's sources when the bench started: ${r.code.lambdaChanges.map((c) => `\`${c}\``).join(', ')}`
          : ', lambda/ and the build scripts unmodified when the bench started'),
    );
  }
  lines.push(`- Bench wall time: ${(r.elapsedS / 60).toFixed(1)} min (build excluded)`);
  return lines;
}

export function render(r: Results, o: BenchOptions): { markdown: string; targets: Target[] } {
  const { QUICK, RUNS, W1, W2, W3, W4 } = o;
  const PREV = loadPrevious(o.PREVIOUS_FILE);
  const out: string[] = [];
  const targets: Target[] = [];
  out.push(
    '# Benchmarks',
    '',
    '<!-- Generated by `npm run bench` (bench/run.ts): edit the generator, not this file. -->',
    '',
    `Generated by \`npm run bench\`${QUICK ? ' --quick (a smoke run: fewer records and runs, not reference figures)' : ''}. ` +
      `Every figure is the median of ${RUNS} fresh runs${RUNS > 1 ? ' (min–max beside it)' : ''}, ${W3.runs} for cold starts. Each run ` +
      'starts a new agent process (sim/archestra.ts) and a new handler process: plain `node` loading the minified bundle ' +
      '`dist/handler.js` and calling its `handler` with a Lambda MSK event, a Lambda-like context and environment. A run only ' +
      "counts if the handler reported no `batchItemFailures` and the agent's own statistics show every record answered exactly once.",
    '',
    'The bundle posts to the agent with `node:http` and a keep-alive agent (lambda/io/http.ts). The handler runs with routes and ' +
      '`ARCHESTRA_TOKEN` only: no `IDEMPOTENCY_TABLE` except in the W2 and W3 rows that say *store on* or name it (with the table, which ' +
      'the CDK app enables by default, every record also costs a DynamoDB write before its send and one after, through ' +
      'lambda/io/dynamo-client.ts, to dynalite in the bench\'s process) and no ' +
      '`DLQ_URL` except where W3 says so (no record fails, so the queue would never be written to).',
    '',
    ...(PREV ? [`Figures from an earlier run appear only where marked *${PREV.short}*, and in [Against the previous run](#against-the-previous-run): every other figure is this run's.`, ''] : []),
    '## Machine',
    '',
    ...machine(r),
    '',
  );

  const w1 = r.w1;
  if (w1) {
    const base = w1.find((x) => x.mode === 'baseline')!;
    const modes = w1.filter((x) => x.mode !== 'baseline');
    const name = (x: W1Row) => (x.mode === 'baseline' ? 'baseline (sequential)' : `\`${x.mode}\``);
    const atRoundTrip = (x: W1Row) =>
      idealScheduleMs({ records: W1.records, longestChain: x.longestChain, latencyMs: x.roundTripMs?.median ?? NaN, concurrency: x.mode === 'baseline' ? 1 : W1.concurrency });
    out.push(
      '## W1: scheduling',
      '',
      `${int(W1.records)} records over ${W1.partitions} partitions and ${W1.keys} keys (key k in partition k mod ${W1.partitions}: ` +
        `${W1.records / W1.partitions} records per partition, ${W1.records / W1.keys} per key), agent latency ${W1.latencyMs} ms, ` +
        `MAX_CONCURRENCY ${W1.concurrency}, POWERTOOLS_LOG_LEVEL=WARN. Each run: a ${W1.warmupRecords}-record warm-up invocation ` +
        '(not measured), then the measured invocation: the wall time of `handler(event, context)`.',
      '',
      'Ideal = max(longest chain × latency, records × latency / concurrency). The baseline is the reference algorithm ' +
        '(bench/baseline.ts: every record in event order, one `fetch` POST at a time, each awaited) on the same ' +
        `${int(W1.records)} records${QUICK ? '' : ', in full (not a subsample)'}; its ideal is records × latency.`,
      '',
      table(
        ['Mode', 'Longest chain', 'Ideal (ms)', 'Wall, median (ms)', 'min–max', 'Records/s', 'Ratio to ideal', 'Faster than baseline', 'Best possible speed-up'],
        w1.map((x) => [
          name(x),
          int(x.longestChain),
          int(x.idealMs),
          int(x.wall?.median),
          range(x.wall),
          int(W1.records / ((x.wall?.median ?? NaN) / 1000)),
          `${dec((x.wall?.median ?? NaN) / x.idealMs)}x`,
          x.mode === 'baseline' ? '1.0x' : `${dec((base.wall?.median ?? NaN) / (x.wall?.median ?? NaN), 1)}x`,
          `${dec(base.idealMs / x.idealMs, 1)}x`,
        ]),
      ),
      '',
      '*Best possible speed-up* is the baseline\'s ideal over the mode\'s ideal: `partition` can never beat the baseline by more ' +
        'than the records over its longest chain, whatever the concurrency.',
      '',
      'Where the time goes (medians):',
      '',
      table(
        ['Mode', 'Request round trip (ms)', 'Ideal at that round trip (ms)', 'Ratio to it', 'Slot occupancy', 'Before the first request (ms)', 'After the last answer (ms)', 'Handler CPU busy', 'Handler event-loop delay p99 (ms)', 'Agent CPU busy', 'Agent max in flight', "Other processes' CPU (cores)"],
        w1.map((x) => [
          name(x),
          dec(x.roundTripMs?.median, 1),
          int(atRoundTrip(x)),
          `${dec((x.wall?.median ?? NaN) / atRoundTrip(x))}x`,
          x.mode === 'baseline' ? '—' : pct(x.occupancy?.median),
          x.mode === 'baseline' ? '—' : dec(x.firstRequestMs?.median, 1),
          x.mode === 'baseline' ? '—' : dec(x.tailMs?.median, 1),
          pct(x.handlerBusy?.median),
          x.mode === 'baseline' ? '—' : dec(x.loopP99Ms?.median, 1),
          pct(x.agentBusy?.median),
          String(x.maxInFlight),
          dec(x.otherCores?.median),
        ]),
      ),
      '',
      '- *Request round trip*: mean time from sending a request to having its answer, as the bridge measured it (its `A2ALatency` ' +
        "metric, read from the handler's EMF output); for the baseline, its wall time per record. The agent's " +
        `${W1.latencyMs} ms plus HTTP, JSON and event-loop delays on both sides. *Ideal at that round trip* is the ideal recomputed ` +
        "with it: the ratio to it is the scheduler's own loss, the rest is the cost of one request.",
      '- *Slot occupancy*: the sum of the round trips over (parallelism × wall time), parallelism being min(MAX_CONCURRENCY, chains): ' +
        'the share of the time the allowed requests were actually in flight.',
      '- *Before the first request*: from the handler\'s call to the first `http.request` (decode, route and render of the whole batch, ' +
        'then scheduling); *after the last answer*: from the last byte of the last answer (the response\'s `end`) to the handler\'s ' +
        'return (reply parsing, report, logs, metrics). The bench child wraps `node:http`\'s `request` to see both (one closure per request).',
      '- *CPU busy*: process CPU time over wall time (handler: `process.cpuUsage()` of the measured invocation; agent: /proc). ' +
        '*Event-loop delay*: `perf_hooks.monitorEventLoopDelay` in the handler during the measured invocation.',
      `- With whole requests (a round of ${W1.concurrency} cannot be split), the best possible at exactly ${W1.latencyMs} ms is ` +
        modes.map((x) => `${int(x.roundsMs)} ms for \`${x.mode}\``).join(', ') +
        '.',
      '',
    );
    for (const mode of ['key', 'none'] as const) {
      const x = w1.find((y) => y.mode === mode);
      if (!x?.wall) continue;
      const ratio = x.wall.median / x.idealMs;
      const speedup = (base.wall?.median ?? NaN) / x.wall.median;
      const part = w1.find((y) => y.mode === 'partition');
      targets.push({
        what: `W1 \`${mode}\`: wall time / ideal`,
        goal: '≤ 1.10x',
        measured: `${dec(ratio)}x (${int(x.wall.median)} ms vs ${int(x.idealMs)} ms)`,
        met: ratio <= 1.10,
        margin: `${dec(Math.abs(ratio / 1.10 - 1) * 100, 0)}%`,
        close: ratio <= 1.10 && ratio > 1.10 / 1.05,
        why:
          `The scheduler kept ${pct(x.occupancy?.median)} of the ${W1.concurrency} slots busy and ` +
          `came within ${dec((x.wall.median / atRoundTrip(x) - 1) * 100, 0)}% of the ideal at the round trip it saw. The rest comes from the ` +
          `cost of a request, ${dec(x.roundTripMs?.median, 1)} ms per round trip with ${W1.concurrency} in flight against ${W1.latencyMs} ms of agent time ` +
          `(${dec(base.roundTripMs?.median, 1)} ms one at a time in the baseline` +
          (part?.roundTripMs ? `, ${dec(part.roundTripMs.median, 1)} ms with 4 in flight in \`partition\` mode` : '') +
          `), and from ${dec(x.firstRequestMs?.median, 0)} ms spent before the first request left (the whole batch is decoded, and the ` +
          `first chains' records routed and rendered, before the first send). Handler CPU busy ${pct(x.handlerBusy?.median)}, event-loop delay p99 ${dec(x.loopP99Ms?.median, 1)} ms, ` +
          `agent CPU busy ${pct(x.agentBusy?.median)}, other processes ${dec(x.otherCores?.median)} cores of ${CORES}.`,
      });
      targets.push({
        what: `W1 \`${mode}\`: speed-up over the baseline`,
        goal: '≥ 10x',
        measured: `${dec(speedup, 1)}x (${int(base.wall?.median)} ms vs ${int(x.wall.median)} ms)`,
        met: speedup >= 10,
        margin: `${dec(Math.abs(1 - speedup / 10) * 100, 0)}%`,
        close: speedup >= 10 && speedup < 11,
        why: 'See the ratio to the ideal: the same round-trip cost.',
      });
    }
  }

  const w2 = r.w2;
  if (w2) {
    const by = (kind: W2Row['kind'], f: (x: W2Row) => boolean) => w2.rows.find((x) => x.kind === kind && f(x));
    const bridge = (level: 'INFO' | 'WARN', store: boolean) => by('bridge', (x) => x.logLevel === level && x.store === store);
    const probes = w2.rows.filter((x) => x.kind === 'probe');
    const regime = (x: W2Row | undefined, g: Regime) => (g === 'first' ? x?.firstUs : g === 'warm' ? x?.warmUs : x?.steadyUs)?.median;
    /** The cheapest transport-only probe of this run in that regime: the floor any bridge on Node's HTTP stack pays. */
    const floor = (g: Regime) => probes.reduce<W2Row | undefined>((best, x) => ((regime(x, g) ?? Infinity) < (regime(best, g) ?? Infinity) ? x : best), undefined);
    const short = (x: W2Row | undefined) => x?.name.replace('transport only: ', '') ?? 'n/a';
    out.push(
      '## W2: CPU per record',
      '',
      `${int(W2.records)} records of ${int(w2.valueBytes)} bytes of JSON on average, rendered through a template ` +
        `(bench/workloads.ts \`TEMPLATE\`: nested fields, an array element, Kafka metadata and a header), agent answering at once ` +
        `(latency 0), ORDERING=${W2.ordering}, MAX_CONCURRENCY ${W2.concurrency}. The records arrive as ${w2.batches} invocations of ` +
        `${int(W2.batchRecords)} records in one handler process, as a warm Lambda sees them (largest event ` +
        `${(w2.eventBytes / 2 ** 20).toFixed(1)} MiB: Lambda's 6 MB invocation payload limit rules out one 10,000-record event of ` +
        "this size). CPU is the handler process's `process.cpuUsage()` (user + system, all threads: GC and libuv included) " +
        'around the invocations, divided by the records. *Store on*: `IDEMPOTENCY_TABLE` set, a fresh table in dynalite per run, ' +
        'so every record is claimed and completed (two conditional writes). Peak RSS is `process.resourceUsage().maxRSS`.',
      '',
      'Regimes: *first* is the fresh process\'s first invocation (JIT warm-up included), *warm* the later invocations of the same ' +
        'process (what most Lambda invocations are), *steady* the last one alone (the JIT settled). The transport-only probes ' +
        '(bench/baseline.ts, the same records and JSON bodies, 16 in flight, nothing else) run the same events the same way, one ' +
        'batch after another in a fresh process, so each regime has its own floor from this run.',
      '',
      "- *bridge alone*: `node:http`'s `request` replaced, in the bench's child only, by an in-process fake answering on the next " +
        "turn of the event loop with the agent's usual reply (bench/stub-http.cjs): the bridge's own work without sockets.",
      '',
      table(
        ['Configuration', 'CPU µs/record, all', 'min–max', 'first', 'warm', 'steady', 'Wall (ms)', 'Records/s', 'Peak RSS (MiB)', 'stdout bytes/record'],
        w2.rows
          .map((x) => [
            x.name,
            int(x.cpuUs.median),
            range(x.cpuUs),
            int(x.firstUs?.median),
            int(x.warmUs?.median),
            int(x.steadyUs?.median),
            int(x.wallMs.median),
            int(W2.records / (x.wallMs.median / 1000)),
            dec(x.rssMb.median, 0),
            x.stdoutBytesPerRecord ? int(x.stdoutBytesPerRecord.median) : '—',
          ])
          .map((cells) => cells.map((c) => (c === 'n/a' ? '—' : c))),
      ),
      '',
      'Each regime beside its floor (ratios of medians of this run):',
      '',
      table(
        ['Regime', 'Cheapest probe (µs/request)', 'INFO, store off', '/ floor', 'INFO, store on', '/ store off', 'WARN, store off', '/ floor', 'WARN, store on', '/ store off'],
        REGIMES.map((g) => {
          const f = floor(g);
          const io = regime(bridge('INFO', false), g);
          const in_ = regime(bridge('INFO', true), g);
          const wo = regime(bridge('WARN', false), g);
          const wn = regime(bridge('WARN', true), g);
          const fl = regime(f, g);
          return [g, `${int(fl)} (${short(f)})`, int(io), `${dec((io ?? NaN) / (fl ?? NaN))}x`, int(in_), `${dec((in_ ?? NaN) / (io ?? NaN))}x`, int(wo), `${dec((wo ?? NaN) / (fl ?? NaN))}x`, int(wn), `${dec((wn ?? NaN) / (wo ?? NaN))}x`];
        }),
      ),
      '',
      'Is the agent the bottleneck? (medians)',
      '',
      table(
        ['Configuration', 'Agent CPU µs/request', 'Agent CPU busy', "Other processes' CPU (cores)"],
        w2.rows.map((x) => [x.name, int(x.agentCpuUsPerRequest?.median), pct(x.agentBusy?.median), dec(x.otherCores?.median)]),
      ),
      '',
    );
    for (const level of ['INFO', 'WARN'] as const) {
      const off = bridge(level, false);
      const on = bridge(level, true);
      const f = floor('warm');
      const offWarm = regime(off, 'warm');
      const fl = regime(f, 'warm');
      if (offWarm !== undefined && fl !== undefined) {
        const ratio = offWarm / fl;
        targets.push({
          what: `W2 warm, ${level}${level === 'INFO' ? ' (the default)' : ''}, store off: CPU per record / best transport-only probe`,
          goal: '≤ 1.5x',
          measured: `${dec(ratio)}x (${int(offWarm)} µs vs ${int(fl)} µs, ${short(f)})`,
          met: ratio <= 1.5,
          margin: `${dec(Math.abs(ratio / 1.5 - 1) * 100, 0)}%`,
          close: ratio <= 1.5 && ratio > 1.5 / 1.05,
          why:
            `The bridge alone (no sockets) costs ${int(regime(by('stub', () => true), 'warm'))} µs per record warm; the bridge's own client ` +
            `(lambda/io/http.ts) alone ${int(regime(by('probe', (x) => x.client === 'bridge'), 'warm'))} µs per request. ` +
            `${level === 'INFO' ? `INFO writes ${int(off?.stdoutBytesPerRecord?.median)} bytes per record to stdout.` : ''}`,
        });
      }
      const onWarm = regime(on, 'warm');
      if (onWarm !== undefined && offWarm !== undefined) {
        const ratio = onWarm / offWarm;
        targets.push({
          what: `W2 warm, ${level}: store on / store off`,
          goal: '≤ 1.5x',
          measured: `${dec(ratio)}x (${int(onWarm)} µs vs ${int(offWarm)} µs)`,
          met: ratio <= 1.5,
          margin: `${dec(Math.abs(ratio / 1.5 - 1) * 100, 0)}%`,
          close: ratio <= 1.5 && ratio > 1.5 / 1.05,
          why: 'Two signed DynamoDB requests per record (claim, completion) over the same keep-alive transport as the agent\'s: each costs about what a request to the agent costs, less the A2A work.',
        });
      }
    }
  }

  const w3 = r.w3;
  if (w3) {
    out.push(
      '## W3: bundle and cold start',
      '',
      table(
        ['Bundle', 'Bytes', 'KiB'],
        [
          ['dist/handler.js (minified CJS)', int(w3.bundleBytes), dec(w3.bundleBytes / 1024, 1)],
          ['dist/handler.js, gzip -9', int(w3.gzipBytes), dec(w3.gzipBytes / 1024, 1)],
          ['dist/handler.js.map (source map: shipped, not loaded)', int(w3.mapBytes), dec(w3.mapBytes / 1024, 1)],
          ...(w3.lazy ?? []).map((l) => [`dist/node_modules/${l.name}/index.js (apart, read at first use)`, int(l.bytes), dec(l.bytes / 1024, 1)]),
        ],
      ),
      '',
      'The main path is dist/handler.js alone; the files beside it (scripts/bundle-lazy.mjs) are read only by the deployments and ' +
        'calls that use them: the Avro and Protobuf libraries by routes with a schema, kafkajs and the MSK IAM signer by kafka:// ' +
        'replies, each AWS SDK client (with its own copy of the SDK core) at its first call: SQS at the first dead letter, SNS and ' +
        'EventBridge at the first reply to them, and Secrets Manager only where the environment holds no credentials (a local ' +
        'run with a profile; never on Lambda, where the token secret is read with one signed request over the HTTP edge).',
      '',
      `Cold start: ${W3.runs} fresh \`node\` processes per configuration, each loading the bundle and serving a first one-record ` +
        'invocation (a ~1 KB record through the template, agent answering at once, INFO logging). *Node start-up* is ' +
        "`performance.now()` at the child script's first line; *require* and *first invocation* are `process.hrtime` inside the " +
        'child (module evaluation with settings and routes validation; then the invocation, which opens the connection to the agent ' +
        'and, with `IDEMPOTENCY_TABLE`, makes the store\'s two signed calls, a claim and a completion, to dynalite in ' +
        "the bench's process: loopback, not a region's network); *spawn to answer* is measured by the bench, from `spawn()` to the " +
        "child's report. The *reference* row is a bundle built by the bench with the same options but `@aws-sdk/client-*` stubbed " +
        "into it (bench/w3-cold-start.ts `buildWithoutSdk`): a floor with no AWS SDK anywhere, to check what the SDK still costs at load. " +
        'The *token from Secrets Manager* rows have `ARCHESTRA_TOKEN_SECRET_ARN` instead of `ARCHESTRA_TOKEN`, as the CDK app deploys ' +
        'it: their first invocation reads the secret with one signed GetSecretValue (lambda/io/aws-json-secrets.ts) from moto_server (its own process, on ' +
        "loopback: not a region's network, nor Secrets Manager's own time to answer) before its first request to the agent. " +
        'Only the first three rows are held to the targets.',
      '',
      ...(w3.undici
        ? [
            `The transport candidate at load: undici 7 bundled alone with the same options is ${int(w3.undici.bytes)} bytes minified; a fresh ` +
              `\`node\` takes ${dec(w3.undici.requireMs.median, 0)} ms (${range(w3.undici.requireMs)}) to require it, against ` +
              `${dec(w3.undici.httpRequireMs.median, 1)} ms for \`node:http\` and \`node:https\` (medians of ${w3.undici.requireMs.n} processes each).`,
            '',
          ]
        : []),
      table(
        ['Configuration', 'Node start-up (ms)', 'require bundle (ms)', 'first invocation (ms)', 'require + first invocation (ms)', 'Spawn to answer (ms)', 'min–max'],
        w3.variants.map((v) => [v.name, dec(v.boot.median, 0), dec(v.require.median, 0), dec(v.firstInvoke.median, 0), dec(v.inProcess.median, 0), dec(v.spawnToAnswer.median, 0), range(v.spawnToAnswer)]),
      ),
      '',
      ...secretLines(w3),
    );
    targets.push({
      what: 'W3: bundle size',
      goal: '≤ 1 MB minified',
      measured: `${dec(w3.bundleBytes / 1e6, 3)} MB (${dec(w3.gzipBytes / 1e3, 0)} kB gzip)`,
      met: w3.bundleBytes <= 1_000_000,
      margin: `${int(Math.abs(1_000_000 - w3.bundleBytes) / 1000)} kB`,
    });
    const off = w3.variants.find((x) => x.name.startsWith('routes'));
    const on = w3.variants.find((x) => x.name.startsWith('plus IDEMPOTENCY_TABLE'));
    if (off && on) {
      const ms = on.spawnToAnswer.median;
      const why =
        `With the table: Node start-up ${dec(on.boot.median, 0)} ms, require ${dec(on.require.median, 0)} ms, first invocation ${dec(on.firstInvoke.median, 0)} ms; ` +
        `without: ${dec(off.boot.median, 0)}, ${dec(off.require.median, 0)} and ${dec(off.firstInvoke.median, 0)} ms. What the table itself adds is in the ` +
        `first invocation (${dec(on.firstInvoke.median - off.firstInvoke.median, 0)} ms here): the store's two signed requests to dynalite on loopback ` +
        "(a region adds its network round trips), with no SDK to load; Node's start-up and the require run the same bundle either way, so " +
        'their difference is run-to-run noise on this shared machine.';
      targets.push({
        what: 'W3: cold start with IDEMPOTENCY_TABLE, spawn to answer',
        goal: '≤ 150 ms',
        measured: `${dec(ms, 0)} ms (${range(on.spawnToAnswer)} ms)`,
        met: ms <= 150,
        margin: `${dec(Math.abs(ms - 150), 0)} ms`,
        close: ms <= 150 && ms > 135,
        why,
      });
      const ratio = ms / off.spawnToAnswer.median;
      targets.push({
        what: 'W3: cold start with IDEMPOTENCY_TABLE / without',
        goal: '≤ 1.15x',
        measured: `${dec(ratio)}x (${dec(ms, 0)} ms vs ${dec(off.spawnToAnswer.median, 0)} ms)`,
        met: ratio <= 1.15,
        margin: `${dec(Math.abs(ratio / 1.15 - 1) * 100, 0)}%`,
        close: ratio <= 1.15 && ratio > 1.15 / 1.05,
        why,
      });
    }
  }

  const w4 = r.w4;
  if (w4) {
    const off = w4.find((x) => !x.replies)!;
    out.push(
      '## W4: replies to Kafka',
      '',
      `${int(W4.records)} records of ${int(W4.valueBytes)} bytes in ${Math.ceil(W4.records / W4.batchRecords)} invocations of ${int(W4.batchRecords)} in one ` +
        `handler process, agent answering at once, ORDERING=key, MAX_CONCURRENCY ${W4.concurrency}, INFO logging, no store. *Replies*: the route's ` +
        '`reply` is `kafka://<topic>` (a fresh topic per run) on kcat\'s librdkafka mock cluster (one broker on loopback, ' +
        "test/support/kafka-mock.ts), written by the bundle's kafkajs producer; a run counts only if the topic then holds one " +
        'message per record. Records per second is the records over the summed wall time of the invocations.',
      '',
      table(
        ['Configuration', 'Records/s (median)', 'min–max', 'Ratio to no replies', 'CPU µs/record', 'Wall (ms)'],
        w4.map((x) => [x.name, int(x.recordsPerS.median), range(x.recordsPerS), `${dec(x.recordsPerS.median / off.recordsPerS.median)}x`, int(x.cpuUsPerRecord.median), int(x.wallMs.median)]),
      ),
      '',
    );
  }

  out.push(
    '## Choices of issue #18 and what they rest on',
    '',
    '- **The idempotency store on a lean DynamoDB client** (lambda/io/dynamo-client.ts): one SigV4-signed JSON POST per ' +
      'operation over lambda/io/http.ts instead of `@aws-sdk/client-dynamodb`. W2 measures its CPU (*store on* against *store off*) and ' +
      'W3 its cold start. The signer is node:crypto: `npx tsx bench/sigv4-choice.ts` prints the size and CPU per signature against ' +
      '`@smithy/signature-v4`.',
    '- **Still two writes per record** (a conditional claim before the send, a completion after it). A batch of claims cannot be ' +
      'conditional per item (BatchWriteItem has no conditions; TransactWriteItems fails whole when one item is already claimed), and ' +
      'a ledger written once per invocation would move each completion to the end of the invocation: a crash in between would leave ' +
      'delivered records claimed but not completed, to be sent again once the claim lapses, and the claim is also where an unknown ' +
      "outcome's lease, a permanent verdict and a durable task's id are kept per record as they happen (issue #13). Fewer writes would " +
      'give up one of those guarantees, so the store keeps them.',
    '- **The transport stays on node:http** (lambda/io/http.ts): W2 has undici 7 as a transport-only probe, W3 what it costs at load.',
    '- **A delivered record\'s log line is at DEBUG** (lambda/batch-log.ts): W2\'s INFO rows carry the summary line and EMF metrics ' +
      'only; the *stdout bytes/record* column shows what INFO still writes.',
    '- **Each AWS SDK client is built apart** (scripts/bundle-lazy.mjs), read at its first call: the W3 bundle table.',
    '',
  );

  if (PREV) out.push(...againstPrevious(r, PREV));

  if (targets.length) {
    out.push(
      '## Targets',
      '',
      table(
        ['Target', 'Goal', 'Measured (median)', 'Met'],
        targets.map((t) => [t.what, t.goal, t.measured, t.met ? `yes (${t.margin} to spare)` : `**no** (by ${t.margin})`]),
      ),
      '',
      '## Closing note',
      '',
    );
    const missed = targets.filter((t) => !t.met);
    const close = targets.filter((t) => t.met && t.close);
    if (!missed.length) out.push('Every target is met on this machine.');
    for (const t of missed) out.push(`- **${t.what}**: missed by ${t.margin}.${t.why ? ` ${t.why}` : ''}`);
    for (const t of close) out.push(`- **${t.what}**: met, with only ${t.margin} to spare.${t.why ? ` ${t.why}` : ''}`);
    out.push('');
  }
  return { markdown: out.join('\n'), targets };
}

/**
 * This run's medians beside an earlier run's (bench/previous-run.json), figure by figure. The transport probes run the
 * same code in both runs (fetch and the minimal node:http client): their change is the machine's drift between the two
 * runs, the yardstick for every other change in the table.
 */
export function againstPrevious(r: Results, prev: PreviousRun): string[] {
  const p = prev.results;
  type Row = [string, number | undefined, number | undefined, (n: number | undefined) => string];
  const rows: Row[] = [];
  const ms0 = (n: number | undefined) => dec(n, 0);
  const ms1 = (n: number | undefined) => dec(n, 1);
  const ratio = (n: number | undefined) => `${dec(n)}x`;
  for (const mode of ['partition', 'key', 'none', 'baseline'] as const) {
    const a = p.w1?.find((x) => x.mode === mode);
    const b = r.w1?.find((x) => x.mode === mode);
    if (!a && !b) continue;
    const label = mode === 'baseline' ? 'W1 baseline (sequential, fetch in both runs)' : `W1 \`${mode}\``;
    rows.push([`${label}: wall (ms)`, a?.wall?.median, b?.wall?.median, int]);
    if (mode === 'baseline') continue;
    if (mode !== 'partition') rows.push([`${label}: ratio to ideal`, a?.wall && a.wall.median / a.idealMs, b?.wall && b.wall.median / b.idealMs, ratio]);
    rows.push([`${label}: request round trip (ms)`, a?.roundTripMs?.median, b?.roundTripMs?.median, ms1]);
    if (mode !== 'partition') {
      rows.push([`${label}: before the first request (ms)`, a?.firstRequestMs?.median, b?.firstRequestMs?.median, ms1]);
      rows.push([`${label}: handler CPU busy`, a?.handlerBusy?.median, b?.handlerBusy?.median, pct]);
    }
  }
  const w2a = p.w2?.rows ?? [];
  const w2b = r.w2?.rows ?? [];
  const find = (rows: W2Row[], kind: string, needle: string) => rows.find((x) => x.kind === kind && x.name.includes(needle));
  for (const [label, kind, needle] of [
    ['W2 bridge, WARN: CPU µs/record', 'bridge', 'WARN'],
    ['W2 bridge, INFO: CPU µs/record', 'bridge', 'INFO'],
    ['W2 bridge alone (agent stubbed in process; not the same stub, see below): CPU µs/record', 'stub', 'stubbed'],
    ['W2 transport only, Node\'s fetch (same code in both runs): CPU µs/request', 'probe', 'fetch'],
    ['W2 transport only, minimal node:http (same code in both runs): CPU µs/request', 'probe', 'node:http'],
  ] as const) {
    rows.push([label, find(w2a, kind, needle)?.cpuUs.median, find(w2b, kind, needle)?.cpuUs.median, int]);
    if (kind === 'bridge' && needle === 'WARN') {
      rows.push(['W2 bridge, WARN: warm invocations, CPU µs/record', find(w2a, kind, needle)?.warmUs?.median, find(w2b, kind, needle)?.warmUs?.median, int]);
      rows.push(['W2 bridge, WARN: wall (ms)', find(w2a, kind, needle)?.wallMs.median, find(w2b, kind, needle)?.wallMs.median, int]);
      rows.push(['W2 bridge, WARN: peak RSS (MiB)', find(w2a, kind, needle)?.rssMb.median, find(w2b, kind, needle)?.rssMb.median, ms0]);
    }
  }
  const cold = (res: Results, needle: string) => res.w3?.variants.find((v) => v.name.startsWith(needle));
  for (const [label, needle] of [
    ['W3 routes + token', 'routes'],
    ['W3 plus DLQ_URL', 'plus DLQ_URL'],
    ['W3 token from Secrets Manager', SECRET],
  ] as const) {
    const a = cold(p, needle);
    const b = cold(r, needle);
    rows.push([`${label}: require bundle (ms)`, a?.require.median, b?.require.median, ms0]);
    rows.push([`${label}: first invocation (ms)`, a?.firstInvoke.median, b?.firstInvoke.median, ms0]);
    rows.push([`${label}: spawn to answer (ms)`, a?.spawnToAnswer.median, b?.spawnToAnswer.median, ms0]);
  }
  if (r.w3 || p.w3) rows.push(['W3 bundle (bytes)', p.w3?.bundleBytes, r.w3?.bundleBytes, int]);
  const change = (a: number | undefined, b: number | undefined) => {
    if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || a === 0) return '—';
    const c = b / a - 1;
    return `${c >= 0 ? '+' : '−'}${Math.abs(Math.round(c * 100))}%`;
  };
  return [
    '## Against the previous run',
    '',
    `Medians of the ${prev.label}, finished ${prev.finished}, beside this run's (bench/previous-run.json). ${prev.about} ` +
      'Same bench, same workloads, same machine; the code under test differs. The two transport-only probes run the same code ' +
      "in both runs: their change is the machine's drift between the two runs, the yardstick for the others.",
    '',
    table(
      ['Figure', prev.short, 'this run', 'Change'],
      rows.filter(([, a, b]) => a !== undefined || b !== undefined).map(([label, a, b, f]) => [label, f(a).replace('n/a', '—'), f(b).replace('n/a', '—'), change(a, b)]),
    ),
    '',
    "*Bridge alone* measured different things in the two runs: then Node's `fetch` was replaced by an async function resolving at " +
      "once with the reply (no stream, no event-loop turn); now `node:http`'s `request` is replaced by a fake answering on the next " +
      "turn of the event loop through a Readable, and the bridge's own lambda/io/http.ts runs around it. The figure is this run's " +
      'measure of the bridge without the network, not evidence of a change in the bridge between the two runs.',
    '',
  ];
}
