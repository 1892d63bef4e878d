// The context knobs: coercion of `-c` strings, defaults, and a clear message for each mistake.
// The synth failure cases (invalid routes file, missing cluster ARN, no topics) go through the
// real app and fail before anything is bundled.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RouteConfigError } from '../../lambda/config/routes';
import { SettingsError } from '../../lambda/config/settings';
import { CONTEXT_KEYS, ContextError, DEFAULTS, readConfig, unknownContextKeys } from '../../infra/context';
import { handlerEnvironment, KNOBS } from '../../infra/knobs';
import { LIMITS } from '../../lambda/config/limits';
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

  test('what the handler would reject at cold start fails synth with its message, naming the knobs as the user sets them', () => {
    // The fixture's routes have no url of their own, so the handler needs ARCHESTRA_URL, which archestraUrl sets.
    expect(() => build(base)).toThrow(SettingsError);
    expect(() => build(base)).toThrow(/"archestraUrl": required by route\(s\) without their own url: orders, payments/);
    const insecure = () => build({ ...base, archestraUrl: 'http://archestra.example.com' });
    expect(insecure).toThrow(/"archestraUrl" uses plain http:\/\/ to a non-loopback host \(archestra\.example\.com\); use https:\/\/ or -c allowInsecureHttp=true$/m);
    for (const run of [() => build(base), insecure]) expect(run).not.toThrow(/ARCHESTRA_URL|ALLOW_INSECURE_HTTP/);
  });

  test.each(['/v1/a2a/5c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f', '/v2/a2a/order-triage', '/platform/v1/a2a/x/'])(
    'an archestraUrl that already holds an agent path (%s) is refused: the path would double',
    (agentPath) => {
      const message = problem({ ...base, archestraUrl: `https://archestra.example.com${agentPath}` });
      expect(message).toMatch(/"archestraUrl": must be the Archestra base URL, without \/v1\/a2a\/<agent id>/);
      expect(message).toContain('Example: -c archestraUrl=https://archestra.example.com');
    },
  );

  test('an archestraUrl with a base path of its own is accepted', () => {
    expect(read({ ...base, archestraUrl: 'https://example.com/archestra/' }).archestraUrl).toBe('https://example.com/archestra/');
  });

  test('knob, routes and handler problems come in one pass', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'routes-'));
    const file = path.join(dir, 'routes.json');
    // A route the handler refuses (prompt_id not a UUID) next to a knob the app refuses (batchSize).
    fs.writeFileSync(file, JSON.stringify([{ name: 'triage', topic_pattern: 'orders', prompt_id: 'order-triage' }]));
    const knobAndHandler = () => build({ ...base, routesFile: file, batchSize: '0', archestraUrl: 'http://archestra.example.com' });
    expect(knobAndHandler).toThrow(ContextError);
    expect(knobAndHandler).toThrow(/"batchSize": must be between 1 and 10000[\s\S]*route "triage": prompt_id "order-triage" is not a UUID[\s\S]*-c allowInsecureHttp=true/);
    // An invalid routes file next to an invalid knob: both in the same message.
    const knobAndRoutes = () => build({ ...base, routesFile: path.join(FIXTURES, 'routes-invalid.json'), ordering: 'random' });
    expect(knobAndRoutes).toThrow(/"ordering": must be partition, key or none[\s\S]*route 0 \("orders"\): field "prompt_id": is required/);
 
    // A handler problem next to a reply the stack cannot write (a loop): both in the same message.
    const replies = path.join(FIXTURES, 'routes-replies.json');
    const handlerAndReplies = () => build({ ...base, routesFile: replies, topics: 'orders,orders.decisions', archestraUrl: 'http://archestra.example.com' });
    expect(handlerAndReplies).toThrow(ContextError);
    expect(handlerAndReplies).toThrow(/-c allowInsecureHttp=true[\s\S]*reply topic "orders.decisions" is also a consumed topic/);
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

describe('one table of knobs', () => {
  test('keys and defaults derive from it', () => {
    expect(CONTEXT_KEYS).toEqual(Object.keys(KNOBS));
    expect(DEFAULTS).toMatchObject({ batchSize: 100, ordering: 'key', maxConcurrency: LIMITS.maxConcurrency.default, idempotencyTtlSeconds: 86400 });
    expect(Object.keys(DEFAULTS)).not.toContain('mskClusterArn');
  });

  test("the handler's ranges are the handler's own (lambda/config/limits.ts)", () => {
    for (const [knob, l] of [
      ['maxRetries', LIMITS.maxRetries],
      ['maxConcurrency', LIMITS.maxConcurrency],
      ['logReplyChars', LIMITS.logReplyChars],
      ['maxTextBytes', LIMITS.maxTextBytes],
      ['idempotencyTtlSeconds', LIMITS.idempotencyTtlSeconds],
      ['unknownOutcomeMarginSeconds', LIMITS.unknownOutcomeMarginSeconds],
      ['conversationTtlSeconds', LIMITS.conversationTtlSeconds],
    ] as const) {
      expect(problem({ ...base, [knob]: String(l.max + 1) })).toContain(`"${knob}": must be between ${l.min} and ${l.max}`);
      expect(() => read({ ...base, [knob]: String(l.max) })).not.toThrow();
    }
  });

  test('the handler variables the knobs set come from the table, booleans only when true', () => {
    const c = read({ ...base, archestraUrl: 'https://a.example.com', maxRetries: '5', retryDelay: '0.5', allowInsecureHttp: 'false' });
    expect(c.handlerEnvironment).toEqual({
      ARCHESTRA_URL: 'https://a.example.com',
      ORDERING: 'key',
      MAX_CONCURRENCY: '10',
      MAX_RETRIES: '5',
      RETRY_DELAY: '0.5',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      POWERTOOLS_SERVICE_NAME: 'kafka-a2a-bridge',
      POWERTOOLS_METRICS_NAMESPACE: 'KafkaA2ABridge',
    });
    expect(handlerEnvironment({ allowInsecureHttp: true })).toEqual({ ALLOW_INSECURE_HTTP: 'true' });
    expect(handlerEnvironment({ unknownOutcomeMarginSeconds: 30, conversationTtlSeconds: 3600 })).toEqual({ UNKNOWN_OUTCOME_MARGIN_SECONDS: '30', CONVERSATION_TTL_SECONDS: '3600' });
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

  test("each row states the table's default, the handler variable the knob sets, and the handler's own default", () => {
    const doc = fs.readFileSync(path.join(ROOT, 'docs', 'DEPLOYMENT.md'), 'utf8');
    const rows = new Map([...doc.matchAll(/^\| `([A-Za-z]+)` \| ([^|]*) \| (.*) \|$/gm)].map((m) => [m[1], { default: m[2], meaning: m[3] }]));
    const handlerDefaults: Partial<Record<string, number>> = {
      maxRetries: LIMITS.maxRetries.default,
      logReplyChars: LIMITS.logReplyChars.default,
      maxTextBytes: LIMITS.maxTextBytes.default,
    };
    for (const key of CONTEXT_KEYS) {
      const row = rows.get(key)!;
      const k = KNOBS[key] as { default?: unknown; env?: string };
      if (['string', 'number', 'boolean'].includes(typeof k.default)) expect(`${key}: ${row.default}`).toBe(`${key}: \`${String(k.default)}\``);
      if (k.env) expect(`${row.default} ${row.meaning}`).toContain(`\`${k.env}\``);
      if (handlerDefaults[key] !== undefined) expect(row.default).toBe(`handler's (${handlerDefaults[key]})`);
    }
  });
});
