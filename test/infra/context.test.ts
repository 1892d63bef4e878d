// The context knobs: coercion of `-c` strings, defaults, and a clear message for each mistake.
// The synth failure cases (invalid routes file, missing cluster ARN, no topics) go through the
// real app and fail before anything is bundled.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { RouteConfigError } from '../../lambda/config/routes';
import { SettingsError } from '../../lambda/config/settings';
import { CONTEXT_KEYS, ContextError, DEFAULTS, readConfig, unknownContextKeys } from '../../infra/context';
import { build, CLUSTER_ARN, FIXTURES, ROOT, ROUTES } from './helpers';

const base = { mskClusterArn: CLUSTER_ARN, topics: 'orders', routesFile: ROUTES };
const read = (ctx: Record<string, unknown>) => readConfig((k) => ctx[k]);
const problem = (ctx: Record<string, unknown>): string => {
  try {
    read(ctx);
  } catch (e) {
    expect(e).toBeInstanceOf(ContextError);
    return (e as Error).message;
  }
  throw new Error('expected a ContextError');
};

describe('synth failures (through the app)', () => {
  test('an invalid routes file names the route and the field', () => {
    const run = () => build({ ...base, routesFile: path.join(FIXTURES, 'routes-invalid.json') });
    expect(run).toThrow(RouteConfigError);
    expect(run).toThrow(/route 0 \("orders"\): field "prompt_id": is required/);
    expect(run).toThrow(/route 1 \("refunds"\): field "topic_pattern": is not a valid regex/);
  });

  test('a routes file that is not JSON', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'routes-'));
    const file = path.join(dir, 'routes.json');
    fs.writeFileSync(file, '[{"name": "orders",');
    expect(() => build({ ...base, routesFile: file })).toThrow(/routes\.json: not valid JSON/);
  });

  test('a missing mskClusterArn', () => {
    const { mskClusterArn: _omit, ...rest } = base;
    expect(() => build(rest)).toThrow(ContextError);
    expect(() => build(rest)).toThrow(/"mskClusterArn": is required: the ARN of the MSK cluster.*Example: -c mskClusterArn=arn:aws:kafka:/);
  });

  test('an empty topic list', () => {
    expect(() => build({ ...base, topics: '' })).toThrow(/"topics": must name at least one topic/);
    expect(() => build({ ...base, topics: ' , ' })).toThrow(/"topics": must name at least one topic/);
    expect(() => build({ ...base, topics: [] })).toThrow(/"topics": must name at least one topic/);
    const { topics: _omit, ...rest } = base;
    expect(() => build(rest)).toThrow(/"topics": is required/);
  });

  test('a missing routes file', () => {
    expect(() => build({ ...base, routesFile: 'no/such/routes.json' })).toThrow(/"routesFile": .*no\/such\/routes\.json does not exist/);
  });

  test('what the handler would reject at cold start fails synth with its message', () => {
    // The fixture's routes have no url of their own, so the handler needs ARCHESTRA_URL.
    expect(() => build(base)).toThrow(SettingsError);
    expect(() => build(base)).toThrow(/ARCHESTRA_URL: required by route\(s\) without their own url: orders, payments/);
    expect(() => build({ ...base, archestraUrl: 'http://archestra.example.com' })).toThrow(/plain http:\/\/ to a non-loopback host/);
  });

  test('an Archestra route whose prompt_id is not a UUID fails synth (Archestra would answer HTTP 400 to every record)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'routes-'));
    const file = path.join(dir, 'routes.json');
    fs.writeFileSync(file, JSON.stringify([{ name: 'triage', topic_pattern: 'orders', prompt_id: 'order-triage' }]));
    expect(() => build({ ...base, routesFile: file, archestraUrl: 'https://archestra.example.com' })).toThrow(/route "triage": prompt_id "order-triage" is not a UUID/);
  });

  test('all problems at once, one per line', () => {
    const message = problem({ topics: 'bad topic!', batchSize: '0', ordering: 'random', routesFile: ROUTES });
    expect(message.split('\n').filter((l) => l.startsWith('  - '))).toHaveLength(4);
    expect(message).toMatch(/"mskClusterArn": is required/);
    expect(message).toMatch(/"batchSize": must be between 1 and 10000 \(got "0"\)/);
    expect(message).toMatch(/"ordering": must be partition, key or none/);
    expect(message).toMatch(/"topics": each topic must be a Kafka topic name/);
  });
});

