// The machines here run Node 20 while the deployed function runs Node 22: the AWS SDK's notice that its
// 2027 releases need Node 22 is expected here and would only bury the test output (workers inherit this).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // ESM-only packages are transformed to CJS for jest: `jose` (required by @a2a-js/sdk's CJS build) and @middy/core 6.
  transform: {
    '^.+\\.tsx?$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }],
    '^.+\\.m?js$': ['ts-jest', { tsconfig: { allowJs: true, module: 'commonjs', isolatedModules: true } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!(jose|@middy)/)'],
  testTimeout: 30000,
  // Names any missing program the tests spawn (moto_server, cfn-lint) once, before the first failure.
  globalSetup: '<rootDir>/test/support/global-setup.ts',
};
