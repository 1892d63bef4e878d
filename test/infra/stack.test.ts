// The default deployment (IAM auth to MSK, a new token secret, no VPC), synthesized once and
// asserted resource by resource.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { TOKEN_PLACEHOLDER } from '../../infra/constructs/archestra-token';
import { POLLER_NETWORK_ACTIONS } from '../../infra/constructs/kafka-triggers';
import { LATENCY_STATS, MAPPING_LAG_METRICS, ROUTE_METRICS, TOTAL_METRICS } from '../../infra/constructs/observability';
import { CLUSTER_ARN, dashboardBody, logicalId, ROUTES, synth, type Synthesized } from './helpers';

const TOPICS = ['orders', 'payments.eu', 'audit']; // "audit" matches no route in the fixture
const CLUSTER = 'demo/1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d-1';

let s: Synthesized;
let t: Template;
let ids: { fn: string; role: string; poison: string; onFailure: string; secret: string; logs: string; topic: string };
let printed: string;

beforeAll(() => {
  // Synth prints its warnings on stderr; keep them to assert on instead of cluttering the test output.
  const stderr = jest.spyOn(console, 'error').mockImplementation(() => undefined);
  s = synth({
    mskClusterArn: CLUSTER_ARN,
    topics: TOPICS.join(','),
    routesFile: ROUTES,
    archestraUrl: 'https://archestra.example.com',
  });
  printed = stderr.mock.calls.flat().join('\n');
  stderr.mockRestore();
  t = s.template;
  ids = {
    fn: logicalId(t, 'AWS::Lambda::Function', 'BridgeHandler'),
    role: logicalId(t, 'AWS::IAM::Role', 'BridgeRole'),
    poison: logicalId(t, 'AWS::SQS::Queue', 'DeadLetterQueuesPoisonRecordQueue'),
    onFailure: logicalId(t, 'AWS::SQS::Queue', 'DeadLetterQueuesOnFailureQueue'),
    secret: logicalId(t, 'AWS::SecretsManager::Secret', 'ArchestraToken'),
    logs: logicalId(t, 'AWS::Logs::LogGroup', 'BridgeLogs'),
    topic: logicalId(t, 'AWS::SNS::Topic', 'ObservabilityAlarmTopic'),
  };
});

describe('event source mappings', () => {
  test('one mapping per topic, each subscribing to exactly that topic on the cluster', () => {
    t.resourceCountIs('AWS::Lambda::EventSourceMapping', TOPICS.length);
    for (const topic of TOPICS) {
      t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: CLUSTER_ARN,
        Topics: [topic],
        FunctionName: { Ref: ids.fn },
        AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: `KafkaA2ABridge-${topic}` },
      });
    }
  });

  test('partial batch responses, retries, bisection, on-failure queue, metrics and provisioned pollers', () => {
    const mappings = Object.values(t.findResources('AWS::Lambda::EventSourceMapping'));
    for (const m of mappings) {
      expect(m.Properties).toMatchObject({
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        MaximumRetryAttempts: 10,
        BisectBatchOnFunctionError: true,
        BatchSize: 100,
        StartingPosition: 'LATEST',
        DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [ids.onFailure, 'Arn'] } } },
        MetricsConfig: { Metrics: ['EventCount', 'ErrorCount', 'KafkaMetrics'] },
        // All of the stack's mappings in one poller group: they share event poller capacity.
        ProvisionedPollerConfig: { MinimumPollers: 1, PollerGroupName: 'KafkaA2ABridge-pollers' },
        // The token secret was created here and holds a placeholder: nothing is consumed until enabled=true.
        Enabled: false,
      });
      // IAM authentication: no SASL/SCRAM secret; unset knobs keep Lambda's defaults.
      expect(m.Properties.SourceAccessConfigurations).toBeUndefined();
      expect(m.Properties.MaximumRecordAgeInSeconds).toBeUndefined();
      expect(m.Properties.MaximumBatchingWindowInSeconds).toBeUndefined();
    }
  });
});

