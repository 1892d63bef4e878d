// The mutation list (scripts/mutants.ts) plants each bug by replacing text that must occur exactly once in its
// file: a refactor that moves that text makes the list stale, and `npm run mutate` would refuse to start.
import { tsx } from '../support/cli';

test('every mutant still finds its text exactly once (npm run mutate -- --list)', async () => {
  const r = await tsx('scripts/mutate.ts', ['--list']);
  expect(r.stderr).not.toContain('stale');
  expect(r.code).toBe(0);
  expect(r.stdout.trim().split('\n').length).toBeGreaterThan(50);
}, 60_000);
