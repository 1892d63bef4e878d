import {
  approvalRequestsOf,
  cancelTaskBody,
  failure,
  getTaskBody,
  interpretResponse,
  parseRetryAfter,
  partsText,
  requestHeaders,
  sendMessageBody,
  type A2AVersion,
  type OutgoingMessage,
} from '../../lambda/deliver/a2a-protocol';
import { messageIds } from '../../lambda/deliver/ids';
import { expectValidA2A, validateA2A } from '../support/a2a-schema';

const ID = 'kafka:orders-0-5#orders';

const message: OutgoingMessage = {
  ...messageIds({ topic: 'orders', partition: 0, offset: 5 }, 'orders'),
  text: 'Summarise order 17:\n{"id":17}',
  metadata: { kafka: { topic: 'orders', partition: 0, offset: 5, key: 'k1', timestamp: 1_700_000_000_000 }, route: 'orders' },
};

/** A JSON-RPC success reply body. */
const ok = (result: unknown, id: unknown = ID) => JSON.stringify({ jsonrpc: '2.0', id, result });
/** A JSON-RPC error reply body. */
const err = (error: unknown, id: unknown = ID) => JSON.stringify({ jsonrpc: '2.0', id, error });

const interpret = (version: A2AVersion, body: string, status = 200, retryAfter?: string | null) => interpretResponse(version, status, body, ID, retryAfter);

describe('request bodies', () => {
  test('v0.3 message/send: exact body', () => {
    expect(message.rpcId).toBe(ID);
    expect(sendMessageBody('0.3', message)).toEqual({
      jsonrpc: '2.0',
      id: ID,
      method: 'message/send',
      params: {
        message: { kind: 'message', role: 'user', messageId: message.messageId, parts: [{ kind: 'text', text: message.text }], metadata: message.metadata },
        configuration: { blocking: true },
      },
    });
  });

  test('v0.3 message/send is a valid A2A v0.3.0 SendMessageRequest', () => {
    expectValidA2A('SendMessageRequest', sendMessageBody('0.3', message));
  });

  test('v0.3 message/send with empty text and empty metadata is still valid', () => {
    expectValidA2A('SendMessageRequest', sendMessageBody('0.3', { ...message, text: '', metadata: {} }));
  });

  test('v0.3 tasks/get: exact body, a valid GetTaskRequest', () => {
    const body = getTaskBody('0.3', 'poll-1', 'task-9');
    expect(body).toEqual({ jsonrpc: '2.0', id: 'poll-1', method: 'tasks/get', params: { id: 'task-9' } });
    expectValidA2A('GetTaskRequest', body);
  });

  test('the schema check is not vacuous: the 1.0 body is not a v0.3 SendMessageRequest', () => {
    const problems = validateA2A('SendMessageRequest', sendMessageBody('1.0', message));
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.join('\n')).toMatch(/method|kind|role/);
  });

  test('1.0 SendMessage: exact body (ROLE_USER, kind-less text parts, no configuration)', () => {
    expect(sendMessageBody('1.0', message)).toEqual({
      jsonrpc: '2.0',
      id: ID,
      method: 'SendMessage',
      params: { message: { messageId: message.messageId, role: 'ROLE_USER', parts: [{ text: message.text }], metadata: message.metadata } },
    });
  });

  test('1.0 GetTask: exact body', () => {
    expect(getTaskBody('1.0', 'poll-2', 'task-9')).toEqual({ jsonrpc: '2.0', id: 'poll-2', method: 'GetTask', params: { id: 'task-9' } });
  });

  test('bodies survive JSON serialisation unchanged (no undefined or non-JSON values)', () => {
    for (const v of ['0.3', '1.0'] as const) {
      const body = sendMessageBody(v, message);
      expect(JSON.parse(JSON.stringify(body))).toEqual(body);
    }
  });
});

