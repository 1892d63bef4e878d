// A deploy that cannot drop records, on synthesized stacks: the first deploy does not
// consume with a placeholder token, every way to lose records has an alarm, the role holds only
// the documented actions, networking and topic-change rules refuse what cannot work, one poller
// group, retained data, and the S3, Kafka and self-managed variants.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Template } from 'aws-cdk-lib/assertions';
import { POLLER_NETWORK_ACTIONS } from '../../infra/constructs/kafka-triggers';
import { MAPPING_ALARM_METRICS, STALL_PERIODS } from '../../infra/constructs/observability';
import { ContextError } from '../../infra/context';
import { build, CLUSTER_ARN, dashboardBody, EU_CLUSTER_ARN, FIXTURES, ROOT, ROUTES, synth, type Synthesized } from './helpers';

jest.setTimeout(120_000);

const base = { mskClusterArn: CLUSTER_ARN, topics: 'orders,payments.eu', routesFile: ROUTES, archestraUrl: 'https://archestra.example.com' };
const EU = { ...base, mskClusterArn: EU_CLUSTER_ARN };
const TOKEN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:archestra-token-AbCdEf';
const KAFKA_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:kafka-bridge-AbCdEf';
const CA_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:kafka-ca-AbCdEf';
const SELF_MANAGED = {
  topics: 'orders,payments.eu',
  routesFile: ROUTES,
  archestraUrl: 'https://archestra.example.com',
  bootstrapServers: 'b-1.kafka.internal:9096,b-2.kafka.internal:9096',
  region: 'eu-west-1',
  kafkaSecretArn: KAFKA_SECRET,
  kafkaAuthentication: 'scram256',
  kafkaRootCaSecretArn: CA_SECRET,
  kafkaVpcId: 'vpc-0123456789abcdef0',
  kafkaSubnetIds: 'subnet-0123456789abcdef0,subnet-0fedcba9876543210',
  kafkaSecurityGroupId: 'sg-0123456789abcdef0',
};

/** The variants the issue names, each synthesized once (cdk-nag runs in synth and fails it on a finding). */
const VARIANTS: Record<string, Record<string, unknown>> = {
  default: base,
  enabled: { ...base, enabled: 'true' },
  'vpc + SASL/SCRAM': {
    ...EU,
    kafkaSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_bridge-AbCdEf',
    kafkaSecretKmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d',
    vpcId: 'vpc-0123456789abcdef0',
    subnetIds: 'subnet-0123456789abcdef0,subnet-0fedcba9876543210',
    clusterSecurityGroupId: 'sg-0aaaaaaaaaaaaaaaa',
  },
  'imported secret': { ...EU, archestraTokenSecretArn: TOKEN },
  'self-managed': SELF_MANAGED,
  'self-managed mTLS on the internet': {
    ...SELF_MANAGED,
    kafkaAuthentication: 'mtls',
    kafkaRootCaSecretArn: undefined,
    kafkaVpcId: undefined,
    kafkaSubnetIds: undefined,
    kafkaSecurityGroupId: undefined,
  },
  'kafka on-failure': { ...base, onFailureDestination: 'kafka://bridge-failed', clusterSecurityGroupId: 'sg-0aaaaaaaaaaaaaaaa' },
  's3 on-failure, no PITR, nothing retained': { ...base, onFailureDestination: 's3', pointInTimeRecovery: 'false', retainOnDelete: 'false' },
  'reply destinations': { ...base, topics: 'orders,tickets', routesFile: path.join(FIXTURES, 'routes-replies.json') },
};

const synthesized: Record<string, Synthesized> = {};
const quietly = <T>(fn: () => T): T => {
  const spy = jest.spyOn(console, 'error').mockImplementation(() => undefined);
  try {
    return fn();
  } finally {
    spy.mockRestore();
  }
};
const get = (name: keyof typeof VARIANTS): Synthesized => (synthesized[name] ??= quietly(() => synth(VARIANTS[name])));
const resources = (t: Template, type: string) => Object.entries(t.findResources(type));
const statements = (t: Template): Array<Record<string, any>> =>
  Object.values(t.findResources('AWS::IAM::Policy')).flatMap((p) => p.Properties.PolicyDocument.Statement);
