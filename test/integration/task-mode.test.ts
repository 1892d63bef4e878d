// Task mode, cancel on give-up, awaiting_input and conversations per key, end to end against real peers:
// the Archestra simulator's /v2 endpoint (A2A 1.0 returnImmediately, GetTask, CancelTask), dynalite for the
// idempotency table and moto's SQS for the dead-letter queue. Invocations are short (remainingMs), so a task
// outlives them; the simulator's settleTask decides when a run ends, so nothing here races the clock.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { DeadLetterBody } from '../../lambda/dead-letter';
import { createDynamoIdempotency } from '../../lambda/io/dynamo-idempotency';
import { isCancel, isGetTask, isSend, type ArchestraSim } from '../../sim/archestra';
import { makeBridge } from '../support/bridge';
import type { Dynalite } from '../support/dynalite';
import { mskEvent, type TestRecord } from '../support/kafka';
import { useAwsPeers } from '../support/aws-peers';

const AGENT = '13b13b13-0000-4000-8000-000000000013';
const TOKEN = 'tok-task-mode-5e1d';
let sim: ArchestraSim;
let db: Dynalite;
let sqs: SQSClient;
let tables = 0;
let queues = 0;
useAwsPeers({ token: TOKEN }, (p) => ({ sim, db, sqs } = p));

async function table(): Promise<string> {
  const name = `tasks-${++tables}`;
  await db.createIdempotencyTable(name);
  return name;
}
async function queue(): Promise<string> {
  return (await sqs.send(new CreateQueueCommand({ QueueName: `task-dlq-${++queues}` }))).QueueUrl!;
}
async function letters(url: string): Promise<DeadLetterBody[]> {
  const out: DeadLetterBody[] = [];
  for (;;) {
    const res = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    if (!res.Messages?.length) return out;
    out.push(...res.Messages.map((m) => JSON.parse(m.Body!) as DeadLetterBody));
  }
}

function bridge(route: Record<string, unknown>, o: { table?: string; env?: Record<string, string> } = {}) {
  const env = {
    ARCHESTRA_URL: sim.url,
    ARCHESTRA_TOKEN: TOKEN,
    ROUTES_CONFIG: JSON.stringify([{ name: 'orders', topic_pattern: 'orders', prompt_id: AGENT, a2a_version: '1.0', ...route }]),
    SAFETY_MARGIN_SECONDS: '0.3',
    ...(o.table && { IDEMPOTENCY_TABLE: o.table }),
    ...o.env,
  };
  return makeBridge(env, o.table ? { idempotency: createDynamoIdempotency({ table: o.table, ttlSeconds: 3600, endpoint: db.endpoint }) } : { idempotency: null });
}

const rec = (offset: number, key = 'order-1', partition = 0): TestRecord => ({ topic: 'orders', partition, offset, key, value: { order: offset } });
const sends = () => sim.requests.filter(isSend);
const polls = () => sim.requests.filter(isGetTask);
const cancels = () => sim.requests.filter(isCancel);
/** The id of the task the simulator created for the first send. */
const firstTaskId = () => sends()[0]?.taskId as string;

