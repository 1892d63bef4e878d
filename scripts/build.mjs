// One place for the bundle options: `npm run build`, the bench and the CDK NodejsFunction use the same ones.
import { build } from 'esbuild';
import { bundleOptions } from './bundle-options.mjs';
import { bundleLazy } from './bundle-lazy.mjs';

const result = await build({ ...bundleOptions, entryPoints: ['lambda/handler.ts'], outfile: 'dist/handler.js', metafile: true });
const out = result.metafile.outputs['dist/handler.js'];
console.log(`dist/handler.js ${(out.bytes / 1024).toFixed(1)} KiB`);
for (const [name, bytes] of Object.entries(await bundleLazy('dist'))) {
  const by = name.startsWith('@aws-sdk/')
    ? 'the first call to that AWS service'
    : ['kafkajs', 'aws-msk-iam-sasl-signer-js'].includes(name)
      ? 'routes that reply to kafka://'
      : 'routes with a value_format / key_format';
  console.log(`dist/node_modules/${name}/index.js ${(bytes / 1024).toFixed(1)} KiB (loaded only by ${by})`);
}
