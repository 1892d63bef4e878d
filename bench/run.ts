// `npm run bench` (after `npm run build`): the production bundle dist/handler.js in a child process
// against sim/archestra.ts in another, three workloads, medians of several fresh runs, a markdown report
// on stdout and in docs/BENCHMARKS.md. `--quick` is a smoke run (< 1 minute; writes .bench-tmp/ only).
//
//   tsx bench/run.ts [--quick] [--runs N] [--no-write] [--out FILE] [--previous FILE | --no-previous]
//   tsx bench/run.ts --from .bench-tmp/results.json   re-renders saved figures (after a change to the report's prose)
//   development only (the report then goes to stdout only):
//     [--only w1,w2,w3] [--modes key,none] [--no-baseline]
//
// --previous (default bench/previous-run.json): the saved results of an earlier full run, shown beside this run's
// medians in a section of their own (and as marked rows in W2), never mixed into this run's figures. After a change
// worth comparing against, copy .bench-tmp/results.json of the new full run there and edit its "label".
//
// Each measured run starts a fresh agent and a fresh handler process, so no run inherits another's
// sockets, JIT state or agent statistics; the agent's own count of requests is checked after every run.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { machineTicks, ROOT, startAgent, type Agent, type AgentStats } from './agent';
import type { BaselineReport, BaselineSpec } from './baseline';
import {
  buildBatches,
  buildEvent,
  chainLengths,
  emfLatencies,
  eventSize,
  idealRoundsMs,
  idealScheduleMs,
  layout,
  longestChain,
  mean,
  ORDERINGS,
  routesConfig,
  slotOccupancy,
  summarize,
  type Ordering,
  type Summary,
} from './workloads';

// ---------------------------------------------------------------------------------------------------------
// Configuration

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(name);
const option = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const QUICK = flag('--quick');
const RUNS = Number(option('--runs') ?? (QUICK ? 1 : 5));
const ONLY = new Set((option('--only') ?? 'w1,w2,w3').split(','));
const MODES = (option('--modes')?.split(',') as Ordering[] | undefined) ?? [...ORDERINGS];
const BASELINE = !flag('--no-baseline');
const PARTIAL = ONLY.size < 3 || MODES.length < ORDERINGS.length || !BASELINE;
const WRITE = !flag('--no-write') && !PARTIAL;
const OUT = path.resolve(ROOT, option('--out') ?? (QUICK ? '.bench-tmp/BENCHMARKS.quick.md' : 'docs/BENCHMARKS.md'));
const TMP = path.join(ROOT, '.bench-tmp');
/** An earlier full run to show beside this one (see the header); not by default in a --quick run, whose figures are not comparable. */
interface PreviousRun {
  /** How the report names the run, in prose and (short) in table rows. */
  label: string;
  short: string;
  commit: string;
  finished: string;
  /** What the code under test was then. */
  about: string;
  results: Results;
}
const PREVIOUS_FILE = flag('--no-previous') ? undefined : (option('--previous') ?? (QUICK ? undefined : 'bench/previous-run.json'));
const PREV: PreviousRun | undefined = PREVIOUS_FILE ? (JSON.parse(readFileSync(path.resolve(ROOT, PREVIOUS_FILE), 'utf8')) as PreviousRun) : undefined;
const BUNDLE = path.join(ROOT, 'dist/handler.js');
const TOKEN = 'bench-token';
const CORES = os.cpus().length;

const W1 = {
  records: QUICK ? 200 : 1000,
  partitions: 4,
  keys: 100,
  latencyMs: 50,
  concurrency: 16,
  /** Unmeasured invocation first, so the measured one runs warm, as most Lambda invocations do. */
  warmupRecords: 100,
};
const W2 = {
  records: QUICK ? 2000 : 10_000,
  /** Lambda caps an invocation's payload at 6 MB: 2,500 records of ~1 KB is a ~3.4 MB event. */
  batchRecords: QUICK ? 1000 : 2500,
  valueBytes: 1024,
  partitions: 4,
  keys: 100,
  concurrency: 16,
  ordering: 'key' as Ordering,
};
const W3 = { runs: QUICK ? 3 : Math.max(10, RUNS) };

// ---------------------------------------------------------------------------------------------------------
// Child processes

interface ChildResult<R> {
  report: R;
  /** From just before spawn() to the report line on fd 3. */
  spawnToReportMs: number;
  stdoutBytes: number;
  /** Only with keepStdout. */
  stdout?: string;
  stderr: string;
}

function runChild<R extends { ok: boolean; error?: string }>(args: string[], env: Record<string, string>, what: string, keepStdout = false): Promise<ChildResult<R>> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    let reportText = '';
    let reportAt: bigint | undefined;
    let stdoutBytes = 0;
    const kept: Buffer[] = [];
    let stderr = '';
    // Drained as fast as it comes: pipe writes are synchronous on Linux, a slow reader would slow the handler.
    child.stdout!.on('data', (d: Buffer) => {
      stdoutBytes += d.length;
      if (keepStdout) kept.push(d);
    });
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
    (child.stdio[3] as Readable).on('data', (d: Buffer) => {
      reportText += d.toString();
      if (reportAt === undefined && reportText.includes('\n')) reportAt = process.hrtime.bigint();
    });
    child.once('error', reject);
    child.once('close', (code) => {
      const line = reportText.split('\n')[0];
      if (!line) return reject(new Error(`${what}: no report (exit ${code})\n${stderr}`));
      const report = JSON.parse(line) as R;
      if (!report.ok) return reject(new Error(`${what}: ${report.error}\n${stderr.slice(-3000)}`));
      const stdout = keepStdout ? Buffer.concat(kept).toString('utf8') : undefined;
      resolve({ report, spawnToReportMs: Number((reportAt ?? process.hrtime.bigint()) - t0) / 1e6, stdoutBytes, stdout, stderr });
    });
  });
}