const warnings = (s: Synthesized) =>
  s.stack.node.metadata.filter((m) => m.type === 'aws:cdk:warning').map((m) => String(m.data));
const mappings = (t: Template) => resources(t, 'AWS::Lambda::EventSourceMapping');
const alarmsNamed = (t: Template, suffix: string) =>
  Object.values(t.findResources('AWS::CloudWatch::Alarm')).filter((a) => a.Properties.AlarmName.endsWith(suffix)).map((a) => a.Properties);

describe('1. first deploy: the mappings wait for the token', () => {
  test('a created token secret: every mapping disabled, and synth says why', () => {
    const s = get('default');
    for (const [, m] of mappings(s.template)) expect(m.Properties.Enabled).toBe(false);
    expect(warnings(s)).toContainEqual(expect.stringContaining('The Kafka triggers are created disabled'));
  });

  test('enabled=true after the token is set: the mappings consume, no warning', () => {
    const s = get('enabled');
    for (const [, m] of mappings(s.template)) expect(m.Properties.Enabled).toBe(true);
    expect(warnings(s).filter((w) => w.includes('disabled'))).toEqual([]);
  });

  test('an imported secret keeps the old flow: enabled by default; enabled=false still disables', () => {
    for (const [, m] of mappings(get('imported secret').template)) expect(m.Properties.Enabled).toBe(true);
    const off = quietly(() => synth({ ...VARIANTS['imported secret'], enabled: 'false' }));
    for (const [, m] of mappings(off.template)) expect(m.Properties.Enabled).toBe(false);
    expect(warnings(off)).toContainEqual(expect.stringContaining('disabled (enabled=false)'));
  });
});

