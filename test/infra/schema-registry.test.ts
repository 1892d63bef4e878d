// The mapping's schema registry (Glue and Confluent), applied to every mapping with the IAM each needs,
// the real cfn-lint on both templates, and routes' schema files validated at synth and shipped in the package.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLUSTER_ARN, EU_CLUSTER_ARN, FIXTURES, ROUTES, build, dashboardBody, synth } from './helpers';

jest.setTimeout(180_000);

const GLUE = 'arn:aws:glue:eu-west-1:123456789012:registry/orders-registry';
const CONFLUENT_SECRET = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:schema-registry-AbCdEf';
const STRICT = '@aws-cdk/core:validateAgainstDefaultRules';

function cfnLint(template: string, region: string) {
  const res = spawnSync('cfn-lint', ['--format', 'parseable', '--regions', region, '--ignore-checks', 'W3005', '--', template], { encoding: 'utf8' });
  if (res.error) throw new Error(`cfn-lint could not run: ${res.error.message}`);
  return { status: res.status, output: `${res.stdout}${res.stderr}` };
}

type Statement = { Sid?: string; Action: string | string[]; Resource: unknown };
const statementsOf = (t: ReturnType<typeof synth>['template']): Statement[] =>
  Object.values(t.findResources('AWS::IAM::Policy')).flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
const actions = (st: Statement) => (Array.isArray(st.Action) ? st.Action : [st.Action]);
const mappings = (t: ReturnType<typeof synth>['template']) => Object.values(t.findResources('AWS::Lambda::EventSourceMapping')).map((m) => m.Properties);

describe.each([
  [
    'Glue registry, JSON records, key and value validated (MSK)',
    'eu-west-1',
    { mskClusterArn: EU_CLUSTER_ARN, schemaRegistryUri: GLUE, schemaValidation: 'key,value' },
  ],
  [
    'Confluent registry with basic auth, SOURCE records (MSK)',
    'us-east-1',
    { mskClusterArn: CLUSTER_ARN, schemaRegistryUri: 'https://schema-registry.example.com', schemaRegistryAuthSecretArn: CONFLUENT_SECRET, schemaRecordFormat: 'source' },
  ],
  [
    'Confluent registry with mTLS (self-managed Kafka)',
    'us-east-1',
    {
      bootstrapServers: 'kafka.example.com:9094',
      region: 'us-east-1',
      kafkaSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:kafka-client-cert-AbCdEf',
      kafkaAuthentication: 'mtls',
      schemaRegistryUri: 'https://schema-registry.example.com:8081',
      schemaRegistryAuthSecretArn: CONFLUENT_SECRET,
      schemaRegistryAuthentication: 'mtls',
    },
  ],
])('%s', (_name, region, context) => {
  let dir: string;
  let s: ReturnType<typeof synth>;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdk-synth-registry-'));
    s = synth({ [STRICT]: true, topics: 'orders,payments.eu', routesFile: ROUTES, archestraUrl: 'https://archestra.example.com', ...context }, dir);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('every mapping carries the SchemaRegistryConfig; cdk-nag clean; the real cfn-lint passes', () => {
    const ms = mappings(s.template);
    expect(ms).toHaveLength(2);
    const c = context as Record<string, string>;
    const key = 'bootstrapServers' in c ? 'SelfManagedKafkaEventSourceConfig' : 'AmazonManagedKafkaEventSourceConfig';
    for (const m of ms) {
      const cfg = m[key].SchemaRegistryConfig;
      expect(cfg.SchemaRegistryURI).toBe(c.schemaRegistryUri);
      expect(cfg.EventRecordFormat).toBe(c.schemaRecordFormat === 'source' ? 'SOURCE' : 'JSON');
      expect(cfg.SchemaValidationConfigs).toEqual(c.schemaValidation ? [{ Attribute: 'KEY' }, { Attribute: 'VALUE' }] : [{ Attribute: 'VALUE' }]);
      if (c.schemaRegistryAuthSecretArn) {
        expect(cfg.AccessConfigs).toEqual([{ Type: c.schemaRegistryAuthentication === 'mtls' ? 'CLIENT_CERTIFICATE_TLS_AUTH' : 'BASIC_AUTH', URI: CONFLUENT_SECRET }]);
      } else expect(cfg.AccessConfigs).toBeUndefined();
    }
    const out = s.app.synth().directory;
    const report = JSON.parse(fs.readFileSync(path.join(out, 'validation-report.json'), 'utf8'));
    expect(report.pluginReports.find((r: { pluginName: string }) => r.pluginName === 'AwsSolutions').violations).toEqual([]);
    const { status, output } = cfnLint(path.join(out, 'KafkaA2ABridge.template.json'), region);
    expect(output).toBe('');
    expect(status).toBe(0);
  });

  test('IAM is scoped to the registry (Glue) or its auth secret (Confluent), nothing on "*"', () => {
    const st = statementsOf(s.template);
    const glue = st.filter((x) => actions(x).some((a) => a.startsWith('glue:')));
    const c = context as Record<string, string>;
    if (c.schemaRegistryUri.startsWith('arn:')) {
      expect(glue.flatMap(actions).sort()).toEqual(['glue:GetRegistry', 'glue:GetSchemaVersion']);
      const resources = JSON.stringify(glue.map((x) => x.Resource));
      expect(resources).toContain(GLUE);
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the CloudFormation IAM policy variable, not a JS template
      expect(resources).toContain('schema/${registryName}/*');
      expect(resources).toContain('orders-registry');
      for (const x of glue) expect(x.Resource).not.toEqual('*');
    } else {
      expect(glue).toEqual([]);
      const reads = st.filter((x) => actions(x).includes('secretsmanager:GetSecretValue') && JSON.stringify(x.Resource).includes('schema-registry'));
      expect(reads).toHaveLength(1);
      expect([reads[0].Resource].flat()).toContain(CONFLUENT_SECRET);
    }
  });
});

