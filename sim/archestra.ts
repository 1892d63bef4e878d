// Archestra-compatible A2A agent server: the peer the bridge's tests, `npm run invoke` (embedded) and the
// benchmark (child process) talk to. Plain node:http rather than express, so faults can be produced at the
// socket level (reset, hang, trickled or truncated bodies) exactly as a real network would.
//
// Wire facts implemented (from Archestra's platform/backend/src/routes/a2a/{v1,v2}.ts and the A2A specs):
//  - POST /v1/a2a/:agentId   A2A v0.3 JSON-RPC: `message/send`, `tasks/get`. A Message reply is Archestra's
//    `{messageId, role: "agent", parts: [{kind: "text", text}]}` with NO `kind: "message"` (so it is not
//    spec-valid, on purpose). LLM failures are -32603 with `error.data = {code, message, isRetryable}`.
//  - POST /v2/a2a/:agentId   A2A 1.0 JSON-RPC: `SendMessage`, `GetTask`, `A2A-Version: 1.0` required (a missing
//    or other version is answered with -32009 VersionNotSupportedError, HTTP 200), ROLE_* roles, TASK_STATE_*
//    states, parts `{text}`; SendMessage results are wrapped `{message}` / `{task}`, GetTask returns the Task.
//  - GET  /v1/a2a/:agentId/.well-known/agent.json, /v2/a2a/:agentId/.well-known/agent-card.json: agent cards.
//  - Errors: most are HTTP 200 + JSON-RPC `error` like Archestra. Deliberate differences, each a knob:
//    unknown/non-UUID agent -> HTTP 404 (`unknownAgentStatus`; Archestra itself answers 200/-32602 for an
//    unknown UUID and 400 for a non-UUID), missing/wrong token -> HTTP 401 + -32600 (`authFailureStatus`;
//    Archestra's POST answers 200/-32600), body over 1 MiB -> 413 (fastify's default bodyLimit), invalid JSON ->
//    fastify's 400, non-JSON content type -> 415.
//
// CLI:  tsx sim/archestra.ts --port 0 --latency 50 --token T [--token T2] [--agent UUID] [--task-polls N] [--stats]
//       prints one JSON line {"url","port","agentId"} on stdout when ready; SIGTERM/SIGINT stops it
//       (with --stats a {"stats": {...}} line is printed first).
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomUUID } from 'node:crypto';

// ---------------------------------------------------------------------------------------------------------
// Public types

/** Fixed agent id that every sim accepts by default (any UUID v4 is accepted unless `agents` is given). */
export const DEFAULT_AGENT_ID = '3f6c2b1e-8d4a-4c7b-9e2f-0a1b2c3d4e5f';
export const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
/** fastify's default bodyLimit, which Archestra's server inherits unless configured otherwise. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** '0.3' is the /v1/a2a endpoint, '1.0' the /v2/a2a endpoint. */
export type ApiVersion = '0.3' | '1.0';
export type JsonRpcId = string | number | null;
export type TaskStateName =
  | 'submitted' | 'working' | 'input-required' | 'completed' | 'canceled' | 'failed' | 'rejected' | 'auth-required';
/** States a scripted task ends in (terminal, or interrupted: input-required / auth-required). */
export type SettledTaskState = Exclude<TaskStateName, 'submitted' | 'working'>;

/** What the server saw; passed to behaviour hooks and recorded. */
export interface SimRequest {
  /** 1-based arrival order over all recorded requests of this server. */
  seq: number;
  receivedAt: number;
  httpMethod: string;
  path: string;
  apiVersion?: ApiVersion;
  agentId?: string;
  /** Lower-cased names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** Parsed JSON body (undefined when absent or not JSON). */
  body: unknown;
  rawBody: string;
  /** JSON-RPC method and id, once the envelope is valid. */
  method?: string;
  id?: JsonRpcId;
  /** message/send, SendMessage: the user text (text parts joined with "\n"), ids and the attempt number
   *  (1-based count of sends of this messageId to this agent: retries of the same message are visible). */
  text?: string;
  messageId?: string;
  contextId?: string;
  attempt?: number;
  /** tasks/get, GetTask: the task asked for and the 1-based poll number of that task (text is the task's). */
  taskId?: string;
  poll?: number;
}