describe('task mode (A2A 1.0 returnImmediately, GetTask across invocations)', () => {
  test('a task that outlives two invocations is polled by the third and never sent again', async () => {
    const t = await table();
    sim.setBehaviour((r) => (isSend(r) ? { kind: 'task', never: true, text: 'refund issued' } : undefined));
    const b = bridge({ mode: 'task', timeout_seconds: 600 }, { table: t });
    const event = mskEvent([rec(7)]);

    const first = await b.run(event, 3_000);
    expect(first.response.batchItemFailures).toEqual([{ itemIdentifier: { partition: 'orders-0', offset: 7 } }]);
    expect(first.outcomes[0]).toMatchObject({ status: 'failed', code: 'task_pending' });
    expect(sends()).toHaveLength(1);
    expect(sends()[0].returnImmediately).toBe(true);
    const taskId = firstTaskId();
    const item = await db.client.send(new GetItemCommand({ TableName: t, Key: { id: { S: 'orders-0-7#orders' } } }));
    expect(item.Item).toMatchObject({ status: { S: 'TASK' }, taskId: { S: taskId } });

    const second = await b.run(event, 3_000);
    expect(second.outcomes[0]).toMatchObject({ status: 'failed', code: 'task_pending' });
    const pollsBeforeThird = polls().length;

    sim.settleTask(taskId, 'completed');
    const third = await b.run(event, 3_000);
    expect(third.response.batchItemFailures).toEqual([]);
    expect(third.outcomes[0]).toMatchObject({ status: 'delivered', reply: 'refund issued', taskId });
    expect(b.logs.find((l) => l.message === 'record delivered')).toMatchObject({ taskId, outcome: 'delivered' });
    expect(polls().length).toBeGreaterThan(pollsBeforeThird);
    expect(polls().every((p) => p.taskId === taskId)).toBe(true);
    // One run of the agent over three invocations, nothing cancelled.
    expect(sends()).toHaveLength(1);
    expect(cancels()).toHaveLength(0);
    const done = await db.client.send(new GetItemCommand({ TableName: t, Key: { id: { S: 'orders-0-7#orders' } } }));
    expect(done.Item?.status.S).toBe('COMPLETED');
  });

  test('a task that completes within the invocation is delivered in it', async () => {
    const t = await table();
    sim.setBehaviour((r) => (isSend(r) ? { kind: 'task', afterPolls: 1, text: 'done quickly' } : undefined));
    const res = await bridge({ mode: 'task' }, { table: t }).run(mskEvent([rec(1)]));
    expect(res.outcomes[0]).toMatchObject({ status: 'delivered', reply: 'done quickly' });
    expect(sends()).toHaveLength(1);
  });

  test('without the idempotency store a task cannot be resumed: at the deadline it is cancelled and the redelivery sends again', async () => {
    sim.setBehaviour((r) => (isSend(r) ? { kind: 'task', never: true } : undefined));
    const b = bridge({ mode: 'task' });
    expect(b.logs).toContainEqual(expect.objectContaining({ level: 'warn', message: expect.stringContaining('task mode without IDEMPOTENCY_TABLE'), routes: ['orders'] }));
    const first = await b.run(mskEvent([rec(3)]), 3_000);
    expect(first.outcomes[0]).toMatchObject({ status: 'failed', code: 'deadline' });
    expect(cancels()).toHaveLength(1);
    expect(cancels()[0].method).toBe('CancelTask');
    expect(sim.taskState(cancels()[0].taskId!)).toBe('canceled');
    await b.run(mskEvent([rec(3)]), 3_000);
    // The documented cost of running without the store: a second run, the first one cancelled.
    expect(sends()).toHaveLength(2);
  });
});

