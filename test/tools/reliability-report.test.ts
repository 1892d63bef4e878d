// `npm run reliability` leaves the tree clean: its report goes to reports/ (git-ignored) unless the docs are
// to be updated on purpose (--update-docs).
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { DOCS_REPORT, LOCAL_REPORT, parseArgs } from '../../scripts/reliability';

const ROOT = resolve(__dirname, '..', '..');

test('the report goes to reports/RELIABILITY.md by default, to docs/ only with --update-docs', () => {
  expect(LOCAL_REPORT).toBe(resolve(ROOT, 'reports', 'RELIABILITY.md'));
  expect(DOCS_REPORT).toBe(resolve(ROOT, 'docs', 'RELIABILITY.md'));
  expect(parseArgs([]).out).toBe(LOCAL_REPORT);
  expect(parseArgs(['--profile', 'medium']).out).toBe(LOCAL_REPORT);
  expect(parseArgs(['--update-docs']).out).toBe(DOCS_REPORT);
  expect(parseArgs(['--out', 'x.md']).out).toBe(resolve('x.md'));
});

test('reports/ is ignored by git, docs/RELIABILITY.md is not', () => {
  const ignored = (p: string) => spawnSync('git', ['check-ignore', '-q', p], { cwd: ROOT }).status;
  expect(ignored('reports/RELIABILITY.md')).toBe(0);
  expect(ignored('docs/RELIABILITY.md')).toBe(1);
});
