// A record's fate in one vocabulary: the statuses it passes through and the codes that say why (a public contract:
// the log field `code`, the dead letter's `error.class`, the CLI). Where a record takes each status is decided in
// lambda/pipeline/record-state.ts. The exchange level (what one HTTP exchange came to) is `AgentAnswer` in
// lambda/deliver/a2a-protocol.ts.

/** Where a record ended: the `status` of its log line and of `RecordOutcome`. */
export const FINAL_STATUSES = ['delivered', 'dead_lettered', 'unrouted', 'tombstone', 'duplicate', 'failed'] as const;
export type FinalStatus = (typeof FINAL_STATUSES)[number];

/**
 * A record inside the pipeline: `pending` (decoded, not yet routed and rendered: that happens in its chain, just
 * before it is needed), `send` (ready to send), `dead_letter` (to be written to the DLQ), or its final status.
 */
export type Stage = FinalStatus | 'pending' | 'send' | 'dead_letter';

/** What the agent client made of one record's delivery (lambda/deliver/agent-client.ts). */
export type DeliveryStatus =
  | 'delivered'
  /** Will never succeed: dead-letter it. */
  | 'permanent'
  /** May succeed later: report it to Lambda. */
  | 'transient'
  /** Credentials refused (or remembered refused): report it. */
  | 'auth'
  /** Not attempted or cut short because the invocation's time ran out: report it. */
  | 'deadline'
  /** Not sent because the caller's guard said no (its partition failed below it): report it. */
  | 'held'
  /**
   * The request was sent and no verdict came back (timeout after writing, cut connection, 502/504, a task
   * that outlived its timeout): the agent may be running it. Not retried; the caller keeps its claim as a lease.
   */
  | 'unknown'
  /** Task mode: the agent accepted the message as a task still running (`taskId`); the caller polls it. */
  | 'task';

/**
 * Every fixed outcome code the bridge emits (log `code`, dead letter `error.class`). Besides these, an agent's HTTP
 * status gives `http_<status>`, a JSON-RPC error `jsonrpc_<code>` (or `jsonrpc_unknown`) and an A2A task's terminal
 * state `task_<state>`.
 */
export const FATE_CODES = [
  // before sending
  'poison',
  'undecodable',
  'schema_error',
  'render_failed',
  'unrouted',
  'tombstone',
  'duplicate',
  'in_progress',
  'not_sent',
  'held',
  'deadline',
  'internal_error',
  // credentials
  'token_unavailable',
  'token_invalid',
  'auth_refused',
  'auth_lockout',
  'stale',
  // the exchange
  'timeout',
  'network',
  'reply_too_large',
  'malformed_reply',
  'circuit_open',
  'budget_exhausted',
  'model_refusal',
  // tasks
  'task_timeout',
  'task_pending',
  'task_unknown_state',
  'awaiting_input',
  // replies
  'reply_write_failed',
  'reply_rewritten',
  'reply_destination_removed',
] as const;
export type FixedFateCode = (typeof FATE_CODES)[number];
export type FateCode = FixedFateCode | `http_${number}` | `jsonrpc_${number | 'unknown'}` | `task_${string}`;

const FIXED = new Set<string>(FATE_CODES);

/** True when `code` belongs to the contract (a fixed code or one of the families above). */
export function isFateCode(code: string): code is FateCode {
  return FIXED.has(code) || /^http_\d{3}$/.test(code) || /^jsonrpc_(-?\d+|unknown)$/.test(code) || /^task_[a-z-]+$/.test(code);
}
