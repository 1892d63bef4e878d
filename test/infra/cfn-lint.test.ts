// `npx cdk synth` through cdk.json, offline and without AWS credentials, with CloudFormation
// validation findings as errors (@aws-cdk/core:validateAgainstDefaultRules=true), then the real
// cfn-lint on the synthesized templates: the default deployment and one with every optional knob.
//
// cfn-lint must pass with no error and no warning, except one ignored check:
//   W3005 (redundant DependsOn): CDK makes the function depend on its role explicitly, next to the
//   Role GetAtt. It is CDK's generated ordering, harmless, and not ours to edit.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
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

  // The deployment variants beyond the default: self-managed Kafka, the Kafka and S3 on-failure destinations, the cluster
  // security-group rule, PITR off. cdk-nag runs in each synth (an unacknowledged finding throws).
  const variants: Record<string, [string, Record<string, unknown>]> = {
    'self-managed Kafka (SASL/SCRAM-256, private CA, pollers in a VPC)': [
      'eu-west-1',
      {
        bootstrapServers: 'b-1.kafka.internal:9096,b-2.kafka.internal:9096',
        region: 'eu-west-1',
        kafkaSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:kafka-bridge-AbCdEf',
        kafkaAuthentication: 'scram256',
        kafkaRootCaSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:kafka-ca-AbCdEf',
        kafkaVpcId: 'vpc-0123456789abcdef0',
        kafkaSubnetIds: 'subnet-0123456789abcdef0,subnet-0fedcba9876543210',
        kafkaSecurityGroupId: 'sg-0123456789abcdef0',
      },
    ],
    'self-managed Kafka (mTLS, brokers on the internet)': [
      'eu-west-1',
      {
        bootstrapServers: 'kafka.example.com:9094',
        region: 'eu-west-1',
        kafkaSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:kafka-client-cert-AbCdEf',
        kafkaAuthentication: 'mtls',
      },
    ],
    'Kafka on-failure topic, cluster security-group rule, enabled': [
      'us-east-1',
      { mskClusterArn: CLUSTER_ARN, onFailureDestination: 'kafka://bridge-failed', clusterSecurityGroupId: 'sg-0123456789abcdef0', enabled: 'true' },
    ],
    'S3 on-failure bucket, PITR off, nothing retained': [
      'us-east-1',
      { mskClusterArn: CLUSTER_ARN, onFailureDestination: 's3', pointInTimeRecovery: 'false', retainOnDelete: 'false' },
    ],
  };
  test.each(Object.entries(variants))('cfn-lint: %s', (_name, [region, context]) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdk-synth-variant-'));
    try {
      const quiet = jest.spyOn(console, 'error').mockImplementation(() => undefined);
      let app: ReturnType<typeof synth>['app'];
      try {
        ({ app } = synth({ [STRICT]: true, topics: 'orders,payments.eu', routesFile: ROUTES, archestraUrl: 'https://archestra.example.com', ...context }, dir));
      } finally {
        quiet.mockRestore();
      }
      const out = app.synth().directory;
      const report = JSON.parse(fs.readFileSync(path.join(out, 'validation-report.json'), 'utf8'));
      const nag = report.pluginReports.find((r: { pluginName: string }) => r.pluginName === 'AwsSolutions');
      expect(nag.violations).toEqual([]);
      const { status, output } = cfnLint([path.join(out, 'KafkaA2ABridge.template.json')], region);
      expect(output).toBe('');
      expect(status).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
