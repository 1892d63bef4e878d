// `npx cdk synth` through cdk.json, offline and without AWS credentials, with CloudFormation
// validation findings as errors (@aws-cdk/core:validateAgainstDefaultRules=true), then the real
// cfn-lint on the synthesized templates: the default deployment and one with every optional knob.
//
// cfn-lint must pass with no error and no warning, except one ignored check:
//   W3005 (redundant DependsOn): CDK makes the function depend on its role explicitly, next to the
//   Role GetAtt. It is CDK's generated ordering, harmless, and not ours to edit.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CLUSTER_ARN, EU_CLUSTER_ARN, ROOT, ROUTES, synth } from './helpers';

const IGNORED_CHECKS = ['W3005'];
const STRICT = '@aws-cdk/core:validateAgainstDefaultRules';

jest.setTimeout(180_000);

function cfnLint(templates: string[], region: string): { status: number | null; output: string } {
  const res = spawnSync('cfn-lint', ['--format', 'parseable', '--regions', region, '--ignore-checks', ...IGNORED_CHECKS, '--', ...templates], {
    encoding: 'utf8',
  });
  if (res.error) throw new Error(`cfn-lint could not run (is it installed? pip install cfn-lint): ${res.error.message}`);
  return { status: res.status, output: `${res.stdout}${res.stderr}` };
}

/** Runs a command with no network at all when this machine allows it (root: a fresh network namespace). */
function offline(cmd: string, args: string[]): [string, string[]] {
  const probe = spawnSync('unshare', ['-n', 'true']);
  return probe.status === 0 ? ['unshare', ['-n', cmd, ...args]] : [cmd, args];
}

describe('npx cdk synth + cfn-lint', () => {
  let outdir: string;
  let variantOut: string | undefined;
  let synthLog: string;

  beforeAll(() => {
    outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdk-synth-'));
    // No credentials, no metadata service, no telemetry or notices: synth must need none of them.
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('AWS_') || k.startsWith('CDK_')) delete env[k];
    Object.assign(env, {
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: path.join(outdir, 'no-aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(outdir, 'no-aws-credentials'),
      CDK_DISABLE_CLI_TELEMETRY: 'true',
      CDK_DISABLE_VERSION_CHECK: 'true',
    });
    const [cmd, args] = offline('npx', [
      'cdk',
      'synth',
      '--no-notices',
      '--quiet',
      '--output',
      outdir,
      '--context',
      `${STRICT}=true`,
      '--context',
      `mskClusterArn=${CLUSTER_ARN}`,
      '--context',
      'topics=orders,payments.eu',
      '--context',
      `routesFile=${path.relative(ROOT, ROUTES)}`,
      '--context',
      'archestraUrl=https://archestra.example.com',
    ]);
    const res = spawnSync(cmd, args, { cwd: ROOT, env, encoding: 'utf8' });
    synthLog = `${res.stdout}${res.stderr}`;
    if (res.status !== 0) throw new Error(`cdk synth failed (${res.status}):\n${synthLog}`);
  });

  afterAll(() => {
    for (const dir of [outdir, variantOut]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('synth writes the template, with cdk-nag and strict CloudFormation validation passing', () => {
    expect(fs.existsSync(path.join(outdir, 'KafkaA2ABridge.template.json'))).toBe(true);
    const report = JSON.parse(fs.readFileSync(path.join(outdir, 'validation-report.json'), 'utf8'));
    for (const plugin of report.pluginReports.filter((r: { pluginName: string }) => r.pluginName !== 'Construct Annotations')) {
      expect({ plugin: plugin.pluginName, violations: plugin.violations }).toEqual({ plugin: plugin.pluginName, violations: [] });
    }
    expect(synthLog).not.toMatch(/Template validation found issues/);
  });

  test('cfn-lint: the default deployment', () => {
    const { status, output } = cfnLint([path.join(outdir, 'KafkaA2ABridge.template.json')], 'us-east-1');
    expect(output).toBe('');
    expect(status).toBe(0);
  });

  test('cfn-lint: every optional knob (SCRAM, VPC, imported secret, alarm email)', () => {
    variantOut = fs.mkdtempSync(path.join(os.tmpdir(), 'cdk-synth-variant-'));
    const { app } = synth(
      {
        [STRICT]: true,
        mskClusterArn: EU_CLUSTER_ARN,
        topics: 'orders',
        routesFile: ROUTES,
        archestraUrl: 'https://archestra.internal',
        kafkaSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_bridge-AbCdEf',
        kafkaSecretKmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d',
        archestraTokenSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:archestra-token-AbCdEf',
        vpcId: 'vpc-0123456789abcdef0',
        subnetIds: 'subnet-0123456789abcdef0,subnet-0fedcba9876543210',
        alarmEmail: 'oncall@example.com',
        provisionedPollers: '1,4',
        maxRecordAgeSeconds: '3600',
        maxBatchingWindowSeconds: '2',
        reservedConcurrency: '10',
      },
      variantOut,
    );
    const template = path.join(app.synth().directory, 'KafkaA2ABridge.template.json');
    const { status, output } = cfnLint([template], 'eu-west-1');
    expect(output).toBe('');
    expect(status).toBe(0);
  });
});