describe('function', () => {
  test('Node.js 22 on ARM64, timeout, memory, its own log group with retention', () => {
    t.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Timeout: 300,
      MemorySize: 512,
      Role: { 'Fn::GetAtt': [ids.role, 'Arn'] },
      LoggingConfig: { LogGroup: { Ref: ids.logs } },
    });
    t.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    expect(t.findResources('AWS::Lambda::Function')[ids.fn].Properties.ReservedConcurrentExecutions).toBeUndefined();
  });

  test('environment wired from the context', () => {
    const env = t.findResources('AWS::Lambda::Function')[ids.fn].Properties.Environment.Variables;
    expect(env).toEqual({
      ARCHESTRA_URL: 'https://archestra.example.com',
      ARCHESTRA_TOKEN_SECRET_ARN: { Ref: ids.secret },
      DLQ_URL: { Ref: ids.poison },
      IDEMPOTENCY_TABLE: { Ref: logicalId(t, 'AWS::DynamoDB::Table', 'IdempotencyTable') },
      IDEMPOTENCY_TTL_SECONDS: '86400',
      ROUTES_CONFIG_FILE: '/var/task/routes.json',
      ORDERING: 'key',
      MAX_CONCURRENCY: '10',
      POWERTOOLS_SERVICE_NAME: 'kafka-a2a-bridge',
      POWERTOOLS_METRICS_NAMESPACE: 'KafkaA2ABridge',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      NODE_OPTIONS: '--enable-source-maps',
    });
  });

  test('the deployment package holds the bundle, its source map, the routes file and the AWS SDK clients built apart', () => {
    const key: string = t.findResources('AWS::Lambda::Function')[ids.fn].Properties.Code.S3Key;
    const assetDir = path.join(s.app.outdir, `asset.${key.replace(/\.zip$/, '')}`);
    expect(fs.readdirSync(assetDir).sort()).toEqual(['index.js', 'index.js.map', 'node_modules', 'routes.json']);
    expect(fs.readdirSync(path.join(assetDir, 'node_modules'))).toEqual(['@aws-sdk']);
    for (const client of ['client-eventbridge', 'client-secrets-manager', 'client-sns', 'client-sqs']) {
      expect(fs.statSync(path.join(assetDir, 'node_modules', '@aws-sdk', client, 'index.js')).size).toBeGreaterThan(0);
    }
    expect(fs.readFileSync(path.join(assetDir, 'routes.json'), 'utf8')).toBe(fs.readFileSync(ROUTES, 'utf8'));
  });
});

describe('queues', () => {
  test('both queues: SSE, 14-day retention, TLS enforced', () => {
    for (const id of [ids.poison, ids.onFailure]) {
      expect(t.findResources('AWS::SQS::Queue')[id].Properties).toMatchObject({
        SqsManagedSseEnabled: true,
        MessageRetentionPeriod: 14 * 24 * 3600,
      });
      t.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: id }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
    }
  });
});