describe('requestHeaders', () => {
  test('v0.3 without a token: JSON only, no A2A-Version, no Authorization', () => {
    expect(requestHeaders('0.3', undefined)).toEqual({ 'content-type': 'application/json', accept: 'application/json' });
  });

  test('v0.3 with a token: Bearer Authorization, still no A2A-Version', () => {
    expect(requestHeaders('0.3', 'tok-1')).toEqual({ 'content-type': 'application/json', accept: 'application/json', authorization: 'Bearer tok-1' });
  });

  test('1.0 without a token: A2A-Version 1.0, no Authorization', () => {
    expect(requestHeaders('1.0', undefined)).toEqual({ 'content-type': 'application/json', accept: 'application/json', 'a2a-version': '1.0' });
  });

  test('1.0 with a token: both', () => {
    const h = requestHeaders('1.0', 'tok-2');
    expect(h['a2a-version']).toBe('1.0');
    expect(h.authorization).toBe('Bearer tok-2');
  });

  test('an empty token sends no Authorization header', () => {
    expect(requestHeaders('1.0', '')).not.toHaveProperty('authorization');
  });
});

describe('parseRetryAfter', () => {
  const now = Date.UTC(2025, 0, 1, 12, 0, 0);

  test.each([
    ['120', 120_000],
    ['0', 0],
    [' 7 ', 7000],
    ['1.5', 1500],
  ])('delay-seconds %p -> %p ms', (v, ms) => {
    expect(parseRetryAfter(v, now)).toBe(ms);
  });

  test('an HTTP date in the future is the time until it', () => {
    expect(parseRetryAfter('Wed, 01 Jan 2025 12:00:30 GMT', now)).toBe(30_000);
  });

  test('an HTTP date in the past is 0, never negative', () => {
    expect(parseRetryAfter('Wed, 01 Jan 2025 11:59:00 GMT', now)).toBe(0);
  });

  test.each([[undefined], [null], [''], ['soon'], ['Thu, 99 Foo 2025'], ['-5']])('%p is undefined', (v) => {
    expect(parseRetryAfter(v, now)).toBeUndefined();
  });
});

describe('partsText', () => {
  test('joins v0.3 and 1.0 text parts with newlines; data parts as compact JSON; skips others', () => {
    expect(partsText([{ kind: 'text', text: 'a' }, { text: 'b' }, { kind: 'data', data: { x: [1] } }, { kind: 'file', file: { uri: 'u' } }, null, 'str'])).toBe(
      'a\nb\n{"x":[1]}',
    );
  });

  test('not an array is undefined; an empty array is the empty string', () => {
    expect(partsText(undefined)).toBeUndefined();
    expect(partsText({ text: 'x' })).toBeUndefined();
    expect(partsText([])).toBe('');
  });
});