describe('cancel what the bridge gives up on', () => {
  test('the route timeout counts from the task start: the task is cancelled on the server and the record dead-lettered', async () => {
    const [t, dlq] = await Promise.all([table(), queue()]);
    sim.setBehaviour((r) => (isSend(r) ? { kind: 'task', never: true } : undefined));
    const res = await bridge({ mode: 'task', timeout_seconds: 1 }, { table: t, env: { DLQ_URL: dlq } }).run(mskEvent([rec(5)]), 20_000);
    expect(res.outcomes[0]).toMatchObject({ status: 'dead_lettered', code: 'task_timeout' });
    expect(cancels()).toHaveLength(1);
    expect(sim.taskState(firstTaskId())).toBe('canceled');
    const [letter] = await letters(dlq);
    expect(letter).toMatchObject({ kind: 'permanent_failure', error: { class: 'task_timeout' } });
    // Given up on: the claim that held the task is released, as for any dead-lettered record.
    expect((await db.client.send(new GetItemCommand({ TableName: t, Key: { id: { S: 'orders-0-5#orders' } } }))).Item).toBeUndefined();
  });

  test('a task given up on above a failed offset keeps its verdict: the redelivery dead-letters it without sending or polling', async () => {
    const [t, dlq] = await Promise.all([table(), queue()]);
    let lowerFails = true;
    // Offset 3 (key a) fails without being run (503) until the test says so; offset 4 (key b) is a task that never ends.
    sim.setBehaviour((r) => {
      if (!isSend(r)) return undefined;
      if (r.text?.includes('"order": 3')) return lowerFails ? { kind: 'http', status: 503 } : { kind: 'message', text: 'ok' };
      return { kind: 'task', never: true };
    });
    const b = bridge({ mode: 'task', timeout_seconds: 1 }, { table: t, env: { DLQ_URL: dlq, MAX_RETRIES: '0' } });
    const event = mskEvent([rec(3, 'a'), rec(4, 'b')]);

    const first = await b.run(event, 20_000);
    expect(first.response.batchItemFailures).toEqual([{ itemIdentifier: { partition: 'orders-0', offset: 3 } }]);
    expect(first.outcomes.find((o) => o.offset === 4)).toMatchObject({ status: 'failed', code: 'task_timeout' });
    expect(cancels()).toHaveLength(1);
    const stored = await db.client.send(new GetItemCommand({ TableName: t, Key: { id: { S: 'orders-0-4#orders' } } }));
    expect(stored.Item?.status.S).toBe('FAILED');
    expect(await letters(dlq)).toEqual([]);
    const taskSends = () => sends().filter((r) => r.text?.includes('"order": 4')).length;
    expect(taskSends()).toBe(1);
    const pollsBefore = polls().length;

    lowerFails = false;
    const second = await b.run(event, 20_000);
    expect(second.response.batchItemFailures).toEqual([]);
    expect(second.outcomes.find((o) => o.offset === 4)).toMatchObject({ status: 'dead_lettered', code: 'task_timeout' });
    // Dead-lettered from the stored verdict: the agent got the record once, and the task was not polled again.
    expect(taskSends()).toBe(1);
    expect(polls().length).toBe(pollsBefore);
    const lettered = await letters(dlq);
    expect(lettered).toHaveLength(1);
    expect(lettered[0]).toMatchObject({ kind: 'permanent_failure', error: { class: 'task_timeout' } });
  });

  test('on_give_up "leave" lets the task run: no cancel is sent', async () => {
    sim.setBehaviour((r) => (isSend(r) ? { kind: 'task', never: true } : undefined));
    const res = await bridge({ mode: 'task', on_give_up: 'leave' }).run(mskEvent([rec(6)]), 3_000);
    expect(res.outcomes[0]).toMatchObject({ status: 'failed', code: 'deadline' });
    expect(cancels()).toHaveLength(0);
    expect(sim.taskState(firstTaskId())).toBe('working');
  });

  test('message mode: a polled task still running at the invocation deadline is cancelled with CancelTask', async () => {
    sim.setBehaviour((r) => (isSend(r) ? { kind: 'task', never: true } : undefined));
    const res = await bridge({}, { env: { MAX_RETRIES: '0' } }).run(mskEvent([rec(9)]), 3_000);
    expect(res.outcomes[0]).toMatchObject({ status: 'failed', code: 'deadline' });
    expect(cancels().map((c) => c.method)).toEqual(['CancelTask']);
    expect(sim.taskState(firstTaskId())).toBe('canceled');
  });

  test('message mode on A2A 0.3: a polled task past the route timeout is cancelled with tasks/cancel', async () => {
    sim.setBehaviour((r) => (isSend(r) ? { kind: 'task', never: true } : undefined));
    const res = await bridge({ a2a_version: '0.3', timeout_seconds: 1 }, { env: { MAX_RETRIES: '0' } }).run(mskEvent([rec(8)]), 20_000);
    expect(res.outcomes[0]).toMatchObject({ status: 'failed', code: 'task_timeout' });
    expect(cancels().map((c) => c.method)).toEqual(['tasks/cancel']);
    expect(sim.taskState(cancels()[0].taskId!)).toBe('canceled');
  });
});

describe('input-required settles as awaiting_input', () => {
  test('the task id and approval requests go to the dead-letter queue, and the partition moves on', async () => {
    const [t, dlq] = await Promise.all([table(), queue()]);
    const approvals = [{ id: 'appr-1', toolName: 'refund_order', arguments: { orderId: 'o-9', amount: 120 } }];
    sim.setBehaviour((r) => {
      if (!isSend(r)) return undefined;
      return (JSON.parse(r.text!) as { order: number }).order === 10
        ? { kind: 'task', afterPolls: 1, finalState: 'input-required', approvalRequests: approvals, statusText: 'Approve the refund?' }
        : { kind: 'message', text: 'ok' };
    });
    const b = bridge({ mode: 'task' }, { table: t, env: { DLQ_URL: dlq } });
    const res = await b.run(mskEvent([rec(10), rec(11)]));
    expect(res.response.batchItemFailures).toEqual([]);
    expect(res.outcomes.map((o) => [o.offset, o.status, o.code])).toEqual([
      [10, 'dead_lettered', 'awaiting_input'],
      [11, 'delivered', undefined],
    ]);
    const [letter] = await letters(dlq);
    expect(letter.kind).toBe('awaiting_input');
    expect(letter.task).toEqual({ taskId: firstTaskId(), contextId: expect.any(String), approvalRequests: approvals });
    expect(letter.error.message).toContain('Approve the refund?');
    // Settled: the redelivery of the batch runs nothing again.
    const again = await b.run(mskEvent([rec(10), rec(11)]));
    expect(again.outcomes.map((o) => o.status)).toEqual(['duplicate', 'duplicate']);
    expect(sends()).toHaveLength(2);
    expect(cancels()).toHaveLength(0);
  });
});