describe('IAM (least privilege)', () => {
  const statements = () => {
    const policies = Object.values(t.findResources('AWS::IAM::Policy'));
    expect(policies).toHaveLength(1);
    return policies[0].Properties.PolicyDocument.Statement as Array<Record<string, any>>;
  };
  const actionsOn = (resource: unknown) =>
    statements()
      .filter((st) => JSON.stringify(st.Resource).includes(JSON.stringify(resource)))
      .flatMap((st) => [st.Action].flat());

  test('the function may only SendMessage to its queues', () => {
    expect(actionsOn({ 'Fn::GetAtt': [ids.poison, 'Arn'] })).toEqual(['sqs:SendMessage']);
    expect(actionsOn({ 'Fn::GetAtt': [ids.onFailure, 'Arn'] })).toEqual(['sqs:SendMessage']);
  });

  test('GetSecretValue on the token secret only', () => {
    expect(actionsOn({ Ref: ids.secret })).toEqual(['secretsmanager:GetSecretValue']);
    const secretStatements = statements().filter((st) => [st.Action].flat().some((a: string) => a.startsWith('secretsmanager:')));
    expect(secretStatements).toHaveLength(1);
  });

  test('kafka-cluster actions on the cluster, topic and group ARNs', () => {
    const base = 'arn:aws:kafka:us-east-1:123456789012';
    expect(statements()).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Action: ['kafka-cluster:Connect', 'kafka-cluster:DescribeClusterDynamicConfiguration'],
          Resource: `${base}:cluster/${CLUSTER}`,
        }),
        expect.objectContaining({
          Action: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'],
          Resource: expect.arrayContaining(TOPICS.map((topic) => `${base}:topic/${CLUSTER}/${topic}`)),
        }),
        expect.objectContaining({
          Action: ['kafka-cluster:AlterGroup', 'kafka-cluster:DescribeGroup'],
          Resource: expect.arrayContaining(TOPICS.map((topic) => `${base}:group/${CLUSTER}/KafkaA2ABridge-${topic}`)),
        }),
      ]),
    );
  });

  test('logs to its own log group only; "*" only for the poller network interfaces', () => {
    expect(actionsOn({ 'Fn::GetAtt': [ids.logs, 'Arn'] })).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
    for (const st of statements()) expect(JSON.stringify(st.Action)).not.toContain('*');
    const wildcard = statements().filter((st) => JSON.stringify(st.Resource).includes('*'));
    expect(wildcard).toEqual([{ Sid: 'KafkaPollerNetworkInterfaces', Effect: 'Allow', Resource: '*', Action: [...POLLER_NETWORK_ACTIONS].sort() }]);
  });

  test('the MSK poller: DescribeClusterV2 and GetBootstrapBrokers on the cluster ARN, nothing else of kafka:*', () => {
    const kafka = statements().filter((st) => [st.Action].flat().some((a: string) => a.startsWith('kafka:')));
    expect(kafka).toEqual([
      { Sid: 'MskBootstrap', Effect: 'Allow', Action: ['kafka:DescribeClusterV2', 'kafka:GetBootstrapBrokers'], Resource: CLUSTER_ARN },
    ]);
  });

  test('no managed policy on the role (AWSLambdaMSKExecutionRole grants logs, kafka and ec2 actions on "*")', () => {
    const role = t.findResources('AWS::IAM::Role')[ids.role];
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    t.resourceCountIs('AWS::IAM::ManagedPolicy', 0);
  });
});

describe('token secret', () => {
  test('created with a placeholder value, and an output that says how to set it', () => {
    t.hasResourceProperties('AWS::SecretsManager::Secret', { SecretString: TOKEN_PLACEHOLDER });
    const out = t.findOutputs('SetArchestraTokenCommand').SetArchestraTokenCommand;
    expect(JSON.stringify(out.Value)).toContain('aws secretsmanager put-secret-value --region us-east-1 --secret-id ');
  });
});

describe('alarms', () => {
  const alarm = (name: string) => {
    const found = Object.values(t.findResources('AWS::CloudWatch::Alarm')).filter(
      (a) => a.Properties.AlarmName === `KafkaA2ABridge-${name}`,
    );
    expect(found).toHaveLength(1);
    return found[0].Properties;
  };

  test('five stack alarms and four per mapping, each notifying the SNS topic on alarm and on recovery', () => {
    t.resourceCountIs('AWS::CloudWatch::Alarm', 5 + 4 * TOPICS.length);
    for (const a of Object.values(t.findResources('AWS::CloudWatch::Alarm'))) {
      expect(a.Properties.AlarmActions).toEqual([{ Ref: ids.topic }]);
      expect(a.Properties.OKActions).toEqual([{ Ref: ids.topic }]);
      // Only the stall alarms count missing data as bad: a dead mapping emits nothing at all.
      expect(a.Properties.TreatMissingData).toBe(a.Properties.AlarmName.endsWith('-Stalled') ? 'breaching' : 'notBreaching');
    }
    // No email without alarmEmail; the topic refuses plain-HTTP publishers.
    t.resourceCountIs('AWS::SNS::Subscription', 0);
    t.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: [Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })] },
    });
  });

  test('both queues not empty', () => {
    for (const [name, queue] of [
      ['PoisonQueueNotEmpty', ids.poison],
      ['OnFailureQueueNotEmpty', ids.onFailure],
    ]) {
      expect(alarm(name)).toMatchObject({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queue, 'QueueName'] } }],
        Statistic: 'Maximum',
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Threshold: 1,
      });
    }
  });

  test('function errors and throttles', () => {
    for (const [name, metric] of [
      ['FunctionErrors', 'Errors'],
      ['Throttles', 'Throttles'],
    ]) {
      expect(alarm(name)).toMatchObject({
        Namespace: 'AWS/Lambda',
        MetricName: metric,
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: ids.fn } }],
        Statistic: 'Sum',
        Threshold: 1,
      });
    }
  });

  test('OffsetLag above the threshold for 15 minutes', () => {
    expect(alarm('OffsetLag')).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'OffsetLag',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: ids.fn } }],
      Statistic: 'Maximum',
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 1000,
      Period: 300,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
    });
  });
});

