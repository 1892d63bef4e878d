// Every optional knob set at once: SASL/SCRAM instead of IAM, a VPC, an imported token secret,
// an alarm email, explicit consumer groups and the tuning knobs, all given as `-c` strings.
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { dashboardBody, EU_CLUSTER_ARN, logicalId, ROUTES, synth, type Synthesized } from './helpers';

const SCRAM_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_bridge-AbCdEf';
const SCRAM_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d';
const TOKEN_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:archestra-token'; // partial: no suffix

let s: Synthesized;
let t: Template;
let statements: Array<Record<string, any>>;

beforeAll(() => {
  s = synth({
    stackName: 'BridgeProd',
    mskClusterArn: EU_CLUSTER_ARN,
    topics: 'orders,payments.eu',
    consumerGroupId: '{"orders":"legacy-orders-consumer"}',
    startingPosition: 'trim_horizon',
    batchSize: '500',
    maxBatchingWindowSeconds: '5',
    retryAttempts: '3',
    maxRecordAgeSeconds: '3600',
    bisectBatchOnError: 'false',
    provisionedPollers: '2,8',
    kafkaSecretArn: SCRAM_SECRET,
    kafkaSecretKmsKeyArn: SCRAM_KEY,
    routesFile: ROUTES,
    archestraUrl: 'http://archestra.internal:9000',
    allowInsecureHttp: 'true',
    archestraTokenSecretArn: TOKEN_SECRET,
    vpcId: 'vpc-0123456789abcdef0',
    subnetIds: 'subnet-0123456789abcdef0,subnet-0fedcba9876543210',
    ordering: 'partition',
    maxConcurrency: '25',
    maxRetries: '5',
    retryDelay: '0.5',
    requestTimeout: '90',
    logReplyChars: '100',
    maxTextBytes: '65536',
    timeoutSeconds: '600',
    memorySize: '1024',
    reservedConcurrency: '20',
    logRetentionDays: '90',
    logLevel: 'debug',
    serviceName: 'orders-bridge',
    metricsNamespace: 'Acme/Bridge',
    alarmEmail: 'oncall@example.com',
    offsetLagThreshold: '5000',
  });
  t = s.template;
  statements = Object.values(t.findResources('AWS::IAM::Policy'))[0].Properties.PolicyDocument.Statement;
});

test('deploys to the cluster region under the given stack name', () => {
  expect(s.stack.stackName).toBe('BridgeProd');
  expect(s.stack.region).toBe('eu-west-1');
  t.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'BridgeProd-eu-west-1' });
});

test('mappings: SASL/SCRAM, explicit and prefixed consumer groups, the tuning knobs', () => {
  const groups = { orders: 'legacy-orders-consumer', 'payments.eu': 'BridgeProd-payments.eu' };
  for (const [topic, group] of Object.entries(groups)) {
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      Topics: [topic],
      AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: group },
      SourceAccessConfigurations: [{ Type: 'SASL_SCRAM_512_AUTH', URI: SCRAM_SECRET }],
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 500,
      MaximumBatchingWindowInSeconds: 5,
      MaximumRetryAttempts: 3,
      MaximumRecordAgeInSeconds: 3600,
      BisectBatchOnFunctionError: false,
      ProvisionedPollerConfig: { MinimumPollers: 2, MaximumPollers: 8 },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  }
});

test('SCRAM: the role reads the Kafka secret and decrypts it only through Secrets Manager; no kafka-cluster actions', () => {
  expect(statements).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'], Resource: SCRAM_SECRET }),
      expect.objectContaining({
        Action: 'kms:Decrypt',
        Resource: SCRAM_KEY,
        Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com' } },
      }),
    ]),
  );
  expect(JSON.stringify(statements)).not.toContain('kafka-cluster:');
});

test('imported token secret (partial ARN): GetSecretValue with the suffix wildcard, no secret created', () => {
  t.resourceCountIs('AWS::SecretsManager::Secret', 0);
  expect(statements).toContainEqual(
    expect.objectContaining({ Action: 'secretsmanager:GetSecretValue', Resource: `${TOKEN_SECRET}-??????` }),
  );
  expect(t.findOutputs('SetArchestraTokenCommand')).toEqual({});
  expect(t.findOutputs('ArchestraTokenSecretArn').ArchestraTokenSecretArn.Value).toBe(TOKEN_SECRET);
});

