// Shared esbuild options (see scripts/build.mjs and infra/). CommonJS for the Lambda Node.js runtime.
import { readFileSync } from 'node:fs';

const lazy = JSON.parse(readFileSync(new URL('./lazy-modules.json', import.meta.url), 'utf8'));

export const bundleOptions = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: true,
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
  // Built apart by scripts/bundle-lazy.mjs and loaded only by routes that name a value_format / key_format
  // (avsc, protobufjs) or reply to a kafka:// topic (kafkajs, the MSK IAM signer), and the AWS SDK clients, each
  // loaded at its first use. One list (scripts/lazy-modules.json) for the build, bundle-lazy.mjs and the CDK app.
  external: [...lazy.schema, ...lazy.kafkaReply, ...lazy.awsSdk],
};