test('dashboard and alarms: records sent to the on-failure destination per mapping, schema failures named; none without a registry', () => {
  const withRegistry = synth({ mskClusterArn: EU_CLUSTER_ARN, topics: 'orders,payments.eu', routesFile: ROUTES, archestraUrl: 'https://archestra.example.com', schemaRegistryUri: GLUE });
  const alarms = Object.values(withRegistry.template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties);
  const onFailure = alarms.filter((a) => a.MetricName === 'OnFailureDestinationDeliveredEventCount');
  expect(onFailure.map((a) => a.AlarmName).sort()).toEqual(['KafkaA2ABridge-orders-OnFailureRecords', 'KafkaA2ABridge-payments.eu-OnFailureRecords']);
  for (const a of onFailure) {
    expect(a.AlarmDescription).toContain('SCHEMA_NOT_FOUND, DESERIALIZATION_ERROR');
    expect(a.AlarmDescription).toContain(GLUE);
    expect(a.Threshold).toBe(1);
    expect(a.Dimensions[0].Name).toBe('EventSourceMappingUUID');
  }
  const body = JSON.stringify(dashboardBody(withRegistry.template));
  expect(body).toContain('schema failures included (per mapping)');
  expect(body).toContain('OnFailureDestinationDeliveredEventCount');
  expect(body).toContain('Records dropped (per mapping)');

  const without = synth({ mskClusterArn: EU_CLUSTER_ARN, topics: 'orders', routesFile: ROUTES, archestraUrl: 'https://archestra.example.com' });
  const names = Object.values(without.template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties.MetricName);
  expect(names).not.toContain('OnFailureDestinationDeliveredEventCount');
  expect(JSON.stringify(dashboardBody(without.template))).not.toContain('schema failures');
});

test('a Confluent registry without auth: no AccessConfigs, no permission', () => {
  const { template } = synth({ mskClusterArn: CLUSTER_ARN, topics: 'orders', routesFile: ROUTES, archestraUrl: 'https://archestra.example.com', schemaRegistryUri: 'http://registry.internal:8081' });
  const [m] = mappings(template);
  expect(m.AmazonManagedKafkaEventSourceConfig.SchemaRegistryConfig).toEqual({
    SchemaRegistryURI: 'http://registry.internal:8081',
    EventRecordFormat: 'JSON',
    SchemaValidationConfigs: [{ Attribute: 'VALUE' }],
  });
  expect(statementsOf(template).filter((x) => actions(x).some((a) => a.startsWith('glue:')))).toEqual([]);
});

test('without schemaRegistryUri no mapping has a SchemaRegistryConfig', () => {
  const { template } = synth({ mskClusterArn: CLUSTER_ARN, topics: 'orders', routesFile: ROUTES, archestraUrl: 'https://archestra.example.com' });
  expect(JSON.stringify(mappings(template))).not.toContain('SchemaRegistryConfig');
});

