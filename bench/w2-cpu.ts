// W2, CPU per record: the bridge in one handler process over several invocations, with the idempotency store off
// and on (dynalite), beside the transport-only probes (the floor an HTTP client alone costs) measured in the same
// run. Each figure is split by regime: a fresh process's first invocation, the warm ones after it, and the steady
// state (the last invocation, once the JIT has settled); the probes run the same events the same way.
import type { Agent } from './agent';
import type { BaselineSpec } from './baseline';
import { bucket, checkAgent, handlerChild, known, lambdaEnv, log, otherCores, withAgent, writeEvent, type BatchesReport, type Transport } from './child';
import { TOKEN, type BenchOptions } from './options';
import { baselineChild } from './probes';
import { startDynalite } from '../test/support/dynalite';
import { buildBatches, eventSize, summarize, type Summary } from './workloads';

export type Regime = 'first' | 'warm' | 'steady';
export const REGIMES: readonly Regime[] = ['first', 'warm', 'steady'];

export interface W2Row {
  name: string;
  kind: 'bridge' | 'stub' | 'probe';
  logLevel?: 'WARN' | 'INFO';
  store?: boolean;
  client?: BaselineSpec['client'];
  /** CPU per record over all invocations, µs. */
  cpuUs: Summary;
  /** CPU per record by regime, µs (probes: per request). */
  firstUs?: Summary;
  warmUs?: Summary;
  steadyUs?: Summary;
  wallMs: Summary;
  rssMb: Summary;
  stdoutBytesPerRecord?: Summary;
  agentCpuUsPerRequest?: Summary;
  agentBusy?: Summary;
  otherCores?: Summary;
}

export interface W2Result {
  rows: W2Row[];
  eventBytes: number;
  valueBytes: number;
  batches: number;
}

type Config =
  | { name: string; kind: 'bridge' | 'stub'; logLevel: 'WARN' | 'INFO'; transport: Transport; store: boolean }
  | { name: string; kind: 'probe'; client: BaselineSpec['client'] };

export const W2_CONFIGS: Config[] = [
  { name: 'bridge, INFO (the default), store off', kind: 'bridge', logLevel: 'INFO', transport: 'real', store: false },
  { name: 'bridge, INFO (the default), store on (the CDK default)', kind: 'bridge', logLevel: 'INFO', transport: 'real', store: true },
  { name: 'bridge, WARN, store off', kind: 'bridge', logLevel: 'WARN', transport: 'real', store: false },
  { name: 'bridge, WARN, store on', kind: 'bridge', logLevel: 'WARN', transport: 'real', store: true },
  { name: 'bridge alone: WARN, store off, agent stubbed in process (no network)', kind: 'stub', logLevel: 'WARN', transport: 'stub', store: false },
  { name: "transport only: the bridge's client (lambda/io/http.ts)", kind: 'probe', client: 'bridge' },
  { name: 'transport only: node:http keep-alive', kind: 'probe', client: 'http' },
  { name: 'transport only: undici 7 Pool.request, no pipelining', kind: 'probe', client: 'undici' },
  { name: "transport only: Node's fetch", kind: 'probe', client: 'fetch' },
];

/** Per-record CPU of a slice of invocations (or probe events). */
const perRecord = (xs: Array<{ records: number; cpuUs: number }>) => (xs.length ? xs.reduce((s, x) => s + x.cpuUs, 0) / xs.reduce((s, x) => s + x.records, 0) : NaN);
/** first: the fresh process's first invocation; warm: every later one; steady: the last one. */
export const regimes = (xs: Array<{ records: number; cpuUs: number }>) => ({
  first: perRecord(xs.slice(0, 1)),
  warm: perRecord(xs.slice(1)),
  steady: xs.length > 2 ? perRecord(xs.slice(-1)) : NaN,
});