/** The environment of a Lambda function (nothing inherited from this shell but PATH). */
function lambdaEnv(agent: Agent, o: { ordering: Ordering; concurrency: number; logLevel: 'WARN' | 'INFO'; extra?: Record<string, string> }): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    TZ: ':UTC',
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs20.x',
    AWS_LAMBDA_FUNCTION_NAME: 'kafka-a2a-bridge-bench',
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1024',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/kafka-a2a-bridge-bench',
    AWS_LAMBDA_LOG_STREAM_NAME: '2025/01/15/[$LATEST]bench',
    POWERTOOLS_LOG_LEVEL: o.logLevel,
    ROUTES_CONFIG: routesConfig(agent.agentId),
    ARCHESTRA_URL: agent.url,
    ARCHESTRA_TOKEN: TOKEN,
    ORDERING: o.ordering,
    MAX_CONCURRENCY: String(o.concurrency),
    ...o.extra,
  };
}

interface Invocation {
  records: number;
  wallMs: number;
  cpuUserUs: number;
  cpuSystemUs: number;
  loop?: { p50Ms: number; p99Ms: number; maxMs: number };
  phase?: { firstRequestMs: number; afterLastAnswerMs: number };
}
interface BatchesReport {
  ok: boolean;
  error?: string;
  bootMs: number;
  requireMs: number;
  invocations: Invocation[];
  maxRssBytes: number;
  heapUsedBytes: number;
  processCpuUs: number;
}
interface ColdReport {
  ok: boolean;
  error?: string;
  bootMs: number;
  requireMs: number;
  firstInvokeMs: number;
  inProcessMs: number;
  sinceStartMs: number;
}

/** real: the bundle's own node:http transport to the agent; stub: node:http's request faked in process (bench/handler-child.cjs). */
type Transport = 'real' | 'stub';

function handlerChild<R extends { ok: boolean; error?: string }>(
  env: Record<string, string>,
  mode: 'batches' | 'cold',
  events: string[],
  what: string,
  o: { transport?: Transport; keepStdout?: boolean; loopDelay?: boolean; phases?: boolean; bundle?: string } = {},
) {
  const spec = { mode, bundle: o.bundle ?? BUNDLE, events, transport: o.transport ?? 'real', loopDelay: o.loopDelay ?? false, phases: o.phases ?? false };
  return runChild<R>([path.join(ROOT, 'bench/handler-child.cjs')], { ...env, BENCH_CHILD: JSON.stringify(spec) }, what, o.keepStdout);
}

/** bench/baseline.ts compiled once to plain CommonJS, so the baseline and the probes run under plain `node`, as the handler does. */
let baselineScript: Promise<string> | undefined;
function compileBaseline(): Promise<string> {
  baselineScript ??= (async () => {
    const { build } = await import('esbuild');
    const outfile = path.join(TMP, 'baseline.cjs');
    await build({ entryPoints: [path.join(ROOT, 'bench/baseline.ts')], outfile, bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'warning' });
    return outfile;
  })();
  return baselineScript;
}

async function baselineChild(spec: BaselineSpec, what: string) {
  return runChild<BaselineReport>([await compileBaseline()], { PATH: process.env.PATH ?? '', BENCH_BASELINE: JSON.stringify(spec) }, what);
}

/** Every record must have reached the agent exactly once, and been answered with a message. */
function checkAgent(stats: AgentStats, expected: number, what: string) {
  if (stats.total !== expected || stats.byOutcome.message !== expected) {
    throw new Error(`${what}: the agent saw ${stats.total} requests (${JSON.stringify(stats.byOutcome)}), expected ${expected} answered messages`);
  }
}

interface Window {
  wallMs: number;
  agentCpuMs: number;
  /** Whole machine, in cores (/proc/stat). */
  machineBusyCores: number;
}

/** One measured run: a fresh agent, the work, the agent's statistics, and the CPU the machine spent meanwhile. */
async function withAgent<T>(latencyMs: number, fn: (agent: Agent) => Promise<T>): Promise<{ value: T; stats: AgentStats; window: Window }> {
  const agent = await startAgent({ latencyMs, token: TOKEN });
  try {
    const c0 = agent.cpuMs();
    const m0 = machineTicks();
    const t0 = process.hrtime.bigint();
    const value = await fn(agent);
    const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const c1 = agent.cpuMs();
    const m1 = machineTicks();
    const stats = await agent.stop();
    const busy = m0 && m1 && m1.total > m0.total ? ((m1.busy - m0.busy) / (m1.total - m0.total)) * CORES : NaN;
    return { value, stats, window: { wallMs, agentCpuMs: c0 !== undefined && c1 !== undefined ? c1 - c0 : NaN, machineBusyCores: busy } };
  } catch (e) {
    await agent.stop().catch(() => undefined);
    throw e;
  }
}

/** Cores other processes (other users of the machine) kept busy during the window: noise in every figure. */
const otherCores = (w: Window, childCpuUs: number) => w.machineBusyCores - (w.agentCpuMs + childCpuUs / 1000) / w.wallMs;

const log = (s: string) => process.stderr.write(`${s}\n`);
const writeEvent = (name: string, event: unknown) => {
  const file = path.join(TMP, name);
  writeFileSync(file, JSON.stringify(event));
  return file;
};
const bucket = <V>(m: Map<string, V[]>, k: string) => m.get(k) ?? m.set(k, []).get(k)!;
/** Summary of the known figures (some are unknown off Linux); undefined when there are none. */
const known = (xs: number[]): Summary | undefined => {
  const ok = xs.filter((x) => Number.isFinite(x));
  return ok.length ? summarize(ok) : undefined;
};

// ---------------------------------------------------------------------------------------------------------
// W1: scheduling

interface W1Row {
  mode: Ordering | 'baseline';
  longestChain: number;
  idealMs: number;
  roundsMs: number;
  wall?: Summary;
  maxInFlight: number;
  /** Mean request round trip: as the bridge measured it (its A2ALatency metric); the baseline's wall per record. */
  roundTripMs?: Summary;
  occupancy?: Summary;
  handlerBusy?: Summary;
  loopP99Ms?: Summary;
  /** From the handler's call to the first request leaving; from the last answer to the handler's return. */
  firstRequestMs?: Summary;
  tailMs?: Summary;
  agentBusy?: Summary;
  otherCores?: Summary;
}

