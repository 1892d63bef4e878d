// The DynamoDB edge of idempotency: one conditional write claims a record before it is sent, one update
// marks it delivered, a delete releases it after a failure. Hand-written rather than
// @aws-lambda-powertools/idempotency: that utility wraps a function whose exception releases the claim and
// whose stored result is replayed, so it cannot tell a replay from a fresh delivery (the DuplicatesSkipped
// metric needs exactly that) and would force exceptions as control flow for classified delivery results.
// Over 200 lines: every state of a claim (IN_PROGRESS, lease, FAILED, TASK, REPLY_PENDING, COMPLETED, CONTEXT) and
// the conditions that move it are one state machine, kept in one file so each transition's condition can be read
// against the others.
import { randomUUID } from 'node:crypto';
import type { StoredVerdict } from '../ports';
import { createDynamoClient, DynamoError, type DynamoClient } from './dynamo-client';
import type { Idempotency } from '../ports';

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

/** An item as DynamoDB's JSON protocol returns it (only the attribute kinds the store writes). */
type Item = Record<string, { S?: string; N?: string } | undefined>;

const isConditionFailure = (err: unknown): err is DynamoError => err instanceof DynamoError && err.name === 'ConditionalCheckFailedException';

const S = (s: string) => ({ S: s });
const N = (n: number) => ({ N: String(n) });

// `status` and `owner` are DynamoDB reserved words, so expressions name them through these aliases.
const ALIASES = { '#s': 'status', '#o': 'owner' };
/** The states the conditions test and the moves set, by the placeholder the expressions use. */
const STATES = { ':inprog': S('IN_PROGRESS'), ':task': S('TASK'), ':failed': S('FAILED'), ':pending': S('REPLY_PENDING'), ':done': S('COMPLETED') };

/**
 * Every move of a claim after it is made, side by side: what it writes (`set`) and the state it must find
 * (`when`). Each is one conditional UpdateItem; a failed condition throws ConditionalCheckFailedException.
 */
const MOVES = {
  // Only one redelivery takes a TASK over once its poller's hold has passed: the one that saw this hold.
  takeOverTask: { set: 'SET #o = :me, heldUntil = :hold', when: '#s = :task AND heldUntil = :seen' },
  // A stored verdict is completed by whichever invocation wrote its dead letter.
  complete: { set: 'SET #s = :done, expiresAt = :exp, completedAt = :at REMOVE verdict', when: '#o = :me OR #s = :failed' },
  keepReply: { set: 'SET #s = :pending, reply = :r, expiresAt = :exp', when: '#o = :me' },
  // Any invocation may finish it (not only the one that kept it): the condition only guards the state.
  replyWritten: { set: 'SET #s = :done, completedAt = :at REMOVE reply', when: '#s = :pending' },
  lease: { set: 'SET expiresAt = :exp, leasedUntil = :until', when: '#o = :me AND #s = :inprog' },
  // A TASK claim too: a task given up on (cancelled) whose record cannot be dead-lettered yet.
  fail: { set: 'SET #s = :failed, verdict = :v, expiresAt = :exp', when: '#o = :me AND #s IN (:inprog, :task)' },
  keepTask: { set: 'SET #s = :task, taskId = :id, taskUrl = :url, taskStartedAt = :at, heldUntil = :hold, expiresAt = :exp', when: '#o = :me' },
};
// The one move that deletes: a TASK claim is released when the bridge gave up on its task (cancelled, or left on purpose).
const RELEASE_WHEN = '#o = :me AND #s IN (:inprog, :task)';

