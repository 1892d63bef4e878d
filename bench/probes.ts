// The transport-only probes (and W1's sequential baseline): bench/baseline.ts compiled to plain CommonJS and run
// in a child process, the same records and JSON bodies as the bridge's with nothing around the HTTP client.
import path from 'node:path';
import { ROOT } from './agent';
import type { BaselineReport, BaselineSpec } from './baseline';
import { runChild } from './child';
import { TMP } from './options';

/** bench/baseline.ts compiled once to plain CommonJS, so the baseline and the probes run under plain `node`, as the handler does. */
let baselineScript: Promise<string> | undefined;
export function compileBaseline(): Promise<string> {
  baselineScript ??= (async () => {
    const { build } = await import('esbuild');
    const outfile = path.join(TMP, 'baseline.cjs');
    await build({ entryPoints: [path.join(ROOT, 'bench/baseline.ts')], outfile, bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'warning' });
    return outfile;
  })();
  return baselineScript;
}

export async function baselineChild(spec: BaselineSpec, what: string) {
  return runChild<BaselineReport>([await compileBaseline()], { PATH: process.env.PATH ?? '', BENCH_BASELINE: JSON.stringify(spec) }, what);
}
