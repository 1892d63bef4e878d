// The documentation's examples are real: the routes examples (docs/ROUTES.md) parse with the handler's own
// schema, and every environment variable the settings accept is documented (docs/DEPLOYMENT.md).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseRoutesText } from '../../lambda/config/routes';

const routesDoc = readFileSync(resolve(__dirname, '../../docs/ROUTES.md'), 'utf8');
const deploymentDoc = readFileSync(resolve(__dirname, '../../docs/DEPLOYMENT.md'), 'utf8');

test('the routes example in docs/ROUTES.md is a valid routes file', () => {
  const block = routesDoc.split('A full example')[1].match(/```json\n([\s\S]*?)```/)![1];
  const routes = parseRoutesText(block, 'README example');
  expect(routes.map((r) => r.name)).toEqual(['vip-support', 'support', 'orders', 'analytics', 'external-agent']);
});

test('every environment variable the settings read is in the configuration table', () => {
  const source = readFileSync(resolve(__dirname, '../../lambda/config/settings.ts'), 'utf8');
  const schema = source.slice(source.indexOf('const envSchema'), source.indexOf('export interface Settings'));
  const vars = [...schema.matchAll(/^\s+([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]);
  expect(vars.length).toBeGreaterThan(15);
  for (const v of vars) expect(deploymentDoc).toContain(`| \`${v}\` |`);
});

test('the route targets example in docs/ROUTES.md is a valid routes file', () => {
  const block = routesDoc.split('## Route targets and traffic')[1].match(/```json\n([\s\S]*?)```/)![1];
  const routes = parseRoutesText(block, 'README targets example');
  expect(routes.map((r) => [r.name, r.target])).toEqual([
    ['summaries', 'openai'],
    ['tenant-agents', 'a2a'],
  ]);
});