describe('2. alarms that reveal loss', () => {
  test('per mapping: Dropped, DestinationDeliveryErrors and PollingErrors on its own UUID, at the first event', () => {
    const t = get('default').template;
    const ids = mappings(t).map(([id]) => id);
    for (const [suffix, metric] of Object.entries(MAPPING_ALARM_METRICS)) {
      const found = alarmsNamed(t, `-${suffix}`);
      expect(found).toHaveLength(ids.length);
      for (const a of found) {
        expect(a).toMatchObject({
          Namespace: 'AWS/Lambda',
          MetricName: metric,
          Statistic: 'Sum',
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          Period: 300,
          TreatMissingData: 'notBreaching',
        });
      }
      expect(found.map((a) => a.Dimensions[0].Value.Ref).sort()).toEqual([...ids].sort());
      expect(found.map((a) => a.Dimensions[0].Name)).toEqual(ids.map(() => 'EventSourceMappingUUID'));
    }
  });

  test('Stalled: no metrics at all, or lag without commits, for two 5-minute periods; missing data is breaching', () => {
    const t = get('enabled').template;
    const found = alarmsNamed(t, '-Stalled');
    expect(found.map((a) => a.AlarmName).sort()).toEqual(['KafkaA2ABridge-orders-Stalled', 'KafkaA2ABridge-payments.eu-Stalled']);
    for (const a of found) {
      expect(a).toMatchObject({ EvaluationPeriods: STALL_PERIODS, DatapointsToAlarm: STALL_PERIODS, Threshold: 1, TreatMissingData: 'breaching' });
      expect(STALL_PERIODS * 300).toBeLessThanOrEqual(15 * 60);
      expect(a.ActionsEnabled ?? true).toBe(true);
      const [expr, ...metrics] = a.Metrics;
      expect(expr.Expression).toBe('IF(FILL(polled, -1) < 0 OR (FILL(lag, 0) > 0 AND FILL(committed, 0) <= 0), 1, 0)');
      expect(metrics.map((m: any) => [m.Id, m.MetricStat.Metric.MetricName, m.MetricStat.Stat, m.MetricStat.Period, m.ReturnData])).toEqual([
        ['polled', 'PolledEventCount', 'Sum', 300, false],
        ['lag', 'MaxOffsetLag', 'Maximum', 300, false],
        ['committed', 'CommittedEventCount', 'Sum', 300, false],
      ]);
      // All three read the same mapping.
      expect(new Set(metrics.map((m: any) => JSON.stringify(m.MetricStat.Metric.Dimensions))).size).toBe(1);
    }
  });

  test('while the mappings are disabled, the Stalled alarms still notify: a deploy that leaves them off is paged', () => {
    const t = get('default').template;
    const topic = Object.keys(t.findResources('AWS::SNS::Topic'))[0];
    for (const a of alarmsNamed(t, '-Stalled')) {
      expect(a.ActionsEnabled ?? true).toBe(true);
      expect(a.AlarmActions).toEqual([{ Ref: topic }]);
      expect(a.TreatMissingData).toBe('breaching');
    }
  });

  test('refused at synth: a topic whose alarm names would pass CloudWatch\'s 255 characters', () => {
    const long = 'x'.repeat(255 - 'KafkaA2ABridge'.length - '--DestinationDeliveryErrors'.length);
    const ok = { ...base, topics: long, consumerGroupId: JSON.stringify({ [long]: 'g' }) };
    expect(quietly(() => build(ok)).kafka.triggers).toHaveLength(1);
    const tooLong = { ...base, topics: `${long}y`, consumerGroupId: JSON.stringify({ [`${long}y`]: 'g' }) };
    expect(() => build(tooLong)).toThrow(/would exceed CloudWatch's 255 characters/);
  });

  test('a timeout longer than the stall window is a synth warning', () => {
    const s = quietly(() => synth({ ...base, enabled: 'true', timeoutSeconds: '900' }));
    expect(warnings(s)).toContainEqual(expect.stringContaining("timeoutSeconds (900) is longer than the Stalled alarms' window"));
  });

  test('the dashboard charts TombstonesSkipped per route', () => {
    const w = dashboardBody(get('default').template).widgets.find((x) => x.properties.title === 'TombstonesSkipped per route');
    const lines = (w!.properties.metrics as any[][]).map((l) => {
      const dims: Record<string, string> = {};
      for (let i = 2; i + 1 < l.length; i += 2) if (typeof l[i] === 'string') dims[l[i]] = l[i + 1];
      return [l[0], l[1], dims];
    });
    expect(lines).toEqual(
      ['orders', 'payments'].map((route) => ['KafkaA2ABridge', 'TombstonesSkipped', { service: 'kafka-a2a-bridge', route }]),
    );
  });
});

describe('3. the role holds exactly the documented actions', () => {
  const documented = (): Set<string> => {
    const doc = fs.readFileSync(path.join(ROOT, 'docs', 'DEPLOYMENT.md'), 'utf8');
    const start = doc.indexOf('## Role permissions');
    const table = doc.slice(start, doc.indexOf('\n#', start + 1));
    return new Set(
      table
        .split('\n')
        .filter((l) => l.startsWith('| `'))
        .flatMap((l) => [...l.split('|')[1].matchAll(/`([a-z0-9-]+:[A-Za-z0-9]+)`/g)].map((m) => m[1])),
    );
  };

  test.each(Object.keys(VARIANTS))('%s: no managed policy, every action documented, no ListScramSecrets', (name) => {
    const t = get(name).template;
    for (const [, role] of resources(t, 'AWS::IAM::Role')) expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    t.resourceCountIs('AWS::IAM::ManagedPolicy', 0);
    const actions = statements(t).flatMap((st) => [st.Action].flat() as string[]);
    const allowed = documented();
    expect(allowed.size).toBeGreaterThan(20);
    expect(actions.filter((a) => !allowed.has(a))).toEqual([]);
    expect(actions).not.toContain('kafka:ListScramSecrets');
    expect(actions).not.toContain('kafka:DescribeCluster');
    // "*" only on the network-interface statements.
    for (const st of statements(t).filter((x) => JSON.stringify(x.Resource) === '"*"')) {
      expect(['KafkaPollerNetworkInterfaces', 'VpcNetworkInterfaces']).toContain(st.Sid);
    }
  });

  test('SASL/SCRAM on MSK: bootstrap actions on the cluster ARN, no kafka-cluster actions', () => {
    const sts = statements(get('vpc + SASL/SCRAM').template);
    expect(sts).toContainEqual(
      expect.objectContaining({ Sid: 'MskBootstrap', Action: ['kafka:DescribeClusterV2', 'kafka:GetBootstrapBrokers'], Resource: EU_CLUSTER_ARN }),
    );
    expect(sts).toContainEqual(
      expect.objectContaining({ Sid: 'KafkaPollerNetworkInterfaces', Resource: '*', Action: [...POLLER_NETWORK_ACTIONS].sort() }),
    );
    expect(JSON.stringify(sts)).not.toContain('kafka-cluster:');
  });

  test('every cdk-nag acknowledgement names what it covers, and each reason is specific', () => {
    for (const name of Object.keys(VARIANTS)) {
      const s = get(name);
      const report = JSON.parse(fs.readFileSync(path.join(s.app.synth().directory, 'validation-report.json'), 'utf8'));
      const nag = report.pluginReports.find((r: { pluginName: string }) => r.pluginName === 'AwsSolutions');
      expect({ name, violations: nag.violations }).toEqual({ name, violations: [] });
      for (const v of nag.suppressedViolations) expect(v.ruleName).not.toMatch(/IAM4/);
    }
  });
});

describe('4. networking', () => {
  test('clusterSecurityGroupId: a self-referencing inbound rule on the auth port (9098 IAM, 9096 SASL/SCRAM)', () => {
    for (const [name, port] of [
      ['kafka on-failure', 9098],
      ['vpc + SASL/SCRAM', 9096],
    ] as const) {
      const rules = resources(get(name).template, 'AWS::EC2::SecurityGroupIngress').map(([, r]) => r.Properties);
      expect(rules).toEqual([
        expect.objectContaining({
          GroupId: 'sg-0aaaaaaaaaaaaaaaa',
          SourceSecurityGroupId: 'sg-0aaaaaaaaaaaaaaaa',
          IpProtocol: 'tcp',
          FromPort: port,
          ToPort: port,
        }),
      ]);
    }
    get('default').template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
  });

  test.each([
    [{ ...SELF_MANAGED, kafkaSecurityGroupId: undefined }, /"kafkaVpcId", "kafkaSubnetIds" and "kafkaSecurityGroupId" go together/],
    [{ ...SELF_MANAGED, clusterSecurityGroupId: 'sg-0aaaaaaaaaaaaaaaa' }, /"clusterSecurityGroupId" is for MSK/],
    [{ ...base, kafkaSubnetIds: 'subnet-0123456789abcdef0' }, /"kafkaSubnetIds" is for self-managed Kafka/],
    [
      { ...SELF_MANAGED, kafkaSecretArn: undefined, kafkaAuthentication: undefined, kafkaVpcId: undefined, kafkaSubnetIds: undefined, kafkaSecurityGroupId: undefined },
      /without "kafkaVpcId" means brokers on the internet/,
    ],
    [{ ...base, vpcId: 'vpc-0123456789abcdef0' }, /"vpcId" and "subnetIds" go together/],
    [{ ...base, securityGroupIds: 'sg-0123456789abcdef0' }, /"securityGroupIds" needs "vpcId" and "subnetIds"/],
  ])('refused at synth: %#', (context, message) => {
    expect(() => build(context)).toThrow(ContextError);
    expect(() => build(context)).toThrow(message);
  });
});

describe('5. topic changes CloudFormation cannot apply', () => {
  const schema = (() => {
    const py = [
      'import json',
      'from cfnlint.schema.manager import PROVIDER_SCHEMA_MANAGER as m',
      "s = m.get_resource_schema('us-east-1', 'AWS::Lambda::EventSourceMapping').schema",
      "print(json.dumps({'createOnly': s.get('createOnlyProperties', []), 'properties': list(s['properties'])}))",
    ].join('\n');
    const res = spawnSync('python3', ['-c', py], { encoding: 'utf8' });
    if (res.status !== 0) throw new Error(`cannot read cfn-lint's resource schema: ${res.stderr}`);
    return JSON.parse(res.stdout) as { createOnly: string[]; properties: string[] };
  })();

  test("the resource schema cfn-lint ships says what docs/DEPLOYMENT.md says: what replaces, what updates in place", () => {
    expect(schema.createOnly.sort()).toEqual(
      ['/properties/EventSourceArn', '/properties/SelfManagedEventSource', '/properties/StartingPosition', '/properties/StartingPositionTimestamp'].sort(),
    );
    expect(schema.properties).toEqual(expect.arrayContaining(['AmazonManagedKafkaEventSourceConfig', 'Topics', 'Enabled']));
    expect(schema.createOnly.some((p) => p.includes('ConsumerGroupId') || p.includes('Topics'))).toBe(false);
  });

  test('a mapping is named after its topic only: the logical IDs of earlier releases, unchanged by the group or position', () => {
    const before = mappings(get('default').template).map(([id]) => id);
    expect(before.sort()).toEqual([
      'BridgeHandlerKafkaEventSourceKafkaA2ABridgeHandlerDBB5505Corders21EC2EA4',
      'BridgeHandlerKafkaEventSourceKafkaA2ABridgeHandlerDBB5505Cpaymentseu8682C834',
    ]);
    const changed = quietly(() => synth({ ...base, consumerGroupId: 'other', startingPosition: 'TRIM_HORIZON' }));
    expect(mappings(changed.template).map(([id]) => id).sort()).toEqual(before);
  });

  test('self-managed mappings are named after the bootstrap servers and the topic', () => {
    const ids = mappings(get('self-managed').template).map(([id]) => id);
    expect(ids.every((id) => id.startsWith('BridgeHandlerKafkaEventSource'))).toBe(true);
    expect(ids.map((id) => /orders|paymentseu/.exec(id)?.[0]).sort()).toEqual(['orders', 'paymentseu']);
    const moved = quietly(() => synth({ ...SELF_MANAGED, bootstrapServers: 'b-9.kafka.internal:9096', consumerGroupId: 'other' }));
    const movedIds = mappings(moved.template).map(([id]) => id);
    expect(movedIds.filter((id) => ids.includes(id))).toEqual([]);
    const regrouped = quietly(() => synth({ ...SELF_MANAGED, consumerGroupId: 'other' }));
    expect(mappings(regrouped.template).map(([id]) => id).sort()).toEqual([...ids].sort());
  });

  test('refused at synth: a topic listed twice, two topics in one group, a group for a topic not consumed', () => {
    expect(() => build({ ...base, topics: 'orders,orders' })).toThrow(/"topics": must not repeat a topic/);
    expect(() => build({ ...base, consumerGroupId: '{"orders":"g","payments.eu":"g"}' })).toThrow(/two topics share a consumer group/);
    expect(() => build({ ...base, consumerGroupId: '{"refunds":"g"}' })).toThrow(/names topic "refunds", which is not in "topics"/);
  });

  test('refused at synth: a Kafka on-failure destination that is a consumed topic, or an unknown destination', () => {
    expect(() => build({ ...base, onFailureDestination: 'kafka://orders' })).toThrow(/kafka:\/\/orders is a consumed topic/);
    expect(() => build({ ...base, onFailureDestination: 'sns' })).toThrow(/"onFailureDestination": must be sqs, s3 or kafka:\/\/<topic>/);
  });
});

describe('6. cost and retention', () => {
  test('every mapping in one poller group, named after the stack', () => {
    for (const name of ['default', 'self-managed'] as const) {
      const groups = mappings(get(name).template).map(([, m]) => m.Properties.ProvisionedPollerConfig.PollerGroupName);
      expect(groups).toEqual(['KafkaA2ABridge-pollers', 'KafkaA2ABridge-pollers']);
    }
  });

  test("refused at synth: more than a poller group holds (100 mappings, 2000 maximum pollers in all)", () => {
    const topics = (n: number) => Array.from({ length: n }, (_, i) => `t${i}`).join(',');
    expect(() => build({ ...base, topics: topics(11) })).toThrow(/11 mappings × 200 maximum pollers \(Lambda's default\) exceeds the 2000/);
    expect(() => build({ ...base, topics: topics(11), provisionedPollers: '1,182' })).toThrow(/give "min,max" with max at most 181/);
    expect(() => build({ ...base, topics: topics(101), provisionedPollers: '1,2' })).toThrow(/a poller group holds at most 100 mappings/);
    expect(quietly(() => build({ ...base, topics: topics(11), provisionedPollers: '1,181' })).kafka.triggers).toHaveLength(11);
  });

  test('the poison queue and the idempotency table are retained by default; point-in-time recovery on', () => {
    const t = get('default').template;
    const retained = (type: string, prefix: string) =>
      resources(t, type).filter(([id]) => id.startsWith(prefix)).map(([, r]) => [r.DeletionPolicy, r.UpdateReplacePolicy]);
    expect(retained('AWS::SQS::Queue', 'DeadLetterQueuesPoisonRecordQueue')).toEqual([['Retain', 'Retain']]);
    expect(retained('AWS::DynamoDB::Table', 'Idempotency')).toEqual([['Retain', 'Retain']]);
    // The on-failure queue holds offsets only.
    expect(retained('AWS::SQS::Queue', 'DeadLetterQueuesOnFailureQueue')).toEqual([['Delete', 'Delete']]);
    t.hasResourceProperties('AWS::DynamoDB::Table', { PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } });
  });

  test('retainOnDelete=false and pointInTimeRecovery=false', () => {
    const t = get('s3 on-failure, no PITR, nothing retained').template;
    for (const type of ['AWS::SQS::Queue', 'AWS::DynamoDB::Table', 'AWS::S3::Bucket']) {
      for (const [, r] of resources(t, type)) expect(r.DeletionPolicy).toBe('Delete');
    }
    t.hasResourceProperties('AWS::DynamoDB::Table', { PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: false } });
  });
});

describe('7. on-failure destinations', () => {
  test('sqs (default): the on-failure queue, sqs:SendMessage', () => {
    const t = get('default').template;
    for (const [, m] of mappings(t)) {
      expect(JSON.stringify(m.Properties.DestinationConfig.OnFailure.Destination)).toContain('DeadLetterQueuesOnFailureQueue');
    }
  });

  test('s3: a private, encrypted, TLS-only bucket; exactly PutObject on its objects and ListBucket on it; no on-failure queue', () => {
    const t = get('s3 on-failure, no PITR, nothing retained').template;
    const [[bucketId, bucket]] = resources(t, 'AWS::S3::Bucket');
    expect(bucket.Properties).toMatchObject({
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
    });
    for (const [, m] of mappings(t)) expect(m.Properties.DestinationConfig.OnFailure.Destination).toEqual({ 'Fn::GetAtt': [bucketId, 'Arn'] });
    const s3 = statements(t).filter((st) => [st.Action].flat().some((a: string) => a.startsWith('s3:')));
    expect(s3.map((st) => [st.Action, JSON.stringify(st.Resource)])).toEqual([
      ['s3:PutObject', JSON.stringify({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/*']] })],
      ['s3:ListBucket', JSON.stringify({ 'Fn::GetAtt': [bucketId, 'Arn'] })],
    ]);
    expect(resources(t, 'AWS::SQS::Queue').map(([id]) => id)).toEqual([expect.stringMatching(/^DeadLetterQueuesPoisonRecordQueue/)]);
    expect(Object.keys(t.findOutputs('*'))).toEqual(expect.arrayContaining(['OnFailureBucketName']));
    expect(t.findOutputs('OnFailureQueueUrl')).toEqual({});
  });

  test('kafka://topic: the destination URI, and DescribeTopic + WriteData on exactly that topic', () => {
    const t = get('kafka on-failure').template;
    for (const [, m] of mappings(t)) expect(m.Properties.DestinationConfig.OnFailure.Destination).toBe('kafka://bridge-failed');
    expect(statements(t)).toContainEqual(
      expect.objectContaining({
        Sid: 'MskWriteOnFailureTopic',
        Action: ['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData'],
        Resource: 'arn:aws:kafka:us-east-1:123456789012:topic/demo/1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d-1/bridge-failed',
      }),
    );
    t.resourceCountIs('AWS::SQS::Queue', 1);
  });
});

describe('8. self-managed Kafka', () => {
  test('SASL/SCRAM-256, a private CA and the pollers in a VPC: bootstrap servers, no cluster ARN, no kafka actions', () => {
    const t = get('self-managed').template;
    expect(t.toJSON().Metadata).toBeUndefined();
    expect(get('self-managed').stack.region).toBe('eu-west-1');
    const ms = mappings(t);
    expect(ms).toHaveLength(2);
    for (const [, m] of ms) {
      expect(m.Properties.EventSourceArn).toBeUndefined();
      expect(m.Properties).toMatchObject({
        SelfManagedEventSource: { Endpoints: { KafkaBootstrapServers: ['b-1.kafka.internal:9096', 'b-2.kafka.internal:9096'] } },
        SourceAccessConfigurations: [
          { Type: 'SASL_SCRAM_256_AUTH', URI: KAFKA_SECRET },
          { Type: 'SERVER_ROOT_CA_CERTIFICATE', URI: CA_SECRET },
          { Type: 'VPC_SECURITY_GROUP', URI: 'sg-0123456789abcdef0' },
          { Type: 'VPC_SUBNET', URI: 'subnet-0123456789abcdef0' },
          { Type: 'VPC_SUBNET', URI: 'subnet-0fedcba9876543210' },
        ],
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        MetricsConfig: { Metrics: ['EventCount', 'ErrorCount', 'KafkaMetrics'] },
        Enabled: false,
      });
    }
    expect(ms.map(([, m]) => m.Properties.SelfManagedKafkaEventSourceConfig.ConsumerGroupId).sort()).toEqual([
      'KafkaA2ABridge-orders',
      'KafkaA2ABridge-payments.eu',
    ]);
    const sts = statements(t);
    expect(JSON.stringify(sts)).not.toMatch(/"kafka(-cluster)?:/);
    expect(sts).toContainEqual(expect.objectContaining({ Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'], Resource: KAFKA_SECRET }));
    expect(sts).toContainEqual(expect.objectContaining({ Sid: 'ReadKafkaRootCa', Action: 'secretsmanager:GetSecretValue', Resource: CA_SECRET }));
    expect(sts).toContainEqual(expect.objectContaining({ Sid: 'KafkaPollerNetworkInterfaces', Resource: '*' }));
    // The per-mapping alarms follow the self-managed mappings too.
    const uuids = alarmsNamed(t, '-Dropped').map((a) => a.Dimensions[0].Value.Ref).sort();
    expect(uuids).toEqual(ms.map(([id]) => id).sort());
  });

  test('mTLS with brokers on the internet: the client certificate, no VPC, no network-interface actions', () => {
    const t = get('self-managed mTLS on the internet').template;
    for (const [, m] of mappings(t)) {
      expect(m.Properties.SourceAccessConfigurations).toEqual([{ Type: 'CLIENT_CERTIFICATE_TLS_AUTH', URI: KAFKA_SECRET }]);
    }
    expect(JSON.stringify(statements(t))).not.toContain('ec2:');
  });

  test.each([
    [{ ...SELF_MANAGED, mskClusterArn: CLUSTER_ARN }, /"mskClusterArn" and "bootstrapServers" exclude each other/],
    [{ ...SELF_MANAGED, region: undefined }, /"region": is required with "bootstrapServers"/],
    [{ ...base, kafkaSecretArn: KAFKA_SECRET.replace('eu-west-1', 'us-east-1'), kafkaAuthentication: 'mtls' }, /mtls is offered for self-managed Kafka only/],
    [{ ...SELF_MANAGED, bootstrapServers: 'broker-without-port' }, /"bootstrapServers": each must be host:port/],
    [{ ...base, mskClusterArn: undefined }, /"mskClusterArn": is required/],
  ])('refused at synth: %#', (context, message) => {
    expect(() => build(context)).toThrow(message);
  });
});
