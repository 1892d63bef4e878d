// The DynamoDB edge of idempotency: one conditional write claims a record before it is sent, one update
// marks it delivered, a delete releases it after a failure. Hand-written rather than
// @aws-lambda-powertools/idempotency: that utility wraps a function whose exception releases the claim and
// whose stored result is replayed, so it cannot tell a replay from a fresh delivery (the DuplicatesSkipped
// metric needs exactly that) and would force exceptions as control flow for classified delivery results.
import { randomUUID } from 'node:crypto';
import type { Idempotency } from '../pipeline';
import { createDynamoClient, DynamoError, type DynamoClient } from './dynamo-client';

export interface DynamoIdempotencyOptions {
  table: string;
  ttlSeconds: number;
  /** Default: lambda/io/dynamo-client.ts with the Lambda environment's region, credentials and endpoint. */
  client?: DynamoClient;
  /**
   * A local DynamoDB-compatible server (tests, dynalite, moto): the client is built for it, with the environment's
   * credentials when it has them and placeholders otherwise (such servers do not check them).
   */
  endpoint?: string;
  now?: () => number;
}

const isConditionFailure = (err: unknown): err is DynamoError => err instanceof DynamoError && err.name === 'ConditionalCheckFailedException';

/**
 * Item: `id` (partition key: `<topic>-<partition>-<offset>#<route>`), `status` IN_PROGRESS | COMPLETED,
 * `expiresAt` (epoch seconds, the table's TTL attribute: an IN_PROGRESS claim lapses at its invocation's
 * deadline, a COMPLETED mark after IDEMPOTENCY_TTL_SECONDS), `owner` (the claiming invocation). Status
 * REPLY_PENDING (issue 14) adds `reply`: the agent answered but the reply is unwritten; it expires like COMPLETED.
 */
export function createDynamoIdempotency(o: DynamoIdempotencyOptions): Idempotency {
  // Built at the first claim: reading the environment then, not at import, keeps module load free of it.
  let client: DynamoClient | undefined;
  const db = () =>
    (client ??=
      o.client ??
      createDynamoClient(
        o.endpoint
          ? { endpoint: o.endpoint, region: process.env.AWS_REGION ?? 'us-east-1', credentials: process.env.AWS_ACCESS_KEY_ID ? undefined : { accessKeyId: 'local', secretAccessKey: 'local' } }
          : {},
      ));
  const now = o.now ?? Date.now;
  // One owner per container: a claim is only completed or released by the invocation family that made it.
  const owner = randomUUID();
  const epoch = (ms: number) => Math.ceil(ms / 1000);
  return {
    async claim(key, holdUntilMs, signal) {
      // Every call carries the caller's signal: the client's own limits (3 s x 3 attempts) know no deadline.
      try {
        await db().send(
          'PutItem',
          {
            TableName: o.table,
            Item: {
              id: { S: key },
              status: { S: 'IN_PROGRESS' },
              owner: { S: owner },
              expiresAt: { N: String(epoch(holdUntilMs)) },
            },
            // TTL deletion lags by hours, so an expired item is treated as absent here.
            ConditionExpression: 'attribute_not_exists(id) OR expiresAt < :now',
            ExpressionAttributeValues: { ':now': { N: String(Math.floor(now() / 1000)) } },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          },
          signal,
        );
        return 'claimed';
      } catch (err) {
        if (isConditionFailure(err)) {
          // Older DynamoDB-compatible stores do not return the item with the failure: read it then.
          type Item = Record<string, { S?: string } | undefined>;
          const item = (err.Item as Item | undefined) ??
            (await db().send<{ Item?: Item }>('GetItem', { TableName: o.table, Key: { id: { S: key } }, ConsistentRead: true, ProjectionExpression: '#s, reply', ExpressionAttributeNames: { '#s': 'status' } }, signal))
              .Item;
          const status = item?.status?.S;
          // --- reply stage (issue 14): the agent answered, its reply waits to be written.
          if (status === 'REPLY_PENDING' && item?.reply?.S !== undefined) return { replyPending: item.reply.S };
          return status === 'COMPLETED' ? 'completed' : 'in_progress';
        }
        throw err;
      }
    },
    async complete(key, signal) {
      await db().send(
        'UpdateItem',
        {
          TableName: o.table,
          Key: { id: { S: key } },
          UpdateExpression: 'SET #s = :done, expiresAt = :exp, completedAt = :at',
          ConditionExpression: '#o = :me',
          ExpressionAttributeNames: { '#s': 'status', '#o': 'owner' },
          ExpressionAttributeValues: {
            ':done': { S: 'COMPLETED' },
            ':exp': { N: String(epoch(now()) + o.ttlSeconds) },
            ':at': { S: new Date(now()).toISOString() },
            ':me': { S: owner },
          },
        },
        signal,
      );
    },
    // --- reply stage (issue 14): REPLY_PENDING holds an unwritten reply (size-capped by the caller) until it is written.
    async keepReply(key, reply, signal) {
      await db().send(
        'UpdateItem',
        {
          TableName: o.table,
          Key: { id: { S: key } },
          UpdateExpression: 'SET #s = :pending, reply = :r, expiresAt = :exp',
          ConditionExpression: '#o = :me',
          ExpressionAttributeNames: { '#s': 'status', '#o': 'owner' },
          ExpressionAttributeValues: { ':pending': { S: 'REPLY_PENDING' }, ':r': { S: reply }, ':exp': { N: String(epoch(now()) + o.ttlSeconds) }, ':me': { S: owner } },
        },
        signal,
      );
    },
    async replyWritten(key, signal) {
      // Any invocation may finish it (not only the one that kept it): the condition only guards the state.
      await db().send(
        'UpdateItem',
        {
          TableName: o.table,
          Key: { id: { S: key } },
          UpdateExpression: 'SET #s = :done, completedAt = :at REMOVE reply',
          ConditionExpression: '#s = :pending',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: { ':done': { S: 'COMPLETED' }, ':pending': { S: 'REPLY_PENDING' }, ':at': { S: new Date(now()).toISOString() } },
        },
        signal,
      );
    },
    async release(key, signal) {
      try {
        await db().send(
          'DeleteItem',
          {
            TableName: o.table,
            Key: { id: { S: key } },
            ConditionExpression: '#o = :me AND #s = :inprog',
            ExpressionAttributeNames: { '#o': 'owner', '#s': 'status' },
            ExpressionAttributeValues: { ':me': { S: owner }, ':inprog': { S: 'IN_PROGRESS' } },
          },
          signal,
        );
      } catch (err) {
        if (!isConditionFailure(err)) throw err;
      }
    },
  };
}
