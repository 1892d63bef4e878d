// The linter is part of CI: the repository is clean under it, and .ci/run runs it before the tests.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

test('the repository is clean under `npm run lint` (Biome, warnings included)', () => {
  const res = spawnSync(process.execPath, [require.resolve('@biomejs/biome/bin/biome'), 'lint', '--error-on-warnings'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  expect(res.stdout + res.stderr).toMatch(/Checked \d+ files/);
  expect(res.status).toBe(0);
}, 70_000);

test('lint only: formatting is not checked, and CI lints before it tests', () => {
  const config = readFileSync(join(ROOT, 'biome.jsonc'), 'utf8');
  expect(config).toMatch(/"formatter": \{ "enabled": false \}/);
  expect(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.lint).toBe('biome lint --error-on-warnings');
  const ci = readFileSync(join(ROOT, '.ci', 'run'), 'utf8');
  const lint = ci.search(/^npm run lint$/m);
  expect(lint).toBeGreaterThan(-1);
  expect(lint).toBeLessThan(ci.search(/^npm test$/m));
});