export type Outcome =
  | 'pending' | 'message' | 'task' | 'card' | 'rpcError' | 'llmError' | 'http'
  | 'reset' | 'hang' | 'slow' | 'malformed' | 'truncated' | 'wrongId';

export interface RecordedRequest extends SimRequest {
  outcome: Outcome;
  /** HTTP status written (absent for reset / hang). */
  status?: number;
  /** JSON-RPC error code sent, if any. */
  errorCode?: number;
  /** Task state sent, for task results. */
  taskState?: TaskStateName;
  respondedAt?: number;
  /** The client went away before the answer was complete (timeouts, aborts). */
  clientAborted?: boolean;
}

/** A scripted answer. Every variant but `hang` accepts `delayMs`, overriding the configured latency. */
export type Reply =
  /** Normal agent answer; `text` defaults to the summary of the prompt. */
  | { kind: 'message'; text?: string; delayMs?: number }
  /** Answer with a Task. Without afterPolls/afterMs/never it is already in `finalState` (default completed).
   *  Otherwise it starts in `initialState` (default submitted), reads `working` on polls, and settles on the
   *  `afterPolls`-th tasks/get, or once `afterMs` elapsed, whichever first; `never` keeps it working forever.
   *  The reply text goes to an artifact (default), the status message, or the history. */
  | {
      kind: 'task';
      text?: string;
      initialState?: 'submitted' | 'working';
      afterPolls?: number;
      afterMs?: number;
      never?: boolean;
      finalState?: SettledTaskState;
      /** Status message text for failed / rejected / canceled / input-required / auth-required. */
      statusText?: string;
      replyIn?: 'artifact' | 'status' | 'history';
      delayMs?: number;
    }
  /** Any JSON-RPC error (-32600, -32601, -32602, -32001, ...), HTTP 200 unless `status`. */
  | { kind: 'rpcError'; code: number; message?: string; data?: unknown; status?: number; delayMs?: number }
  /** Archestra's LLM failure: -32603 with data {code, message, isRetryable}. */
  | { kind: 'llmError'; retryable: boolean; message?: string; code?: string; delayMs?: number }
  /** Plain HTTP status (429, 500, 502, 503, 400, 404, 413, 401, 403, ...). `retryAfter` sets Retry-After
   *  (seconds or an HTTP date). Body defaults to a fastify-style JSON error. */
  | {
      kind: 'http';
      status: number;
      retryAfter?: number | string;
      body?: string | object;
      contentType?: string;
      headers?: Record<string, string>;
      delayMs?: number;
    }
  /** TCP reset (RST) without any answer. */
  | { kind: 'reset'; delayMs?: number }
  /** Never answer (until the client gives up or the sim closes). */
  | { kind: 'hang' }
  /** Headers at once, then the normal answer `chunkBytes` every `intervalMs`; `stallAfterBytes` stops
   *  writing after that many body bytes and leaves the response open. */
  | { kind: 'slow'; text?: string; chunkBytes?: number; intervalMs?: number; stallAfterBytes?: number; delayMs?: number }
  /** HTTP 200, JSON content type, body that is not JSON. */
  | { kind: 'malformed'; body?: string; delayMs?: number }
  /** Content-Length of the full answer, half of it written, then the connection closed. */
  | { kind: 'truncated'; delayMs?: number }
  /** A normal answer carrying another JSON-RPC id. */
  | { kind: 'wrongId'; id?: JsonRpcId; text?: string; delayMs?: number };

/** Returns a Reply to script the request, or undefined for the default (normal) handling. */
export type Behaviour = (req: SimRequest) => Reply | undefined | void | Promise<Reply | undefined | void>;
export type Latency = number | ((req: SimRequest) => number);

export interface AgentConfig {
  name?: string;
  description?: string;
  /** Tokens accepted for this agent (Archestra tokens are per agent); default: the server's `tokens`. */
  tokens?: string[];
  latencyMs?: Latency;
  /** Consulted before the server-wide behaviour. */
  behaviour?: Behaviour;
}

