// W1, scheduling: wall time of one warm invocation against the ideal schedule, per ordering mode, beside the
// reference algorithm (every record in order, one request at a time).
import type { Agent } from './agent';
import { bucket, checkAgent, handlerChild, known, lambdaEnv, log, otherCores, withAgent, writeEvent, type BatchesReport } from './child';
import { TOKEN, type BenchOptions } from './options';
import { baselineChild } from './probes';
import { buildEvent, chainLengths, emfLatencies, idealRoundsMs, idealScheduleMs, layout, longestChain, mean, slotOccupancy, type Ordering, type Summary } from './workloads';


export interface W1Row {
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

export async function w1(o: BenchOptions): Promise<W1Row[]> {
  const { RUNS, MODES, BASELINE, W1 } = o;
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