describe('dashboard', () => {
  type Widget = { type: string; properties: Record<string, any> };
  let widgets: Widget[];
  beforeAll(() => {
    widgets = dashboardBody(t).widgets;
  });
  const graph = (title: string) => {
    const w = widgets.find((x) => x.properties.title === title);
    if (!w) throw new Error(`no widget "${title}" in ${widgets.map((x) => x.properties.title).join(' | ')}`);
    return w.properties.metrics as any[][];
  };
  // A metric line is [namespace, name, dim, value, ..., {options}]; an expression line is [{expression, ...}].
  const names = (lines: any[][]) => lines.map((l) => (typeof l[0] === 'string' ? l[1] : l[0].expression));
  const parse = (l: any[]) => {
    const opts = typeof l[l.length - 1] === 'object' ? l[l.length - 1] : {};
    const flat = typeof l[l.length - 1] === 'object' ? l.slice(2, -1) : l.slice(2);
    const dims: Record<string, string> = {};
    for (let i = 0; i < flat.length; i += 2) dims[flat[i]] = flat[i + 1];
    return { namespace: l[0], name: l[1], dims, stat: opts.stat, label: opts.label };
  };

  test('is named after the stack and region', () => {
    t.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'KafkaA2ABridge-us-east-1' });
  });

  test('records received / delivered / dead-lettered / unrouted / failed (all routes)', () => {
    const lines = graph('Records (all routes)');
    expect(names(lines)).toEqual([...TOTAL_METRICS]);
    for (const l of lines) expect(l.slice(0, 4)).toEqual(['KafkaA2ABridge', l[1], 'service', 'kafka-a2a-bridge']);
  });

  test('per route: one line per route of the routes file', () => {
    for (const metric of ROUTE_METRICS) {
      expect(graph(`${metric} per route`).map(parse)).toEqual(
        ['orders', 'payments'].map((route) => ({
          namespace: 'KafkaA2ABridge',
          name: metric,
          dims: { service: 'kafka-a2a-bridge', route },
          stat: 'Sum',
          label: route,
        })),
      );
    }
  });

  test('A2A latency p50, p90, p99 per route', () => {
    for (const stat of LATENCY_STATS) {
      expect(graph(`A2A latency ${stat} per route (ms)`).map(parse)).toEqual(
        ['orders', 'payments'].map((route) => ({
          namespace: 'KafkaA2ABridge',
          name: 'A2ALatency',
          dims: { service: 'kafka-a2a-bridge', route },
          stat,
          label: route,
        })),
      );
    }
  });

  test('Lambda invocations, errors, throttles, duration, concurrent executions', () => {
    expect(names(graph('Lambda invocations, errors, throttles'))).toEqual(['Invocations', 'Errors', 'Throttles']);
    expect(graph('Lambda duration (ms)').map((l) => [l[1], l[4].stat])).toEqual([
      ['Duration', 'p50'],
      ['Duration', 'p99'],
      ['Duration', 'Maximum'],
    ]);
    expect(names(graph('Lambda concurrent executions'))).toEqual(['ConcurrentExecutions']);
    for (const title of ['Lambda invocations, errors, throttles', 'Lambda duration (ms)', 'Lambda concurrent executions']) {
      for (const l of graph(title)) expect(l.slice(0, 4)).toEqual(['AWS/Lambda', l[1], 'FunctionName', `<<${ids.fn}>>`]);
    }
  });

  test('OffsetLag of the function, and MaxOffsetLag / SumOffsetLag per mapping (EventSourceMappingUUID)', () => {
    expect(graph('OffsetLag, all topics (records)').map((l) => l.slice(0, 4))).toEqual([['AWS/Lambda', 'OffsetLag', 'FunctionName', `<<${ids.fn}>>`]]);
    const mappingIds = Object.keys(t.findResources('AWS::Lambda::EventSourceMapping'));
    for (const name of MAPPING_LAG_METRICS) {
      const lines = graph(`${name} per mapping (records)`).map(parse);
      expect(lines.map((l) => [l.namespace, l.name, l.stat, l.label])).toEqual(TOPICS.map((topic) => ['AWS/Lambda', name, 'Maximum', topic]));
      // Each line is one mapping's UUID, and each mapping has its line.
      expect(lines.map((l) => l.dims.EventSourceMappingUUID).sort()).toEqual(mappingIds.map((m) => `<<${m}>>`).sort());
    }
  });

  test('queue depth and age of oldest message for both queues', () => {
    for (const [title, metric] of [
      ['Queue depth (messages visible)', 'ApproximateNumberOfMessagesVisible'],
      ['Age of oldest message (s)', 'ApproximateAgeOfOldestMessage'],
    ]) {
      expect(graph(title).map((l) => l.slice(0, 4))).toEqual([
        ['AWS/SQS', metric, 'QueueName', `<<${ids.poison}.QueueName>>`],
        ['AWS/SQS', metric, 'QueueName', `<<${ids.onFailure}.QueueName>>`],
      ]);
    }
  });

  test('an alarm status widget lists every alarm', () => {
    const w = widgets.find((x) => x.type === 'alarm');
    expect(w?.properties.alarms).toHaveLength(5 + 4 * TOPICS.length);
  });
});

