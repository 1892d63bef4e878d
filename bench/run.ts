// `npm run bench` (after `npm run build`): the production bundle dist/handler.js in a child process
// against sim/archestra.ts in another, four workloads, medians of several fresh runs, a markdown report
// on stdout and in reports/BENCHMARKS.md (git-ignored); `--update-docs` (a full run only) writes docs/BENCHMARKS.md
// instead. `--quick` is a smoke run (a few minutes; reports/BENCHMARKS.quick.md).
//
//   tsx bench/run.ts [--quick] [--runs N] [--update-docs] [--no-write] [--out FILE] [--previous FILE | --no-previous]
//   tsx bench/run.ts --from .bench-tmp/results.json   re-renders saved figures (after a change to the report's prose)
//   development only: [--only w1,w2,w3,w4] [--modes key,none] [--no-baseline]
//
// Where things are: options.ts (the flags), child.ts (processes, environment, agent), probes.ts (transport-only
// floors), w1-scheduling.ts, w2-cpu.ts, w3-cold-start.ts, w4-replies.ts (one file per workload), report.ts (markdown).
// http-edge.ts runs W2's two node:http transport probes alone, for a quick loop on lambda/io/http.ts.
//
// --previous (default bench/previous-run.json): the saved results of an earlier full run, shown beside this run's
// medians in a section of their own (and as marked rows in W2), never mixed into this run's figures. After a change
// worth comparing against, copy .bench-tmp/results.json of the new full run there and edit its "label".
//
// Each measured run starts a fresh agent and a fresh handler process, so no run inherits another's
// sockets, JIT state or agent statistics; the agent's own count of requests is checked after every run.
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './agent';
import { log } from './child';
import { BUNDLE, parseOptions, TMP, type BenchOptions } from './options';
import { codeUnderTest, render, type Results } from './report';
import { w1 } from './w1-scheduling';
import { w2 } from './w2-cpu';
import { w3 } from './w3-cold-start';
import { w4 } from './w4-replies';


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

function write(o: BenchOptions, markdown: string, from?: string) {
  if (!o.WRITE) return;
  mkdirSync(path.dirname(o.OUT), { recursive: true });
  writeFileSync(o.OUT, `${markdown}\n${keptSection(o.OUT)}`);
  log(`written: ${path.relative(ROOT, o.OUT)}${from ? ` (from ${path.relative(ROOT, from)})` : ''}`);
}

/** --from FILE: renders a saved .bench-tmp/results.json again (the report's prose changed, not the figures). */
function rerender(o: BenchOptions, file: string) {
  const saved = JSON.parse(readFileSync(file, 'utf8')) as { config: { QUICK: boolean; RUNS: number }; results: Results };
  if (saved.config.QUICK !== o.QUICK || saved.config.RUNS !== o.RUNS) throw new Error(`${file} was measured with --quick=${saved.config.QUICK} --runs ${saved.config.RUNS}: pass the same`);
  saved.results.date ??= statSync(file).mtime.toISOString();
  const { markdown } = render(saved.results, o);
  process.stdout.write(`\n${markdown}\n`);
  write(o, markdown, file);
}

async function main() {
  const o = parseOptions(process.argv.slice(2));
  if (o.FROM) return rerender(o, path.resolve(ROOT, o.FROM));
  const started = Date.now();
  try {
    statSync(BUNDLE);
  } catch {
    throw new Error('dist/handler.js is missing: run `npm run build` first (`npm run bench` does)');
  }
  mkdirSync(TMP, { recursive: true });
  log(`bench${o.QUICK ? ' --quick' : ''}: ${o.RUNS} run(s) per figure; workloads ${[...o.ONLY].join(', ')}${o.PARTIAL ? ' (partial)' : ''}; report to ${path.relative(ROOT, o.OUT)}`);
  const results: Results = { elapsedS: 0, loadBefore: os.loadavg(), date: new Date(started).toISOString(), code: codeUnderTest() };
  if (o.ONLY.has('w3')) results.w3 = await w3(o);
  if (o.ONLY.has('w1')) results.w1 = await w1(o);
  if (o.ONLY.has('w2')) results.w2 = await w2(o);
  if (o.ONLY.has('w4')) results.w4 = await w4(o);
  results.elapsedS = (Date.now() - started) / 1000;
  const { markdown, targets } = render(results, o);
  process.stdout.write(`\n${markdown}\n`);
  const { QUICK, RUNS, W1, W2, W3, W4 } = o;
  writeFileSync(path.join(TMP, `results${QUICK ? '.quick' : ''}.json`), JSON.stringify({ config: { QUICK, RUNS, W1, W2, W3, W4 }, results, targets }, null, 2));
  write(o, markdown);
  log(`bench finished in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

main().catch((e: unknown) => {
  log(`bench failed: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