describe('coercion and defaults', () => {
  test('defaults', () => {
    const c = read(base);
    expect(c).toMatchObject({
      stackName: DEFAULTS.stackName,
      topics: ['orders'],
      consumerGroupIds: { orders: 'KafkaA2ABridge-orders' },
      startingPosition: 'LATEST',
      batchSize: 100,
      retryAttempts: 10,
      bisectBatchOnError: true,
      provisionedPollers: { min: 1 },
      kafkaAuth: { kind: 'iam' },
      ordering: 'key',
      maxConcurrency: 10,
      timeoutSeconds: 300,
      memorySize: 512,
      logRetentionDays: 30,
      logLevel: 'INFO',
      serviceName: 'kafka-a2a-bridge',
      metricsNamespace: 'KafkaA2ABridge',
      offsetLagThreshold: 1000,
      allowInsecureHttp: false,
      cluster: { region: 'us-east-1', account: '123456789012', name: 'demo', partition: 'aws' },
    });
    expect(c.maxBatchingWindowSeconds).toBeUndefined();
    expect(c.maxRecordAgeSeconds).toBeUndefined();
    expect(c.vpc).toBeUndefined();
    expect(c.alarmEmail).toBeUndefined();
  });

  test('routesFile defaults to routes.json in the working directory', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cwd-'));
    fs.copyFileSync(ROUTES, path.join(dir, 'routes.json'));
    const { routesFile: _omit, ...rest } = base;
    expect(readConfig((k) => (rest as Record<string, unknown>)[k], dir).routesFile).toBe(path.join(dir, 'routes.json'));
  });

  test('lists as comma-separated strings, JSON arrays or cdk.json arrays', () => {
    for (const topics of ['a, b.c ,d', '["a","b.c","d"]', ['a', 'b.c', 'd']]) {
      expect(read({ ...base, topics }).topics).toEqual(['a', 'b.c', 'd']);
    }
    expect(read({ ...base, provisionedPollers: '2' }).provisionedPollers).toEqual({ min: 2, max: undefined });
    expect(read({ ...base, provisionedPollers: [3, 9] }).provisionedPollers).toEqual({ min: 3, max: 9 });
  });

  test('numbers and booleans from strings or JSON', () => {
    expect(read({ ...base, batchSize: '250', bisectBatchOnError: 'false' })).toMatchObject({ batchSize: 250, bisectBatchOnError: false });
    expect(read({ ...base, batchSize: 250, bisectBatchOnError: false })).toMatchObject({ batchSize: 250, bisectBatchOnError: false });
  });

  test('consumer groups: a prefix, or a JSON map for existing groups', () => {
    const topics = 'orders,payments';
    expect(read({ ...base, topics, consumerGroupId: 'bridge' }).consumerGroupIds).toEqual({
      orders: 'bridge-orders',
      payments: 'bridge-payments',
    });
    expect(read({ ...base, topics, consumerGroupId: '{"payments":"legacy"}' }).consumerGroupIds).toEqual({
      orders: 'KafkaA2ABridge-orders',
      payments: 'legacy',
    });
    expect(problem({ ...base, topics, consumerGroupId: '{"refunds":"x"}' })).toMatch(/names topic "refunds", which is not in "topics"/);
    expect(problem({ ...base, topics, consumerGroupId: '{"orders":"g","payments":"g"}' })).toMatch(/two topics share a consumer group/);
  });

  test('SASL/SCRAM when kafkaSecretArn is given', () => {
    const secret = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:AmazonMSK_x-AbCdEf';
    expect(read({ ...base, kafkaSecretArn: secret }).kafkaAuth).toEqual({ kind: 'scram', secretArn: secret, mechanism: 'SASL_SCRAM_512' });
    expect(problem({ ...base, kafkaSecretArn: secret.replace('-AbCdEf', '') })).toMatch(/must be the complete secret ARN/);
    expect(problem({ ...base, kafkaSecretArn: secret.replace('us-east-1', 'eu-west-1').replace('us-east-1', 'eu-west-1') })).toMatch(
      /"kafkaSecretArn" is in eu-west-1 but the MSK cluster is in us-east-1/,
    );
  });

  test('knob rules that span several knobs', () => {
    expect(problem({ ...base, vpcId: 'vpc-0a1b2c3d' })).toMatch(/"vpcId" and "subnetIds" go together/);
    expect(problem({ ...base, maxBatchingWindowSeconds: '60', timeoutSeconds: '30' })).toMatch(/must not exceed "timeoutSeconds"/);
    expect(problem({ ...base, metricsNamespace: 'AWS/Lambda' })).toMatch(/must not start with "AWS\/"/);
    expect(problem({ ...base, logRetentionDays: '10' })).toMatch(/must be one of 1, 3, 5, 7, 14, 30/);
    expect(problem({ ...base, mskClusterArn: 'arn:aws:kafka:us-east-1:123456789012:topic/demo/x/orders' })).toMatch(
      /must be an MSK cluster ARN/,
    );
  });

  test('misspelt knobs are reported with the knob they probably meant; other context keys are not', () => {
    const context = {
      batchsize: 1,
      topic: 'a',
      topics: 'a',
      mskClusterArm: 'x',
      '@aws-cdk/core:checkSecretUsage': true,
      'aws:cdk:enable-path-metadata': true,
      'acknowledged-issue-numbers': [1],
      'cli-telemetry': false,
    };
    expect(unknownContextKeys(context)).toEqual([
      { key: 'batchsize', knob: 'batchSize' },
      { key: 'topic', knob: 'topics' },
      { key: 'mskClusterArm', knob: 'mskClusterArn' },
    ]);
  });
});

describe('documentation', () => {
  test('the Deploy section documents every knob in its table', () => {
    const doc = fs.readFileSync(path.join(ROOT, 'docs', 'DEPLOYMENT.md'), 'utf8');
    const start = doc.indexOf('## Context knobs');
    expect(start).toBeGreaterThanOrEqual(0);
    const section = doc.slice(start, doc.indexOf('\n#', start + 1));
    const documented = [...section.matchAll(/^\| `([A-Za-z]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual([...CONTEXT_KEYS].sort());
  });
});