async function w1(): Promise<W1Row[]> {
  const placements = layout(W1);
  const event = writeEvent('w1.json', buildEvent(W1));
  const far = Object.fromEntries(Array.from({ length: W1.partitions }, (_, p) => [p, 1_000_000]));
  const warmup = writeEvent('w1-warmup.json', buildEvent({ ...W1, records: W1.warmupRecords, firstIndex: W1.records, startOffsets: far }));
  const walls = new Map<string, number[]>();
  const rts = new Map<string, number[]>();
  const occs = new Map<string, number[]>();
  const busys = new Map<string, number[]>();
  const loops = new Map<string, number[]>();
  const agents = new Map<string, number[]>();
  const others = new Map<string, number[]>();
  const firsts = new Map<string, number[]>();
  const tails = new Map<string, number[]>();
  const inFlight = new Map<string, number>();
  /** The figures of one mode (or the baseline), one entry per run. */
  const f = (k: string) => ({
    wall: bucket(walls, k),
    rt: bucket(rts, k),
    occ: bucket(occs, k),
    busy: bucket(busys, k),
    loop: bucket(loops, k),
    agent: bucket(agents, k),
    other: bucket(others, k),
    first: bucket(firsts, k),
    tail: bucket(tails, k),
  });

  for (let run = 1; run <= RUNS; run++) {
    for (const mode of MODES) {
      const what = `W1 ${mode} run ${run}`;
      const env = (agent: Agent) => lambdaEnv(agent, { ordering: mode, concurrency: W1.concurrency, logLevel: 'WARN' });
      const { value, stats, window } = await withAgent(W1.latencyMs, (agent) =>
        handlerChild<BatchesReport>(env(agent), 'batches', [warmup, event], what, { keepStdout: true, loopDelay: true, phases: true }),
      );
      checkAgent(stats, W1.records + W1.warmupRecords, what);
      const m = value.report.invocations[1];
      const s = f(mode);
      s.wall.push(m.wallMs);
      s.busy.push((m.cpuUserUs + m.cpuSystemUs) / 1000 / m.wallMs);
      s.loop.push(m.loop?.p99Ms ?? NaN);
      s.first.push(m.phase?.firstRequestMs ?? NaN);
      s.tail.push(m.phase?.afterLastAnswerMs ?? NaN);
      s.agent.push(window.agentCpuMs / window.wallMs);
      s.other.push(otherCores(window, value.report.processCpuUs));
      const lat = emfLatencies(value.stdout ?? '')[1];
      if (lat?.length === W1.records) {
        s.rt.push(mean(lat));
        s.occ.push(slotOccupancy(lat, Math.min(W1.concurrency, chainLengths(placements, mode).length), m.wallMs));
      }
      inFlight.set(mode, Math.max(inFlight.get(mode) ?? 0, stats.maxInFlight));
      log(`${what}: ${m.wallMs.toFixed(0)} ms (round trip ${mean(lat ?? []).toFixed(1)} ms, agent max in flight ${stats.maxInFlight})`);
    }
    if (!BASELINE) continue;
    const what = `W1 baseline run ${run}`;
    const { value, stats, window } = await withAgent(W1.latencyMs, (agent) =>
      baselineChild({ events: [event], url: `${agent.url}/v1/a2a/${agent.agentId}`, token: TOKEN, concurrency: 1, client: 'fetch' }, what),
    );
    checkAgent(stats, W1.records, what);
    const r = value.report;
    const s = f('baseline');
    s.wall.push(r.wallMs);
    s.rt.push(r.wallMs / W1.records);
    s.busy.push((r.cpuUserUs + r.cpuSystemUs) / 1000 / r.wallMs);
    s.agent.push(window.agentCpuMs / window.wallMs);
    s.other.push(otherCores(window, r.processCpuUs));
    inFlight.set('baseline', Math.max(inFlight.get('baseline') ?? 0, stats.maxInFlight));
    log(`${what}: ${r.wallMs.toFixed(0)} ms`);
  }

  const row = (mode: Ordering | 'baseline', chain: number, concurrency: number): W1Row => {
    const input = { records: W1.records, longestChain: chain, latencyMs: W1.latencyMs, concurrency };
    const s = f(mode);
    return {
      mode,
      longestChain: chain,
      idealMs: idealScheduleMs(input),
      roundsMs: idealRoundsMs(input),
      wall: known(s.wall),
      maxInFlight: inFlight.get(mode) ?? 0,
      roundTripMs: known(s.rt),
      occupancy: known(s.occ),
      handlerBusy: known(s.busy),
      loopP99Ms: known(s.loop),
      firstRequestMs: known(s.first),
      tailMs: known(s.tail),
      agentBusy: known(s.agent),
      otherCores: known(s.other),
    };
  };
  return [...MODES.map((mode) => row(mode, longestChain(placements, mode), W1.concurrency)), row('baseline', W1.records, 1)];
}

// ---------------------------------------------------------------------------------------------------------
// W2: CPU per record

interface W2Row {
  name: string;
  kind: 'bridge' | 'stub' | 'probe';
  /** CPU per record over all invocations, µs. */
  cpuUs: Summary;
  firstUs?: Summary;
  warmUs?: Summary;
  wallMs: Summary;
  rssMb: Summary;
  stdoutBytesPerRecord?: Summary;
  agentCpuUsPerRequest?: Summary;
  agentBusy?: Summary;
  otherCores?: Summary;
}

interface W2Result {
  rows: W2Row[];
  eventBytes: number;
  valueBytes: number;
  batches: number;
}

