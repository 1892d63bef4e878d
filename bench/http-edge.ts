// The HTTP edge alone, quicker than W2 when working on lambda/io/http.ts: W2's two transport-only probes, the
// bridge's client and a minimal node:http client, run alternately in fresh processes against one agent, with W2's
// events, medians of µs of CPU per request by regime. `npx tsx bench/http-edge.ts [--runs N] [--records N]`
// (defaults 5 and W2's 10,000). No report file: the figures are printed.
import { mkdirSync } from 'node:fs';
import type { BaselineSpec } from './baseline';
import { checkAgent, log, withAgent, writeEvent } from './child';
import { parseOptions, TMP, TOKEN } from './options';
import { baselineChild } from './probes';
import { regimes, REGIMES } from './w2-cpu';
import { buildBatches, summarize } from './workloads';

const CLIENTS: Array<{ name: string; client: BaselineSpec['client'] }> = [
  { name: 'lambda/io/http.ts', client: 'bridge' },
  { name: 'bare node:http', client: 'http' },
];

async function main() {
  const argv = process.argv.slice(2);
  const o = parseOptions(argv);
  const i = argv.indexOf('--records');
  const records = i >= 0 ? Number(argv[i + 1]) : o.W2.records;
  const W2 = { ...o.W2, records };
  mkdirSync(TMP, { recursive: true });
  const files = buildBatches(W2).map((b, n) => writeEvent(`http-edge-${n}.json`, b));
  const samples = new Map<string, { all: number[]; first: number[]; warm: number[]; steady: number[] }>(CLIENTS.map((c) => [c.client, { all: [], first: [], warm: [], steady: [] }]));
  for (let run = 1; run <= o.RUNS; run++) {
    // Alternating order, so a drift in the machine's load does not always favour the same client.
    for (const c of run % 2 ? CLIENTS : [...CLIENTS].reverse()) {
      const what = `http-edge ${c.name} run ${run}`;
      const { value, stats } = await withAgent(0, (agent) =>
        baselineChild({ events: files, url: `${agent.url}/v1/a2a/${agent.agentId}`, token: TOKEN, concurrency: W2.concurrency, client: c.client }, what),
      );
      checkAgent(stats, W2.records, what);
      const r = value.report;
      const reg = regimes(r.perEvent.map((e) => ({ records: e.requests, cpuUs: e.cpuUs })));
      const s = samples.get(c.client)!;
      s.all.push((r.cpuUserUs + r.cpuSystemUs) / r.requests);
      for (const k of REGIMES) s[k].push(reg[k]);
      log(`${what}: all ${s.all.at(-1)!.toFixed(1)}, first ${reg.first.toFixed(1)}, warm ${reg.warm.toFixed(1)}, steady ${reg.steady.toFixed(1)} us/request`);
    }
  }
  const med = (xs: number[]) => summarize(xs.filter(Number.isFinite)).median;
  const [bridge, bare] = CLIENTS.map((c) => samples.get(c.client)!);
  const rows = (['all', ...REGIMES] as const).map((k) => `| ${k} | ${med(bridge[k]).toFixed(1)} | ${med(bare[k]).toFixed(1)} | ${(med(bridge[k]) / med(bare[k])).toFixed(2)} |`);
  process.stdout.write(
    [`CPU µs per request, medians of ${o.RUNS} runs, ${records} requests each, ${W2.concurrency} in flight:`, '', '| regime | lambda/io/http.ts | bare node:http | ratio |', '| --- | --- | --- | --- |', ...rows, ''].join('\n'),
  );
}

main().catch((e: unknown) => {
  log(`http-edge failed: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
