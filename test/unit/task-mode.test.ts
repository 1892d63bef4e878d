// Task mode's verdicts (lambda/deliver/task-mode.ts), one decision per test, against the real agent client and
// the Archestra simulator's /v2 endpoint: which results are settled, resumed, reported or dead-lettered, and
// when the bridge cancels the task it stops waiting for.
import { AgentClient } from '../../lambda/deliver/agent-client';
import { CredentialGates } from '../../lambda/deliver/credential-gate';
import { runTaskRecord, type KeptTask, type TaskRecord, type TaskStore } from '../../lambda/deliver/task-mode';
import { conversationKey } from '../../lambda/conversation';
import { httpPost } from '../../lambda/io/http';
import type { Log } from '../../lambda/observe';
import { DEFAULT_AGENT_ID, isCancel, isSend, type ArchestraSim } from '../../sim/archestra';
import { captureLog, type LogLine } from '../support/bridge';
import { useArchestraSim } from '../support/sim';

const TOKEN = 'task-mode-unit';
let sim: ArchestraSim;
useArchestraSim({ tokens: [TOKEN] }, (s) => (sim = s));

const client = () =>
  new AgentClient({ post: httpPost, tokens: { get: async () => TOKEN, fixed: true }, maxRetries: 0, retryDelayMs: 10, minRequestMs: 20, pollInitialMs: 50, pollMaxMs: 100 });
const gates = new CredentialGates({ coolDownMs: 1000 });

function record(over: Partial<TaskRecord> = {}): TaskRecord {
  const deadline = Date.now() + (over.deadline ?? 2_000);
  return {
    msg: { rpcId: `rpc-${Math.random()}`, messageId: crypto.randomUUID(), text: 'refund order 9', metadata: {} },
    target: { url: sim.agentUrl(DEFAULT_AGENT_ID, '1.0'), version: '1.0', timeoutMs: 60_000, sendToken: true },
    key: 'orders-0-1#orders',
    holdUntilMs: deadline + 200,
    slot: (fn) => fn(),
    gate: gates.for('archestra-token'),
    writeByMs: deadline + 150,
    onGiveUp: 'cancel',
    ...over,
    deadline,
  };
}
const deps = (store?: TaskStore, logs: LogLine[] = []) => ({ client: client(), store, log: captureLog(logs) as Log });

test('a task that ended failed is dead-lettered; it has ended, so nothing is cancelled', async () => {
  sim.setBehaviour((r) => (isSend(r) ? { kind: 'task', afterPolls: 1, finalState: 'failed' } : undefined));
  const run = await runTaskRecord(record(), deps());
  expect(run).toMatchObject({ settled: 'dead_letter', result: { code: 'task_failed' } });
  expect(run.cancel).toBeUndefined();
  expect(sim.requests.filter(isCancel)).toHaveLength(0);
});

test('a permanent verdict on a poll (an error answer to GetTask) gives up and tries to cancel', async () => {
  sim.setBehaviour((r) => (isSend(r) ? { kind: 'task', never: true } : { kind: 'rpcError', code: -32602, message: 'bad params' }));
  const run = await runTaskRecord(record(), deps());
  expect(run).toMatchObject({ settled: 'dead_letter', result: { code: 'jsonrpc_-32602' } });
  expect(sim.requests.filter(isCancel)).toHaveLength(1);
  expect(run.cancel).toBe('canceled');
  expect(sim.taskState(sim.requests.filter(isSend)[0].taskId!)).toBe('canceled');
});

test('a task kept with the claim is resumed by the redelivery: polled, not sent, and its hold released for the next one', async () => {
  const kept: KeptTask[] = [];
  const store: TaskStore = { keepTask: async (_k, t) => void kept.push(t) };
  sim.setBehaviour((r) => (isSend(r) ? { kind: 'task', never: true } : undefined));
  const first = await runTaskRecord(record({ deadline: 1_000 }), deps(store));
  expect(first).toMatchObject({ settled: 'resume', result: { code: 'task_pending' } });
  // Kept right after the send (holding it until this invocation's end), then released when this invocation gave up.
  expect(kept).toHaveLength(2);
  expect(kept[1].holdUntilMs).toBeLessThan(kept[0].holdUntilMs);
  sim.settleTask(kept[0].taskId);
  const second = await runTaskRecord(record({ kept: kept[0] }), deps(store));
  expect(second).toMatchObject({ settled: 'delivered', result: { taskId: kept[0].taskId } });
  expect(sim.requests.filter(isSend)).toHaveLength(1);
});

test('a task id the store could not keep cannot be resumed: at the deadline the task is cancelled and the record reported', async () => {
  const logs: LogLine[] = [];
  const store: TaskStore = { keepTask: async () => Promise.reject(new Error('store down')) };
  sim.setBehaviour((r) => (isSend(r) ? { kind: 'task', never: true } : undefined));
  const run = await runTaskRecord(record({ deadline: 1_000 }), deps(store, logs));
  expect(run).toMatchObject({ settled: 'report', cancel: 'canceled', result: { code: 'deadline' } });
  expect(logs.some((l) => l.level === 'warn' && /not kept/.test(l.message))).toBe(true);
});

test('a message answered at once (no task) is delivered as in message mode', async () => {
  const run = await runTaskRecord(record(), deps());
  expect(run).toMatchObject({ settled: 'delivered', result: { status: 'delivered' } });
});

test('conversation keys: per route and exact key bytes; a record without a key has none', () => {
  expect(conversationKey({ keyB64: 'b3JkZXItMQ==' }, 'orders')).toBe('ctx#orders#b3JkZXItMQ==');
  expect(conversationKey({ keyB64: null }, 'orders')).toBeUndefined();
});