describe('interpretResponse: successful replies', () => {
  test("Archestra's kind-less Message reply (v0.3 endpoint) is a success", () => {
    const result = { messageId: 'm-1', role: 'agent', parts: [{ kind: 'text', text: 'Order 17 looks fine.' }] };
    // Archestra omits kind: "message", which the v0.3 schema requires; the bridge accepts it anyway.
    expect(validateA2A('SendMessageResponse', JSON.parse(ok(result)))).not.toEqual([]);
    expect(interpret('0.3', ok(result))).toEqual({ kind: 'success', reply: 'Order 17 looks fine.' });
  });

  test('a spec v0.3 Message with kind is a success; several parts are joined', () => {
    const result = {
      kind: 'message',
      messageId: 'm-2',
      role: 'agent',
      parts: [
        { kind: 'text', text: 'line 1' },
        { kind: 'text', text: 'line 2' },
      ],
    };
    expectValidA2A('SendMessageResponse', JSON.parse(ok(result)));
    expect(interpret('0.3', ok(result))).toEqual({ kind: 'success', reply: 'line 1\nline 2' });
  });

  test('a completed v0.3 Task: the reply is the artifacts, with the task id', () => {
    const result = {
      kind: 'task',
      id: 'task-1',
      contextId: 'ctx-1',
      status: { state: 'completed', message: { kind: 'message', messageId: 's', role: 'agent', parts: [{ kind: 'text', text: 'status text' }] } },
      artifacts: [
        { artifactId: 'a1', parts: [{ kind: 'text', text: 'artifact one' }] },
        { artifactId: 'a2', parts: [{ kind: 'data', data: { score: 0.9 } }] },
      ],
    };
    expectValidA2A('SendMessageResponse', JSON.parse(ok(result)));
    expect(interpret('0.3', ok(result))).toEqual({ kind: 'success', reply: 'artifact one\n{"score":0.9}', taskId: 'task-1', contextId: 'ctx-1' });
  });

  test('a completed Task with only a status message: the reply is the status message', () => {
    const result = {
      kind: 'task',
      id: 'task-2',
      contextId: 'ctx',
      status: { state: 'completed', message: { kind: 'message', messageId: 's', role: 'agent', parts: [{ kind: 'text', text: 'done via status' }] } },
    };
    expect(interpret('0.3', ok(result))).toEqual({ kind: 'success', reply: 'done via status', taskId: 'task-2', contextId: 'ctx' });
  });

  test('a completed Task with empty artifacts falls back to the status message', () => {
    const result = { kind: 'task', id: 't', contextId: 'c', status: { state: 'completed', message: { parts: [{ kind: 'text', text: 'fallback' }] } }, artifacts: [{ artifactId: 'a', parts: [] }] };
    expect(interpret('0.3', ok(result))).toEqual({ kind: 'success', reply: 'fallback', taskId: 't', contextId: 'c' });
  });

  test('a completed Task with neither artifacts nor a status message is a success with an empty reply', () => {
    expect(interpret('0.3', ok({ kind: 'task', id: 't', contextId: 'c', status: { state: 'completed' } }))).toEqual({ kind: 'success', reply: '', taskId: 't', contextId: 'c' });
  });

  test('a kind-less Task (id + status) is recognised as a task', () => {
    expect(interpret('0.3', ok({ id: 't9', status: { state: 'working' } }))).toEqual({ kind: 'pending', taskId: 't9', state: 'working' });
  });

  test('1.0 {message} wrapper is a success', () => {
    const result = { message: { messageId: 'm', contextId: 'c', role: 'ROLE_AGENT', parts: [{ text: 'hello from 1.0' }] } };
    expect(interpret('1.0', ok(result))).toEqual({ kind: 'success', reply: 'hello from 1.0', contextId: 'c' });
  });

  test('1.0 {task} wrapper, TASK_STATE_COMPLETED with artifacts', () => {
    const result = { task: { id: 'task-10', contextId: 'c', status: { state: 'TASK_STATE_COMPLETED' }, artifacts: [{ artifactId: 'a', parts: [{ text: 'one' }, { text: 'two' }] }] } };
    expect(interpret('1.0', ok(result))).toEqual({ kind: 'success', reply: 'one\ntwo', taskId: 'task-10', contextId: 'c' });
  });

  test('a numeric reply id does not match the string request id', () => {
    expect(interpret('0.3', ok({ kind: 'message', parts: [] }, 5))).toMatchObject({ kind: 'failure', code: 'malformed_reply' });
  });
});

describe('interpretResponse: task states', () => {
  const task03 = (state: string, reason?: string) =>
    ok({
      kind: 'task',
      id: 'task-x',
      contextId: 'c',
      status: { state, ...(reason ? { message: { kind: 'message', messageId: 'r', role: 'agent', parts: [{ kind: 'text', text: reason }] } } : {}) },
    });
  const task10 = (state: string) => ok({ task: { id: 'task-x', contextId: 'c', status: { state } } });

  test.each([['submitted'], ['working']])('v0.3 %s is pending with the task id', (state) => {
    expect(interpret('0.3', task03(state))).toEqual({ kind: 'pending', taskId: 'task-x', state, contextId: 'c' });
  });

  test.each([['TASK_STATE_SUBMITTED'], ['TASK_STATE_WORKING']])('1.0 %s is pending', (state) => {
    expect(interpret('1.0', task10(state))).toEqual({ kind: 'pending', taskId: 'task-x', state, contextId: 'c' });
  });

  test.each([['failed'], ['rejected'], ['canceled'], ['input-required'], ['auth-required']])('v0.3 %s is permanent with code task_<state>', (state) => {
    expect(interpret('0.3', task03(state))).toEqual({
      kind: 'failure', failure: 'permanent', code: `task_${state}`, message: `task task-x ended ${state}`,
      ...(state === 'input-required' && { task: { taskId: 'task-x', contextId: 'c' } }),
    });
  });

  test('a terminal failure carries the status message as the reason', () => {
    expect(interpret('0.3', task03('failed', 'model overloaded'))).toMatchObject({ failure: 'permanent', code: 'task_failed', message: 'task task-x ended failed: model overloaded' });
  });

  test.each([
    ['TASK_STATE_FAILED', 'task_failed'],
    ['TASK_STATE_REJECTED', 'task_rejected'],
    ['TASK_STATE_CANCELED', 'task_canceled'],
    ['TASK_STATE_INPUT_REQUIRED', 'task_input-required'],
    ['TASK_STATE_AUTH_REQUIRED', 'task_auth-required'],
  ])('1.0 %s is permanent with code %s', (state, code) => {
    expect(interpret('1.0', task10(state))).toMatchObject({ kind: 'failure', failure: 'permanent', code });
  });

  test.each([['unknown'], ['TASK_STATE_UNSPECIFIED'], ['done']])('an unexpected state %p is permanent task_unknown_state', (state) => {
    expect(interpret('0.3', task03(state))).toMatchObject({ kind: 'failure', failure: 'permanent', code: 'task_unknown_state' });
  });

  test.each([
    ['no id', { kind: 'task', status: { state: 'completed' } }],
    ['no status', { kind: 'task', id: 't' }],
    ['status without a state', { kind: 'task', id: 't', status: {} }],
  ])('a task with %s is a malformed reply', (_label, result) => {
    expect(interpret('0.3', ok(result))).toMatchObject({ kind: 'failure', failure: 'permanent', code: 'malformed_reply' });
  });
});