export interface ArchestraSimOptions {
  host?: string;
  /** 0 (default) picks an ephemeral port. */
  port?: number;
  /** Accepted bearer tokens. Omitted: any non-empty bearer token (the header itself is always required). */
  tokens?: string[];
  /** Known agents by UUID. Omitted: every UUID v4 is an agent (with default behaviour). */
  agents?: Record<string, AgentConfig>;
  /** With `agents`: still accept other UUID v4 ids. */
  acceptAnyAgent?: boolean;
  /** Delay before answering a valid request (scripted or not); validation errors are answered at once. */
  latencyMs?: Latency;
  behaviour?: Behaviour;
  /** Request body limit, answered with 413. Default 1 MiB. */
  maxBodyBytes?: number;
  /** HTTP status for a missing / wrong token. Default 401 (set 200 for Archestra's current POST behaviour). */
  authFailureStatus?: number;
  /** Archestra's IP lockout: after `maxFailures` failed authentications within `windowMs` (10 in 60 s there),
   *  every request is answered HTTP 429 "Too many failed authentication attempts", before any token check,
   *  until the window has no more than that. Off by default. */
  authLockout?: { maxFailures: number; windowMs: number };
  /** HTTP status for an unknown or non-UUID agent. Default 404. */
  unknownAgentStatus?: number;
  /** Keep at most this many recorded requests (oldest dropped). Default: unbounded. */
  maxRecorded?: number;
  /** Default reply text for a prompt. Default `defaultSummary`. */
  summarize?: (text: string) => string;
  /** Idle keep-alive time of server sockets. Default 60 s, above common client pool timeouts, so the bridge
   *  does not race the server closing an idle pooled socket. */
  keepAliveTimeoutMs?: number;
}

export interface SimStats {
  total: number;
  byMethod: Record<string, number>;
  byOutcome: Record<string, number>;
  byStatus: Record<string, number>;
  inFlight: number;
  maxInFlight: number;
}

export interface ArchestraSim {
  /** Origin, e.g. http://127.0.0.1:PORT (no trailing slash). */
  url: string;
  port: number;
  /** Every request in arrival order (live array; see `clear`). */
  requests: RecordedRequest[];
  /** Configured agents (live object: add or change agents at run time). */
  agents: Record<string, AgentConfig>;
  /** JSON-RPC endpoint of an agent: /v1/a2a/<id> for '0.3' (default), /v2/a2a/<id> for '1.0'. */
  agentUrl(agentId?: string, version?: ApiVersion): string;
  setBehaviour(behaviour: Behaviour | undefined): void;
  setLatency(latency: Latency | undefined): void;
  stats(): SimStats;
  /** Forgets recorded requests, tasks, attempt counters and stats. */
  clear(): void;
  /** Stops listening and destroys every open socket (hung requests included). */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// Helpers for scripts

/** Default agent answer: a deterministic one-line summary of the prompt. */
export function defaultSummary(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  const chars = [...flat]; // code points, so a surrogate pair is never split
  return `Summary: ${chars.length > 80 ? `${chars.slice(0, 80).join('')}...` : flat}`;
}

export const isSend = (r: SimRequest): boolean => r.method === 'message/send' || r.method === 'SendMessage';
export const isGetTask = (r: SimRequest): boolean => r.method === 'tasks/get' || r.method === 'GetTask';

/** Answers the n-th matching request (default: sends) with replies[n]; later ones get the default. E.g.
 *  `sequence([{kind:'http', status:503}, {kind:'http', status:503}])` fails twice, then succeeds. */
export function sequence(replies: Reply[], match: (r: SimRequest) => boolean = isSend): Behaviour {
  let n = 0;
  return (r) => (match(r) ? replies[n++] : undefined);
}

// ---------------------------------------------------------------------------------------------------------
// Implementation

interface SimTask {
  id: string;
  contextId: string;
  agentId: string;
  createdAt: number;
  polls: number;
  state: TaskStateName;
  stateAt: number;
  userMessageId: string;
  userText: string;
  replyText: string;
  statusText: string;
  replyIn: 'artifact' | 'status' | 'history';
  finalState: SettledTaskState;
  afterPolls?: number;
  afterMs?: number;
  never: boolean;
  agentMessageId: string;
  artifactId: string;
}

const SETTLED = new Set<TaskStateName>(['input-required', 'completed', 'canceled', 'failed', 'rejected', 'auth-required']);
const MAX_TASKS = 100_000;

const DEFAULT_STATUS_TEXT: Record<SettledTaskState, string> = {
  completed: '',
  failed: 'The agent failed to process the request',
  rejected: 'The agent declined the task',
  canceled: 'The task was canceled',
  'input-required': 'More input is required to continue',
  'auth-required': 'Authorization is required to continue',
};

const toV1State = (s: TaskStateName) => `TASK_STATE_${s.toUpperCase().replace(/-/g, '_')}`;

class HttpReply {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}

function rpcError(id: JsonRpcId, code: number, message: string, data?: unknown) {
  return { jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } };
}

