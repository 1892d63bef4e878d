// Archestra-compatible A2A agent server: the peer the bridge's tests, `npm run invoke` (embedded) and the
// benchmark (child process) talk to. Plain node:http rather than express, so faults can be produced at the
// socket level (reset, hang, trickled or truncated bodies) exactly as a real network would.
//
// Wire facts implemented (from Archestra's platform/backend/src/routes/a2a/{v1,v2}.ts and the A2A specs):
//  - POST /v1/a2a/:agentId   A2A v0.3 JSON-RPC: `message/send`, `tasks/get`, `tasks/cancel`. A Message reply is Archestra's
//    `{messageId, role: "agent", parts: [{kind: "text", text}]}` with NO `kind: "message"` (so it is not
//    spec-valid, on purpose). LLM failures are -32603 with `error.data = {code, message, isRetryable}`.
//  - POST /v2/a2a/:agentId   A2A 1.0 JSON-RPC: `SendMessage` (with `configuration.returnImmediately`),
//    `GetTask`, `CancelTask` (-32001 unknown task, -32002 TaskNotCancelable once terminal), `A2A-Version: 1.0` required (a missing
//    or other version is answered with -32009 VersionNotSupportedError, HTTP 200), ROLE_* roles, TASK_STATE_*
//    states, parts `{text}`; SendMessage results are wrapped `{message}` / `{task}`, GetTask returns the Task.
//  - GET  /v1/a2a/:agentId/.well-known/agent.json, /v2/a2a/:agentId/.well-known/agent-card.json: agent cards.
//  - Errors: most are HTTP 200 + JSON-RPC `error` like Archestra. Deliberate differences, each a knob:
//    unknown/non-UUID agent -> HTTP 404 (`unknownAgentStatus`; Archestra itself answers 200/-32602 for an
//    unknown UUID and 400 for a non-UUID), missing/wrong token -> HTTP 401 + -32600 (`authFailureStatus`;
//    Archestra's POST answers 200/-32600), body over 1 MiB -> 413 (fastify's default bodyLimit), invalid JSON ->
//    fastify's 400, non-JSON content type -> 415.
//  - A run is not cancelled when its client disconnects (as Archestra's): a scripted task is still created.
//  - Not verified against Archestra (an assumption of this simulator): an input-required task carries its
//    approval requests as `metadata.approvalRequests` and as a data part `{approvalRequests}` of its status message.
//
// Files: types.ts (public types), script.ts (predicates, sequences), http.ts (plumbing), wire.ts (builders,
// validation), tasks.ts (the task state machine), auth.ts (tokens, lockout), cards.ts (agent cards); this file
// holds the server's dispatch and the CLI, and re-exports the public API.
//
// CLI:  tsx sim/archestra.ts --port 0 --latency 50 --token T [--token T2] [--agent UUID] [--task-polls N] [--stats]
//       prints one JSON line {"url","port","agentId"} on stdout when ready; SIGTERM/SIGINT stops it
//       (with --stats a {"stats": {...}} line is printed first).
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { AuthLockout, bearerOf, checkAuth } from './auth';
import { card } from './cards';
import { fastifyError, headersOf, HttpReply, isObj, openaiError, readBody, writeJson } from './http';
import { defaultSummary, isSend } from './script';
import { TaskBook } from './tasks';
import {
  DEFAULT_AGENT_ID,
  DEFAULT_MAX_BODY_BYTES,
  UUID_V4,
  type AgentConfig,
  type ApiVersion,
  type ArchestraSim,
  type ArchestraSimOptions,
  type JsonRpcId,
  type Outcome,
  type RecordedRequest,
  type Reply,
  type SimStats,
} from './types';
import { defaultRpcMessage, messageResult, parseCancel, parseGet, parseSend, rpcError, taskJson } from './wire';

export * from './types';
export { defaultSummary, isCancel, isGetTask, isSend, sequence } from './script';

