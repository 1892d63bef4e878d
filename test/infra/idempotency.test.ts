// The idempotency table: on by default, least-privilege, wired into the function; off with a flag.
import { Match } from 'aws-cdk-lib/assertions';
import { CLUSTER_ARN, logicalId, ROUTES, synth, type Synthesized } from './helpers';

const base = { mskClusterArn: CLUSTER_ARN, topics: 'orders', routesFile: ROUTES, archestraUrl: 'https://archestra.example.com' };
let on: Synthesized;
let off: Synthesized;

beforeAll(() => {
  const quiet = jest.spyOn(console, 'error').mockImplementation(() => undefined);
  on = synth({ ...base, idempotencyTtlSeconds: '3600' });
  off = synth({ ...base, idempotency: 'false' });
  quiet.mockRestore();
});

test('an on-demand table keyed by id, TTL on expiresAt, point-in-time recovery, encrypted', () => {
  on.template.hasResourceProperties('AWS::DynamoDB::Table', {
    KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
    AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
    BillingMode: 'PAY_PER_REQUEST',
    TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    SSESpecification: { SSEEnabled: true },
  });
});

test('the function gets the table name and TTL, and only the four item actions on this table', () => {
  const t = on.template;
  const table = logicalId(t, 'AWS::DynamoDB::Table', 'IdempotencyTable');
  t.hasResourceProperties('AWS::Lambda::Function', {
    Environment: { Variables: Match.objectLike({ IDEMPOTENCY_TABLE: { Ref: table }, IDEMPOTENCY_TTL_SECONDS: '3600' }) },
  });
  const statements = Object.values(t.findResources('AWS::IAM::Policy')).flatMap(
    (p) => (p.Properties.PolicyDocument.Statement as Array<{ Action: string | string[]; Resource: unknown }>),
  );
  const dynamo = statements.filter((s) => [s.Action].flat().some((a) => a.startsWith('dynamodb:')));
  expect(dynamo).toHaveLength(1);
  expect([dynamo[0].Action].flat().sort()).toEqual(['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']);
  expect(JSON.stringify(dynamo[0].Resource)).toContain(table);
  expect(JSON.stringify(dynamo[0].Resource)).not.toContain('*');
  t.hasOutput('IdempotencyTableName', { Value: { Ref: table } });
});

test('idempotency=false leaves the table and its variables out', () => {
  off.template.resourceCountIs('AWS::DynamoDB::Table', 0);
  const fn = Object.values(off.template.findResources('AWS::Lambda::Function')).find((f) => f.Properties.Environment?.Variables?.DLQ_URL);
  expect(fn!.Properties.Environment.Variables.IDEMPOTENCY_TABLE).toBeUndefined();
});

test('the dashboard charts duplicates skipped per route', () => {
  expect(JSON.stringify(on.template.toJSON())).toContain('DuplicatesSkipped per route');
});