function fastifyError(status: number, message: string, code?: string) {
  return { statusCode: status, ...(code ? { code } : {}), error: STATUS_CODES[status] ?? 'Error', message };
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

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
  const tasks = new Map<string, SimTask>();
  const attempts = new Map<string, number>();
  /** When authentications failed (for `authLockout`), oldest first. */
  const authFailures: number[] = [];
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

  function writeJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    if (res.headersSent || res.destroyed) return;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(text)),
      ...headers,
    });
    res.end(text);
  }

  function send(res: ServerResponse, rec: RecordedRequest, outcome: Outcome, status: number, body: unknown, headers?: Record<string, string>) {
    if (isObj(body) && isObj(body.error) && typeof body.error.code === 'number') rec.errorCode = body.error.code;
    finish(rec, outcome, status);
    writeJson(res, status, body, headers);
  }

  // ---- A2A object builders ---------------------------------------------------------------------------
  function messageResult(version: ApiVersion, text: string, contextId: string | undefined) {
    const messageId = randomUUID();
    if (version === '0.3') return { messageId, role: 'agent', parts: [{ kind: 'text', text }] }; // Archestra v1: no kind
    return { message: { messageId, contextId: contextId ?? randomUUID(), role: 'ROLE_AGENT', parts: [{ text }] } };
  }

  function advance(t: SimTask, isPoll: boolean) {
    if (isPoll) t.polls++;
    if (SETTLED.has(t.state)) return;
    const due =
      !t.never &&
      ((t.afterPolls !== undefined && t.polls >= t.afterPolls) ||
        (t.afterMs !== undefined && Date.now() - t.createdAt >= t.afterMs));
    const next: TaskStateName = due ? t.finalState : isPoll ? 'working' : t.state;
    if (next !== t.state) {
      t.state = next;
      t.stateAt = Date.now();
    }
  }

  function taskJson(version: ApiVersion, t: SimTask, historyLength?: number) {
    const v03 = version === '0.3';
    const msg = (role: 'user' | 'agent', messageId: string, text: string) =>
      v03
        ? { kind: 'message', role, messageId, parts: [{ kind: 'text', text }], contextId: t.contextId, taskId: t.id }
        : { messageId, contextId: t.contextId, taskId: t.id, role: role === 'user' ? 'ROLE_USER' : 'ROLE_AGENT', parts: [{ text }] };
    const completed = t.state === 'completed';
    const statusText = completed ? (t.replyIn === 'status' ? t.replyText : '') : SETTLED.has(t.state) ? t.statusText : '';
    const status: Record<string, unknown> = { state: v03 ? t.state : toV1State(t.state), timestamp: new Date(t.stateAt).toISOString() };
    if (statusText) status.message = msg('agent', t.agentMessageId, statusText);
    let history = [msg('user', t.userMessageId, t.userText)];
    if (completed && t.replyIn === 'history') history.push(msg('agent', t.agentMessageId, t.replyText));
    if (historyLength !== undefined) history = historyLength === 0 ? [] : history.slice(-historyLength);
    const body: Record<string, unknown> = v03
      ? { kind: 'task', id: t.id, contextId: t.contextId, status }
      : { id: t.id, contextId: t.contextId, status };
    if (history.length) body.history = history;
    if (completed && t.replyIn === 'artifact') {
      body.artifacts = [
        { artifactId: t.artifactId, name: 'reply', parts: [v03 ? { kind: 'text', text: t.replyText } : { text: t.replyText }] },
      ];
    }
    return body;
  }

  function createTask(rec: SimRequest, r: Extract<Reply, { kind: 'task' }>): SimTask {
    const scheduled = r.never === true || r.afterPolls !== undefined || r.afterMs !== undefined;
    const finalState = r.finalState ?? 'completed';
    const now = Date.now();
    const t: SimTask = {
      id: randomUUID(),
      contextId: rec.contextId ?? randomUUID(),
      agentId: rec.agentId ?? '',
      createdAt: now,
      polls: 0,
      state: scheduled ? (r.initialState ?? 'submitted') : finalState,
      stateAt: now,
      userMessageId: rec.messageId ?? randomUUID(),
      userText: rec.text ?? '',
      replyText: r.text ?? summarize(rec.text ?? ''),
      statusText: r.statusText ?? DEFAULT_STATUS_TEXT[finalState],
      replyIn: r.replyIn ?? 'artifact',
      finalState,
      afterPolls: r.afterPolls,
      afterMs: r.afterMs,
      never: r.never === true,
      agentMessageId: randomUUID(),
      artifactId: randomUUID(),
    };
    advance(t, false); // afterPolls: 0 / afterMs: 0 settle at once
    if (tasks.size >= MAX_TASKS) tasks.delete(tasks.keys().next().value as string);
    tasks.set(t.id, t);
    return t;
  }

  // ---- validation (answers with HttpReply on failure) -------------------------------------------------
  function parseSend(version: ApiVersion, id: JsonRpcId, params: unknown): { text: string; messageId: string; contextId?: string } {
    const invalid = (m: string) => new HttpReply(200, rpcError(id, -32602, `Invalid params: ${m}`));
    if (!isObj(params) || !isObj(params.message)) throw invalid('params.message must be an object');
    const m = params.message;
    const roles = version === '0.3' ? ['user', 'agent'] : ['ROLE_USER', 'ROLE_AGENT'];
    if (typeof m.role !== 'string' || !roles.includes(m.role)) throw invalid(`params.message.role must be one of ${roles.join(', ')}`);
    if (typeof m.messageId !== 'string' || m.messageId === '') throw invalid('params.message.messageId must be a non-empty string');
    if (!Array.isArray(m.parts)) throw invalid('params.message.parts must be an array');
    if (m.contextId !== undefined && typeof m.contextId !== 'string') throw invalid('params.message.contextId must be a string');
    const texts = m.parts
      .filter((p): p is Record<string, unknown> => isObj(p) && typeof p.text === 'string' && (version === '1.0' || p.kind === 'text'))
      .map((p) => p.text as string);
    const text = texts.join('\n');
    if (!text) throw new HttpReply(200, rpcError(id, -32602, 'No message content provided'));
    return { text, messageId: m.messageId, contextId: m.contextId as string | undefined };
  }

  function parseGet(id: JsonRpcId, params: unknown): { taskId: string; historyLength?: number } {
    const invalid = (m: string) => new HttpReply(200, rpcError(id, -32602, `Invalid params: ${m}`));
    if (!isObj(params) || typeof params.id !== 'string' || params.id === '') throw invalid('params.id must be a non-empty string');
    const h = params.historyLength;
    if (h !== undefined && (typeof h !== 'number' || !Number.isInteger(h) || h < 0)) throw invalid('params.historyLength must be a non-negative integer');
    return { taskId: params.id, historyLength: h as number | undefined };
  }

  function checkAuth(headers: Record<string, string>, agent: AgentConfig | undefined, id: JsonRpcId) {
    const accepted = agent?.tokens ?? opts.tokens;
    const m = /^Bearer\s+(\S.*)$/i.exec(headers.authorization ?? '');
    const token = m?.[1].trim();
    if (!token) {
      throw new HttpReply(
        authFailureStatus,
        rpcError(id, -32600, 'Authentication required: Authorization header required. Use: Bearer <platform_token>'),
        authFailureStatus === 401 ? { 'www-authenticate': 'Bearer realm="a2a"' } : {},
      );
    }
    if (accepted && !accepted.includes(token)) {
      throw new HttpReply(
        authFailureStatus,
        rpcError(id, -32600, 'Authentication failed: Invalid or unauthorized token'),
        authFailureStatus === 401 ? { 'www-authenticate': 'Bearer realm="a2a", error="invalid_token"' } : {},
      );
    }
  }

  function card(version: ApiVersion, agentId: string, agent: AgentConfig | undefined, headers: Record<string, string>) {
    const base = `http://${headers.host ?? `${host}:${port}`}`;
    const name = agent?.name ?? `sim-agent-${agentId.slice(0, 8)}`;
    const description = agent?.description ?? 'Archestra simulator agent: answers with a summary of the prompt';
    const skills = [{ id: name.toLowerCase().replace(/[^a-z0-9]+/g, '_'), name, description, tags: ['summary'], inputModes: ['text'], outputModes: ['text'] }];
    if (version === '0.3') {
      return {
        name, description, url: `${base}/v1/a2a/${agentId}`, version: '1',
        capabilities: { streaming: false, pushNotifications: false, stateTransitionHistory: false },
        defaultInputModes: ['text'], defaultOutputModes: ['text'], skills,
      };
    }
    return {
      name, description, version: '1',
      supportedInterfaces: [{ url: `${base}/v2/a2a/${agentId}`, protocolBinding: 'JSONRPC', protocolVersion: '1.0' }],
      capabilities: { streaming: false, pushNotifications: false, extendedAgentCard: false },
      securitySchemes: { platformToken: { type: 'http', scheme: 'bearer' } },
      securityRequirements: [{ platformToken: [] }],
      defaultInputModes: ['text/plain'], defaultOutputModes: ['text/plain'], skills,
    };
  }

  // ---- request pipeline ------------------------------------------------------------------------------
  function readBody(req: IncomingMessage): Promise<{ raw: string; tooLarge: boolean }> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      // Past the limit the rest is drained and dropped, so the client reads the 413 instead of an EPIPE.
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= maxBody) chunks.push(c);
      });
      req.on('end', () => resolve({ raw: Buffer.concat(chunks).toString('utf8'), tooLarge: size > maxBody }));
      req.on('error', reject);
      req.on('close', () => (req.complete ? undefined : reject(new Error('client aborted the request body'))));
    });
  }

  const ROUTE = /^\/(v1|v2)\/a2a\/([^/]+)(\/\.well-known\/(agent\.json|agent-card\.json))?\/?$/;

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/health' && req.method === 'GET') {
      req.resume();
      return writeJson(res, 200, { status: 'ok' }); // readiness probe for the benchmark; not recorded
    }

    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
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
      const { raw, tooLarge } = await readBody(req);
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
      if (opts.authLockout) {
        const { maxFailures, windowMs } = opts.authLockout;
        while (authFailures.length && authFailures[0] <= Date.now() - windowMs) authFailures.shift();
        if (authFailures.length >= maxFailures) {
          const retryAfter = Math.max(1, Math.ceil((authFailures[0] + windowMs - Date.now()) / 1000));
          throw new HttpReply(429, fastifyError(429, 'Too many failed authentication attempts, please try again later'), { 'retry-after': String(retryAfter) });
        }
      }
      try {
        checkAuth(headers, agent, id);
      } catch (e) {
        authFailures.push(Date.now());
        throw e;
      }

      if (isCard) {
        return send(res, rec, 'card', 200, card(version, agentId, agent, headers));
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
      if (closed || res.destroyed) return; // the client gave up while the agent was "thinking"

      if (get && (reply === undefined || reply.kind === 'message' || reply.kind === 'task')) {
        const t = tasks.get(get.taskId);
        if (!t || t.agentId !== agentId) throw new HttpReply(200, rpcError(id, -32001, 'Task not found'));
        advance(t, true);
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
        const t = createTask(rec, r);
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
    setBehaviour: (b) => void (behaviour = b),
    setLatency: (l) => void (latency = l),
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

function defaultRpcMessage(code: number): string {
  switch (code) {
    case -32700: return 'Parse error';
    case -32600: return 'Invalid Request';
    case -32601: return 'Method not found';
    case -32602: return 'Invalid params';
    case -32603: return 'Internal error';
    case -32001: return 'Task not found';
    case -32009: return 'Unsupported A2A-Version';
    default: return 'Error';
  }
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
        process.exit(0);
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
