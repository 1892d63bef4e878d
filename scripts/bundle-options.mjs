// Shared esbuild options (see scripts/build.mjs and infra/). CommonJS for the Lambda Node.js runtime.
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
  // loaded at its first use.
  external: [
    'avsc',
    'protobufjs',
    'kafkajs',
    'aws-msk-iam-sasl-signer-js',
    '@aws-sdk/client-secrets-manager',
    '@aws-sdk/client-sqs',
    '@aws-sdk/client-sns',
    '@aws-sdk/client-eventbridge',
  ],
};
