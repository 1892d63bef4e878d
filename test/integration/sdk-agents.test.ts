// The bridge against the reference A2A implementation (@a2a-js/sdk server): v0.3 compatibility mode and
// strict 1.0 mode, a Message answer (echo) and a Task that completes later (polled with tasks/get / GetTask).
import { startSdkA2AServer, type SdkServer } from '../support/a2a-sdk-server';
import { validateA2A } from '../support/a2a-schema';
import { makeBridge } from '../support/bridge';
import { mskEvent } from '../support/kafka';

const servers: SdkServer[] = [];
afterAll(() => Promise.all(servers.map((s) => s.close())));

async function agent(opts: Parameters<typeof startSdkA2AServer>[0]) {
  const s = await startSdkA2AServer(opts);
  servers.push(s);
  return s;
}

const batch = mskEvent([0, 1, 2].map((o) => ({ topic: 'support.events', partition: 0, offset: o, key: 'c-1', value: { ticket: `T${o}` } })));

function bridgeFor(url: string, version: '0.3' | '1.0') {
  return makeBridge({
    ROUTES_CONFIG: JSON.stringify([{ name: 'sdk', topic_pattern: 'support.events', agent_id: 'sdk-agent', url, a2a_version: version, transform_template: 'Ticket {ticket}' }]),
  });
}

describe.each([
  ['v0.3', '0.3'],
  ['1.0', '1.0'],
] as const)('@a2a-js/sdk server in %s mode', (mode, version) => {
  test('echo executor: every record answered with a Message', async () => {
    const s = await agent({ mode, executor: 'echo' });
    const result = await bridgeFor(s.url, version).run(batch);
    expect(result.response.batchItemFailures).toEqual([]);
    expect(result.outcomes.map((o) => o.reply)).toEqual(['Echo: Ticket T0', 'Echo: Ticket T1', 'Echo: Ticket T2']);
    if (version === '0.3') for (const r of s.requests) expect(validateA2A('SendMessageRequest', r.body)).toEqual([]);
    else for (const r of s.requests) expect(r.headers['a2a-version']).toBe('1.0');
  });

  test('task executor, blocking: the completed Task reply comes from its artifact', async () => {
    const s = await agent({ mode, executor: 'task', taskDelayMs: 50 });
    const result = await bridgeFor(s.url, version).run(batch);
    expect(result.response.batchItemFailures).toEqual([]);
    expect(result.outcomes.map((o) => o.reply)).toEqual(['Done: Ticket T0', 'Done: Ticket T1', 'Done: Ticket T2']);
  });

  test('task executor, non-blocking: the working Task is polled until it completes', async () => {
    const s = await agent({ mode, executor: 'task', taskDelayMs: 300, returnImmediately: true });
    const result = await bridgeFor(s.url, version).run(batch);
    expect(result.response.batchItemFailures).toEqual([]);
    expect(result.outcomes.map((o) => o.status)).toEqual(['delivered', 'delivered', 'delivered']);
    expect(result.outcomes.map((o) => o.reply)).toEqual(['Done: Ticket T0', 'Done: Ticket T1', 'Done: Ticket T2']);
    const methods = s.requests.map((r) => (r.body as { method: string }).method);
    expect(methods.filter((m) => m === (version === '1.0' ? 'GetTask' : 'tasks/get')).length).toBeGreaterThanOrEqual(3);
    if (version === '0.3') {
      for (const r of s.requests.filter((q) => (q.body as { method: string }).method === 'tasks/get')) expect(validateA2A('GetTaskRequest', r.body)).toEqual([]);
    }
  });
});

test('a strict 1.0 server refuses a v0.3 route: a permanent, explained failure (never a silent success)', async () => {
  // The SDK logs the refusal it answers with to console.error; the assertion below is what matters.
  jest.spyOn(console, 'error').mockImplementation(() => undefined);
  const s = await agent({ mode: '1.0', executor: 'echo' });
  const result = await bridgeFor(s.url, '0.3').run(batch);
  expect(result.outcomes[0]).toMatchObject({ status: 'failed', code: 'jsonrpc_-32009' });
  expect(result.response.batchItemFailures).toEqual([{ itemIdentifier: { partition: 'support.events-0', offset: 0 } }]);
});
