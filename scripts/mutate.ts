// `npm run mutate`: mutation testing by planted bugs. Each entry of scripts/mutants.ts is applied, one at a time,
// to a temporary copy of the repository (the working tree is never modified, so Ctrl-C cannot leave a bug
// behind), and the deterministic tests that exercise its module are run against it. A mutant is caught when
// those tests fail. The summary goes to docs/RELIABILITY.md, section "Mutation testing".
//
//   npm run mutate                       every mutant, then rewrite the section of docs/RELIABILITY.md
//   npm run mutate -- --only a,b         only these mutants (the document is left alone)
//   npm run mutate -- --list             list the mutants and exit
//   npm run mutate -- --no-write         run everything, print the section instead of writing it
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { BEGIN, END, MUTANTS, type Mutant } from './mutants';

const ROOT = resolve(__dirname, '..');
const DOC = join(ROOT, 'docs', 'RELIABILITY.md');
/** A mutant whose tests run longer than this is counted as caught by timeout (a hang is a failure too). */
const MUTANT_TIMEOUT_MS = 5 * 60_000;

interface Args {
  only?: string[];
  list: boolean;
  write: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { list: false, write: true };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].includes('=') ? [argv[i].slice(0, argv[i].indexOf('=')), argv[i].slice(argv[i].indexOf('=') + 1)] : [argv[i], undefined];
    switch (flag) {
      case '--only':
        a.only = (inline ?? argv[++i] ?? '').split(',').filter(Boolean);
        break;
      case '--list':
        a.list = true;
        break;
      case '--no-write':
        a.write = false;
        break;
      case '--help':
        process.stdout.write('usage: npm run mutate -- [--only id,id] [--list] [--no-write]\n');
        return process.exit(0);
      default:
        throw new Error(`unknown argument ${argv[i]} (see --help)`);
    }
  }
  return a;
}

/** Every mutant must match its file exactly once, or the list is stale. */
function check(mutants: Mutant[]): string[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  for (const m of mutants) {
    if (ids.has(m.id)) problems.push(`${m.id}: duplicate id`);
    ids.add(m.id);
    const path = join(ROOT, m.file);
    if (!existsSync(path)) {
      problems.push(`${m.id}: ${m.file} does not exist`);
      continue;
    }
    const n = readFileSync(path, 'utf8').split(m.find).length - 1;
    if (n !== 1) problems.push(`${m.id}: the text to replace occurs ${n} times in ${m.file} (must be exactly once)`);
    for (const t of m.tests) if (!existsSync(join(ROOT, t))) problems.push(`${m.id}: test file ${t} does not exist`);
  }
  return problems;
}

const lineOf = (text: string, find: string) => text.slice(0, text.indexOf(find)).split('\n').length;

// ---- the temporary copy and the child processes, always cleaned up -------------------------------------------

let copy: string | undefined;
let child: ChildProcess | undefined;

function cleanup() {
  if (child?.pid !== undefined && child.exitCode === null) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  if (copy) rmSync(copy, { recursive: true, force: true });
  copy = undefined;
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    process.stderr.write(`\nmutate: ${sig}, cleaning up (the working tree was never modified)\n`);
    cleanup();
    process.exit(130);
  });
}

function makeCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mutate-'));
  copy = dir;
  const skip = /^(node_modules|\.git|cdk\.out|dist|\.dlq|coverage)(\/|$)/;
  cpSync(ROOT, dir, { recursive: true, filter: (src) => !skip.test(relative(ROOT, src)) });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

interface JestJson {
  success: boolean;
  numFailedTests: number;
  numTotalTests: number;
  testResults: Array<{ name: string; status: string; assertionResults: Array<{ status: string; fullName: string }> }>;
}