describe('outputs', () => {
  test('function name, both queue URLs, the secret ARN, the dashboard URL', () => {
    const outputs = t.findOutputs('*');
    expect(outputs.FunctionName.Value).toEqual({ Ref: ids.fn });
    expect(outputs.PoisonRecordQueueUrl.Value).toEqual({ Ref: ids.poison });
    expect(outputs.OnFailureQueueUrl.Value).toEqual({ Ref: ids.onFailure });
    expect(outputs.ArchestraTokenSecretArn.Value).toEqual({ Ref: ids.secret });
    expect(JSON.stringify(outputs.DashboardUrl.Value)).toContain(
      'https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards/dashboard/',
    );
    expect(outputs.AlarmTopicArn.Value).toEqual({ Ref: ids.topic });
  });
});

describe('synth checks', () => {
  test('a subscribed topic that no route matches is a synth warning', () => {
    const warnings = s.stack.node.metadata.filter((m) => m.type === 'aws:cdk:warning').map((m) => String(m.data));
    expect(warnings.filter((w) => w.startsWith('Topic "'))).toEqual([
      expect.stringContaining('Topic "audit" is subscribed but no route\'s topic_pattern matches it: its records will all be unrouted.'),
    ]);
    expect(printed).toContain('WARNING Topic "audit" is subscribed');
  });

  test('deploys to the cluster region', () => {
    expect(s.stack.region).toBe('us-east-1');
  });

  test('cdk-nag AwsSolutions ran at synth: no unacknowledged finding, each acknowledgement with its reason', () => {
    const report = JSON.parse(fs.readFileSync(path.join(s.app.synth().directory, 'validation-report.json'), 'utf8'));
    const nag = report.pluginReports.find((r: { pluginName: string }) => r.pluginName === 'AwsSolutions');
    expect(nag.conclusion).toBe('success');
    expect(nag.violations).toEqual([]);
    const acknowledged = nag.suppressedViolations.map((v: { ruleName: string; reason: string; violatingConstructs: { constructPath: string }[] }) => {
      expect(v.reason.length).toBeGreaterThan(80);
      return `${v.ruleName} @ ${v.violatingConstructs.map((c) => c.constructPath).join(',')}`;
    });
    expect(acknowledged.sort()).toEqual([
      'AwsSolutions-IAM5[Resource::*] @ KafkaA2ABridge/Bridge/Role/DefaultPolicy/Resource',
      'AwsSolutions-L1 @ KafkaA2ABridge/Bridge/Handler/Resource',
      'AwsSolutions-SMG4 @ KafkaA2ABridge/ArchestraToken/Secret/Resource',
      'AwsSolutions-SQS3 @ KafkaA2ABridge/DeadLetterQueues/OnFailureQueue/Resource',
      'AwsSolutions-SQS3 @ KafkaA2ABridge/DeadLetterQueues/PoisonRecordQueue/Resource',
    ]);
  });
});