describe('interpretResponse: JSON-RPC errors', () => {
  test('-32603 with isRetryable true (HTTP 200) is transient, data.message appended', () => {
    const body = err({ code: -32603, message: 'Internal error', data: { code: 'rate_limit', message: 'provider throttled', isRetryable: true } });
    expect(interpret('0.3', body)).toEqual({ kind: 'failure', failure: 'transient', code: 'jsonrpc_-32603', message: 'Internal error: provider throttled' });
  });

  test('-32603 with isRetryable false is permanent', () => {
    const body = err({ code: -32603, message: 'Internal error', data: { message: 'context too long', isRetryable: false } });
    expect(interpret('0.3', body)).toEqual({ kind: 'failure', failure: 'permanent', code: 'jsonrpc_-32603', message: 'Internal error: context too long' });
  });

  test.each([
    ['absent data', { code: -32603, message: 'Internal error' }],
    ['data without isRetryable', { code: -32603, message: 'Internal error', data: { message: 'x' } }],
    ['non-boolean isRetryable', { code: -32603, message: 'Internal error', data: { isRetryable: 'true' } }],
    ['data that is a string', { code: -32603, message: 'Internal error', data: 'oops' }],
  ])('-32603 with %s is transient (an internal error of the platform: retried, then reported, never dead-lettered)', (_label, e) => {
    expect(interpret('0.3', err(e))).toMatchObject({ kind: 'failure', failure: 'transient', code: 'jsonrpc_-32603' });
  });

  test.each([
    [-32600, 'Invalid Request'],
    [-32601, 'Method not found'],
    [-32602, 'Invalid params'],
    [-32700, 'Parse error'],
    [-32001, 'Task not found'],
    [-32009, 'Version not supported'],
  ])('%p %s is permanent', (code, msg) => {
    expect(interpret('0.3', err({ code, message: msg }))).toEqual({ kind: 'failure', failure: 'permanent', code: `jsonrpc_${code}`, message: msg });
  });

  test.each([['Unauthorized'], ['invalid token'], ['Authentication required'], ['missing API key'], ['Forbidden']])('-32600 with an auth message (%p) is auth', (msg) => {
    expect(interpret('0.3', err({ code: -32600, message: msg }))).toEqual({ kind: 'failure', failure: 'auth', code: 'jsonrpc_-32600', message: msg });
  });

  test('an auth-sounding message under another code is not auth', () => {
    expect(interpret('0.3', err({ code: -32602, message: 'invalid token count' }))).toMatchObject({ failure: 'permanent' });
  });

  test('a JSON-RPC error is classified whatever the reply id (errors may carry id null)', () => {
    expect(interpret('0.3', err({ code: -32700, message: 'Parse error' }, null))).toMatchObject({ failure: 'permanent', code: 'jsonrpc_-32700' });
  });

  test('an error without a numeric code is labelled jsonrpc_unknown', () => {
    expect(interpret('0.3', err({ message: 'weird' }))).toMatchObject({ failure: 'permanent', code: 'jsonrpc_unknown', message: 'weird' });
  });

  test('an error that is not an object is a malformed reply', () => {
    expect(interpret('0.3', err('boom'))).toMatchObject({ failure: 'permanent', code: 'malformed_reply' });
  });

  test('a JSON-RPC error under a 4xx is permanent, never retried, even when marked retryable', () => {
    const body = err({ code: -32603, message: 'Internal error', data: { isRetryable: true } });
    expect(interpret('0.3', body, 400)).toEqual({ kind: 'failure', failure: 'permanent', code: 'jsonrpc_-32603', message: 'HTTP 400: Internal error' });
  });

  test('an auth JSON-RPC error under a 4xx stays auth', () => {
    expect(interpret('0.3', err({ code: -32600, message: 'invalid token' }), 400)).toMatchObject({ failure: 'auth', code: 'jsonrpc_-32600' });
  });
});

