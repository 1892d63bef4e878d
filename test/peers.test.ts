// Proves the protocol peers the rest of the suite relies on: the Archestra simulator (sim/archestra.ts), the
// reference @a2a-js/sdk server in both wire modes, the A2A v0.3.0 schema validator and moto_server.
// Doubles as the usage reference for those helpers.
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { CreateQueueCommand, GetQueueUrlCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DEFAULT_AGENT_ID, defaultSummary, sequence, startArchestraSim, type ArchestraSim } from '../sim/archestra';
import { startSdkA2AServer, type SdkServer } from './support/a2a-sdk-server';
import { expectValidA2A, validateA2A } from './support/a2a-schema';
import { startMoto } from './support/moto';
import { startPeers } from './support/peers';
import { describeMissing, missingPrerequisites, onPath } from './support/prerequisites';

const TOKEN = 'platform-token-1';

interface RpcResult {
  status: number;
  headers: Headers;
  // any: JSON answers are inspected field by field
  json: any;
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<RpcResult> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body), signal });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

const auth = (token = TOKEN) => ({ authorization: `Bearer ${token}` });
const v1Headers = { ...auth(), 'A2A-Version': '1.0' };

const sendV03 = (text: string, extra: Record<string, unknown> = {}) => ({
  jsonrpc: '2.0',
  id: randomUUID(),
  method: 'message/send',
  params: { message: { kind: 'message', role: 'user', messageId: randomUUID(), parts: [{ kind: 'text', text }] }, ...extra },
});
const getV03 = (taskId: string) => ({ jsonrpc: '2.0', id: randomUUID(), method: 'tasks/get', params: { id: taskId } });
const sendV10 = (text: string, extra: Record<string, unknown> = {}) => ({
  jsonrpc: '2.0',
  id: randomUUID(),
  method: 'SendMessage',
  params: { message: { role: 'ROLE_USER', messageId: randomUUID(), parts: [{ text }] }, ...extra },
});
const getV10 = (taskId: string) => ({ jsonrpc: '2.0', id: randomUUID(), method: 'GetTask', params: { id: taskId } });