describe('input-required on a route with a reply destination', () => {
  test('the reply envelope says awaiting_input with the task id and approval requests; nothing goes to the DLQ', async () => {
    const [t, dlq] = await Promise.all([table(), queue()]);
    const dir = mkdtempSync(join(tmpdir(), 'task-replies-'));
    const approvals = [{ id: 'appr-2', toolName: 'send_email' }];
    sim.setBehaviour((r) => (isSend(r) ? { kind: 'task', finalState: 'input-required', approvalRequests: approvals, statusText: 'May I email the customer?' } : undefined));
    const b = bridge({ mode: 'task', reply: 'arn:aws:sqs:us-east-1:123456789012:replies' }, { table: t, env: { DLQ_URL: dlq, REPLY_DIR: dir } });
    const res = await b.run(mskEvent([rec(40)]));
    expect(res.response.batchItemFailures).toEqual([]);
    expect(res.outcomes[0]).toMatchObject({ status: 'delivered', code: 'awaiting_input', taskId: sends()[0].taskId });
    const files = readdirSync(dir);
    expect(files).toHaveLength(1);
    const envelope = JSON.parse(readFileSync(join(dir, files[0]), 'utf8')) as { data: Record<string, unknown> };
    expect(envelope.data).toMatchObject({ state: 'awaiting_input', taskId: sends()[0].taskId, approvalRequests: approvals });
    expect((envelope.data.reply as { text: string }).text).toContain('May I email the customer?');
    expect(await letters(dlq)).toEqual([]);
    const done = await db.client.send(new GetItemCommand({ TableName: t, Key: { id: { S: 'orders-0-40#orders' } } }));
    expect(done.Item?.status.S).toBe('COMPLETED');
  });
});

describe('conversations per key', () => {
  test('the next record of a key carries the contextId the agent answered the first in; another key does not', async () => {
    const t = await table();
    const b = bridge({ conversation: 'key' }, { table: t, env: { ORDERING: 'key' } });
    const first = await b.run(mskEvent([rec(20, 'order-A'), rec(21, 'order-B'), rec(22, 'order-A')]));
    expect(first.response.batchItemFailures).toEqual([]);
    const byOffset = (o: number) => sends().find((s) => (JSON.parse(s.text!) as { order: number }).order === o)!;
    const stored = async (key: string) =>
      (await db.client.send(new GetItemCommand({ TableName: t, Key: { id: { S: `ctx#orders#${Buffer.from(key).toString('base64')}` } } }))).Item;
    const a = await stored('order-A');
    const bItem = await stored('order-B');
    expect(a?.status.S).toBe('CONTEXT');
    // Its own expiry: CONVERSATION_TTL_SECONDS (default 7 days) after the key's last record.
    expect(Number(a?.expiresAt.N)).toBeGreaterThan(Date.now() / 1000 + 7 * 24 * 3600 - 120);
    expect(byOffset(20).contextId).toBeUndefined();
    expect(byOffset(21).contextId).toBeUndefined();
    expect(byOffset(22).contextId).toBe(a?.contextId.S);
    expect(bItem?.contextId.S).not.toBe(a?.contextId.S);
    // Across invocations too: the key's conversation is in the table, not in memory.
    await makeBridge(
      { ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: JSON.stringify([{ name: 'orders', topic_pattern: 'orders', prompt_id: AGENT, a2a_version: '1.0', conversation: 'key' }]), IDEMPOTENCY_TABLE: t },
      { idempotency: createDynamoIdempotency({ table: t, ttlSeconds: 3600, endpoint: db.endpoint }) },
    ).run(mskEvent([rec(30, 'order-B')]));
    expect(byOffset(30).contextId).toBe(bItem?.contextId.S);
  });
});

test('conversations on Archestra\'s v0.3 endpoint: its messages carry no contextId, so each record starts a new one', async () => {
  const t = await table();
  await bridge({ conversation: 'key', a2a_version: '0.3' }, { table: t }).run(mskEvent([rec(50, 'order-C'), rec(51, 'order-C')]));
  expect(sends().map((s) => s.contextId)).toEqual([undefined, undefined]);
});
