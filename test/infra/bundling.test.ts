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

test('every AWS SDK client is built apart and read at its first call; the idempotency store bundles no SDK at all', async () => {
  const script = "import('./scripts/bundle-lazy.mjs').then((m) => console.log(JSON.stringify({ sdk: m.AWS_SDK_MODULES, lazy: m.LAZY_MODULES })))";
  const { sdk, lazy } = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8' })) as { sdk: string[]; lazy: string[] };
  // Every @aws-sdk/client-* the function imports is among them, so none lands in the main bundle.
  const imported = execFileSync('grep', ['-rhoE', "import\\('@aws-sdk/client-[a-z-]+'\\)", 'lambda'], { cwd: ROOT, encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((l) => l.slice("import('".length, -"')".length));
  expect(new Set(imported)).toEqual(new Set(sdk));
  for (const name of sdk) {
    expect(lazy).toContain(name);
    expect(BUNDLING.externalModules).toContain(name);
  }
  const { build } = await import('esbuild');
  const result = await build({ entryPoints: [`${ROOT}/lambda/io/dynamo-idempotency.ts`], bundle: true, platform: 'node', write: false, metafile: true, logLevel: 'silent' });
  expect(Object.keys(result.metafile.inputs).filter((f) => f.includes('@aws-sdk') || f.includes('@smithy'))).toEqual([]);
});