async function w2(): Promise<W2Result> {
  const batches = buildBatches({ ...W2 });
  const files = batches.map((b, i) => writeEvent(`w2-${i}.json`, b));
  const sizes = batches.map(eventSize);
  type Config =
    | { name: string; kind: 'bridge' | 'stub'; logLevel: 'WARN' | 'INFO'; transport: Transport }
    | { name: string; kind: 'probe'; client: BaselineSpec['client'] };
  const configs: Config[] = [
    { name: 'bridge, POWERTOOLS_LOG_LEVEL=WARN', kind: 'bridge', logLevel: 'WARN', transport: 'real' },
    { name: 'bridge, POWERTOOLS_LOG_LEVEL=INFO (the default)', kind: 'bridge', logLevel: 'INFO', transport: 'real' },
    { name: 'bridge alone: WARN, agent stubbed in process (no network)', kind: 'stub', logLevel: 'WARN', transport: 'stub' },
    { name: "transport only: the bridge's client (lambda/io/http.ts), 16 in flight", kind: 'probe', client: 'bridge' },
    { name: 'transport only: node:http keep-alive, 16 in flight', kind: 'probe', client: 'http' },
    { name: "transport only: fetch, 16 in flight (the previous run's client)", kind: 'probe', client: 'fetch' },
  ];
  type Sample = { cpu: number; first?: number; warm?: number; wall: number; rss: number; stdout?: number; agentCpuMs: number; agentBusy: number; other: number };
  const samples = new Map<string, Sample[]>();
  const cpuOf = (xs: Invocation[]) => xs.reduce((s, x) => s + x.cpuUserUs + x.cpuSystemUs, 0) / xs.reduce((s, x) => s + x.records, 0);

  for (let run = 1; run <= RUNS; run++) {
    for (const c of configs) {
      const what = `W2 ${c.name} run ${run}`;
      if (c.kind === 'probe') {
        const { value, stats, window } = await withAgent(0, (agent) =>
          baselineChild({ events: files, url: `${agent.url}/v1/a2a/${agent.agentId}`, token: TOKEN, concurrency: W2.concurrency, client: c.client }, what),
        );
        checkAgent(stats, W2.records, what);
        const r = value.report;
        const cpu = (r.cpuUserUs + r.cpuSystemUs) / r.requests;
        bucket(samples, c.name).push({
          cpu,
          wall: r.wallMs,
          rss: r.maxRssBytes / 2 ** 20,
          agentCpuMs: window.agentCpuMs,
          agentBusy: window.agentCpuMs / window.wallMs,
          other: otherCores(window, r.processCpuUs),
        });
        log(`${what}: ${cpu.toFixed(0)} us/request, ${r.wallMs.toFixed(0)} ms`);
      } else {
        const env = (agent: Agent) => lambdaEnv(agent, { ordering: W2.ordering, concurrency: W2.concurrency, logLevel: c.logLevel });
        const { value, stats, window } = await withAgent(0, (agent) => handlerChild<BatchesReport>(env(agent), 'batches', files, what, { transport: c.transport }));
        if (c.kind === 'stub' && stats.total !== 0) throw new Error(`${what}: the stub should have kept every request in process, the agent saw ${stats.total}`);
        if (c.kind !== 'stub') checkAgent(stats, W2.records, what);
        const inv = value.report.invocations;
        const wall = inv.reduce((s, x) => s + x.wallMs, 0);
        bucket(samples, c.name).push({
          cpu: cpuOf(inv),
          first: cpuOf(inv.slice(0, 1)),
          warm: inv.length > 1 ? cpuOf(inv.slice(1)) : undefined,
          wall,
          rss: value.report.maxRssBytes / 2 ** 20,
          stdout: value.stdoutBytes / W2.records,
          agentCpuMs: window.agentCpuMs,
          agentBusy: window.agentCpuMs / window.wallMs,
          other: otherCores(window, value.report.processCpuUs),
        });
        log(`${what}: ${cpuOf(inv).toFixed(0)} us/record (warm ${inv.length > 1 ? cpuOf(inv.slice(1)).toFixed(0) : '-'}), ${wall.toFixed(0)} ms`);
      }
    }
  }
  const rows = configs.map((c): W2Row => {
    const s = samples.get(c.name)!;
    const opt = (xs: Array<number | undefined>) => known(xs.map((x) => x ?? NaN));
    return {
      name: c.name,
      kind: c.kind,
      cpuUs: summarize(s.map((x) => x.cpu)),
      firstUs: opt(s.map((x) => x.first)),
      warmUs: opt(s.map((x) => x.warm)),
      wallMs: summarize(s.map((x) => x.wall)),
      rssMb: summarize(s.map((x) => x.rss)),
      stdoutBytesPerRecord: opt(s.map((x) => x.stdout)),
      agentCpuUsPerRequest: known(s.map((x) => (x.agentCpuMs * 1000) / W2.records)),
      agentBusy: known(s.map((x) => x.agentBusy)),
      otherCores: known(s.map((x) => x.other)),
    };
  });
  return {
    rows,
    eventBytes: Math.max(...sizes.map((s) => s.jsonBytes)),
    valueBytes: sizes.reduce((a, s) => a + s.valueBytes, 0) / sizes.reduce((a, s) => a + s.records, 0),
    batches: batches.length,
  };
}

// ---------------------------------------------------------------------------------------------------------
// W3: bundle and cold start

interface W3Result {
  bundleBytes: number;
  gzipBytes: number;
  mapBytes: number;
  variants: Array<{ name: string; boot: Summary; require: Summary; firstInvoke: Summary; inProcess: Summary; spawnToAnswer: Summary }>;
}

/**
 * A reference bundle: the same sources and bundle options as `npm run build`, with every `@aws-sdk/client-*`
 * module replaced by an empty stub, i.e. what loading the handler costs with no AWS SDK in it at all: the floor
 * the lazy `import()` of each client (lambda/io/*.ts) can reach at load. Only for configurations that never
 * reach an AWS client.
 */
async function buildWithoutSdk(): Promise<string> {
  const optionsModule = pathToFileURL(path.join(ROOT, 'scripts/bundle-options.mjs')).href;
  const { bundleOptions } = (await import(optionsModule)) as { bundleOptions: Record<string, unknown> };
  const { build } = await import('esbuild');
  const outfile = path.join(TMP, 'reference-no-sdk/handler.js');
  await build({
    ...bundleOptions,
    absWorkingDir: ROOT,
    entryPoints: ['lambda/handler.ts'],
    outfile,
    sourcemap: false,
    plugins: [
      {
        name: 'stub-aws-sdk-clients',
        setup(b) {
          b.onResolve({ filter: /^@aws-sdk\/client-/ }, (a) => ({ path: a.path, namespace: 'stub' }));
          b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({
            contents: 'module.exports = new Proxy({}, { get: () => class { send() { throw new Error("AWS SDK stubbed out of a bench reference bundle"); } } });',
            loader: 'js',
          }));
        },
      },
    ],
  });
  return outfile;
}

/**
 * A projection bundle for a change to the build (scripts/, infra/), not to lambda/: the same sources and options as
 * `npm run build`, but each `@aws-sdk/client-*` left out of dist/handler.js and built into a file of its own beside it
 * (`aws-sdk-client-dynamodb.js`, ...: the client with the SDK core it needs), which the handler's lazy `import()`
 * loads with `require` at first use. Node then reads and compiles only the ~110 KB of the handler at load, not the
 * ~590 KB of SDK code that the single bundle makes V8 parse even though it is not evaluated.
 */
