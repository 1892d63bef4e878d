// The lean DynamoDB client (lambda/io/dynamo-client.ts) against real servers: dynalite and moto_server for the
// DynamoDB API, raw node:http servers for what those cannot be made to do (throttle, fail with a 5xx, hang), and a
// server that recomputes each request's SigV4 signature with the AWS SDK's own signer (@smithy/signature-v4).
import type { ServerResponse } from 'node:http';
import { createDynamoClient, DynamoError, signDynamoPost } from '../../lambda/io/dynamo-client';
import { json, rawServer, signedAsTheSdkWould } from '../support/aws-json-server';
import { startDynalite, type Dynalite } from '../support/dynalite';
import { startMoto, type MotoServer } from '../support/moto';

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const TABLE = {
  AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
  KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
  BillingMode: 'PAY_PER_REQUEST',
};

/** dynalite and moto create a table asynchronously: wait for ACTIVE before the first write. */
async function createTable(c: ReturnType<typeof createDynamoClient>, name: string) {
  await c.send('CreateTable', { TableName: name, ...TABLE });
  while ((await c.send('DescribeTable', { TableName: name })).Table.TableStatus !== 'ACTIVE') await new Promise((r) => setTimeout(r, 5));
}

describe('against dynalite', () => {
  let db: Dynalite;
  beforeAll(async () => {
    db = await startDynalite();
  });
  afterAll(() => db.stop());

  test('the SDK-shaped operations round-trip: CreateTable, PutItem, GetItem, UpdateItem, DeleteItem', async () => {
    const c = createDynamoClient({ endpoint: db.endpoint, region: 'us-east-1', credentials });
    await createTable(c, 'lean-1');
    expect(await c.send('PutItem', { TableName: 'lean-1', Item: { id: { S: 'a' }, n: { N: '1' } } })).toEqual({});
    await c.send('UpdateItem', { TableName: 'lean-1', Key: { id: { S: 'a' } }, UpdateExpression: 'SET n = :two', ExpressionAttributeValues: { ':two': { N: '2' } } });
    expect((await c.send('GetItem', { TableName: 'lean-1', Key: { id: { S: 'a' } }, ConsistentRead: true })).Item).toEqual({ id: { S: 'a' }, n: { N: '2' } });
    await c.send('DeleteItem', { TableName: 'lean-1', Key: { id: { S: 'a' } } });
    expect((await c.send('GetItem', { TableName: 'lean-1', Key: { id: { S: 'a' } }, ConsistentRead: true })).Item).toBeUndefined();
  });

  test("a failed condition is an error named ConditionalCheckFailedException, and is not retried", async () => {
    const c = createDynamoClient({ endpoint: db.endpoint, region: 'us-east-1', credentials });
    await createTable(c, 'lean-2');
    await c.send('PutItem', { TableName: 'lean-2', Item: { id: { S: 'a' } } });
    const err = await c.send('PutItem', { TableName: 'lean-2', Item: { id: { S: 'a' } }, ConditionExpression: 'attribute_not_exists(id)' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DynamoError);
    expect((err as DynamoError).name).toBe('ConditionalCheckFailedException');
    expect((err as DynamoError).retryable).toBe(false);
  });

  test('region, endpoint and credentials come from the Lambda environment', async () => {
    const env = { AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL_DYNAMODB: db.endpoint, AWS_ACCESS_KEY_ID: 'AKIDENV', AWS_SECRET_ACCESS_KEY: 'secret', AWS_SESSION_TOKEN: 'session' };
    const c = createDynamoClient({ env });
    await createTable(c, 'lean-3');
    expect((await c.send('DescribeTable', { TableName: 'lean-3' })).Table.TableName).toBe('lean-3');
    expect(() => createDynamoClient({ env: { AWS_ENDPOINT_URL: db.endpoint } })).toThrow(/region/);
    await expect(createDynamoClient({ env: { AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL: db.endpoint } }).send('DescribeTable', { TableName: 'lean-3' })).rejects.toThrow(/credentials/);
  });
});

test('moto_server: ReturnValuesOnConditionCheckFailure puts the current item on the error', async () => {
  let moto: MotoServer | undefined;
  try {
    moto = await startMoto();
    const c = createDynamoClient({ endpoint: moto.endpoint, region: 'us-east-1', credentials });
    await createTable(c, 'lean-moto');
    await c.send('PutItem', { TableName: 'lean-moto', Item: { id: { S: 'k' }, status: { S: 'COMPLETED' } } });
    const err = (await c
      .send('PutItem', { TableName: 'lean-moto', Item: { id: { S: 'k' }, status: { S: 'IN_PROGRESS' } }, ConditionExpression: 'attribute_not_exists(id)', ReturnValuesOnConditionCheckFailure: 'ALL_OLD' })
      .catch((e: unknown) => e)) as DynamoError;
    expect(err.name).toBe('ConditionalCheckFailedException');
    expect(err.Item).toEqual({ id: { S: 'k' }, status: { S: 'COMPLETED' } });
  } finally {
    await moto?.stop();
  }
}, 60_000);

test("the signature is the one the AWS SDK's own signer computes for the same request", async () => {
  // A server that accepts a request only if its Authorization header is what @smithy/signature-v4 computes for it.
  const server = await rawServer(async (req, body, _n, res) => {
    const ok = await signedAsTheSdkWould(req, body, { service: 'dynamodb', region: 'us-east-1', credentials: { ...credentials, sessionToken: 'tok' } });
    json(res, ok ? 200 : 400, ok ? {} : { __type: 'com.amazon.coral.service#InvalidSignatureException', message: 'signature mismatch' });
  });
  try {
    const c = createDynamoClient({ endpoint: server.url, region: 'us-east-1', credentials: { ...credentials, sessionToken: 'tok' } });
    await expect(c.send('PutItem', { TableName: 'x', Item: { id: { S: 'é ü 😀' } } })).resolves.toEqual({});
    // And a wrong secret is refused by the same server: the check can fail.
    const wrong = createDynamoClient({ endpoint: server.url, region: 'us-east-1', credentials: { ...credentials, secretAccessKey: 'other', sessionToken: 'tok' } });
    await expect(wrong.send('PutItem', { TableName: 'x', Item: {} })).rejects.toMatchObject({ name: 'InvalidSignatureException' });
  } finally {
    await server.close();
  }
});

test('the signing key is derived once per day and secret', () => {
  const keys = new Map<string, Buffer>();
  const sign = (date: string, secret = 's') =>
    signDynamoPost({ host: 'h', region: 'us-east-1', target: 'DynamoDB_20120810.GetItem', body: '{}', credentials: { accessKeyId: 'a', secretAccessKey: secret }, date: new Date(date), keys });
  const a = sign('2026-12-01T00:00:00Z').authorization;
  sign('2026-12-01T10:00:00Z');
  expect(keys.size).toBe(1);
  expect(sign('2026-12-01T00:00:00Z').authorization).toBe(a);
  sign('2026-12-02T00:00:00Z');
  expect(keys.size).toBe(1);
  expect([...keys.keys()][0]).toContain('20261202');
  expect(sign('2026-12-01T00:00:00Z', 'other').authorization).not.toBe(a);
});

describe('retries within the deadline', () => {
  test('throttling is retried, then the reply is returned', async () => {
    const server = await rawServer((_req, _body, n, res) =>
      n <= 2 ? json(res, 400, { __type: 'com.amazonaws.dynamodb.v20120810#ThrottlingException', message: 'slow down' }) : json(res, 200, { Item: { id: { S: 'a' } } }),
    );
    try {
      const c = createDynamoClient({ endpoint: server.url, region: 'us-east-1', credentials, random: () => 0 });
      expect(await c.send('GetItem', { TableName: 'x', Key: { id: { S: 'a' } } })).toEqual({ Item: { id: { S: 'a' } } });
      expect(server.seen).toHaveLength(3);
      expect(server.seen.map((s) => s.headers['x-amz-target'])).toEqual(Array(3).fill('DynamoDB_20120810.GetItem'));
    } finally {
      await server.close();
    }
  });

  test('a 5xx is retried up to maxAttempts, then thrown with its status', async () => {
    const server = await rawServer((_req, _body, _n, res) => json(res, 500, { __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: 'boom' }));
    try {
      const c = createDynamoClient({ endpoint: server.url, region: 'us-east-1', credentials, random: () => 0, maxAttempts: 3 });
      const err = (await c.send('PutItem', { TableName: 'x', Item: {} }).catch((e: unknown) => e)) as DynamoError;
      expect(err).toBeInstanceOf(DynamoError);
      expect(err.name).toBe('InternalServerError');
      expect(err.status).toBe(500);
      expect(server.seen).toHaveLength(3);
    } finally {
      await server.close();
    }
  });

  test('a 5xx without a JSON body is named after its status', async () => {
    const server = await rawServer((_req, _body, _n, res) => res.writeHead(503).end('<html>unavailable</html>'));
    try {
      const c = createDynamoClient({ endpoint: server.url, region: 'us-east-1', credentials, random: () => 0, maxAttempts: 2 });
      await expect(c.send('PutItem', { TableName: 'x', Item: {} })).rejects.toMatchObject({ name: 'HTTP503', status: 503 });
      expect(server.seen).toHaveLength(2);
    } finally {
      await server.close();
    }
  });

  test("the caller's signal ends a hanging call, and no retry follows it", async () => {
    const held: ServerResponse[] = [];
    const server = await rawServer((_req, _body, _n, res) => held.push(res));
    try {
      const c = createDynamoClient({ endpoint: server.url, region: 'us-east-1', credentials, attemptTimeoutMs: 60_000 });
      const ac = new AbortController();
      const pending = c.send('PutItem', { TableName: 'x', Item: {} }, ac.signal).catch((e: unknown) => e);
      while (held.length < 1) await new Promise((r) => setTimeout(r, 10));
      ac.abort();
      expect(await pending).toMatchObject({ name: 'AbortError' });
      await new Promise((r) => setTimeout(r, 100));
      expect(server.seen).toHaveLength(1);
    } finally {
      for (const r of held) r.destroy();
      await server.close();
    }
  });

  test('a signal that ends during the backoff stops the retries', async () => {
    const ac = new AbortController();
    const server = await rawServer((_req, _body, _n, res) => {
      json(res, 400, { __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException', message: 'over' });
      setImmediate(() => ac.abort());
    });
    try {
      // random 0.99: the backoff is ~49 ms, long enough for the abort above to land inside it.
      const c = createDynamoClient({ endpoint: server.url, region: 'us-east-1', credentials, random: () => 0.99, maxAttempts: 5 });
      await expect(c.send('PutItem', { TableName: 'x', Item: {} }, ac.signal)).rejects.toMatchObject({ name: 'AbortError' });
      expect(server.seen).toHaveLength(1);
    } finally {
      await server.close();
    }
  });
});