/** Runs jest on `tests` in the copy; resolves with what failed (empty when every test passed). */
function runJest(dir: string, tests: string[], bail: boolean): Promise<{ ok: boolean; timedOut: boolean; failed: string[]; total: number; ms: number }> {
  const out = join(dir, '.mutate-jest.json');
  rmSync(out, { force: true });
  const started = Date.now();
  const args = [join(dir, 'node_modules', 'jest', 'bin', 'jest.js'), '--ci', '--silent', '--forceExit', `--maxWorkers=${Math.max(1, Math.min(2, cpus().length))}`, '--json', `--outputFile=${out}`, ...(bail ? ['--bail'] : []), '--runTestsByPath', ...tests];
  return new Promise((resolveRun) => {
    const c = spawn(process.execPath, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], detached: true, env: { ...process.env, FORCE_COLOR: '0' } });
    child = c;
    let stderr = '';
    // jest names each failing file on a FAIL line (with --bail it may end before writing its JSON report).
    const failing = new Set<string>();
    let partial = '';
    c.stderr?.on('data', (b: Buffer) => {
      const text = partial + b.toString();
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) {
        const m = /^FAIL\s+(\S+)/.exec(l.trim());
        if (m) failing.add(m[1]);
      }
      stderr = (stderr + b.toString()).slice(-4000);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-c.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, MUTANT_TIMEOUT_MS);
    c.on('exit', (code) => {
      clearTimeout(timer);
      child = undefined;
      const ms = Date.now() - started;
      let report: JestJson | undefined;
      try {
        report = JSON.parse(readFileSync(out, 'utf8')) as JestJson;
      } catch {
        report = undefined;
      }
      const failed = [...new Set([...failing, ...(report?.testResults ?? []).filter((r) => r.status === 'failed').map((r) => relative(dir, r.name))])];
      if (code !== 0 && !timedOut && failed.length === 0) failed.push(`(jest exited ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')})`);
      resolveRun({ ok: code === 0 && !timedOut, timedOut, failed, total: report?.numTotalTests ?? 0, ms });
    });
  });
}

interface Result {
  mutant: Mutant;
  line: number;
  caught: boolean;
  timedOut: boolean;
  killedBy: string[];
  ms: number;
}

function section(results: Result[], wallMs: number): string {
  const caught = results.filter((r) => r.caught).length;
  const score = ((100 * caught) / results.length).toFixed(1);
  const modules = [...new Set(results.map((r) => r.mutant.file))];
  const L: string[] = [];
  L.push(BEGIN, '## Mutation testing (`npm run mutate`)', '');
  L.push('> Written by `npm run mutate` (scripts/mutate.ts) from its last full run; `npm run reliability` keeps this section as it is.', '');
  L.push(
    'Planted bugs, not generated ones: scripts/mutants.ts lists small, plausible mistakes in lambda/, each an exact',
    'text replacement. `npm run mutate` applies them one at',
    'a time to a temporary copy of the repository (the working tree is never touched, so an interrupted run leaves',
    'nothing behind) and runs the deterministic tests of the mutated module (unit, integration against the sim,',
    'moto_server and dynalite, and the deterministic reliability tests; never the seeded no-loss property). A mutant is',
    '**caught** when one of those tests fails. It is not part of `npm test`; a full run takes several minutes.',
    '`npm run mutate -- --only <id>,<id>` replays single mutants, `--list` lists them.',
    '',
  );
  L.push(`| Run |  |`, '| --- | --- |');
  L.push(`| Date | ${new Date().toISOString()} |`);
  L.push(`| Mutants | ${results.length} in ${modules.length} files: ${modules.map((m) => `\`${m.replace(/^lambda\//, '')}\``).join(', ')} |`);
  L.push(`| **Score** | **${caught} of ${results.length} caught (${score} %)** |`);
  L.push(`| Wall time | ${(wallMs / 60_000).toFixed(1)} min |`, '');
  L.push('| Mutant | Where | The bug | Result | Failed first (the run stops there) |', '| --- | --- | --- | --- | --- |');
  for (const r of results) {
    const by = r.timedOut ? 'timeout' : r.killedBy.map((f) => `\`${f.replace(/^test\//, '')}\``).join(', ');
    L.push(`| \`${r.mutant.id}\` | \`${r.mutant.file.replace(/^lambda\//, '')}:${r.line}\` | ${r.mutant.why} | ${r.caught ? 'caught' : '**survived**'} | ${r.caught ? by : '-'} |`);
  }
  L.push('');
  const survivors = results.filter((r) => !r.caught);
  L.push('### Survivors', '');
  if (survivors.length === 0) L.push('None: every planted bug fails at least one deterministic test.');
  for (const s of survivors) L.push(`- \`${s.mutant.id}\` (${s.mutant.file}:${s.line}): ${s.mutant.why}. ${s.mutant.survives ?? 'No test covers it yet.'}`);
  L.push('', END);
  return L.join('\n');
}