describe('interpretResponse: HTTP status', () => {
  test.each([[401], [403]])('HTTP %p is auth, whatever the body', (status) => {
    expect(interpret('0.3', ok({ kind: 'message', parts: [{ kind: 'text', text: 'x' }] }), status)).toEqual({
      kind: 'failure',
      failure: 'auth',
      code: `http_${status}`,
      message: `HTTP ${status} from the agent endpoint`,
    });
    expect(interpret('1.0', '', status)).toMatchObject({ failure: 'auth' });
  });

  test('429 with Retry-After seconds is transient with retryAfterMs', () => {
    expect(interpret('0.3', '', 429, '30')).toEqual({ kind: 'failure', failure: 'transient', code: 'http_429', message: 'HTTP 429', retryAfterMs: 30_000 });
  });

  test('429 with a Retry-After HTTP date is transient with the time until that date', () => {
    const now = Date.UTC(2025, 5, 1, 8, 0, 0);
    const spy = jest.spyOn(Date, 'now').mockReturnValue(now);
    try {
      const res = interpret('0.3', '', 429, new Date(now + 45_000).toUTCString());
      expect(res).toMatchObject({ kind: 'failure', failure: 'transient', code: 'http_429', retryAfterMs: 45_000 });
    } finally {
      spy.mockRestore();
    }
  });

  test('429 without Retry-After has no retryAfterMs property at all', () => {
    const res = interpret('0.3', '', 429, null);
    expect(res).toMatchObject({ failure: 'transient', code: 'http_429' });
    expect(res).not.toHaveProperty('retryAfterMs');
  });

  test.each([[500], [502], [503], [504], [408]])('HTTP %p is transient', (status) => {
    expect(interpret('0.3', 'upstream error', status)).toEqual({ kind: 'failure', failure: 'transient', code: `http_${status}`, message: `HTTP ${status}` });
  });

  test('a 5xx with a JSON-RPC error body is transient, the error quoted in the message', () => {
    const res = interpret('0.3', err({ code: -32603, message: 'Internal error', data: { isRetryable: false } }), 502);
    expect(res).toEqual({ kind: 'failure', failure: 'transient', code: 'http_502', message: 'HTTP 502: -32603 Internal error' });
  });

  test('503 with Retry-After is transient with the delay', () => {
    expect(interpret('1.0', '', 503, '2')).toMatchObject({ failure: 'transient', code: 'http_503', retryAfterMs: 2000 });
  });

  test.each([[400], [404], [413], [415], [302]])('HTTP %p without a JSON-RPC error is permanent', (status) => {
    expect(interpret('0.3', '<html>nope</html>', status)).toEqual({ kind: 'failure', failure: 'permanent', code: `http_${status}`, message: `HTTP ${status} from the agent endpoint` });
  });

  test('a 4xx with a JSON-RPC error keeps the JSON-RPC code', () => {
    expect(interpret('0.3', err({ code: -32602, message: 'Invalid params' }), 400)).toEqual({
      kind: 'failure',
      failure: 'permanent',
      code: 'jsonrpc_-32602',
      message: 'HTTP 400: Invalid params',
    });
  });

  test('a 4xx with a successful JSON-RPC result is still a failure', () => {
    expect(interpret('0.3', ok({ kind: 'message', parts: [{ kind: 'text', text: 'x' }] }), 404)).toMatchObject({ failure: 'permanent', code: 'http_404' });
  });
});

