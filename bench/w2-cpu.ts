// W2, CPU per record: the bridge in one handler process over several invocations, beside the transport-only
// probes (the floor an HTTP client alone costs) measured in the same run.
import type { Agent } from './agent';
import type { BaselineSpec } from './baseline';
import { bucket, checkAgent, handlerChild, known, lambdaEnv, log, otherCores, withAgent, writeEvent, type BatchesReport, type Invocation, type Transport } from './child';
import { TOKEN, type BenchOptions } from './options';
import { baselineChild } from './probes';
import { buildBatches, eventSize, summarize, type Summary } from './workloads';


export interface W2Row {
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

export interface W2Result {
  rows: W2Row[];
  eventBytes: number;
  valueBytes: number;
  batches: number;
}

export async function w2(o: BenchOptions): Promise<W2Result> {
  const { RUNS, W2 } = o;
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

