// The report stage's observability: what each record became, as log lines and metrics. Kept apart from
// the pipeline so the wording of logs and the choice of counters live in one place.
import type { Counter } from './metric-names';
import type { Log, MetricsSink } from './ports';
import type { FinalStatus, RecordOutcome } from './outcome';

const STATUS_COUNTER: Record<FinalStatus, Counter> = {
  delivered: 'RecordsDelivered',
  dead_lettered: 'RecordsDeadLettered',
  unrouted: 'RecordsUnrouted',
  tombstone: 'TombstonesSkipped',
  duplicate: 'DuplicatesSkipped',
  failed: 'RecordsFailed',
};

/** Records reported because their target was stopped: counted besides RecordsFailed. */
const STOP_COUNTER: Record<string, Counter | undefined> = { circuit_open: 'RecordsCircuitOpen', budget_exhausted: 'RecordsBudgetStopped' };

/** One log line per record (a delivered one at DEBUG) and one summary line per invocation, and the invocation's metrics. */
export function logAndMeasure(
  outcomes: readonly RecordOutcome[],
  offsets: ReadonlyMap<string, number>,
  durationMs: number,
  requestId: string | null,
  deps: { log: Log; metrics: MetricsSink; logReplyChars: number },
): void {
  const totals: Partial<Record<Counter, number>> = { RecordsReceived: outcomes.length };
  const perRoute = new Map<string, { counts: Partial<Record<Counter, number>>; latenciesMs: number[] }>();
  const bump = (c: Partial<Record<Counter, number>>, k: Counter, n = 1) => (c[k] = (c[k] ?? 0) + n);
  for (const o of outcomes) {
    const counter = STATUS_COUNTER[o.status];
    bump(totals, counter);
    if (o.retries) bump(totals, 'RecordsRetried', o.retries);
    const stopped = STOP_COUNTER[o.code ?? ''];
    if (stopped) bump(totals, stopped);
    if (o.replyTo) bump(totals, 'RepliesWritten');
    if (o.replyWriteFailed) bump(totals, 'ReplyWriteFailures');
    if (o.missingFields) bump(totals, 'RecordsWithMissingFields');
    if (o.route) {
      let r = perRoute.get(o.route);
      if (!r) perRoute.set(o.route, (r = { counts: {}, latenciesMs: [] }));
      bump(r.counts, counter);
      if (o.retries) bump(r.counts, 'RecordsRetried', o.retries);
      if (stopped) bump(r.counts, stopped);
      if (o.replyTo) bump(r.counts, 'RepliesWritten');
      if (o.replyWriteFailed) bump(r.counts, 'ReplyWriteFailures');
      if (o.missingFields) bump(r.counts, 'RecordsWithMissingFields');
      if (o.status === 'delivered' && o.latencyMs !== undefined) r.latenciesMs.push(o.latencyMs);
    }
    const fields = {
      topic: o.topic,
      partition: o.partition,
      offset: o.offset,
      route: o.route,
      agentId: o.agentId,
      outcome: o.status,
      ...(o.code ? { code: o.code } : {}),
      ...(o.message ? { reason: o.message } : {}),
      ...(o.attempts ? { attempts: o.attempts } : {}),
      ...(o.latencyMs !== undefined ? { latencyMs: o.latencyMs } : {}),
      ...(o.reply !== undefined ? { reply: o.reply.slice(0, deps.logReplyChars) } : {}),
      ...(o.traceparent !== undefined ? { traceparent: o.traceparent } : {}),
      ...(o.replyTo !== undefined ? { replyTo: o.replyTo } : {}),
      ...(o.errorsTo !== undefined ? { errorsTo: o.errorsTo } : {}),
      ...(o.taskId !== undefined ? { taskId: o.taskId } : {}),
      ...(o.missingFields ? { missingFields: o.missingFields } : {}),
    };
    if (o.status === 'dead_lettered') deps.log.error('record dead-lettered', fields);
    else if (o.status === 'failed') deps.log.warn('record reported for redelivery', fields);
    // The success line is the bulk of the logs (one per record) and about 15% of the CPU per record at INFO (docs/BENCHMARKS.md):
    // at DEBUG it is there when asked for; counts, latencies and every record that did not go through stay at INFO and above.
    else if (o.status === 'delivered') deps.log.debug('record delivered', fields);
    else deps.log.info(`record ${o.status}`, fields);
  }
  deps.metrics.add(totals, perRoute);
  deps.log.info('batch summary', {
    requestId,
    records: outcomes.length,
    delivered: totals.RecordsDelivered ?? 0,
    deadLettered: totals.RecordsDeadLettered ?? 0,
    unrouted: totals.RecordsUnrouted ?? 0,
    tombstones: totals.TombstonesSkipped ?? 0,
    duplicates: totals.DuplicatesSkipped ?? 0,
    failed: totals.RecordsFailed ?? 0,
    retries: totals.RecordsRetried ?? 0,
    reportedPartitions: Object.fromEntries(offsets),
    durationMs,
  });
}