describe('interpretResponse: malformed replies', () => {
  test.each([
    ['malformed JSON', '{"jsonrpc":"2.0","id":', 'reply is not JSON'],
    ['an empty body', '', 'empty reply body'],
    ['HTML (a proxy\'s error page)', '<html>502</html>', 'reply is not JSON'],
  ])('HTTP 200 with %s is a transient malformed_reply (reported, redelivered)', (_label, body, message) => {
    expect(interpret('0.3', body)).toEqual({ kind: 'failure', failure: 'transient', code: 'malformed_reply', message });
  });

  test.each([
    ['a JSON array', '[]'],
    ['a JSON string', '"ok"'],
    ['JSON null', 'null'],
  ])('HTTP 200 with %s (JSON, not a JSON-RPC object) is a permanent malformed_reply', (_label, body) => {
    expect(interpret('0.3', body)).toEqual({ kind: 'failure', failure: 'permanent', code: 'malformed_reply', message: 'reply is not a JSON object' });
  });

  test('a reply for another request id is a malformed reply naming the id', () => {
    const res = interpret('0.3', ok({ kind: 'message', parts: [{ kind: 'text', text: 'x' }] }, 'kafka:other-0-1#r'));
    expect(res).toEqual({ kind: 'failure', failure: 'permanent', code: 'malformed_reply', message: 'reply id "kafka:other-0-1#r" does not match request id' });
  });

  test('a reply with id null is a malformed reply', () => {
    expect(interpret('0.3', ok({ kind: 'message', parts: [] }, null))).toMatchObject({ failure: 'permanent', code: 'malformed_reply', message: 'reply id null does not match request id' });
  });

  // A thrown TypeError here would be misread as a network error and retried.
  test('a reply without an id is a permanent malformed reply (not a thrown TypeError)', () => {
    expect(interpret('0.3', JSON.stringify({ jsonrpc: '2.0', result: { kind: 'message', parts: [] } }))).toMatchObject({
      kind: 'failure',
      failure: 'permanent',
      code: 'malformed_reply',
    });
  });

  test('neither result nor error is a malformed reply', () => {
    expect(interpret('0.3', JSON.stringify({ jsonrpc: '2.0', id: ID }))).toEqual({
      kind: 'failure',
      failure: 'permanent',
      code: 'malformed_reply',
      message: 'reply has neither result nor error',
    });
  });

  test('error null with no result is a malformed reply', () => {
    expect(interpret('0.3', JSON.stringify({ jsonrpc: '2.0', id: ID, error: null }))).toMatchObject({ code: 'malformed_reply' });
  });

  test('not JSON-RPC 2.0 is a malformed reply', () => {
    expect(interpret('0.3', JSON.stringify({ jsonrpc: '1.0', id: ID, result: {} }))).toMatchObject({ code: 'malformed_reply', message: 'reply is not JSON-RPC 2.0' });
    expect(interpret('0.3', JSON.stringify({ id: ID, result: {} }))).toMatchObject({ code: 'malformed_reply' });
  });

  test.each([
    ['null', null],
    ['a string', 'done'],
    ['a number', 1],
  ])('a result that is %s is a malformed reply', (_label, result) => {
    expect(interpret('0.3', ok(result))).toMatchObject({ failure: 'permanent', code: 'malformed_reply', message: 'result is not an object' });
  });

  test('a v0.3 result of an unknown kind is a malformed reply', () => {
    expect(interpret('0.3', ok({ kind: 'status-update', taskId: 't' }))).toMatchObject({ code: 'malformed_reply', message: expect.stringContaining('"status-update"') });
  });

  test('a v0.3 message without parts is a malformed reply', () => {
    expect(interpret('0.3', ok({ kind: 'message', messageId: 'm', role: 'agent' }))).toMatchObject({ code: 'malformed_reply', message: 'message without parts' });
  });

  test('a 1.0 result with neither message nor task is a malformed reply', () => {
    expect(interpret('1.0', ok({ kind: 'message', parts: [{ text: 'x' }] }))).toMatchObject({
      code: 'malformed_reply',
      message: 'result holds neither message nor task',
    });
  });
});

describe('failure()', () => {
  test('builds a failure outcome; retryAfterMs only when given', () => {
    expect(failure('transient', 'timeout', 'm')).toEqual({ kind: 'failure', failure: 'transient', code: 'timeout', message: 'm' });
    expect(failure('transient', 'timeout', 'm')).not.toHaveProperty('retryAfterMs');
    expect(failure('transient', 'timeout', 'm', 0)).toEqual({ kind: 'failure', failure: 'transient', code: 'timeout', message: 'm', retryAfterMs: 0 });
  });
});