/** Replaces the section in the document, or appends it. */
export function withSection(doc: string, text: string): string {
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  if (a !== -1 && b > a) return doc.slice(0, a) + text + doc.slice(b + END.length);
  return `${doc.replace(/\n*$/, '\n\n')}${text}\n`;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const problems = check(MUTANTS);
  if (problems.length) {
    process.stderr.write(`mutate: scripts/mutants.ts is stale:\n  - ${problems.join('\n  - ')}\n`);
    process.exit(2);
  }
  if (a.list) {
    for (const m of MUTANTS) process.stdout.write(`${m.id.padEnd(40)} ${m.file}:${lineOf(readFileSync(join(ROOT, m.file), 'utf8'), m.find)}  ${m.why}\n`);
    return;
  }
  const unknown = (a.only ?? []).filter((id) => !MUTANTS.some((m) => m.id === id));
  if (unknown.length) throw new Error(`unknown mutant(s): ${unknown.join(', ')} (see --list)`);
  const chosen = a.only ? MUTANTS.filter((m) => a.only!.includes(m.id)) : MUTANTS;
  const started = Date.now();
  const dir = makeCopy();
  process.stdout.write(`mutate: ${chosen.length} mutant(s), working copy ${dir}\n`);

  // The tests must pass unmutated, or a failure would prove nothing.
  const allTests = [...new Set(chosen.flatMap((m) => m.tests))];
  process.stdout.write(`mutate: baseline, ${allTests.length} test files unmutated ... `);
  const base = await runJest(dir, allTests, false);
  if (!base.ok) {
    process.stdout.write('FAILED\n');
    process.stderr.write(`mutate: the tests fail without any mutant (${base.failed.join(', ')}): fix them first\n`);
    process.exit(1);
  }
  process.stdout.write(`${base.total} tests green in ${(base.ms / 1000).toFixed(1)} s\n`);

  const results: Result[] = [];
  for (const [i, m] of chosen.entries()) {
    const path = join(dir, m.file);
    const original = readFileSync(path, 'utf8');
    const line = lineOf(original, m.find);
    writeFileSync(path, original.replace(m.find, () => m.replace));
    let run: Awaited<ReturnType<typeof runJest>>;
    try {
      run = await runJest(dir, m.tests, true);
    } finally {
      writeFileSync(path, original);
    }
    const caught = !run.ok;
    results.push({ mutant: m, line, caught, timedOut: run.timedOut, killedBy: run.failed, ms: run.ms });
    const tag = caught ? (run.timedOut ? 'caught (timeout)' : 'caught') : 'SURVIVED';
    process.stdout.write(`[${String(i + 1).padStart(2)}/${chosen.length}] ${tag.padEnd(16)} ${m.id} (${m.file}:${line}) ${(run.ms / 1000).toFixed(1)} s${caught && !run.timedOut ? `  by ${run.failed.join(', ')}` : ''}\n`);
  }
  const wallMs = Date.now() - started;
  const caught = results.filter((r) => r.caught).length;
  process.stdout.write(`\nmutate: ${caught} of ${results.length} caught (${((100 * caught) / results.length).toFixed(1)} %) in ${(wallMs / 60_000).toFixed(1)} min\n`);
  for (const s of results.filter((r) => !r.caught)) process.stdout.write(`  survived: ${s.mutant.id} (${s.mutant.file}:${s.line}) ${s.mutant.why}\n`);

  const text = section(results, wallMs);
  if (a.only) process.stdout.write('mutate: --only given, docs/RELIABILITY.md left alone\n');
  else if (a.write) {
    writeFileSync(DOC, withSection(readFileSync(DOC, 'utf8'), text));
    process.stdout.write(`mutate: wrote the "Mutation testing" section of ${relative(process.cwd(), DOC)}\n`);
  } else process.stdout.write(`\n${text}\n`);
  cleanup();
  // A survivor nobody has explained (scripts/mutants.ts `survives`) fails the run.
  process.exit(results.some((r) => !r.caught && !r.mutant.survives) ? 1 : 0);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`mutate: ${(err as Error).stack ?? String(err)}\n`);
    cleanup();
    process.exit(1);
  });
}
