// The CDK bundles the handler with the same esbuild options as `npm run build`
// (scripts/bundle-options.mjs is ESM, so infra mirrors it; this test keeps the two equal).
import { execFileSync } from 'node:child_process';
import { BUNDLING } from '../../infra/constructs/bridge-function';
import { ROOT } from './helpers';

test('NodejsFunction bundling mirrors scripts/bundle-options.mjs', () => {
  const script = "import('./scripts/bundle-options.mjs').then((m) => console.log(JSON.stringify(m.bundleOptions)))";
  const shared = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8' }));
  // bundle and platform=node are what NodejsFunction always does.
  expect(shared).toEqual({
    bundle: true,
    platform: 'node',
    target: BUNDLING.target,
    format: BUNDLING.format,
    minify: BUNDLING.minify,
    sourcemap: BUNDLING.sourceMap,
    legalComments: BUNDLING.esbuildArgs['--legal-comments'],
    logLevel: BUNDLING.logLevel,
    external: BUNDLING.externalModules,
  });
});