describe('interpretResponse: the IP lockout', () => {
  test.each([
    ['fastify-style JSON', JSON.stringify({ statusCode: 429, error: 'Too Many Requests', message: 'Too many failed authentication attempts, please try again later' })],
    ['plain text', 'Too many failed authentications from this IP. Try again in 60 seconds.'],
    ['a JSON-RPC error', JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'too many invalid token attempts' } })],
  ])('HTTP 429 saying too many failed authentications (%s) is an auth failure, not a retry', (_label, body) => {
    expect(interpretResponse('0.3', 429, body, 'x', '60')).toEqual({ kind: 'failure', failure: 'auth', code: 'auth_lockout', message: 'HTTP 429: too many failed authentications from this address' });
  });

  test.each([
    ['no body', ''],
    ['a rate limit', JSON.stringify({ message: 'Too many requests, slow down' })],
    ['an LLM quota', 'Rate limit exceeded for model gpt-4'],
  ])('HTTP 429 with %s stays a transient rate limit', (_label, body) => {
    expect(interpretResponse('0.3', 429, body, 'x', null)).toMatchObject({ kind: 'failure', failure: 'transient', code: 'http_429' });
  });
});

describe('task mode and conversations on the wire', () => {
  test('1.0 SendMessage with returnImmediately carries configuration.returnImmediately; without it, no configuration', () => {
    const body = sendMessageBody('1.0', message, true) as { params: { configuration?: unknown } };
    expect(body.params.configuration).toEqual({ returnImmediately: true });
    expect((sendMessageBody('1.0', message) as { params: { configuration?: unknown } }).params.configuration).toBeUndefined();
  });

  test('a conversation continues: the contextId goes into the message (both versions), and the 0.3 body stays valid', () => {
    const withCtx = { ...message, contextId: 'ctx-42' };
    expect((sendMessageBody('1.0', withCtx) as { params: { message: { contextId?: string } } }).params.message.contextId).toBe('ctx-42');
    expect((sendMessageBody('0.3', withCtx) as { params: { message: { contextId?: string } } }).params.message.contextId).toBe('ctx-42');
    expectValidA2A('SendMessageRequest', sendMessageBody('0.3', withCtx));
    expect((sendMessageBody('1.0', message) as { params: { message: object } }).params.message).not.toHaveProperty('contextId');
  });

  test('CancelTask (1.0) and tasks/cancel (0.3)', () => {
    expect(cancelTaskBody('1.0', 'r1', 't1')).toEqual({ jsonrpc: '2.0', id: 'r1', method: 'CancelTask', params: { id: 't1' } });
    expect(cancelTaskBody('0.3', 'r1', 't1')).toEqual({ jsonrpc: '2.0', id: 'r1', method: 'tasks/cancel', params: { id: 't1' } });
  });

  test('an input-required task carries its id, context and approval requests', () => {
    const approvals = [{ id: 'a1', toolName: 'refund' }];
    const body = ok({ task: { id: 'task-q', contextId: 'c9', status: { state: 'TASK_STATE_INPUT_REQUIRED', message: { messageId: 'm', role: 'ROLE_AGENT', parts: [{ text: 'approve?' }, { data: { approvalRequests: approvals } }] } } } });
    expect(interpret('1.0', body)).toMatchObject({ kind: 'failure', code: 'task_input-required', task: { taskId: 'task-q', contextId: 'c9', approvalRequests: approvals } });
  });

  test('approval requests are read from task metadata, status message metadata or a data part; absent otherwise', () => {
    const a = [{ id: 'x' }];
    expect(approvalRequestsOf({ metadata: { approvalRequests: a } })).toBe(a);
    expect(approvalRequestsOf({ status: { message: { metadata: { approvalRequests: a } } } })).toBe(a);
    expect(approvalRequestsOf({ status: { message: { parts: [{ text: 'hi' }, { data: { approvalRequests: a } }] } } })).toBe(a);
    expect(approvalRequestsOf({ status: { message: { parts: [{ text: 'hi' }] } }, metadata: { approvalRequests: 'not a list' } })).toBeUndefined();
  });
});