test.each([
  [{ schemaRegistryUri: 'https://user:secret@registry.example.com' }, /without credentials in it/],
  [{ schemaRegistryUri: 'ftp://x' }, /"schemaRegistryUri": must be a Glue registry ARN .* or a Confluent Schema Registry http\(s\) URL/],
  [{ schemaRecordFormat: 'JSON' }, /"schemaRecordFormat" needs "schemaRegistryUri"/],
  [{ schemaRegistryUri: GLUE.replace('eu-west-1', 'us-east-1'), schemaRegistryAuthSecretArn: CONFLUENT_SECRET }, /are for a Confluent registry/],
  [{ schemaRegistryUri: 'https://r.example.com', schemaRegistryAuthentication: 'mtls' }, /"schemaRegistryAuthentication" needs "schemaRegistryAuthSecretArn"/],
  [{ schemaRegistryUri: 'https://r.example.com', schemaValidation: 'key,headers' }, /"schemaValidation": each must be key or value/],
  [{ schemaRegistryUri: 'https://r.example.com', schemaRecordFormat: 'xml' }, /"schemaRecordFormat": must be JSON or SOURCE/],
])('%j is refused at synth', (context, message) => {
  expect(() => build({ mskClusterArn: CLUSTER_ARN, topics: 'orders', routesFile: ROUTES, archestraUrl: 'https://archestra.example.com', ...context })).toThrow(message);
});

describe('routes with value_format', () => {
  test('a schema that does not compile fails synth, naming the route and file', () => {
    expect(() => build({ mskClusterArn: CLUSTER_ARN, topics: 'orders', routesFile: path.join(FIXTURES, 'routes-broken-schema.json') })).toThrow(
      /route "orders": value_format: schemas\/broken\.avsc: not a valid Avro schema/,
    );
  });

  test('the schema files ship in the deployment package at their paths relative to routes.json', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdk-synth-schemas-'));
    try {
      const { app } = synth({ mskClusterArn: CLUSTER_ARN, topics: 'orders,payments.eu', routesFile: path.join(FIXTURES, 'routes-schemas.json'), archestraUrl: 'https://archestra.example.com' }, dir);
      const out = app.synth().directory;
      const asset = fs.readdirSync(out).map((d) => path.join(out, d)).find((d) => fs.existsSync(path.join(d, 'routes.json')));
      expect(asset).toBeDefined();
      for (const f of ['schemas/order.avsc', 'schemas/order.v1.avsc', 'schemas/payment.proto']) {
        expect(fs.readFileSync(path.join(asset!, f), 'utf8')).toBe(fs.readFileSync(path.join(FIXTURES, f), 'utf8'));
      }
      expect(fs.existsSync(path.join(asset!, 'schemas/broken.avsc'))).toBe(false);
      // avsc and protobufjs are files of their own beside the handler, not in it; the packaged handler, started
      // from a copy outside the repository (no node_modules to fall back on), compiles both schema routes with them.
      for (const lib of ['avsc', 'protobufjs']) expect(fs.statSync(path.join(asset!, 'node_modules', lib, 'index.js')).size).toBeGreaterThan(50_000);
      // An error text of each library: in its own file, not in the handler.
      expect(fs.readFileSync(path.join(asset!, 'node_modules/avsc/index.js'), 'utf8')).toContain('truncated buffer');
      expect(fs.readFileSync(path.join(asset!, 'node_modules/protobufjs/index.js'), 'utf8')).toContain('invalid wire type');
      expect(fs.readFileSync(path.join(asset!, 'index.js'), 'utf8')).not.toMatch(/truncated buffer|invalid wire type/);
      const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'bridge-package-'));
      try {
        fs.cpSync(asset!, copy, { recursive: true });
        const start = `const { handler } = require('./index.js');
          const ev = { eventSource: 'aws:kafka', records: { 'nowhere-0': [{ topic: 'nowhere', partition: 0, offset: 1, value: 'e30=' }] } };
          handler(ev, { awsRequestId: 'r', getRemainingTimeInMillis: () => 30000, functionName: 'f' }).then((r) => process.stderr.write('RESULT ' + JSON.stringify(r)));`;
        const env = { PATH: process.env.PATH, ROUTES_CONFIG_FILE: path.join(copy, 'routes.json'), ARCHESTRA_URL: 'https://archestra.example.com', ARCHESTRA_TOKEN: 't', POWERTOOLS_METRICS_DISABLED: 'true' };
        const res = spawnSync(process.execPath, ['-e', start], { cwd: copy, env, encoding: 'utf8' });
        expect(res.stderr).toContain('RESULT {"batchItemFailures":[]}');
        expect(res.status).toBe(0);
      } finally {
        fs.rmSync(copy, { recursive: true, force: true });
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
