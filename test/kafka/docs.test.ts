// docs/OPERATIONS.md is what the tools do: its flag tables list exactly the flags `--help`
// prints, and the replay filters select what they say.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { matchesFilter } from '../../scripts/lib/replay';

const ROOT = resolve(__dirname, '..', '..');
const doc = readFileSync(resolve(ROOT, 'docs', 'OPERATIONS.md'), 'utf8');
const kafkaStart = doc.indexOf('## Work against a Kafka cluster');
const operations = doc.slice(kafkaStart, doc.indexOf('\n## ', kafkaStart + 1));
const section = (title: string) => operations.slice(operations.indexOf(title), operations.indexOf('\n### ', operations.indexOf(title) + 1) >>> 0 || undefined);

/** Flags in the first column of the section's tables. */
function tableFlags(text: string): Set<string> {
  const flags = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('| `--')) continue;
    for (const m of line.split(' | ')[0].matchAll(/`(--[a-z-]+)/g)) flags.add(m[1]);
  }
  return flags;
}

function helpFlags(script: string): Set<string> {
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, '--help'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  expect(r.status).toBe(0);
  return new Set([...r.stdout.matchAll(/^ {2}(?:-h, )?(--[a-z-]+)(?: \/ (--[a-z-]+))?/gm)].flatMap((m) => [m[1], m[2]]).filter((f): f is string => !!f && f !== '--help'));
}

const connection = tableFlags(operations.slice(0, operations.indexOf('### `npm run consume`')));

test.each([
  ['consume', 'scripts/consume.ts', '### `npm run consume`'],
  ['replay', 'scripts/replay.ts', '### `npm run replay`'],
])('docs/OPERATIONS.md documents exactly the flags of npm run %s --help', (_, script, title) => {
  const documented = new Set([...connection, ...tableFlags(section(title))]);
  const help = helpFlags(script);
  expect(help.size).toBeGreaterThan(10);
  expect([...help].filter((f) => !documented.has(f))).toEqual([]);
  expect([...documented].filter((f) => !help.has(f))).toEqual([]);
}, 60_000);

test('replay filters: topic, offset range and timestamp range, each bound inclusive', () => {
  const r = { topic: 'orders', offset: 10, timestamp: Date.parse('2026-11-30T10:00:00Z') };
  expect(matchesFilter(r, {})).toBe(true);
  expect(matchesFilter(r, { topics: ['orders', 'x'] })).toBe(true);
  expect(matchesFilter(r, { topics: ['payments'] })).toBe(false);
  expect(matchesFilter(r, { fromOffset: 10, toOffset: 10 })).toBe(true);
  expect(matchesFilter(r, { fromOffset: 11 })).toBe(false);
  expect(matchesFilter(r, { toOffset: 9 })).toBe(false);
  expect(matchesFilter(r, { since: r.timestamp, until: r.timestamp })).toBe(true);
  expect(matchesFilter(r, { since: r.timestamp + 1 })).toBe(false);
  expect(matchesFilter(r, { until: r.timestamp - 1 })).toBe(false);
});