export async function w2(o: BenchOptions): Promise<W2Result> {
  const { RUNS, W2 } = o;
  const batches = buildBatches({ ...W2 });
  const files = batches.map((b, i) => writeEvent(`w2-${i}.json`, b));
  const sizes = batches.map(eventSize);
  type Sample = { cpu: number; first: number; warm: number; steady: number; wall: number; rss: number; stdout?: number; agentCpuMs: number; agentBusy: number; other: number };
  const samples = new Map<string, Sample[]>();
  const dynamo = await startDynalite();
  let tables = 0;
  try {
    for (let run = 1; run <= RUNS; run++) {
      for (const c of W2_CONFIGS) {
        const what = `W2 ${c.name} run ${run}`;
        if (c.kind === 'probe') {
          const { value, stats, window } = await withAgent(0, (agent) =>
            baselineChild({ events: files, url: `${agent.url}/v1/a2a/${agent.agentId}`, token: TOKEN, concurrency: W2.concurrency, client: c.client }, what),
          );
          checkAgent(stats, W2.records, what);
          const r = value.report;
          const reg = regimes(r.perEvent.map((e) => ({ records: e.requests, cpuUs: e.cpuUs })));
          bucket(samples, c.name).push({
            cpu: (r.cpuUserUs + r.cpuSystemUs) / r.requests,
            ...reg,
            wall: r.wallMs,
            rss: r.maxRssBytes / 2 ** 20,
            agentCpuMs: window.agentCpuMs,
            agentBusy: window.agentCpuMs / window.wallMs,
            other: otherCores(window, r.processCpuUs),
          });
          log(`${what}: first ${reg.first.toFixed(0)}, warm ${reg.warm.toFixed(0)}, steady ${reg.steady.toFixed(0)} us/request, ${r.wallMs.toFixed(0)} ms`);
        } else {
          let extra: Record<string, string> = {};
          if (c.store) {
            // A fresh table per run: every record's claim is a first claim, as in production.
            const table = `bench-w2-${++tables}`;
            await dynamo.createIdempotencyTable(table);
            extra = { IDEMPOTENCY_TABLE: table, AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench', AWS_SESSION_TOKEN: 'bench', AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint };
          }
          const env = (agent: Agent) => lambdaEnv(agent, { ordering: W2.ordering, concurrency: W2.concurrency, logLevel: c.logLevel, extra });
          const { value, stats, window } = await withAgent(0, (agent) => handlerChild<BatchesReport>(env(agent), 'batches', files, what, { transport: c.transport }));
          if (c.kind === 'stub' && stats.total !== 0) throw new Error(`${what}: the stub should have kept every request in process, the agent saw ${stats.total}`);
          if (c.kind !== 'stub') checkAgent(stats, W2.records, what);
          const inv = value.report.invocations.map((x) => ({ records: x.records, cpuUs: x.cpuUserUs + x.cpuSystemUs }));
          const reg = regimes(inv);
          const wall = value.report.invocations.reduce((s, x) => s + x.wallMs, 0);
          bucket(samples, c.name).push({
            cpu: perRecord(inv),
            ...reg,
            wall,
            rss: value.report.maxRssBytes / 2 ** 20,
            stdout: value.stdoutBytes / W2.records,
            agentCpuMs: window.agentCpuMs,
            agentBusy: window.agentCpuMs / window.wallMs,
            other: otherCores(window, value.report.processCpuUs),
          });
          log(`${what}: first ${reg.first.toFixed(0)}, warm ${reg.warm.toFixed(0)}, steady ${reg.steady.toFixed(0)} us/record, ${wall.toFixed(0)} ms`);
        }
      }
    }
  } finally {
    await dynamo.stop();
  }
  const rows = W2_CONFIGS.map((c): W2Row => {
    const s = samples.get(c.name)!;
    const opt = (xs: Array<number | undefined>) => known(xs.map((x) => x ?? NaN));
    return {
      name: c.name,
      kind: c.kind,
      ...(c.kind === 'probe' ? { client: c.client } : { logLevel: c.logLevel, store: c.store }),
      cpuUs: summarize(s.map((x) => x.cpu)),
      firstUs: known(s.map((x) => x.first)),
      warmUs: known(s.map((x) => x.warm)),
      steadyUs: known(s.map((x) => x.steady)),
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
