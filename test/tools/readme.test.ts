// The README's examples are real: the routes example parses with the handler's own schema, and every
// environment variable the settings accept is documented.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseRoutesText } from '../../lambda/config/routes';

const readme = readFileSync(resolve(__dirname, '../../README.md'), 'utf8');

test('the routes example in the README is a valid routes file', () => {
  const block = readme.split('A full example')[1].match(/```json\n([\s\S]*?)```/)![1];
  const routes = parseRoutesText(block, 'README example');
  expect(routes.map((r) => r.name)).toEqual(['vip-support', 'support', 'orders', 'analytics', 'external-agent']);
});

test('every environment variable the settings read is in the configuration table', () => {
  const source = readFileSync(resolve(__dirname, '../../lambda/config/settings.ts'), 'utf8');
  const schema = source.slice(source.indexOf('const envSchema'), source.indexOf('export interface Settings'));
  const vars = [...schema.matchAll(/^\s+([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]);
  expect(vars.length).toBeGreaterThan(15);
  for (const v of vars) expect(readme).toContain(`| \`${v}\` |`);
});

test('the route targets example in the README is a valid routes file', () => {
  const block = readme.split('## Route targets and traffic')[1].match(/```json\n([\s\S]*?)```/)![1];
  const routes = parseRoutesText(block, 'README targets example');
  expect(routes.map((r) => [r.name, r.target])).toEqual([
    ['summaries', 'openai'],
    ['tenant-agents', 'a2a'],
  ]);
});