/** The entries of `table` the expressions name: DynamoDB refuses a request that declares a name or value it does not use. */
function usedIn<T>(table: Record<string, T>, ...expressions: string[]): Record<string, T> {
  const used = new Set(expressions.flatMap((e) => e.match(/[:#][A-Za-z]+/g) ?? []));
  return Object.fromEntries(Object.entries(table).filter(([k]) => used.has(k)));
}

/**
 * Item: `id` (partition key: `<topic>-<partition>-<offset>#<route>`), `status` IN_PROGRESS | COMPLETED,
 * `expiresAt` (epoch seconds, the table's TTL attribute: an IN_PROGRESS claim lapses at its invocation's
 * deadline, a COMPLETED mark after IDEMPOTENCY_TTL_SECONDS), `owner` (the claiming invocation). Status
 * REPLY_PENDING adds `reply`: the agent answered but the reply is unwritten; it expires like COMPLETED.
 * A lease is an IN_PROGRESS claim whose `expiresAt` is moved to the lease's end (with `leasedUntil`,
 * epoch ms, for operators); status FAILED holds `verdict` (JSON: class, code, message, attempts), a permanent
 * failure not dead-lettered yet, and expires like COMPLETED.
 * Status TASK (task mode) adds `taskId`, `taskUrl`, `taskStartedAt` and `heldUntil` (epoch ms: the
 * polling invocation's hold; after it a claim takes the item over); it expires like COMPLETED.
 * Conversations: item `ctx#<route>#<key>`, status CONTEXT, `contextId`, its own `expiresAt`.
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
  const me = S(owner);
  const epoch = (ms: number) => Math.ceil(ms / 1000);
  /** `expiresAt` of a finished item (COMPLETED, FAILED, REPLY_PENDING, TASK): IDEMPOTENCY_TTL_SECONDS from now. */
  const ttlEnd = () => N(epoch(now()) + o.ttlSeconds);
  const getItem = async (key: string, signal?: AbortSignal) =>
    (await db().send<{ Item?: Item }>('GetItem', { TableName: o.table, Key: { id: S(key) }, ConsistentRead: true }, signal)).Item;
  // Every call carries the caller's signal: the client's own limits (3 s x 3 attempts) know no deadline.
  const move = (key: string, name: keyof typeof MOVES, values: Item, signal?: AbortSignal) => {
    const { set, when } = MOVES[name];
    return db().send(
      'UpdateItem',
      {
        TableName: o.table,
        Key: { id: S(key) },
        UpdateExpression: set,
        ConditionExpression: when,
        ExpressionAttributeNames: usedIn(ALIASES, set, when),
        ExpressionAttributeValues: { ...usedIn({ ...STATES, ':me': me }, set, when), ...values },
      },
      signal,
    );
  };
  return {
    async claim(key, holdUntilMs, signal) {
      try {
        await db().send(
          'PutItem',
          {
            TableName: o.table,
            Item: { id: S(key), status: S('IN_PROGRESS'), owner: me, expiresAt: N(epoch(holdUntilMs)) },
            // TTL deletion lags by hours, so an expired item is treated as absent here.
            ConditionExpression: 'attribute_not_exists(id) OR expiresAt < :now',
            ExpressionAttributeValues: { ':now': N(Math.floor(now() / 1000)) },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          },
          signal,
        );
        return 'claimed';
      } catch (err) {
        if (isConditionFailure(err)) {
          // Older DynamoDB-compatible stores do not return the item with the failure: read it then.
          const item = (err.Item as Item | undefined) ?? (await getItem(key, signal));
          const status = item?.status?.S;
          // --- task mode: the agent's task runs; once its poller's hold has passed, poll it here.
          if (status === 'TASK' && item?.taskId?.S && item.taskUrl?.S) {
            const heldUntil = Number(item.heldUntil?.N ?? 0);
            if (heldUntil > now()) return 'in_progress';
            try {
              await move(key, 'takeOverTask', { ':hold': N(holdUntilMs), ':seen': N(heldUntil) }, signal);
            } catch (e) {
              if (isConditionFailure(e)) return 'in_progress';
              throw e;
            }
            return { task: { taskId: item.taskId.S, url: item.taskUrl.S, startedAt: Number(item.taskStartedAt?.N ?? 0), holdUntilMs } };
          }
          // --- a permanent verdict waiting to be dead-lettered.
          if (status === 'FAILED' && item?.verdict?.S !== undefined) return { verdict: JSON.parse(item.verdict.S) as StoredVerdict };
          // --- reply stage: the agent answered, its reply waits to be written.
          if (status === 'REPLY_PENDING' && item?.reply?.S !== undefined) return { replyPending: item.reply.S };
          return status === 'COMPLETED' ? 'completed' : 'in_progress';
        }
        throw err;
      }
    },
    async complete(key, signal) {
      await move(key, 'complete', { ':exp': ttlEnd(), ':at': S(new Date(now()).toISOString()) }, signal);
    },
    // --- reply stage: REPLY_PENDING holds an unwritten reply (size-capped by the caller) until it is written.
    async keepReply(key, reply, signal) {
      await move(key, 'keepReply', { ':r': S(reply), ':exp': ttlEnd() }, signal);
    },
    async replyWritten(key, signal) {
      await move(key, 'replyWritten', { ':at': S(new Date(now()).toISOString()) }, signal);
    },
    // --- the outcome is unknown; the claim holds until untilMs, then the record may be sent again.
    async lease(key, untilMs, signal) {
      await move(key, 'lease', { ':exp': N(epoch(untilMs)), ':until': N(Math.round(untilMs)) }, signal);
    },
    async fail(key, verdict, signal) {
      const stored = { class: verdict.class, code: verdict.code, message: verdict.message.slice(0, 4096), attempts: verdict.attempts };
      await move(key, 'fail', { ':v': S(JSON.stringify(stored)), ':exp': ttlEnd() }, signal);
    },
    // --- task mode: the claim now holds the running task, for a redelivery to poll.
    async keepTask(key, task, signal) {
      const values = { ':id': S(task.taskId), ':url': S(task.url), ':at': N(task.startedAt), ':hold': N(task.holdUntilMs), ':exp': ttlEnd() };
      await move(key, 'keepTask', values, signal);
    },
    // --- conversations per key: one item per route and key, its own TTL.
    async getContext(key, signal) {
      const item = await getItem(key, signal);
      // TTL deletion lags by hours: an expired conversation is over.
      if (item?.status?.S !== 'CONTEXT' || Number(item.expiresAt?.N ?? 0) * 1000 <= now()) return undefined;
      return item.contextId?.S;
    },
    async putContext(key, contextId, ttlSeconds, signal) {
      await db().send(
        'PutItem',
        { TableName: o.table, Item: { id: S(key), status: S('CONTEXT'), contextId: S(contextId), expiresAt: N(epoch(now()) + ttlSeconds) } },
        signal,
      );
    },
    async release(key, signal) {
      try {
        await db().send(
          'DeleteItem',
          {
            TableName: o.table,
            Key: { id: S(key) },
            ConditionExpression: RELEASE_WHEN,
            ExpressionAttributeNames: usedIn(ALIASES, RELEASE_WHEN),
            ExpressionAttributeValues: usedIn({ ...STATES, ':me': me }, RELEASE_WHEN),
          },
          signal,
        );
      } catch (err) {
        if (!(isConditionFailure(err))) throw err;
      }
    },
  };
}
