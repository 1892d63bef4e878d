// The handler's metric names, shared with the CDK dashboard and alarms so a rename cannot drift apart.
// Kept free of imports: infra/ loads it at synth without starting Powertools.

/**
 * Records reported without being sent because their target was stopped: its circuit open (consecutive
 * transient failures) or its budget exhausted (HTTP 402). Also emitted per route; charted on the dashboard.
 */
export const TARGET_STOP_COUNTERS = ['RecordsCircuitOpen', 'RecordsBudgetStopped'] as const;

/** Counters emitted as totals (dimension {service}). */
export const COUNTERS = [
  'RecordsReceived',
  'RecordsDelivered',
  'RecordsRetried',
  'RecordsDeadLettered',
  'RecordsUnrouted',
  'RecordsFailed',
  'DuplicatesSkipped',
  'TombstonesSkipped',
  'RecordsCircuitOpen',
  'RecordsBudgetStopped',
  'RepliesWritten',
  'ReplyWriteFailures',
  // Records whose prompt had a template placeholder without a value (on_missing keep or empty): sent incomplete.
  'RecordsWithMissingFields',
] as const;
export type Counter = (typeof COUNTERS)[number];

/** Counters also emitted per route (dimensions {service, route}); records without a route have none. */
export const ROUTE_COUNTERS = [
  'RecordsDelivered',
  'RecordsDeadLettered',
  'RecordsFailed',
  'RecordsRetried',
  'DuplicatesSkipped',
  'RepliesWritten',
  'ReplyWriteFailures',
] as const;

/** Reply counters (lambda/reply): a written reply, and a reply write that failed (kept, dead-lettered or lost to a rerun). */
export const REPLY_COUNTERS = ['RepliesWritten', 'ReplyWriteFailures'] as const;

/** Per route, milliseconds from the first send to the final answer of a delivered record. */
export const LATENCY_METRIC = 'A2ALatency';