export async function startArchestraSim(opts: ArchestraSimOptions = {}): Promise<ArchestraSim> {
  const host = opts.host ?? '127.0.0.1';
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const authFailureStatus = opts.authFailureStatus ?? 401;
  const unknownAgentStatus = opts.unknownAgentStatus ?? 404;
  const summarize = opts.summarize ?? defaultSummary;
  const agents: Record<string, AgentConfig> = { ...(opts.agents ?? {}) };
  const acceptAny = opts.agents === undefined || opts.acceptAnyAgent === true;
  let behaviour = opts.behaviour;
  let latency = opts.latencyMs;

  const requests: RecordedRequest[] = [];
  const tasks = new TaskBook(summarize);
  const attempts = new Map<string, number>();
  const lockout = new AuthLockout(opts.authLockout);
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let seq = 0;
  let closed = false;
  const stats: SimStats = { total: 0, byMethod: {}, byOutcome: {}, byStatus: {}, inFlight: 0, maxInFlight: 0 };
  const bump = (m: Record<string, number>, k: string) => (m[k] = (m[k] ?? 0) + 1);

  // All waiting goes through here so close() can cancel it and jest has nothing left to wait for.
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!closed) fn();
    }, ms);
    timers.add(t);
    return t;
  };
  const sleep = (ms: number) => new Promise<void>((r) => (ms > 0 ? later(ms, r) : r()));

  // ---- response writers ------------------------------------------------------------------------------
  function finish(rec: RecordedRequest, outcome: Outcome, status?: number) {
    rec.outcome = outcome;
    if (status !== undefined) rec.status = status;
    rec.respondedAt = Date.now();
    bump(stats.byOutcome, outcome);
    if (status !== undefined) bump(stats.byStatus, String(status));
  }

  function send(res: ServerResponse, rec: RecordedRequest, outcome: Outcome, status: number, body: unknown, headers?: Record<string, string>) {
    if (isObj(body) && isObj(body.error) && typeof body.error.code === 'number') rec.errorCode = body.error.code;
    finish(rec, outcome, status);
    writeJson(res, status, body, headers);
  }

  // ---- request pipeline ------------------------------------------------------------------------------
  const ROUTE = /^\/(v1|v2)\/a2a\/([^/]+)(\/\.well-known\/(agent\.json|agent-card\.json))?\/?$/;
  /** Archestra's LLM proxy (per agent, token required) and a plain OpenAI-compatible base URL (no token). */
  const CHAT_ROUTE = /^\/v1\/(?:openai\/([^/]+)\/)?chat\/completions\/?$/;

  /** An OpenAI-compatible Chat Completions call: method `chat.completions`, `text` = the last user message. */
  async function handleChat(req: IncomingMessage, res: ServerResponse, rec: RecordedRequest, m: RegExpExecArray) {
    const { raw, tooLarge } = await readBody(req, maxBody);
    rec.rawBody = raw;
    if (tooLarge) throw new HttpReply(413, openaiError(413, 'Request body is too large', 'invalid_request_error'));
    try {
      rec.body = raw ? JSON.parse(raw) : undefined;
    } catch {
      /* answered below */
    }
    if (req.method !== 'POST') throw new HttpReply(405, openaiError(405, `Method ${req.method} not allowed`, 'invalid_request_error'), { allow: 'POST' });
    const agentId = m[1] !== undefined ? decodeURIComponent(m[1]) : undefined;
    rec.agentId = agentId;
    const agent = agentId !== undefined ? agents[agentId] : undefined;
    if (agentId !== undefined) {
      if (!UUID_V4.test(agentId) || (!agent && !acceptAny)) throw new HttpReply(unknownAgentStatus, openaiError(404, 'Agent not found', 'not_found_error'));
      const accepted = agent?.tokens ?? opts.tokens;
      const token = bearerOf(rec.headers);
      if (!token || (accepted && !accepted.includes(token))) {
        throw new HttpReply(401, openaiError(401, token ? 'Invalid or unauthorized token' : 'Authorization header required', 'invalid_api_key'));
      }
    }
    const b = rec.body;
    const messages = isObj(b) && Array.isArray(b.messages) ? b.messages : undefined;
    if (!isObj(b) || typeof b.model !== 'string' || !messages || messages.length === 0) {
      throw new HttpReply(400, openaiError(400, 'model and a non-empty messages array are required', 'invalid_request_error'));
    }
    rec.method = 'chat.completions';
    bump(stats.byMethod, rec.method);
    const lastUser = [...messages].reverse().find((x) => isObj(x) && x.role === 'user') as { content?: unknown } | undefined;
    rec.text = typeof lastUser?.content === 'string' ? lastUser.content : '';
    let reply: Reply | undefined;
    try {
      reply = (await agent?.behaviour?.(rec)) ?? (await behaviour?.(rec)) ?? undefined;
    } catch (e) {
      throw new HttpReply(500, openaiError(500, `archestra sim: behaviour threw: ${(e as Error).message}`, 'server_error'));
    }
    if (reply?.kind === 'hang') return finish(rec, 'hang');
    const lat = agent?.latencyMs ?? latency;
    await sleep(reply?.delayMs ?? (typeof lat === 'function' ? lat(rec) : lat ?? 0));
    if (closed || res.destroyed) return;
    const r = reply ?? { kind: 'message' as const };
    if (r.kind === 'message') {
      const content = r.text ?? summarize(rec.text);
      return send(res, rec, 'message', 200, {
        id: `chatcmpl-${randomUUID()}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: b.model,
        choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, finish_reason: 'stop', logprobs: null }],
        usage: { prompt_tokens: rec.text.length, completion_tokens: content.length, total_tokens: rec.text.length + content.length },
      });
    }
    if (r.kind === 'http' && r.body === undefined) {
      const type = r.status === 402 ? 'budget_exceeded' : r.status === 429 ? 'rate_limit_exceeded' : r.status === 401 ? 'invalid_api_key' : r.status >= 500 ? 'server_error' : 'invalid_request_error';
      return respond(res, rec, '0.3', null, { ...r, body: openaiError(r.status, STATUS_CODES[r.status] ?? 'Error', type) });
    }
    if (r.kind === 'http' || r.kind === 'reset' || r.kind === 'malformed' || r.kind === 'truncated') return respond(res, rec, '0.3', null, r);
    throw new HttpReply(500, openaiError(500, `archestra sim: reply kind ${r.kind} has no chat completions form`, 'server_error'));
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/health' && req.method === 'GET') {
      req.resume();
      return writeJson(res, 200, { status: 'ok' }); // readiness probe for the benchmark; not recorded
    }

    const headers = headersOf(req);
    const rec: RecordedRequest = {
      seq: ++seq, receivedAt: Date.now(), httpMethod: req.method ?? 'GET', path, headers, body: undefined, rawBody: '', outcome: 'pending',
    };
    requests.push(rec);
    if (opts.maxRecorded !== undefined && requests.length > opts.maxRecorded) requests.splice(0, requests.length - opts.maxRecorded);
    stats.total++;
    stats.inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    res.once('close', () => {
      stats.inFlight--;
      // Closed before the answer was complete and not by us (reset / truncated / close()): the client left.
      if (!res.writableFinished && !closed && rec.outcome !== 'reset' && rec.outcome !== 'truncated') rec.clientAborted = true;
    });

    let id: JsonRpcId = null;
    try {
      const chat = CHAT_ROUTE.exec(path);
      if (chat) return await handleChat(req, res, rec, chat);
      const { raw, tooLarge } = await readBody(req, maxBody);
      rec.rawBody = raw;
      if (tooLarge) throw new HttpReply(413, fastifyError(413, 'Request body is too large', 'FST_ERR_CTP_BODY_TOO_LARGE'));
      try {
        rec.body = raw ? JSON.parse(raw) : undefined;
      } catch {
        /* judged below, after routing, like fastify */
      }
      if (isObj(rec.body) && (typeof rec.body.id === 'string' || typeof rec.body.id === 'number')) id = rec.body.id;

      const m = ROUTE.exec(path);
      if (!m) throw new HttpReply(404, fastifyError(404, `Route ${req.method}:${path} not found`));
      const version: ApiVersion = m[1] === 'v1' ? '0.3' : '1.0';
      const agentId = decodeURIComponent(m[2]);
      const isCard = m[3] !== undefined;
      rec.apiVersion = version;
      rec.agentId = agentId;
      if (isCard ? req.method !== 'GET' : req.method !== 'POST') {
        throw new HttpReply(405, fastifyError(405, `Method ${req.method} not allowed`), { allow: isCard ? 'GET' : 'POST' });
      }
      if (isCard && m[4] !== (version === '0.3' ? 'agent.json' : 'agent-card.json')) throw new HttpReply(404, fastifyError(404, `Route GET:${path} not found`));

      if (!UUID_V4.test(agentId)) throw new HttpReply(unknownAgentStatus, rpcError(id, -32602, `Agent not found: "${agentId}" is not a UUID`));
      const agent = agents[agentId];
      if (!agent && !acceptAny) throw new HttpReply(unknownAgentStatus, rpcError(id, -32602, 'Agent not found'));
      lockout.check();
      try {
        checkAuth(headers, agent?.tokens ?? opts.tokens, id, authFailureStatus);
      } catch (e) {
        lockout.failed();
        throw e;
      }

      if (isCard) {
        return send(res, rec, 'card', 200, card(version, agentId, agent, `http://${headers.host ?? `${host}:${port}`}`));
      }

      const ctype = (headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      if (ctype !== 'application/json' && !/^application\/[a-z0-9.+-]*\+json$/.test(ctype)) {
        throw new HttpReply(415, fastifyError(415, `Unsupported Media Type: ${ctype || '(none)'}`, 'FST_ERR_CTP_INVALID_MEDIA_TYPE'));
      }
      if (rec.body === undefined) {
        throw new HttpReply(400, fastifyError(400, "Body is not valid JSON but content-type is set to 'application/json'", 'FST_ERR_CTP_INVALID_JSON_BODY'));
      }
      const b = rec.body;
      if (!isObj(b) || b.jsonrpc !== '2.0' || (typeof b.id !== 'string' && typeof b.id !== 'number') || typeof b.method !== 'string' || (b.params !== undefined && !isObj(b.params))) {
        throw new HttpReply(200, rpcError(id, -32600, 'Invalid Request'));
      }
      rec.method = b.method;
      rec.id = id;
      bump(stats.byMethod, b.method);

      if (version === '1.0') {
        const v = (headers['a2a-version'] ?? '').trim();
        if (v !== '1.0' && v !== '1.0.0') {
          throw new HttpReply(200, rpcError(id, -32009, `Unsupported A2A-Version ${v ? `"${v}"` : '(missing)'}. This endpoint serves: 1.0`));
        }
      }
      const sendMethod = version === '0.3' ? 'message/send' : 'SendMessage';
      const getMethod = version === '0.3' ? 'tasks/get' : 'GetTask';
      const cancelMethod = version === '0.3' ? 'tasks/cancel' : 'CancelTask';
      let get: { taskId: string; historyLength?: number } | undefined;
      if (b.method === sendMethod) {
        const s = parseSend(version, id, b.params);
        Object.assign(rec, s);
        const key = `${agentId}\u0000${s.messageId}`;
        rec.attempt = (attempts.get(key) ?? 0) + 1;
        attempts.set(key, rec.attempt);
      } else if (b.method === getMethod) {
        get = parseGet(id, b.params);
        rec.taskId = get.taskId;
        const t = tasks.get(get.taskId);
        if (t && t.agentId === agentId) {
          rec.poll = t.polls + 1;
          rec.text = t.userText;
        }
      } else if (b.method === cancelMethod) {
        // Not scripted: the task state machine answers (-32001 unknown, -32002 already terminal).
        const { taskId } = parseCancel(id, b.params);
        rec.taskId = taskId;
        const t = tasks.get(taskId);
        if (!t || t.agentId !== agentId) throw new HttpReply(200, rpcError(id, -32001, 'Task not found'));
        if (tasks.cancel(t) === 'not_cancelable') throw new HttpReply(200, rpcError(id, -32002, `Task cannot be canceled: it is ${t.state}`));
        rec.taskState = t.state;
        return send(res, rec, 'canceled', 200, { jsonrpc: '2.0', id, result: taskJson(version, t) });
      } else {
        throw new HttpReply(200, rpcError(id, -32601, 'Method not found'));
      }

      // ---- the agent's turn: scripted or default -------------------------------------------------------
      let reply: Reply | undefined;
      try {
        reply = (await agent?.behaviour?.(rec)) ?? (await behaviour?.(rec)) ?? undefined;
      } catch (e) {
        throw new HttpReply(500, fastifyError(500, `archestra sim: behaviour threw: ${(e as Error).message}`));
      }
      if (reply?.kind === 'hang') return finish(rec, 'hang');
      const lat = agent?.latencyMs ?? latency;
      const delay = reply?.delayMs ?? (typeof lat === 'function' ? lat(rec) : lat ?? 0);
      await sleep(delay);
      if (closed) return;
      if (res.destroyed) {
        // The client gave up while the agent was "thinking": like Archestra, the run is not cancelled. It ends
        // (a task reply is still created, so GetTask finds it), and nobody reads the answer.
        if (rec.method === sendMethod) {
          rec.ranAfterDisconnect = true;
          if (reply?.kind === 'task') rec.taskId = tasks.create(rec, reply).id;
        }
        return;
      }

      if (get && (reply === undefined || reply.kind === 'message' || reply.kind === 'task')) {
        const t = tasks.get(get.taskId);
        if (!t || t.agentId !== agentId) throw new HttpReply(200, rpcError(id, -32001, 'Task not found'));
        tasks.advance(t, true);
        rec.taskState = t.state;
        return send(res, rec, 'task', 200, { jsonrpc: '2.0', id, result: taskJson(version, t, get.historyLength) });
      }
      return respond(res, rec, version, id, reply ?? { kind: 'message' });
    } catch (e) {
      if (res.destroyed) return; // nobody left to answer (client aborted, or close())
      if (e instanceof HttpReply) {
        const outcome: Outcome = e.status === 200 ? 'rpcError' : 'http';
        return send(res, rec, outcome, e.status, e.body, e.headers);
      }
      finish(rec, 'http', 500);
      writeJson(res, 500, fastifyError(500, (e as Error).message));
    }
  }

  function respond(res: ServerResponse, rec: RecordedRequest, version: ApiVersion, id: JsonRpcId, r: Exclude<Reply, { kind: 'hang' }>) {
    const text = (t?: string) => t ?? summarize(rec.text ?? '');
    switch (r.kind) {
      case 'message':
        return send(res, rec, 'message', 200, { jsonrpc: '2.0', id, result: messageResult(version, text(r.text), rec.contextId) });
      case 'task': {
        const t = tasks.create(rec, r);
        rec.taskId = t.id;
        rec.taskState = t.state;
        const task = taskJson(version, t);
        return send(res, rec, 'task', 200, { jsonrpc: '2.0', id, result: version === '0.3' ? task : { task } });
      }
      case 'rpcError':
        return send(res, rec, 'rpcError', r.status ?? 200, rpcError(id, r.code, r.message ?? defaultRpcMessage(r.code), r.data));
      case 'llmError': {
        const data = {
          code: r.code ?? (r.retryable ? 'rate_limit_exceeded' : 'invalid_request'),
          message: r.message ?? (r.retryable ? 'The LLM provider is rate limiting requests; try again later' : 'The LLM provider rejected the request'),
          isRetryable: r.retryable,
        };
        return send(res, rec, 'llmError', 200, rpcError(id, -32603, data.message, data));
      }
      case 'http': {
        const headers: Record<string, string> = { ...(r.headers ?? {}) };
        if (r.retryAfter !== undefined) headers['retry-after'] = String(r.retryAfter);
        if (r.contentType) headers['content-type'] = r.contentType;
        if (r.status === 401 && !Object.keys(headers).some((h) => h.toLowerCase() === 'www-authenticate')) headers['www-authenticate'] = 'Bearer realm="a2a"';
        const body = r.body ?? fastifyError(r.status, STATUS_CODES[r.status] ?? 'Error');
        return send(res, rec, 'http', r.status, body, headers);
      }
      case 'reset':
        finish(rec, 'reset');
        // RST rather than FIN: the client sees ECONNRESET, as with a crashed proxy or a killed container.
        return res.socket ? res.socket.resetAndDestroy() : res.destroy();
      case 'malformed': {
        const body = r.body ?? `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":{"messageId":"${randomUUID()}",,"role":"agent"`;
        finish(rec, 'malformed', 200);
        return writeJson(res, 200, body);
      }
      case 'wrongId': {
        const other = r.id !== undefined ? r.id : typeof id === 'number' ? id + 1000 : `not-${String(id)}`;
        return send(res, rec, 'wrongId', 200, { jsonrpc: '2.0', id: other, result: messageResult(version, text(r.text), rec.contextId) });
      }
      case 'truncated': {
        const full = JSON.stringify({ jsonrpc: '2.0', id, result: messageResult(version, text(undefined), rec.contextId) });
        finish(rec, 'truncated', 200);
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(full)) });
        const half = Buffer.from(full).subarray(0, Math.floor(Buffer.byteLength(full) / 2));
        res.write(half, () => later(10, () => res.destroy()));
        return;
      }
      case 'slow': {
        const full = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id, result: messageResult(version, text(r.text), rec.contextId) }));
        const chunk = Math.max(1, r.chunkBytes ?? 16);
        const every = r.intervalMs ?? 50;
        const stallAt = r.stallAfterBytes ?? Infinity;
        finish(rec, 'slow', 200);
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(full.length) });
        res.flushHeaders();
        let off = 0;
        const tick = () => {
          if (res.destroyed) return;
          if (off >= stallAt) return; // stalled: headers and part of the body sent, then silence
          const end = Math.min(full.length, off + chunk, stallAt);
          res.write(full.subarray(off, end));
          off = end;
          if (off >= full.length) res.end();
          else later(every, tick);
        };
        later(every, tick);
        return;
      }
    }
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) writeJson(res, 500, fastifyError(500, String(e)));
    });
  });
  server.keepAliveTimeout = opts.keepAliveTimeoutMs ?? 60_000;
  server.headersTimeout = server.keepAliveTimeout + 5_000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    requests,
    agents,
    agentUrl: (agentId = DEFAULT_AGENT_ID, version: ApiVersion = '0.3') => `${url}/${version === '0.3' ? 'v1' : 'v2'}/a2a/${agentId}`,
    chatUrl: (agentId = DEFAULT_AGENT_ID) => `${url}/v1/openai/${agentId}/chat/completions`,
    chatBaseUrl: `${url}/v1`,
    setBehaviour: (b) => void (behaviour = b),
    setLatency: (l) => void (latency = l),
    taskState(taskId) {
      const t = tasks.get(taskId);
      if (t) tasks.advance(t, false);
      return t?.state;
    },
    settleTask(taskId, state = 'completed') {
      const t = tasks.get(taskId);
      if (!t) throw new Error(`archestra sim: no task ${taskId}`);
      tasks.settle(t, state);
    },
    stats: () => ({ ...stats, byMethod: { ...stats.byMethod }, byOutcome: { ...stats.byOutcome }, byStatus: { ...stats.byStatus } }),
    clear() {
      requests.length = 0;
      tasks.clear();
      attempts.clear();
      Object.assign(stats, { total: 0, byMethod: {}, byOutcome: {}, byStatus: {}, maxInFlight: stats.inFlight });
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        closed = true;
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.close(() => resolve());
        for (const s of sockets) s.destroy(); // hung and keep-alive sockets alike
      });
      return closing;
    },
  };
}
// ---------------------------------------------------------------------------------------------------------
// CLI