async function buildSplitSdk(): Promise<string> {
  const optionsModule = pathToFileURL(path.join(ROOT, 'scripts/bundle-options.mjs')).href;
  const { bundleOptions } = (await import(optionsModule)) as { bundleOptions: Record<string, unknown> };
  const { build } = await import('esbuild');
  const dir = path.join(TMP, 'projection-split-sdk');
  const file = (client: string) => `aws-sdk-${client.slice('@aws-sdk/'.length)}.js`;
  await build({
    ...bundleOptions,
    absWorkingDir: ROOT,
    entryPoints: ['lambda/handler.ts'],
    outfile: path.join(dir, 'handler.js'),
    sourcemap: false,
    // import() of an external module stays require()-based (no ESM loader), as for the bundled modules.
    supported: { 'dynamic-import': false },
    plugins: [{ name: 'split-aws-sdk-clients', setup: (b) => b.onResolve({ filter: /^@aws-sdk\/client-/ }, (a) => ({ path: `./${file(a.path)}`, external: true })) }],
  });
  for (const client of ['@aws-sdk/client-dynamodb', '@aws-sdk/client-sqs', '@aws-sdk/client-secrets-manager']) {
    await build({ ...bundleOptions, absWorkingDir: ROOT, stdin: { contents: `module.exports = require('${client}');`, resolveDir: ROOT, loader: 'js' }, outfile: path.join(dir, file(client)), sourcemap: false });
  }
  return path.join(dir, 'handler.js');
}

/**
 * A DynamoDB-compatible server (dynalite: in the bench's process, in memory, on a loopback port) for the cold start
 * with IDEMPOTENCY_TABLE; one fresh table per run, so every run's record is a first claim, not a duplicate.
 */
