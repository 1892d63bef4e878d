// `npm run doctor` as an operator runs it: a child process against the Archestra simulator (agent cards on
// both paths, 401 for a wrong token, 404 for an unknown agent), the @a2a-js/sdk server for an agent with its
// own url, and moto_server for a deployed stack (CloudFormation, Lambda, SQS, Secrets Manager, CloudWatch).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, CreateStackCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { CreateEventSourceMappingCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { TOKEN_PLACEHOLDER } from '../../infra/constructs/archestra-token';
import { startArchestraSim, type ArchestraSim } from '../../sim/archestra';
import { PLACEHOLDER } from '../../scripts/lib/doctor';
import { startSdkA2AServer, type SdkServer } from '../support/a2a-sdk-server';
import { motoEnv, startMoto, type MotoServer } from '../support/moto';
import { tsx } from '../support/cli';
import { startPeers } from '../support/peers';
import { freePort } from '../support/ports';

jest.setTimeout(60_000);

const TOKEN = 'doctor-test-token-41c9';
const AGENTS = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', '33333333-3333-4333-8333-333333333333'];

let sim: ArchestraSim;
let sdk: SdkServer;
let dir: string;

beforeAll(async () => {
  [sim, sdk] = await startPeers(
    startArchestraSim({ tokens: [TOKEN], agents: Object.fromEntries(AGENTS.map((id, i) => [id, { name: `agent-${i}` }])) }),
    startSdkA2AServer({ mode: 'v0.3' }),
  );
  dir = mkdtempSync(join(tmpdir(), 'doctor-'));
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await Promise.all([sim?.close(), sdk?.close()]);
});
beforeEach(() => sim.clear());