function parseCli(argv: string[]) {
  const out = { port: 0, host: '127.0.0.1', latency: 0, tokens: [] as string[], agents: [] as string[], stats: false, taskPolls: undefined as number | undefined, maxRecorded: 1000 };
  const num = (flag: string, v: string | undefined) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < 0) throw new Error(`${flag} needs a non-negative number, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--port': out.port = num(flag, value()); break;
      case '--host': out.host = value(); break;
      case '--latency': out.latency = num(flag, value()); break;
      case '--token': out.tokens.push(value()); break;
      case '--agent': out.agents.push(value()); break;
      case '--task-polls': out.taskPolls = num(flag, value()); break;
      case '--max-recorded': out.maxRecorded = num(flag, value()); break;
      case '--stats': out.stats = true; break;
      case '--help':
        process.stdout.write('usage: tsx sim/archestra.ts [--port 0] [--host 127.0.0.1] [--latency MS] [--token T]... [--agent UUID]... [--task-polls N] [--max-recorded N] [--stats]\n');
        return process.exit(0);
      default: throw new Error(`unknown argument ${a} (see --help)`);
    }
  }
  return out;
}

async function main() {
  const args = parseCli(process.argv.slice(2));
  for (const a of args.agents) if (!UUID_V4.test(a)) throw new Error(`--agent ${a} is not a UUID v4`);
  const sim = await startArchestraSim({
    host: args.host,
    port: args.port,
    latencyMs: args.latency,
    tokens: args.tokens.length ? args.tokens : undefined,
    agents: args.agents.length ? Object.fromEntries(args.agents.map((a) => [a, {}])) : undefined,
    maxRecorded: args.maxRecorded,
    behaviour: args.taskPolls === undefined ? undefined : (r) => (isSend(r) ? { kind: 'task', afterPolls: args.taskPolls } : undefined),
  });
  process.stdout.write(`${JSON.stringify({ url: sim.url, port: sim.port, agentId: args.agents[0] ?? DEFAULT_AGENT_ID })}\n`);
  const stop = async () => {
    await sim.close();
    if (args.stats) process.stdout.write(`${JSON.stringify({ stats: sim.stats() })}\n`);
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`archestra sim: ${(e as Error).message}\n`);
    process.exit(1);
  });
}

