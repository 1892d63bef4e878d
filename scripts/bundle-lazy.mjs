// The libraries only some deployments run (Avro, Protobuf: routes with value_format / key_format; the Kafka
// producer and MSK IAM signer: routes that reply to kafka://) are left out of the main bundle and built into
// node_modules/<name>/index.js beside it, where the handler's require('<name>') finds them at run time (Lambda:
// /var/task/node_modules). A deployment without such routes never loads them. The AWS SDK clients too (each
// with its own copy of the SDK core): in the main bundle V8 read and pre-parsed ~590 KB of them at every cold
// start although each is import()ed only at its first use (a dead letter, a secret read, an SNS or EventBridge
// reply); apart, an invocation that uses none of them never reads them (docs/BENCHMARKS.md, W3).
// `node scripts/bundle-lazy.mjs <outdir> [name...]` is what the CDK app runs after bundling.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleOptions } from './bundle-options.mjs';

const lazy = JSON.parse(readFileSync(new URL('./lazy-modules.json', import.meta.url), 'utf8'));
export const SCHEMA_MODULES = lazy.schema;
export const KAFKA_REPLY_MODULES = lazy.kafkaReply;
export const AWS_SDK_MODULES = lazy.awsSdk;
export const LAZY_MODULES = [...SCHEMA_MODULES, ...KAFKA_REPLY_MODULES, ...AWS_SDK_MODULES];

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(join(root, 'package.json'));

/** Builds each lazy module into <outdir>/node_modules/<name>/index.js; returns their sizes in bytes. */
export async function bundleLazy(outdir, names = LAZY_MODULES) {
  const sizes = {};
  for (const name of names) {
    const outfile = join(outdir, 'node_modules', name, 'index.js');
    const result = await build({ ...bundleOptions, absWorkingDir: root, entryPoints: [require.resolve(name)], outfile, metafile: true });
    sizes[name] = Object.entries(result.metafile.outputs).find(([k]) => k.endsWith('index.js'))[1].bytes;
  }
  return sizes;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (!process.argv[2]) throw new Error('usage: node scripts/bundle-lazy.mjs <outdir>');
  const names = process.argv.slice(3);
  await bundleLazy(process.argv[2], names.length ? names : LAZY_MODULES);
}