function routesFile(routes: object[]): string {
  const f = join(dir, `routes-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(f, JSON.stringify(routes));
  return f;
}
const archestraRoute = (name: string, agent: string, extra: object = {}) => ({ name, topic_pattern: `${name}.*`, prompt_id: agent, transform_template: 'x {a}', ...extra });

const doctor = (args: string[], env: Record<string, string> = {}) => tsx('scripts/doctor.ts', args, { env });

const line = (out: string, start: string) => out.split('\n').find((l) => l.includes(start)) ?? `(no line with ${start})`;

describe('doctor against the simulator', () => {
  it('passes a good configuration: settings, token and each agent card (both API versions), sending no message', async () => {
    const routes = routesFile([archestraRoute('orders', AGENTS[0]), archestraRoute('support', AGENTS[1], { a2a_version: '1.0' }), archestraRoute('more', AGENTS[0])]);
    const r = await doctor(['--routes', routes], { ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(line(r.stdout, 'settings')).toMatch(/^ok\s+settings .*3 routes: orders, support, more/);
    expect(line(r.stdout, 'Archestra token')).toMatch(/^ok .*ARCHESTRA_TOKEN \(\d+ characters, not shown\)/);
    expect(line(r.stdout, '"orders", "more"')).toMatch(/^ok .*agent "agent-0", token accepted/);
    expect(line(r.stdout, '"support"')).toMatch(/^ok .*agent "agent-1"/);
    expect(r.stdout).toContain('4 checks: 4 ok, 0 warnings, 0 failed, 0 skipped · ready');
    expect(r.stdout).not.toContain(TOKEN);
    // Two agents, two card GETs (routes sharing an agent are checked once), and no message.
    expect(sim.requests.map((q) => `${q.httpMethod} ${q.path}`).sort()).toEqual([
      `GET /v1/a2a/${AGENTS[0]}/.well-known/agent.json`,
      `GET /v2/a2a/${AGENTS[1]}/.well-known/agent-card.json`,
    ]);
  });

  it('stops trying the token after its first refusal, and exits 1', async () => {
    const routes = routesFile(AGENTS.map((a, i) => archestraRoute(`r${i}`, a)));
    const r = await doctor(['--routes', routes, '--json'], { ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: 'a-wrong-token' });
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as { ok: boolean; checks: Array<{ name: string; status: string; detail: string }> };
    expect(doc.ok).toBe(false);
    const agents = doc.checks.filter((c) => c.name.startsWith('agent of'));
    expect(agents.map((c) => c.status)).toEqual(['fail', 'skip', 'skip']);
    expect(agents[0].detail).toMatch(/HTTP 401, the token was refused/);
    expect(sim.requests).toHaveLength(1); // one refusal counts toward the lockout, not three
    expect(r.stdout).not.toContain('a-wrong-token');
  });

  it('names an unknown agent id (404) and checks the other agents', async () => {
    const unknown = '44444444-4444-4444-8444-444444444444';
    const routes = routesFile([archestraRoute('ghost', unknown), archestraRoute('orders', AGENTS[0])]);
    const r = await doctor(['--routes', routes], { ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN });
    expect(r.code).toBe(1);
    expect(line(r.stdout, '"ghost"')).toMatch(/^FAIL .*HTTP 404, Archestra has no such agent/);
    expect(r.stdout).toContain("fix: check the route's prompt_id");
    expect(line(r.stdout, '"orders"')).toMatch(/^ok /);
  });

  it('refuses to send the placeholder token at all', async () => {
    const routes = routesFile([archestraRoute('orders', AGENTS[0])]);
    expect(PLACEHOLDER.test(TOKEN_PLACEHOLDER)).toBe(true); // the value the CDK app creates the secret with
    // In ARCHESTRA_TOKEN the function itself refuses it at cold start, and doctor says so with its words.
    const r = await doctor(['--routes', routes], { ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN_PLACEHOLDER });
    expect(r.code).toBe(1);
    expect(line(r.stdout, 'settings')).toMatch(/^FAIL {2}settings /);
    expect(r.stdout).toContain('ARCHESTRA_TOKEN: still holds the placeholder the stack created it with');
    expect(sim.requests).toEqual([]);
  });

  it('checks an agent with its own url through its public card, without the Archestra token', async () => {
    const routes = routesFile([{ name: 'external', topic_pattern: 'ext.*', prompt_id: 'external-agent', url: sdk.url, transform_template: 'x {a}' }]);
    const r = await doctor(['--routes', routes], {});
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('Archestra token'); // no route needs it
    expect(line(r.stdout, '"external"')).toMatch(/^ok .*agent ".+", A2A 0\.3/);
    expect(sdk.requests.every((q) => q.headers.authorization === undefined)).toBe(true);
  });

  it('reports an unreachable agent and invalid settings with the function\'s own messages', async () => {
    const bad = routesFile([archestraRoute('orders', AGENTS[0]), { name: 'broken', topic_pattern: 'b.*' }]);
    const r = await doctor(['--routes', bad], { ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN });
    expect(r.code).toBe(1);
    expect(line(r.stdout, 'settings')).toMatch(/^FAIL {2}settings .*: invalid environment:/);
    expect(r.stdout).toMatch(/route 1 \("broken"\): field "prompt_id": is required/);
    expect(sim.requests).toEqual([]);

    const down = routesFile([archestraRoute('orders', AGENTS[0])]);
    const closed = await freePort('127.0.0.1'); // nothing listens there
    const r2 = await doctor(['--routes', down], { ARCHESTRA_URL: `http://127.0.0.1:${closed}`, ARCHESTRA_TOKEN: TOKEN });
    expect(r2.code).toBe(1);
    expect(line(r2.stdout, '"orders"')).toMatch(/^FAIL .*no answer \(ECONNREFUSED\)/);
  });

  it('answers usage errors with exit status 2 and --help with 0', async () => {
    const r = await doctor(['--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('doctor: unknown flag --bogus\nmore: npm run doctor -- --help\n'); // no usage dump: a pointer to --help
    const missing = await doctor(['--routes', join(dir, 'nope.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('routes file not found');
    const help = await doctor(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('It sends no message to any agent');
  });
});

describe('doctor --stack against moto', () => {
  let moto: MotoServer;
  let awsEnv: Record<string, string>;
  beforeAll(async () => {
    moto = await startMoto();
    awsEnv = motoEnv(moto);
  }, 60_000);
  afterAll(() => moto?.stop());

  /** A stack shaped like the CDK app's: the bridge function, its poison and on-failure queues, the secret. */
  async function deploy(name: string, token: string) {
    const sm = new SecretsManagerClient(moto.clientConfig);
    const secretArn = (await sm.send(new CreateSecretCommand({ Name: `${name}-token`, SecretString: TOKEN_PLACEHOLDER }))).ARN!;
    if (token !== TOKEN_PLACEHOLDER) await sm.send(new PutSecretValueCommand({ SecretId: secretArn, SecretString: JSON.stringify({ token }) }));
    const template = {
      Resources: {
        Role: { Type: 'AWS::IAM::Role', Properties: { AssumeRolePolicyDocument: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }] } } },
        Poison: { Type: 'AWS::SQS::Queue', Properties: {} },
        OnFailure: { Type: 'AWS::SQS::Queue', Properties: {} },
        Fn: {
          Type: 'AWS::Lambda::Function',
          Properties: {
            Runtime: 'nodejs22.x',
            Handler: 'index.handler',
            Role: { 'Fn::GetAtt': ['Role', 'Arn'] },
            Code: { ZipFile: 'exports.handler = async () => ({})' },
            Environment: {
              Variables: {
                ROUTES_CONFIG: JSON.stringify([archestraRoute('orders', AGENTS[0])]),
                ARCHESTRA_URL: sim.url,
                ARCHESTRA_TOKEN_SECRET_ARN: secretArn,
                DLQ_URL: { Ref: 'Poison' },
              },
            },
          },
        },
      },
    };
    const cfn = new CloudFormationClient(moto.clientConfig);
    await cfn.send(new CreateStackCommand({ StackName: name, TemplateBody: JSON.stringify(template) }));
    cfn.destroy();
    sm.destroy();
  }

  it('reads the function, queues, mappings and lag, then checks its settings, secret and agents', async () => {
    await deploy('bridge-ok', TOKEN);
    const { CloudFormationClient: C, DescribeStackResourcesCommand } = await import('@aws-sdk/client-cloudformation');
    const resources = (await new C(moto.clientConfig).send(new DescribeStackResourcesCommand({ StackName: 'bridge-ok' }))).StackResources!;
    const fn = resources.find((r) => r.ResourceType === 'AWS::Lambda::Function')!.PhysicalResourceId!;
    const [poison, onFailure] = ['Poison', 'OnFailure'].map((id) => resources.find((r) => r.LogicalResourceId === id)!.PhysicalResourceId!);
    const sqs = new SQSClient(moto.clientConfig);
    await sqs.send(new SendMessageCommand({ QueueUrl: onFailure, MessageBody: '{"requestContext":{}}' }));
    // moto serves event source mappings for SQS sources only (not MSK); the state logic is the same.
    const lambda = new LambdaClient(moto.clientConfig);
    await lambda.send(new CreateEventSourceMappingCommand({ FunctionName: fn, EventSourceArn: `arn:aws:sqs:us-east-1:123456789012:${poison.split('/').pop()}`, Enabled: false }));
    await new CloudWatchClient(moto.clientConfig).send(
      new PutMetricDataCommand({ Namespace: 'AWS/Lambda', MetricData: [{ MetricName: 'OffsetLag', Dimensions: [{ Name: 'FunctionName', Value: fn }], Value: 42, Timestamp: new Date(Date.now() - 90_000) }] }),
    );

    const r = await doctor(['--stack', 'bridge-ok'], awsEnv);
    expect(r.stderr).toBe('');
    expect(line(r.stdout, 'stack bridge-ok')).toMatch(/^ok /);
    expect(line(r.stdout, `function ${fn}`)).toMatch(/^ok .*Active, nodejs22\.x/);
    expect(line(r.stdout, 'poison queue')).toMatch(/^ok .*empty/);
    expect(line(r.stdout, 'on-failure queue')).toMatch(/^WARN .*1 messages waiting/);
    expect(r.stdout).toContain('npm run replay');
    expect(line(r.stdout, 'mapping ')).toMatch(/^WARN .*Disabled: no record is consumed/);
    expect(line(r.stdout, 'offset lag')).toMatch(/^ok .*latest 42/);
    expect(line(r.stdout, 'settings (function')).toMatch(/^ok .*1 route: orders/);
    expect(line(r.stdout, 'Archestra token')).toMatch(/^ok .*read from secret arn:aws:secretsmanager/);
    expect(line(r.stdout, '"orders"')).toMatch(/^ok .*token accepted/);
    expect(r.code).toBe(0); // warnings only
    expect(r.stdout).not.toContain(TOKEN);
    sqs.destroy();
    lambda.destroy();
  });

  it('fails a stack whose secret still holds the placeholder, and one without mappings, sending nothing', async () => {
    await deploy('bridge-new', TOKEN_PLACEHOLDER);
    const r = await doctor(['--stack', 'bridge-new'], awsEnv);
    expect(r.code).toBe(1);
    expect(line(r.stdout, 'Archestra token')).toMatch(/^FAIL .*still holds the placeholder/);
    expect(line(r.stdout, 'event source mappings')).toMatch(/^FAIL .*has none/);
    expect(sim.requests).toEqual([]);
  });

  it('fails clearly for a stack that does not exist', async () => {
    const r = await doctor(['--stack', 'no-such-stack'], awsEnv);
    expect(r.code).toBe(1);
    expect(line(r.stdout, 'stack no-such-stack')).toMatch(/^FAIL .*cannot read it/);
  });
});
