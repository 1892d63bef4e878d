// Task mode against the reference implementation: the official @a2a-js/sdk server in strict A2A 1.0 mode
// (SendMessage with configuration.returnImmediately, GetTask, CancelTask), not only against our simulator.
import { makeBridge } from '../support/bridge';
import { mskEvent } from '../support/kafka';
import { startSdkA2AServer, type SdkServer } from '../support/a2a-sdk-server';

const AGENT = '13b13b13-0000-4000-8000-0000000000a2';
let fast: SdkServer;
let slow: SdkServer;

beforeAll(async () => {
  [fast, slow] = await Promise.all([
    startSdkA2AServer({ mode: '1.0', executor: 'task', taskDelayMs: 300 }),
    startSdkA2AServer({ mode: '1.0', executor: 'task', taskDelayMs: 120_000 }),
  ]);
});
afterAll(() => Promise.all([fast?.close(), slow?.close()]));

const bridge = (url: string, route: Record<string, unknown> = {}) =>
  makeBridge({ ROUTES_CONFIG: JSON.stringify([{ name: 'orders', topic_pattern: 'orders', prompt_id: AGENT, url, a2a_version: '1.0', mode: 'task', ...route }]) }, { idempotency: null });
const methods = (s: SdkServer) => s.requests.map((r) => (r.body as { method?: string } | undefined)?.method);

async function getTask(s: SdkServer, id: string): Promise<{ status: { state: string } }> {
  const res = await fetch(s.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'a2a-version': '1.0' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 'check', method: 'GetTask', params: { id } }),
  });
  return ((await res.json()) as { result: { status: { state: string } } }).result;
}

test('SendMessage returns the task at once (returnImmediately), GetTask polls it to completion', async () => {
  const res = await bridge(fast.url).run(mskEvent([{ topic: 'orders', partition: 0, offset: 1, value: { n: 1 } }]));
  expect(res.outcomes[0]).toMatchObject({ status: 'delivered', reply: expect.stringContaining('Done:') });
  const send = fast.requests.find((r) => (r.body as { method?: string }).method === 'SendMessage')!;
  expect((send.body as { params: { configuration?: unknown } }).params.configuration).toEqual({ returnImmediately: true });
  expect(methods(fast).filter((m) => m === 'SendMessage')).toHaveLength(1);
  expect(methods(fast)).toContain('GetTask');
});

test('a task past the route timeout is cancelled with CancelTask and reads TASK_STATE_CANCELED on the server', async () => {
  const res = await bridge(slow.url, { timeout_seconds: 1 }).run(mskEvent([{ topic: 'orders', partition: 0, offset: 2, value: { n: 2 } }]), 20_000);
  expect(res.outcomes[0]).toMatchObject({ code: 'task_timeout', taskId: expect.any(String) });
  expect(methods(slow)).toContain('CancelTask');
  expect((await getTask(slow, res.outcomes[0].taskId!)).status.state).toBe('TASK_STATE_CANCELED');
});
