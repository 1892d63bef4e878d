// The bench's command line, parsed once into a plain object that main() hands to every workload and to the
// report (no module reads process.argv, so each file can be imported, and its workload run, on its own).
import path from 'node:path';
import { ROOT } from './agent';
import { ORDERINGS, type Ordering } from './workloads';

export const WORKLOADS = ['w1', 'w2', 'w3', 'w4'] as const;
export const TMP = path.join(ROOT, '.bench-tmp');
export const BUNDLE = path.join(ROOT, 'dist/handler.js');
export const TOKEN = 'bench-token';

export function parseOptions(argv: readonly string[]) {
  const flag = (name: string) => argv.includes(name);
  const option = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const QUICK = flag('--quick');
  const RUNS = Number(option('--runs') ?? (QUICK ? 1 : 5));
  const ONLY = new Set((option('--only') ?? WORKLOADS.join(',')).split(','));
  const MODES = (option('--modes')?.split(',') as Ordering[] | undefined) ?? [...ORDERINGS];
  const BASELINE = !flag('--no-baseline');
  const PARTIAL = ONLY.size < WORKLOADS.length || MODES.length < ORDERINGS.length || !BASELINE;
  /** docs/BENCHMARKS.md is rewritten only when asked and only from a complete, non-quick run; otherwise reports/ (git-ignored). */
  const UPDATE_DOCS = flag('--update-docs');
  if (UPDATE_DOCS && (QUICK || PARTIAL)) throw new Error('--update-docs needs a full run: drop --quick, --only, --modes and --no-baseline');
  const WRITE = !flag('--no-write');
  const OUT = path.resolve(ROOT, option('--out') ?? (UPDATE_DOCS ? 'docs/BENCHMARKS.md' : QUICK ? 'reports/BENCHMARKS.quick.md' : 'reports/BENCHMARKS.md'));
  /** An earlier full run to show beside this one (read by report.ts); not by default in a --quick run, whose figures are not comparable. */
  const PREVIOUS_FILE = flag('--no-previous') ? undefined : (option('--previous') ?? (QUICK ? undefined : 'bench/previous-run.json'));
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
  const W4 = { records: QUICK ? 500 : 2000, batchRecords: QUICK ? 250 : 500, valueBytes: 512, partitions: 4, keys: 100, concurrency: 16 };
  return { QUICK, RUNS, ONLY, MODES, BASELINE, PARTIAL, UPDATE_DOCS, WRITE, OUT, PREVIOUS_FILE, FROM: option('--from'), W1, W2, W3, W4 };
}

export type BenchOptions = ReturnType<typeof parseOptions>;