async function pollUntil<T>(fn: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (done(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('Archestra simulator', () => {
  let sim: ArchestraSim;
  let v03: string;
  let v10: string;

  beforeAll(async () => {
    sim = await startArchestraSim({ tokens: [TOKEN] });
    v03 = sim.agentUrl(DEFAULT_AGENT_ID, '0.3');
    v10 = sim.agentUrl(DEFAULT_AGENT_ID, '1.0');
  });
  afterEach(() => {
    sim.setBehaviour(undefined);
    sim.setLatency(undefined);
    sim.clear();
  });
  afterAll(() => sim.close());

  describe('v1 endpoint (A2A v0.3)', () => {
    it('answers message/send with Archestra\'s kind-less Message carrying a summary of the prompt', async () => {
      const body = sendV03('Order 42 was shipped to Berlin');
      expectValidA2A('SendMessageRequest', body);
      const r = await post(v03, body, auth());
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ jsonrpc: '2.0', id: body.id, result: { role: 'agent', parts: [{ kind: 'text', text: defaultSummary('Order 42 was shipped to Berlin') }] } });
      expect(typeof r.json.result.messageId).toBe('string');
      // Archestra v1 omits `kind: "message"`: the reply is NOT a spec-valid Message, and that is its only defect.
      expect(r.json.result).not.toHaveProperty('kind');
      expect(validateA2A('Message', r.json.result)).toEqual(["(root) must have required property 'kind'"]);
      expect(validateA2A('SendMessageResponse', r.json)).not.toEqual([]);
      expectValidA2A('Message', { ...r.json.result, kind: 'message' });

      expect(sim.requests).toHaveLength(1);
      expect(sim.requests[0]).toMatchObject({
        seq: 1, path: `/v1/a2a/${DEFAULT_AGENT_ID}`, apiVersion: '0.3', agentId: DEFAULT_AGENT_ID, method: 'message/send', id: body.id,
        text: 'Order 42 was shipped to Berlin', messageId: body.params.message.messageId, attempt: 1, outcome: 'message', status: 200,
      });
      expect(sim.requests[0].headers.authorization).toBe(`Bearer ${TOKEN}`);
    });

    it('serves a Task that completes on the 2nd tasks/get poll, spec-valid at every step', async () => {
      sim.setBehaviour((r) => (r.method === 'message/send' ? { kind: 'task', afterPolls: 2, text: 'all done' } : undefined));
      const send = await post(v03, sendV03('long job'), auth());
      expectValidA2A('SendMessageResponse', send.json);
      expectValidA2A('Task', send.json.result);
      expect(send.json.result.status.state).toBe('submitted');

      const states: string[] = [];
      for (let i = 0; i < 2; i++) {
        const req = getV03(send.json.result.id);
        expectValidA2A('GetTaskRequest', req);
        const g = await post(v03, req, auth());
        expectValidA2A('GetTaskResponse', g.json);
        states.push(g.json.result.status.state);
        if (i === 1) expect(g.json.result.artifacts).toEqual([expect.objectContaining({ parts: [{ kind: 'text', text: 'all done' }] })]);
      }
      expect(states).toEqual(['working', 'completed']);
      expect(sim.requests.map((r) => [r.method, r.poll, r.taskState])).toEqual([
        ['message/send', undefined, 'submitted'],
        ['tasks/get', 1, 'working'],
        ['tasks/get', 2, 'completed'],
      ]);
    });

    it.each(['failed', 'rejected', 'canceled', 'input-required', 'auth-required'] as const)('can answer with a %s Task', async (state) => {
      sim.setBehaviour(() => ({ kind: 'task', finalState: state, statusText: `because ${state}` }));
      const r = await post(v03, sendV03('x'), auth());
      expectValidA2A('Task', r.json.result);
      expect(r.json.result.status).toMatchObject({ state, message: { role: 'agent', parts: [{ kind: 'text', text: `because ${state}` }] } });
    });

    it('settles a Task by time (afterMs) or never (never: true)', async () => {
      sim.setBehaviour(sequence([{ kind: 'task', afterMs: 400 }, { kind: 'task', never: true }]));
      const timed = (await post(v03, sendV03('a'), auth())).json.result;
      const stuck = (await post(v03, sendV03('b'), auth())).json.result;
      expect((await post(v03, getV03(timed.id), auth())).json.result.status.state).toBe('working');
      await new Promise((r) => setTimeout(r, 420));
      expect((await post(v03, getV03(timed.id), auth())).json.result.status.state).toBe('completed');
      expect((await post(v03, getV03(stuck.id), auth())).json.result.status.state).toBe('working');
    });

    it('answers tasks/get for an unknown task with -32001', async () => {
      const r = await post(v03, getV03('no-such-task'), auth());
      expect(r.json.error.code).toBe(-32001);
      expectValidA2A('JSONRPCErrorResponse', r.json);
    });

    it('rejects a message without messageId / role with -32602, and an unknown method with -32601', async () => {
      const body = sendV03('x');
      delete (body.params.message as Partial<typeof body.params.message>).messageId;
      const r = await post(v03, body, auth());
      expect(r.status).toBe(200);
      expect(r.json.error.code).toBe(-32602);
      expectValidA2A('JSONRPCErrorResponse', r.json);
      const noRole = sendV03('x');
      (noRole.params.message as Record<string, unknown>).role = 'robot';
      expect((await post(v03, noRole, auth())).json.error.code).toBe(-32602);
      expect((await post(v03, { ...sendV03('x'), method: 'SendMessage' }, auth())).json.error.code).toBe(-32601);
    });
  });

  describe('v2 endpoint (A2A 1.0)', () => {
    it('answers SendMessage with {message} in the 1.0 wire format', async () => {
      const r = await post(v10, sendV10('Quarterly numbers are in'), v1Headers);
      expect(r.json.result.message).toMatchObject({ role: 'ROLE_AGENT', parts: [{ text: defaultSummary('Quarterly numbers are in') }] });
      expect(r.json.result.message.parts[0]).not.toHaveProperty('kind');
      expect(sim.requests[0].headers['a2a-version']).toBe('1.0');
    });

    it('requires A2A-Version: 1.0 (-32009 VersionNotSupported) and 1.0 method names', async () => {
      const r = await post(v10, sendV10('x'), auth());
      expect(r.status).toBe(200);
      expect(r.json.error.code).toBe(-32009);
      expect((await post(v10, sendV03('x'), v1Headers)).json.error.code).toBe(-32601);
      // 0.3 roles are invalid params on 1.0
      const wrongRole = sendV10('x');
      wrongRole.params.message.role = 'user';
      expect((await post(v10, wrongRole, v1Headers)).json.error.code).toBe(-32602);
    });

    it('serves {task} then GetTask (unwrapped Task) with TASK_STATE_* states', async () => {
      sim.setBehaviour(sequence([{ kind: 'task', afterPolls: 1, initialState: 'working' }]));
      const send = await post(v10, sendV10('hello'), v1Headers);
      expect(send.json.result.task.status.state).toBe('TASK_STATE_WORKING');
      expect(send.json.result.task).not.toHaveProperty('kind');
      const g = await post(v10, getV10(send.json.result.task.id), v1Headers);
      expect(g.json.result).toMatchObject({
        id: send.json.result.task.id,
        status: { state: 'TASK_STATE_COMPLETED' },
        artifacts: [{ parts: [{ text: defaultSummary('hello') }] }],
        history: [{ role: 'ROLE_USER', parts: [{ text: 'hello' }] }],
      });
    });
  });

  describe('auth and routing', () => {
    it('answers a missing or wrong bearer token with HTTP 401 and JSON-RPC -32600', async () => {
      for (const headers of [{}, auth('wrong')]) {
        const r = await post(v03, sendV03('x'), headers);
        expect(r.status).toBe(401);
        expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
        expect(r.json.error.code).toBe(-32600);
        expect(r.json.error.message).toMatch(/authentication/i);
        expectValidA2A('JSONRPCErrorResponse', r.json);
      }
      expect(sim.requests.map((r) => [r.outcome, r.status])).toEqual([['http', 401], ['http', 401]]);
    });

    it('without `tokens` accepts any bearer token; authFailureStatus: 200 mimics Archestra\'s POST', async () => {
      const open = await startArchestraSim({ authFailureStatus: 200 });
      try {
        expect((await post(open.agentUrl(), sendV03('x'), auth('anything'))).status).toBe(200);
        const r = await post(open.agentUrl(), sendV03('x'));
        expect([r.status, r.json.error.code]).toEqual([200, -32600]);
      } finally {
        await open.close();
      }
    });

    it('answers a non-UUID or unknown agent with HTTP 404 and a JSON-RPC error body', async () => {
      const r = await post(`${sim.url}/v1/a2a/not-a-uuid`, sendV03('x'), auth());
      expect(r.status).toBe(404);
      expectValidA2A('JSONRPCErrorResponse', r.json);

      const known = randomUUID();
      const strict = await startArchestraSim({ tokens: [TOKEN], agents: { [known]: { name: 'billing' } } });
      try {
        expect((await post(strict.agentUrl(randomUUID()), sendV03('x'), auth())).status).toBe(404);
        expect((await post(strict.agentUrl(known), sendV03('x'), auth())).status).toBe(200);
      } finally {
        await strict.close();
      }
    });

    it('serves agent cards behind the same auth', async () => {
      const res = await fetch(`${v03}/.well-known/agent.json`, { headers: auth() });
      expect(await res.json()).toMatchObject({ url: v03, capabilities: { streaming: false } });
      expect((await fetch(`${v10}/.well-known/agent-card.json`)).status).toBe(401);
    });
  });

  describe('scripted faults', () => {
    it('LLM failure: -32603 with data {code, message, isRetryable}', async () => {
      sim.setBehaviour(sequence([{ kind: 'llmError', retryable: true }, { kind: 'llmError', retryable: false, code: 'context_length_exceeded' }]));
      const a = await post(v03, sendV03('x'), auth());
      const b = await post(v03, sendV03('x'), auth());
      expect(a.json.error).toMatchObject({ code: -32603, data: { isRetryable: true } });
      expect(b.json.error).toMatchObject({ code: -32603, data: { isRetryable: false, code: 'context_length_exceeded' } });
      expect(typeof a.json.error.data.message).toBe('string');
      expectValidA2A('JSONRPCErrorResponse', a.json);
    });

    it('429 with Retry-After, then success; retries of one messageId are numbered', async () => {
      sim.setBehaviour(sequence([{ kind: 'http', status: 429, retryAfter: 2 }]));
      const body = sendV03('retry me');
      const first = await post(v03, body, auth());
      expect(first.status).toBe(429);
      expect(first.headers.get('retry-after')).toBe('2');
      const second = await post(v03, body, auth());
      expect(second.status).toBe(200);
      expect(sim.requests.map((r) => [r.attempt, r.outcome, r.status])).toEqual([[1, 'http', 429], [2, 'message', 200]]);
    });

    it('connection reset, malformed JSON, truncated body and wrong id', async () => {
      sim.setBehaviour(sequence([{ kind: 'reset' }, { kind: 'malformed' }, { kind: 'truncated' }, { kind: 'wrongId' }]));
      await expect(post(v03, sendV03('x'), auth())).rejects.toThrow();
      await expect(post(v03, sendV03('x'), auth())).rejects.toThrow(SyntaxError);
      await expect(post(v03, sendV03('x'), auth())).rejects.toThrow();
      const body = sendV03('x');
      const w = await post(v03, body, auth());
      expect(w.json.id).not.toBe(body.id);
      expect(sim.requests.map((r) => r.outcome)).toEqual(['reset', 'malformed', 'truncated', 'wrongId']);
    });

    it('hang: never answers; the server records that the client gave up', async () => {
      sim.setBehaviour(() => ({ kind: 'hang' }));
      await expect(post(v03, sendV03('x'), auth(), AbortSignal.timeout(150))).rejects.toThrow();
      const rec = await pollUntil(async () => sim.requests[0], (r) => r.clientAborted === true, 2000);
      expect(rec).toMatchObject({ outcome: 'hang', clientAborted: true });
    });

    it('slow body and latency delay the answer but keep it intact', async () => {
      sim.setBehaviour(sequence([{ kind: 'slow', chunkBytes: 40, intervalMs: 30 }]));
      let t0 = Date.now();
      const slow = await post(v03, sendV03('trickle'), auth());
      expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
      expect(slow.json.result.parts[0].text).toBe(defaultSummary('trickle'));

      sim.setLatency(120);
      t0 = Date.now();
      await post(v03, sendV03('x'), auth());
      expect(Date.now() - t0).toBeGreaterThanOrEqual(110);
    });

    it('413 above the body limit (fastify default 1 MiB)', async () => {
      const r = await post(v03, sendV03('x'.repeat(1024 * 1024 + 1)), auth());
      expect(r.status).toBe(413);
    });
  });

  it('runs as a CLI child process: ready line, requests, --stats on SIGTERM', async () => {
    const tsx = resolve(__dirname, '..', 'node_modules', '.bin', 'tsx');
    const child = spawn(tsx, [resolve(__dirname, '..', 'sim', 'archestra.ts'), '--port', '0', '--latency', '5', '--token', 'T', '--stats'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
      const ready = JSON.parse((await lines.next()).value as string) as { url: string; port: number; agentId: string };
      expect(ready.url).toBe(`http://127.0.0.1:${ready.port}`);
      const r = await post(`${ready.url}/v1/a2a/${ready.agentId}`, sendV03('from the bench'), auth('T'));
      expect(r.json.result.parts[0].text).toBe(defaultSummary('from the bench'));
      child.kill('SIGTERM');
      const stats = JSON.parse((await lines.next()).value as string);
      expect(stats.stats).toMatchObject({ total: 1, byMethod: { 'message/send': 1 }, byOutcome: { message: 1 } });
      const code = await new Promise((r) => (child.exitCode !== null ? r(child.exitCode) : child.once('exit', r)));
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 15_000);
});

describe('@a2a-js/sdk reference server', () => {
  const servers: SdkServer[] = [];
  afterAll(() => Promise.all(servers.map((s) => s.close())));
  const start = async (...args: Parameters<typeof startSdkA2AServer>) => {
    const s = await startSdkA2AServer(...args);
    servers.push(s);
    return s;
  };

  it('v0.3 compat mode: message/send -> spec-valid Message', async () => {
    const s = await start({ mode: 'v0.3', executor: 'echo' });
    const body = sendV03('ping');
    expectValidA2A('SendMessageRequest', body);
    const r = await post(s.url, body);
    expectValidA2A('SendMessageResponse', r.json);
    expect(r.json.result).toMatchObject({ kind: 'message', role: 'agent', parts: [{ kind: 'text', text: 'Echo: ping' }] });
    expect(s.requests[0]).toMatchObject({ method: 'POST', path: '/a2a/jsonrpc', body });
  });

  it('v0.3 compat mode: non-blocking send -> Task, completed via tasks/get, spec-valid', async () => {
    const s = await start({ mode: 'v0.3', executor: 'task', taskDelayMs: 100 });
    const send = await post(s.url, sendV03('work', { configuration: { blocking: false } }));
    expectValidA2A('SendMessageResponse', send.json);
    expect(['submitted', 'working']).toContain(send.json.result.status.state);
    const done = await pollUntil(() => post(s.url, getV03(send.json.result.id)), (g) => g.json.result?.status.state === 'completed');
    expectValidA2A('GetTaskResponse', done.json);
    expect(done.json.result.artifacts[0].parts).toEqual([{ kind: 'text', text: 'Done: work' }]);
  });

  it('strict 1.0 mode: SendMessage / GetTask with A2A-Version: 1.0; v0.3 requests refused', async () => {
    const echo = await start({ mode: '1.0', executor: 'echo' });
    const e = await post(echo.url, sendV10('ping'), { 'A2A-Version': '1.0' });
    expect(e.json.result.message).toMatchObject({ role: 'ROLE_AGENT', parts: [{ text: 'Echo: ping' }] });

    const errors = jest.spyOn(console, 'error').mockImplementation(() => undefined); // the SDK logs refusals
    try {
      const refused = await post(echo.url, sendV03('ping'));
      expect(refused.json.error.code).toBe(-32009);
    } finally {
      errors.mockRestore();
    }

    const task = await start({ mode: '1.0', executor: 'task', taskDelayMs: 100, returnImmediately: true });
    const send = await post(task.url, sendV10('work'), { 'A2A-Version': '1.0' });
    expect(['TASK_STATE_SUBMITTED', 'TASK_STATE_WORKING']).toContain(send.json.result.task.status.state);
    const done = await pollUntil(
      () => post(task.url, getV10(send.json.result.task.id), { 'A2A-Version': '1.0' }),
      (g) => g.json.result?.status.state === 'TASK_STATE_COMPLETED',
    );
    expect(done.json.result.artifacts[0].parts[0].text).toBe('Done: work');
    expect(task.requests[0].headers['a2a-version']).toBe('1.0');
  });
});

describe('moto_server', () => {
  it('starts on a free port, serves SQS, and stops', async () => {
    const moto = await startMoto();
    try {
      const sqs = new SQSClient(moto.clientConfig);
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'bridge-dlq' }));
      expect(QueueUrl).toMatch(/bridge-dlq$/);
      expect((await sqs.send(new GetQueueUrlCommand({ QueueName: 'bridge-dlq' }))).QueueUrl).toBe(QueueUrl);
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'hello' }));
      const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 1 }));
      expect(got.Messages?.[0].Body).toBe('hello');
      sqs.destroy();
    } finally {
      await moto.stop();
    }
    await expect(fetch(`${moto.endpoint}/moto-api/`)).rejects.toThrow();
  }, 40_000);

  it('fails clearly when moto_server is missing', async () => {
    await expect(startMoto({ command: 'moto_server_definitely_missing' })).rejects.toThrow(/not found.*pip install/);
  });
});