test('VPC: the function in the given subnets with a new egress-only security group and ENI permissions', () => {
  const sg = logicalId(t, 'AWS::EC2::SecurityGroup', 'BridgeSecurityGroup');
  t.hasResourceProperties('AWS::Lambda::Function', {
    VpcConfig: {
      SubnetIds: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'],
      SecurityGroupIds: [{ 'Fn::GetAtt': [sg, 'GroupId'] }],
    },
  });
  const group = t.findResources('AWS::EC2::SecurityGroup')[sg].Properties;
  expect(group.VpcId).toBe('vpc-0123456789abcdef0');
  expect(group.SecurityGroupIngress).toBeUndefined();
  expect(statements).toContainEqual(
    expect.objectContaining({ Sid: 'VpcNetworkInterfaces', Resource: '*', Action: expect.arrayContaining(['ec2:CreateNetworkInterface']) }),
  );
  // The only "*" resources are the ENI statements (function and Kafka pollers), whose actions cannot be scoped.
  expect(statements.filter((st) => st.Resource === '*').map((st) => st.Sid).sort()).toEqual(['KafkaPollerNetworkInterfaces', 'VpcNetworkInterfaces']);
});

test('function settings and environment from the knobs', () => {
  t.hasResourceProperties('AWS::Lambda::Function', {
    Timeout: 600,
    MemorySize: 1024,
    ReservedConcurrentExecutions: 20,
    Environment: {
      Variables: Match.objectEquals({
        ARCHESTRA_URL: 'http://archestra.internal:9000',
        ALLOW_INSECURE_HTTP: 'true',
        ARCHESTRA_TOKEN_SECRET_ARN: TOKEN_SECRET,
        DLQ_URL: Match.anyValue(),
        IDEMPOTENCY_TABLE: Match.anyValue(),
        IDEMPOTENCY_TTL_SECONDS: '86400',
        ROUTES_CONFIG_FILE: '/var/task/routes.json',
        ORDERING: 'partition',
        MAX_CONCURRENCY: '25',
        MAX_RETRIES: '5',
        RETRY_DELAY: '0.5',
        REQUEST_TIMEOUT: '90',
        LOG_REPLY_CHARS: '100',
        MAX_TEXT_BYTES: '65536',
        POWERTOOLS_SERVICE_NAME: 'orders-bridge',
        POWERTOOLS_METRICS_NAMESPACE: 'Acme/Bridge',
        POWERTOOLS_LOG_LEVEL: 'DEBUG',
        NODE_OPTIONS: '--enable-source-maps',
      }),
    },
  });
  t.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
});

test('alarm email subscription and the OffsetLag threshold', () => {
  t.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com' });
  t.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'BridgeProd-OffsetLag', Threshold: 5000 });
});

test('the dashboard reads the configured namespace and service', () => {
  const lines = dashboardBody(t).widgets.find((w) => w.properties.title === 'Records (all routes)')!.properties.metrics as any[][];
  expect(lines[0].slice(0, 4)).toEqual(['Acme/Bridge', 'RecordsReceived', 'service', 'orders-bridge']);
});

test('cdk-nag acknowledgements carry over to the VPC statement; no finding is left', () => {
  // Template.fromStack already failed if any finding were unacknowledged; the VPC ack is specific.
  const acks = s.app.node
    .findAll()
    .flatMap((c) => c.node.metadata.filter((m) => m.type === 'aws:cdk:acknowledged-rules'))
    .flatMap((m) => Object.keys(m.data as object));
  expect(acks).toContain('AwsSolutions::AwsSolutions-IAM5[Resource::*]');
  expect(acks).not.toContain('AwsSolutions::AwsSolutions-SMG4'); // no secret created
  const warnings = s.app.node.findAll().flatMap((c) => c.node.metadata.filter((m) => m.type === 'aws:cdk:warning'));
  expect(warnings.map((m) => m.data)).toEqual([]);
});
