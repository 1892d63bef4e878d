// The routes file decides the reply grants at synth: each destination exactly once, each action on its own ARN,
// and a reply topic that is also consumed is refused.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { build, CLUSTER_ARN, FIXTURES, ROUTES, synth } from './helpers';

const REPLY_ROUTES = path.join(FIXTURES, 'routes-replies.json');
const base = { mskClusterArn: CLUSTER_ARN, topics: 'orders,tickets,alerts,audit', routesFile: REPLY_ROUTES, archestraUrl: 'https://archestra.example.com' };
const TOPIC_BASE = 'arn:aws:kafka:us-east-1:123456789012:topic/demo/1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d-1';

type Statement = { Sid?: string; Action: string | string[]; Resource: unknown };
function statements(template: ReturnType<typeof synth>['template']): Statement[] {
  return Object.values(template.findResources('AWS::IAM::Policy')).flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
}
const replyStatements = (s: Statement[]) => s.filter((x) => x.Sid?.startsWith('Reply'));

test('each destination the routes name (reply and errors) is granted its one write action on its own ARN, and nothing else', () => {
  const { template, stack } = synth(base);
  const s = statements(template);
  expect(replyStatements(s)).toEqual([
    { Sid: 'ReplySqs', Effect: 'Allow', Action: ['sqs:GetQueueUrl', 'sqs:SendMessage'], Resource: 'arn:aws:sqs:us-east-1:123456789012:ticket-replies' },
    { Sid: 'ReplySns', Effect: 'Allow', Action: 'sns:Publish', Resource: ['arn:aws:sns:us-east-1:123456789012:alert-replies', 'arn:aws:sns:us-east-1:123456789012:bridge-errors'] },
    { Sid: 'ReplyEventBridge', Effect: 'Allow', Action: 'events:PutEvents', Resource: 'arn:aws:events:us-east-1:123456789012:event-bus/agent-replies' },
    { Sid: 'ReplyKafkaTopics', Effect: 'Allow', Action: ['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData'], Resource: `${TOPIC_BASE}/orders.decisions` },
  ]);
  // No other statement of the role reaches a reply destination or writes to SNS, EventBridge or Kafka topics.
  const others = s.filter((x) => !x.Sid?.startsWith('Reply'));
  const text = JSON.stringify(others);
  for (const arn of ['ticket-replies', 'alert-replies', 'bridge-errors', 'agent-replies', 'orders.decisions']) expect(text).not.toContain(arn);
  expect(text).not.toContain('events:PutEvents');
  const env = Object.values(template.findResources('AWS::Lambda::Function'))
    .map((f) => f.Properties.Environment?.Variables as Record<string, string> | undefined)
    .find((v) => v?.ROUTES_CONFIG_FILE)!;
  expect(env.REPLY_KAFKA_AUTH).toBe('iam');
  const alarm = stack.observability.alarms.replyWriteFailures!;
  const props = template.findResources('AWS::CloudWatch::Alarm');
  const cfn = Object.values(props).find((a) => String(a.Properties.AlarmName).endsWith('-ReplyWriteFailures'))!.Properties;
  expect(alarm).toBeDefined();
  expect(JSON.stringify(cfn)).toContain('"MetricName":"ReplyWriteFailures"');
  expect(cfn).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', EvaluationPeriods: 1 });
  expect(JSON.stringify(cfn)).toMatch(/"Period":300/);
});

test('routes without replies: no reply grant, no reply alarm', () => {
  const { template, stack } = synth({ ...base, topics: 'orders', routesFile: ROUTES });
  expect(replyStatements(statements(template))).toEqual([]);
  expect(stack.observability.alarms.replyWriteFailures).toBeUndefined();
});

test('a reply topic that is also a consumed topic is refused at synth (a loop)', () => {
  expect(() => build({ ...base, topics: 'orders,orders.decisions' })).toThrow(/reply topic "orders.decisions" is also a consumed topic: its replies would be sent to the agents again \(a loop\)/);
});

test('an invalid destination fails synth with the route and field named', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'replies-'));
  const file = path.join(dir, 'routes.json');
  fs.writeFileSync(file, JSON.stringify([{ name: 'x', topic_pattern: 'orders', prompt_id: 'a', reply: 'https://example.com/hook' }]));
  expect(() => build({ ...base, topics: 'orders', routesFile: file })).toThrow(
    /route 0 \("x"\): field "reply": "https:\/\/example.com\/hook" is not a destination: give kafka:\/\/<topic>, or an SQS queue, SNS topic or EventBridge event bus ARN/,
  );
});

test('MSK with SASL/SCRAM: kafka:// replies sign in with the mapping\'s own secret, and no topic grant is made (SCRAM is not IAM)', () => {
  const secret = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:AmazonMSK_bridge-AbCdEf';
  const { template } = synth({ ...base, kafkaSecretArn: secret, kafkaSecretKmsKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab' });
  const env = Object.values(template.findResources('AWS::Lambda::Function'))
    .map((f) => f.Properties.Environment?.Variables as Record<string, string> | undefined)
    .find((v) => v?.ROUTES_CONFIG_FILE)!;
  expect(env).toMatchObject({ REPLY_KAFKA_AUTH: 'scram-sha-512', REPLY_KAFKA_SECRET_ARN: secret });
  const s = statements(template);
  expect(replyStatements(s).map((x) => x.Sid)).toEqual(['ReplySqs', 'ReplySns', 'ReplyEventBridge']);
  expect(JSON.stringify(s.filter((x) => JSON.stringify(x.Action).includes('secretsmanager:GetSecretValue')))).toContain(secret);
});
