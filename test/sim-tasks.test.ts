// The simulator's task features that task mode relies on (sim/tasks.ts, sim/wire.ts): CancelTask and
// tasks/cancel, returnImmediately recorded, input-required with approval requests (still a spec-valid v0.3
// Task), settleTask, and a run that goes on when its client disconnects.
import { randomUUID } from 'node:crypto';
import { DEFAULT_AGENT_ID, isCancel, isSend, type ArchestraSim } from '../sim/archestra';
import { expectValidA2A } from './support/a2a-schema';
import { useArchestraSim } from './support/sim';

const TOKEN = 'sim-task-token';
let sim: ArchestraSim;
useArchestraSim({ tokens: [TOKEN] }, (s) => (sim = s));

// any: JSON answers are inspected field by field
async function rpc(version: '0.3' | '1.0', method: string, params: unknown, signal?: AbortSignal): Promise<any> {
  const res = await fetch(sim.agentUrl(DEFAULT_AGENT_ID, version), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, ...(version === '1.0' && { 'a2a-version': '1.0' }) },
    body: JSON.stringify({ jsonrpc: '2.0', id: randomUUID(), method, params }),
    signal,
  });
  return res.json();
}
const send10 = (text: string, configuration?: unknown) =>
  rpc('1.0', 'SendMessage', { message: { role: 'ROLE_USER', messageId: randomUUID(), parts: [{ text }] }, ...(configuration !== undefined && { configuration }) });
const send03 = (text: string) => rpc('0.3', 'message/send', { message: { kind: 'message', role: 'user', messageId: randomUUID(), parts: [{ kind: 'text', text }] } });

test('CancelTask cancels a running task; a second cancel is -32002 (not cancelable); an unknown task -32001', async () => {
  sim.setBehaviour((r) => (isSend(r) ? { kind: 'task', never: true } : undefined));
  const { result } = await send10('long run', { returnImmediately: true });
  expect(sim.requests[0].returnImmediately).toBe(true);
  const c = await rpc('1.0', 'CancelTask', { id: result.task.id });
  expect(c.result).toMatchObject({ id: result.task.id, status: { state: 'TASK_STATE_CANCELED' } });
  expect(sim.taskState(result.task.id)).toBe('canceled');
  expect((await rpc('1.0', 'CancelTask', { id: result.task.id })).error.code).toBe(-32002);
  expect((await rpc('1.0', 'CancelTask', { id: randomUUID() })).error.code).toBe(-32001);
  expect(sim.requests.filter(isCancel).map((r) => [r.method, r.taskId, r.outcome])).toEqual([
    ['CancelTask', result.task.id, 'canceled'],
    ['CancelTask', result.task.id, 'rpcError'],
    ['CancelTask', expect.any(String), 'rpcError'],
  ]);
});

test('tasks/cancel (v0.3) answers with the canceled Task, spec-valid', async () => {
  sim.setBehaviour((r) => (isSend(r) ? { kind: 'task', never: true } : undefined));
  const { result } = await send03('long run');
  const c = await rpc('0.3', 'tasks/cancel', { id: result.id });
  expectValidA2A('Task', c.result);
  expect(c.result.status.state).toBe('canceled');
});

test('input-required carries approval requests in the task metadata and a data part of its status message', async () => {
  const approvals = [{ id: 'a1', toolName: 'refund_order', arguments: { amount: 5 } }];
  sim.setBehaviour((r) => (isSend(r) ? { kind: 'task', finalState: 'input-required', approvalRequests: approvals, statusText: 'Approve?' } : undefined));
  const v10 = (await send10('refund')).result.task;
  expect(v10.status.state).toBe('TASK_STATE_INPUT_REQUIRED');
  expect(v10.metadata).toEqual({ approvalRequests: approvals });
  expect(v10.status.message.parts).toEqual([{ text: 'Approve?' }, { data: { approvalRequests: approvals } }]);
  const v03 = (await send03('refund')).result;
  expectValidA2A('Task', v03);
  expect(v03.status.message.parts[1]).toEqual({ kind: 'data', data: { approvalRequests: approvals } });
});

test('settleTask ends a running task now; taskState reads it without counting a poll', async () => {
  sim.setBehaviour((r) => (isSend(r) ? { kind: 'task', never: true, text: 'finally' } : undefined));
  const id = (await send10('x', { returnImmediately: true })).result.task.id;
  expect(sim.taskState(id)).toBe('submitted');
  sim.settleTask(id);
  const got = (await rpc('1.0', 'GetTask', { id })).result;
  expect(got.status.state).toBe('TASK_STATE_COMPLETED');
  expect(got.artifacts[0].parts).toEqual([{ text: 'finally' }]);
  expect(() => sim.settleTask(randomUUID())).toThrow(/no task/);
});

test('a run goes on when its client disconnects: the task is still created and the request marked', async () => {
  sim.setBehaviour((r) => (isSend(r) ? { kind: 'task', never: true, delayMs: 300 } : undefined));
  const ac = new AbortController();
  const sent = rpc('1.0', 'SendMessage', { message: { role: 'ROLE_USER', messageId: randomUUID(), parts: [{ text: 'gone' }] } }, ac.signal);
  setTimeout(() => ac.abort(), 50);
  await expect(sent).rejects.toThrow();
  // The sim finishes the run after the client left.
  for (let i = 0; i < 200 && !sim.requests.some((r) => r.ranAfterDisconnect); i++) await new Promise((r) => setTimeout(r, 20));
  const abandoned = sim.requests.find((r) => r.text === 'gone');
  expect(abandoned).toMatchObject({ clientAborted: true, ranAfterDisconnect: true, taskId: expect.any(String) });
  expect(sim.taskState(abandoned!.taskId!)).toBe('submitted');
});