describe('starting peers when one cannot start', () => {
  it('stops the peers that did start, so nothing is left listening and jest can exit', async () => {
    let started: ArchestraSim | undefined;
    const sim = startArchestraSim({ tokens: [TOKEN] }).then((s) => (started = s));
    await expect(startPeers(sim, startMoto({ command: 'moto_server_definitely_missing' }))).rejects.toThrow(/not found.*pip install/);
    expect(started).toBeDefined();
    await expect(fetch(`${started!.url}/`, { signal: AbortSignal.timeout(2000) })).rejects.toThrow();
  });

  it('resolves every peer in order when all start', async () => {
    const [a, b] = await startPeers(startArchestraSim({ tokens: [TOKEN] }), startArchestraSim({ tokens: [TOKEN] }));
    try {
      expect(a.port).not.toBe(b.port);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('test prerequisites', () => {
  it('names a missing moto_server, kcat and cfn-lint with how to install them', () => {
    const missing = missingPrerequisites({ PATH: '/nonexistent-dir' });
    expect(missing.map((p) => p.command)).toEqual(['moto_server', 'kcat', 'cfn-lint']);
    const text = describeMissing(missing);
    expect(text).toContain('pip install "moto[server]"');
    expect(text).toContain('apt-get install kcat');
    expect(text).toContain('pip install cfn-lint');
  });

  it('finds a program through PATH or as a path, and honours MOTO_SERVER', () => {
    expect(onPath('node', process.env.PATH)).toBe(true);
    expect(onPath(process.execPath, '')).toBe(true);
    expect(onPath('node', '/nonexistent-dir')).toBe(false);
    expect(missingPrerequisites({ PATH: process.env.PATH, MOTO_SERVER: '/nonexistent/moto' }).map((p) => p.command)).toContain('/nonexistent/moto');
  });

  it('npm test opens with that message when moto_server is missing, and still runs (and ends) the other suites', () => {
    const jest = resolve(__dirname, '..', 'node_modules', 'jest', 'bin', 'jest.js');
    const res = spawnSync(process.execPath, [jest, '--ci', 'test/unit/ids.test.ts'], {
      cwd: resolve(__dirname, '..'),
      env: { ...process.env, MOTO_SERVER: '/nonexistent/moto_server' },
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(res.stderr).toContain('/nonexistent/moto_server: needed by SQS, SNS, EventBridge and Secrets Manager tests');
    expect(res.stderr).toMatch(/Tests:\s+\d+ passed/);
    expect(res.status).toBe(0);
  }, 130_000);
});
