// The simulator's public types: what a test scripts (Reply, Behaviour), what it reads back (RecordedRequest)
// and the server handle. Split from sim/archestra.ts, which re-exports everything here.

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
  /** tasks/get, GetTask, CancelTask: the task asked for (a send answered with a task: the task created);
   *  poll: the 1-based poll number of that task (text is the task's). */
  taskId?: string;
  poll?: number;
  /** SendMessage (1.0): `configuration.returnImmediately` was true. */
  returnImmediately?: boolean;
}

export type Outcome =
  | 'pending' | 'message' | 'task' | 'canceled' | 'card' | 'rpcError' | 'llmError' | 'http'
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
  /** A send whose client left while the agent ran: the run went on to its end anyway (Archestra does not
   *  cancel a run when the connection drops), and a task reply was still created. */
  ranAfterDisconnect?: boolean;
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
      /** input-required: the tool calls waiting for a person's approval, sent as a data part
       *  `{approvalRequests}` of the status message and as the task's `metadata.approvalRequests`. */
      approvalRequests?: unknown[];
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
export type Behaviour = (req: SimRequest) => Reply | undefined | Promise<Reply | undefined>;
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
  /** Archestra's LLM proxy of an agent: /v1/openai/<id>/chat/completions. */
  chatUrl(agentId?: string): string;
  /** A plain OpenAI-compatible base URL (no token checked): POST <base>/chat/completions. */
  chatBaseUrl: string;
  setBehaviour(behaviour: Behaviour | undefined): void;
  setLatency(latency: Latency | undefined): void;
  stats(): SimStats;
  /** Forgets recorded requests, tasks, attempt counters and stats. */
  clear(): void;
  /** A task's current state (advanced by time as a poll would be, without counting a poll); undefined if unknown. */
  taskState(taskId: string): TaskStateName | undefined;
  /** Ends a running task now in `state` (default completed), as its agent would: tests decide when a run ends. */
  settleTask(taskId: string, state?: SettledTaskState): void;
  /** Stops listening and destroys every open socket (hung requests included). */
  close(): Promise<void>;
}