async function startDynalite(): Promise<{ endpoint: string; createTable(name: string): Promise<void>; stop(): Promise<void> }> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const dynalite = require('dynalite') as (o: { createTableMs?: number }) => import('node:http').Server;
  const { DynamoDBClient, CreateTableCommand } = await import('@aws-sdk/client-dynamodb');
  const server = dynalite({ createTableMs: 0 });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
  const endpoint = `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`;
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
  return {
    endpoint,
    async createTable(name) {
      await client.send(
        new CreateTableCommand({ TableName: name, AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }], BillingMode: 'PAY_PER_REQUEST' }),
      );
    },
    async stop() {
      client.destroy();
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function w3(): Promise<W3Result> {
  const bundle = readFileSync(BUNDLE);
  const event = writeEvent('w3.json', buildEvent({ records: 1, partitions: 1, keys: 1, valueBytes: 1024 }));
  const noSdk = await buildWithoutSdk();
  const split = await buildSplitSdk();
  const dynamo = await startDynalite();
  const IDEMPOTENCY = 'plus IDEMPOTENCY_TABLE (the CDK default; DynamoDB client loaded at the first claim)';
  // Lambda's own credentials are environment variables too; the endpoint variable is the SDK's standard one.
  const idempotencyEnv = { AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench', AWS_SESSION_TOKEN: 'bench', AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint };
  const configs: Array<{ name: string; extra: Record<string, string>; bundle?: string }> = [
    { name: 'routes + token (as W1/W2)', extra: {} },
    { name: 'plus DLQ_URL (SQS client loaded at the first dead letter)', extra: { DLQ_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/kafka-a2a-bridge-dlq' } },
    { name: IDEMPOTENCY, extra: idempotencyEnv },
    { name: 'reference: AWS SDK stubbed out of the bundle (not deployable)', extra: {}, bundle: noSdk },
    { name: 'projection: routes + token, SDK clients in files of their own', extra: {}, bundle: split },
    { name: 'projection: plus IDEMPOTENCY_TABLE, SDK clients in files of their own', extra: idempotencyEnv, bundle: split },
  ];
  const samples = new Map<string, ColdReport[]>();
  const spawns = new Map<string, number[]>();
  let tables = 0;
  const { stats } = await withAgent(0, async (agent) => {
    for (let run = 1; run <= W3.runs; run++) {
      for (const c of configs) {
        const what = `W3 ${c.name} run ${run}`;
        let extra = c.extra;
        if (c.extra === idempotencyEnv) {
          extra = { ...extra, IDEMPOTENCY_TABLE: `bench-idempotency-${++tables}` };
          await dynamo.createTable(extra.IDEMPOTENCY_TABLE);
        }
        const env = lambdaEnv(agent, { ordering: 'key', concurrency: 16, logLevel: 'INFO', extra });
        const r = await handlerChild<ColdReport>(env, 'cold', [event], what, { bundle: c.bundle });
        bucket(samples, c.name).push(r.report);
        bucket(spawns, c.name).push(r.spawnToReportMs);
        log(`${what}: require ${r.report.requireMs.toFixed(0)} ms + first invocation ${r.report.firstInvokeMs.toFixed(0)} ms; spawn to answer ${r.spawnToReportMs.toFixed(0)} ms`);
      }
    }
  }).finally(() => dynamo.stop());
  checkAgent(stats, W3.runs * configs.length, 'W3');
  return {
    bundleBytes: bundle.length,
    gzipBytes: gzipSync(bundle, { level: 9 }).length,
    mapBytes: statSync(`${BUNDLE}.map`, { throwIfNoEntry: false })?.size ?? 0,
    variants: configs.map((c) => {
      const s = samples.get(c.name)!;
      return {
        name: c.name,
        boot: summarize(s.map((x) => x.bootMs)),
        require: summarize(s.map((x) => x.requireMs)),
        firstInvoke: summarize(s.map((x) => x.firstInvokeMs)),
        inProcess: summarize(s.map((x) => x.inProcessMs)),
        spawnToAnswer: summarize(spawns.get(c.name)!),
      };
    }),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Report

const int = (n: number | undefined) => (n !== undefined && Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const dec = (n: number | undefined, d = 2) => (n !== undefined && Number.isFinite(n) ? n.toFixed(d) : 'n/a');
const pct = (n: number | undefined) => (n !== undefined && Number.isFinite(n) ? `${Math.round(n * 100)}%` : 'n/a');
const overlap = (a: Summary, b: Summary) => a.n > 1 && b.n > 1 && a.min <= b.max && b.min <= a.max;
const range = (s: Summary | undefined, f: (n: number) => string = int) => (s && s.n > 1 ? `${f(s.min)}–${f(s.max)}` : '—');
const table = (head: string[], rows: string[][]) =>
  [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

interface Target {
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

interface Results {
  w1?: W1Row[];
  w2?: W2Result;
  w3?: W3Result;
  elapsedS: number;
  loadBefore: number[];
  /** ISO time the bench started. */
  date?: string;
  /** The commit checked out when the bench started, and lambda/'s uncommitted changes then (the bundle was just built from them). */
  code?: { commit: string; lambdaChanges: string[] };
}

/** Read-only git queries; undefined outside a git checkout. */
function codeUnderTest(): Results['code'] {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const changes = git('status', '--porcelain', '--', 'lambda', 'scripts/bundle-options.mjs', 'scripts/build.mjs');
    return { commit: git('rev-parse', '--short', 'HEAD'), lambdaChanges: changes ? changes.split('\n').map((l) => l.trim()) : [] };
  } catch {
    return undefined;
  }
}

function machine(r: Results): string[] {
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

function render(r: Results): { markdown: string; targets: Target[] } {
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
      '`ARCHESTRA_TOKEN` only: no `IDEMPOTENCY_TABLE` except in the W3 cold-start rows that say so (with the table, which the CDK app enables by ' +
      'default, every record also costs a DynamoDB write before its send and one after, which W1 and W2 do not measure) and no ' +
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
        goal: '≤ 1.15x',
        measured: `${dec(ratio)}x (${int(x.wall.median)} ms vs ${int(x.idealMs)} ms)`,
        met: ratio <= 1.15,
        margin: `${dec(Math.abs(ratio / 1.15 - 1) * 100, 0)}%`,
        close: ratio <= 1.15 && ratio > 1.15 / 1.05,
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
    const prevW2 = PREV?.results.w2?.rows.filter((x) => x.kind === 'bridge' && x.name.includes('WARN')) ?? [];
    out.push(
      '## W2: CPU per record',
      '',
      `${int(W2.records)} records of ${int(w2.valueBytes)} bytes of JSON on average, rendered through a template ` +
        `(bench/workloads.ts \`TEMPLATE\`: nested fields, an array element, Kafka metadata and a header), agent answering at once ` +
        `(latency 0), ORDERING=${W2.ordering}, MAX_CONCURRENCY ${W2.concurrency}. The records arrive as ${w2.batches} invocations of ` +
        `${int(W2.batchRecords)} records in one handler process, as a warm Lambda sees them (largest event ` +
        `${(w2.eventBytes / 2 ** 20).toFixed(1)} MiB: Lambda's 6 MB invocation payload limit rules out one 10,000-record event of ` +
        "this size). CPU is the handler process's `process.cpuUsage()` (user + system, all threads: GC and libuv included) " +
        'around the invocations, divided by the records; *first invocation* includes JIT warm-up, *warm* is the later ones. ' +
        'Peak RSS is `process.resourceUsage().maxRSS` (the events themselves included).',
      '',
      "- *bridge alone*: `node:http`'s `request` replaced, in the bench's child only, by an in-process fake answering on the next " +
        "turn of the event loop with the agent's usual reply (bench/stub-http.cjs): no socket, no HTTP " +
        "parsing, so what remains is the bridge's own work (decode, route, render, ids, scheduling, reply parsing, logging, metrics).",
      "- *transport only*: the bench's probes (bench/baseline.ts with 16 requests in flight: same records, same JSON body, same " +
        'agent, nothing else: no routing, rendering, scheduling, logging or metrics). What an HTTP client alone costs per request on ' +
        "this machine: with the bridge's own client (lambda/io/http.ts `httpPost`, bundled in unchanged) it is the floor under the " +
        "bridge's figure; a minimal `node:http` client and Node's `fetch` (the previous transport) for comparison.",
      ...(prevW2.length ? [`- *${PREV!.short}*: not measured in this run, copied from the ${PREV!.label} (bench/previous-run.json) for comparison.`] : []),
      '',
      table(
        ['Configuration', 'CPU µs/record', 'min–max', 'first invocation', 'warm invocations', 'Wall (ms)', 'Records/s', 'Peak RSS (MiB)', 'stdout bytes/record'],
        [
          ...w2.rows.map((x) => ({ x, name: x.name })),
          ...prevW2.map((x) => ({ x, name: `*${PREV!.short}*: ${x.name}` })),
        ]
          .map(({ x, name }) => [
            name,
            int(x.cpuUs.median),
            range(x.cpuUs),
            int(x.firstUs?.median),
            int(x.warmUs?.median),
            int(x.wallMs.median),
            int(W2.records / (x.wallMs.median / 1000)),
            dec(x.rssMb.median, 0),
            x.stdoutBytesPerRecord ? int(x.stdoutBytesPerRecord.median) : '—',
          ])
          .map((cells) => cells.map((c) => (c === 'n/a' ? '—' : c))),
      ),
      '',
      'Is the agent the bottleneck? (medians)',
      '',
      table(
        ['Configuration', 'Agent CPU µs/request', 'Agent CPU busy', "Other processes' CPU (cores)"],
        w2.rows.map((x) => [x.name, int(x.agentCpuUsPerRequest?.median), pct(x.agentBusy?.median), dec(x.otherCores?.median)]),
      ),
      '',
      "*Agent CPU busy* is the agent process's CPU time over the run's wall time (/proc): well below 100% means the single-threaded " +
        "agent kept up, so the handler's throughput and CPU are its own.",
      '',
    );
    const by = (kind: W2Row['kind'], needle: string) => w2.rows.find((x) => x.kind === kind && x.name.includes(needle))!;
    const warn = by('bridge', 'WARN');
    const info = by('bridge', 'INFO');
    const alone = by('stub', 'stubbed');
    const client = by('probe', 'lambda/io/http.ts');
    const httpFloor = by('probe', 'node:http');
    const fetchFloor = by('probe', 'fetch');
    const cpu = warn.cpuUs.median;
    targets.push({
      what: 'W2: CPU per record, WARN logging',
      goal: '≤ 100 µs',
      measured: `${int(cpu)} µs (warm invocations ${int(warn.warmUs?.median)} µs)`,
      met: cpu <= 100,
      margin: cpu > 100 ? `${dec(cpu / 100, 1)}x` : `${int(100 - cpu)} µs`,
      why:
        `The bridge's HTTP client alone (lambda/io/http.ts, 16 in flight, nothing around it) costs ${int(client.cpuUs.median)} µs of CPU ` +
        `per request on this machine (the transport-only probe; a minimal node:http client ${int(httpFloor.cpuUs.median)} µs, Node's fetch ` +
        `${int(fetchFloor.cpuUs.median)} µs): ${pct(client.cpuUs.median / cpu)} of the bridge's figure and ` +
        `${client.cpuUs.median > 100 ? `${dec(client.cpuUs.median / 100, 1)}x the target by itself: with one HTTP/1.1 request per record, no bridge on Node's HTTP stack can meet it on this machine` : 'within the target by itself'}. ` +
        `The bridge's own work, measured with node:http's request stubbed in process, is ${int(alone.cpuUs.median)} µs per record ` +
        `(warm ${int(alone.warmUs?.median)} µs)${(alone.warmUs?.median ?? Infinity) <= 100 ? ', within the target once warm' : ', above the target by itself'}. ` +
        "(The two overlap, so they need not add up to the bridge's figure: both build each request's JSON body and parse its reply, " +
        'and both run lambda/io/http.ts up to the socket.)',
    });
    targets.push({
      what: 'W2: CPU per record, INFO logging (the default)',
      goal: '≤ 100 µs',
      measured: `${int(info.cpuUs.median)} µs (warm invocations ${int(info.warmUs?.median)} µs)`,
      met: info.cpuUs.median <= 100,
      margin: info.cpuUs.median > 100 ? `${dec(info.cpuUs.median / 100, 1)}x` : `${int(100 - info.cpuUs.median)} µs`,
      why:
        `As above. INFO logging writes ${int(info.stdoutBytesPerRecord?.median)} bytes of logs and ` +
        `metrics per record to stdout; it measured ${int(Math.abs(info.cpuUs.median - cpu))} µs per record ${info.cpuUs.median >= cpu ? 'more' : 'less'} ` +
        `than WARN${overlap(info.cpuUs, warn.cpuUs) ? ', within the run-to-run spread' : ''}.`,
    });
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
        ],
      ),
      '',
      `Cold start: ${W3.runs} fresh \`node\` processes per configuration, each loading the bundle and serving a first one-record ` +
        'invocation (a ~1 KB record through the template, agent answering at once, INFO logging). *Node start-up* is ' +
        "`performance.now()` at the child script's first line; *require* and *first invocation* are `process.hrtime` inside the " +
        'child (module evaluation with settings and routes validation; then the invocation, which opens the connection to the agent ' +
        'and, with `IDEMPOTENCY_TABLE`, loads the DynamoDB client and makes its two calls, a claim and a completion, to dynalite in ' +
        "the bench's process: loopback, not a region's network); *spawn to answer* is measured by the bench, from `spawn()` to the " +
        "child's report. The *reference* row is a bundle built by the bench with the same options but `@aws-sdk/client-*` stubbed " +
        "out (bench/run.ts `buildWithoutSdk`): the floor that loading the clients lazily can reach, to check how much of the SDK the " +
        'real bundle still costs at load. The *projection* rows measure a change to the build, not to lambda/: the same sources with ' +
        "each AWS SDK client built into a file of its own beside the handler, which the handler's lazy `import()` requires at first " +
        'use (bench/run.ts `buildSplitSdk`). Only the first three rows are held to the cold-start target.',
      '',
      table(
        ['Configuration', 'Node start-up (ms)', 'require bundle (ms)', 'first invocation (ms)', 'require + first invocation (ms)', 'Spawn to answer (ms)', 'min–max'],
        w3.variants.map((v) => [v.name, dec(v.boot.median, 0), dec(v.require.median, 0), dec(v.firstInvoke.median, 0), dec(v.inProcess.median, 0), dec(v.spawnToAnswer.median, 0), range(v.spawnToAnswer)]),
      ),
      '',
    );
    targets.push({
      what: 'W3: bundle size',
      goal: '≤ 1 MB minified',
      measured: `${dec(w3.bundleBytes / 1e6, 3)} MB (${dec(w3.gzipBytes / 1e3, 0)} kB gzip)`,
      met: w3.bundleBytes <= 1_000_000,
      margin: `${int(Math.abs(1_000_000 - w3.bundleBytes) / 1000)} kB`,
    });
    for (const v of w3.variants.filter((x) => !x.name.startsWith('reference') && !x.name.startsWith('projection'))) {
      const ms = v.spawnToAnswer.median;
      targets.push({
        what: `W3: cold start, ${v.name}`,
        goal: '≤ 250 ms',
        measured: `${dec(ms, 0)} ms spawn to answer (${dec(v.inProcess.median, 0)} ms require + first invocation)`,
        met: ms <= 250,
        margin: `${dec(Math.abs(ms - 250), 0)} ms`,
        close: ms <= 250 && ms > 225,
        why: `Node start-up ${dec(v.boot.median, 0)} ms, require ${dec(v.require.median, 0)} ms, first invocation ${dec(v.firstInvoke.median, 0)} ms.`,
      });
    }
  }

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
    const fixes = remedies(r);
    if (fixes.length) out.push('What the measurements point at (changes outside bench/, each with the figures it rests on):', '', ...fixes, '');
  }
  return { markdown: out.join('\n'), targets };
}

/**
 * This run's medians beside an earlier run's (bench/previous-run.json), figure by figure. The transport probes run the
 * same code in both runs (fetch and the minimal node:http client): their change is the machine's drift between the two
 * runs, the yardstick for every other change in the table.
 */
function againstPrevious(r: Results, prev: PreviousRun): string[] {
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

/** The changes the figures argue for, with the figures (only those the run measured). */
function remedies(r: Results): string[] {
  const out: string[] = [];
  const n = () => `${out.length + 1}.`;
  const v = r.w3?.variants ?? [];
  const routes = v.find((x) => x.name.startsWith('routes'));
  const idem = v.find((x) => x.name.startsWith('plus IDEMPOTENCY_TABLE'));
  const ref = v.find((x) => x.name.startsWith('reference'));
  const splitRoutes = v.find((x) => x.name.startsWith('projection: routes'));
  const splitIdem = v.find((x) => x.name.startsWith('projection: plus IDEMPOTENCY_TABLE'));
  if (routes && idem) {
    const extra = idem.inProcess.median - routes.inProcess.median;
    out.push(
      `${n()} **lambda/io/dynamo-idempotency.ts: the cold start with \`IDEMPOTENCY_TABLE\` (the CDK default) is the AWS SDK's.** ` +
        `It measures ${dec(idem.spawnToAnswer.median, 0)} ms spawn to answer against ${dec(routes.spawnToAnswer.median, 0)} ms without the table: ` +
        `${dec(extra, 0)} ms more of require + first invocation (${dec(idem.require.median, 0)} + ${dec(idem.firstInvoke.median, 0)} against ` +
        `${dec(routes.require.median, 0)} + ${dec(routes.firstInvoke.median, 0)} ms), for loading @aws-sdk/client-dynamodb at the first claim and ` +
        'its two calls (to dynalite on loopback: a region adds its network round trips). Loading the client at first use moved that cost ' +
        'from init into the first invocation; it did not remove it' +
        (splitIdem ? ` (with the clients in files of their own it is ${dec(splitIdem.spawnToAnswer.median, 0)} ms: the SDK is then read and compiled at first use instead)` : '') +
        '. What would remove it: a minimal client for the four DynamoDB operations the store uses (PutItem, GetItem, UpdateItem, ' +
        'DeleteItem: one signed JSON POST each, SigV4 from node:crypto, the credentials Lambda puts in the environment, the same ' +
        'node:https keep-alive agent as lambda/io/http.ts) instead of @aws-sdk/client-dynamodb: ' +
        (ref ? `the reference row (no SDK in the bundle: ${dec(ref.spawnToAnswer.median, 0)} ms) bounds the gain at ` +
          `${dec(idem.spawnToAnswer.median - ref.spawnToAnswer.median, 0)} ms, less the two round trips that remain. ` : '') +
        'The price is owning the retries and the error classification (ConditionalCheckFailedException) the SDK gives today.',
    );
  }
  if (routes && splitRoutes && routes.require.median - splitRoutes.require.median >= 10) {
    out.push(
      `${n()} **scripts/build.mjs and the CDK bundling (not lambda/): the AWS SDK clients in files of their own.** Without an AWS ` +
        'client at the first invocation (no table, and `ARCHESTRA_TOKEN` rather than a Secrets Manager secret, whose first read ' +
        'loads that client: not measured here), requiring the handler goes from ' +
        `${dec(routes.require.median, 0)} to ${dec(splitRoutes.require.median, 0)} ms and the cold start from ${dec(routes.spawnToAnswer.median, 0)} to ` +
        `${dec(splitRoutes.spawnToAnswer.median, 0)} ms (W3 projection): lazy \`import()\` keeps the SDK from being evaluated at load, but in one ` +
        'bundle V8 still has to read and pre-parse its ~590 KB. ' +
        (splitIdem && idem
          ? `With \`IDEMPOTENCY_TABLE\` it measures ${dec(splitIdem.spawnToAnswer.median, 0)} against ${dec(idem.spawnToAnswer.median, 0)} ms` +
            (overlap(splitIdem.spawnToAnswer, idem.spawnToAnswer) ? ', within the run-to-run spread' : '') +
            ': the SDK code is then read at the first claim instead, so the gain is for deployments without the table, or comes with the DynamoDB change above.'
          : ''),
    );
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------

/** --from FILE: renders a saved .bench-tmp/results.json again (the report's prose changed, not the figures). */
/** The section bench/kafka-clients.ts writes into the same file (between its markers): kept across runs of this bench. */
function keptSection(file: string): string {
  let old = '';
  try {
    old = readFileSync(file, 'utf8');
  } catch {
    return '';
  }
  const m = /\n<!-- kafka-clients:begin -->[\s\S]*<!-- kafka-clients:end -->\n/.exec(old);
  return m ? m[0] : '';
}

function rerender(file: string) {
  const saved = JSON.parse(readFileSync(file, 'utf8')) as { config: { QUICK: boolean; RUNS: number }; results: Results };
  if (saved.config.QUICK !== QUICK || saved.config.RUNS !== RUNS) throw new Error(`${file} was measured with --quick=${saved.config.QUICK} --runs ${saved.config.RUNS}: pass the same`);
  saved.results.date ??= statSync(file).mtime.toISOString();
  const { markdown } = render(saved.results);
  process.stdout.write(`\n${markdown}\n`);
  if (!flag('--no-write')) {
    writeFileSync(OUT, `${markdown}\n${keptSection(OUT)}`);
    log(`written: ${path.relative(ROOT, OUT)} (from ${path.relative(ROOT, file)})`);
  }
}

async function main() {
  const from = option('--from');
  if (from) return rerender(path.resolve(ROOT, from));
  const started = Date.now();
  try {
    statSync(BUNDLE);
  } catch {
    throw new Error('dist/handler.js is missing: run `npm run build` first (`npm run bench` does)');
  }
  mkdirSync(TMP, { recursive: true });
  log(`bench${QUICK ? ' --quick' : ''}: ${RUNS} run(s) per figure; workloads ${[...ONLY].join(', ')}${PARTIAL ? ' (partial: report not written)' : ''}`);
  const results: Results = { elapsedS: 0, loadBefore: os.loadavg(), date: new Date(started).toISOString(), code: codeUnderTest() };
  if (ONLY.has('w3')) results.w3 = await w3();
  if (ONLY.has('w1')) results.w1 = await w1();
  if (ONLY.has('w2')) results.w2 = await w2();
  results.elapsedS = (Date.now() - started) / 1000;
  const { markdown, targets } = render(results);
  process.stdout.write(`\n${markdown}\n`);
  writeFileSync(path.join(TMP, `results${QUICK ? '.quick' : ''}.json`), JSON.stringify({ config: { QUICK, RUNS, W1, W2, W3 }, results, targets }, null, 2));
  if (WRITE) {
    mkdirSync(path.dirname(OUT), { recursive: true });
    writeFileSync(OUT, `${markdown}\n${keptSection(OUT)}`);
    log(`written: ${path.relative(ROOT, OUT)}`);
  }
  log(`bench finished in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

main().catch((e: unknown) => {
  log(`bench failed: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
