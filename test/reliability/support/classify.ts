// The judge of the no-loss suite: pure functions from what was observed (the batch, the agent's view, the
// bridge's own timeline, the dead-letter queue, the Lambda response) to each record's class and the list of
// invariant violations. No I/O here, so the rules themselves are unit-tested (classify.test.ts).
//
// A record's classes (it may be in several; the invariants say which combinations are allowed):
//   delivered      the agent answered a send (or a poll) of this record with success
//   dead_lettered  a dead letter holds the record's full content (base64 key/value, headers, coordinates)
//   reported       its partition is in the response at an offset <= the record's: Lambda will redeliver it
//                  (a record without an offset: at or below its partition's lowest offset in the batch)
//   skipped        nothing to do by configuration: no route matches, or a tombstone without a template
import type { KafkaBatchResponse } from '../../../lambda/report';

export type RecordClass = 'delivered' | 'dead_lettered' | 'reported' | 'skipped';
export type DeliveryStatus = 'delivered' | 'permanent' | 'transient' | 'auth' | 'deadline' | 'held' | 'unknown' | 'task';

export interface ObservedRecord {
  /** `<partitionKey>@<offset>` */
  id: string;
  partitionKey: string;
  /** null only for an undecodable record without a usable offset */
  offset: number | null;
  /** The record's ordering chain under the batch's ORDERING mode. */
  chain: string;
  /** Oracle (from the test's own knowledge of the routes): the record must be skipped. */
  skipExpected: boolean;
  /** The bridge's final status for the record (RecordOutcome.status), and its code. */
  status: string;
  code?: string;
  /** Successful answers the agent gave for this record. */
  successes: number;
  /** Sends of this record that reached the agent after it had already answered it successfully. */
  sendsAfterSuccess: number;
  /** Retries the bridge made for this record (RecordOutcome.retries): each one followed an exchange it saw fail. */
  retries: number;
  /** Dead letters holding this record with its full content. */
  deadLetters: number;
  /** Dead letters naming this record whose content differs from the record. */
  corruptLetters: number;
  /** Its dead-letter write was attempted and failed (reported instead). */
  deadLetterWriteFailed: boolean;
}

/** The bridge's own timeline (client side): one entry per AgentClient.deliver call. */
export interface ObservedDelivery {
  recordId: string;
  start: number;
  end: number;
  status: DeliveryStatus;
}

/** One message send as the client started it (retries included; task polls are not sends). */
export interface ObservedSend {
  recordId: string;
  at: number;
}

export interface Observation {
  records: ObservedRecord[];
  response: KafkaBatchResponse;
  /** Message sends in the order the agent received them (its request sequence numbers). */
  arrivals: Array<{ recordId: string; seq: number }>;
  deliveries: ObservedDelivery[];
  sends: ObservedSend[];
  /** The handler threw (its message): Lambda would retry the whole batch while abandoned work went on. */
  threw?: string;
  /** Wall time of the handler, and the time Lambda gave it (context.getRemainingTimeInMillis()). */
  durationMs?: number;
  remainingMs?: number;
  /** Requests that reached the agent after the handler had returned. */
  lateRequests?: number;
  /** Sends started after the agent's refusal of the (only) token had reached the bridge. */
  sendsAfterRefusal?: number;
  /** The idempotency store was on: the pipeline does not hold partitions then (no `hold` check). */
  idempotency?: boolean;
  /** Per agent with a limit: the most requests in flight at once, as the HTTP edge saw them. */
  agentInFlight?: Array<{ agent: string; limit: number; max: number }>;
}

export type InvariantId =
  | '1.lost' // in no class: neither delivered, dead-lettered, reported nor skipped
  | '1.skip' // skipped against the oracle (or not skipped when it should be), or skipped yet sent
  | '1.content' // a dead letter without the record's full content
  | '1.dead-lettered+delivered' // dead-lettered although the agent answered it with success
  | '1.dead-lettered+reported' // dead-lettered and also at/after its partition's reported offset
  | '1.dead-lettered-twice'
  | '1.delivered+reported-same-chain' // delivered and reported although its own chain had failed below it
  | '2.response' // identifiers: exist, one per partition, at the lowest failed-or-unsent offset
  | '3.order' // within a chain: offset order, nothing after a transient failure
  | '4.duplicate' // delivered twice (or sent again after success) within the invocation
  | 'ack' // the bridge's verdict disagrees with what the agent answered
  | 'hold' // a send started above a partition's failure offset after that failure was known
  | 'throws' // the handler threw instead of answering with a batch response
  | 'deadline' // the handler answered after Lambda's deadline (or not at all)
  | 'after-return' // a request reached the agent after the handler had returned
  | 'refused-resend' // the token was sent again after the agent refused it, within the cool-down
  | 'agent-limit' // more requests in flight to one agent than its route's max_in_flight
  | 'refusals' // more refused requests per container per 60 s than the published figure (wrong-token batches)
  // Over a batch and its redeliveries with the idempotency store (support/redelivery.ts):
  | '5.settled' // still reported after the last redelivery
  | '5.lost' // settled, yet never delivered, dead-lettered nor skipped
  | '5.duplicate' // run by its agent again, other than after a lapsed lease or a failed store write
  | '5.dead-lettered-twice'; // dead-lettered in two invocations

export const INVARIANTS: readonly InvariantId[] = [
  '1.lost',
  '1.skip',
  '1.content',
  '1.dead-lettered+delivered',
  '1.dead-lettered+reported',
  '1.dead-lettered-twice',
  '1.delivered+reported-same-chain',
  '2.response',
  '3.order',
  '4.duplicate',
  'ack',
  'hold',
  'throws',
  'deadline',
  'after-return',
  'refused-resend',
  'refusals',
  'agent-limit',
  '5.settled',
  '5.lost',
  '5.duplicate',
  '5.dead-lettered-twice',
];

export interface Violation {
  invariant: InvariantId;
  record?: string;
  detail: string;
}

export interface Verdict {
  classes: Map<string, Set<RecordClass>>;
  violations: Violation[];
  counts: RecordCounts;
}

/** What became of a batch's records, as the judge counts them (summed over batches in the figures). */
export interface RecordCounts {
  records: number;
  delivered: number;
  deadLettered: number;
  reported: number;
  skipped: number;
  /** delivered and also reported: sent before another chain of its partition failed; it will come back. */
  deliveredAndReported: number;
  /** The agent's success reply raced the bridge's timeout: the bridge reported the record (it comes back). */
  unacknowledged: number;
  /**
   * Always 0 within one invocation. An exchange whose outcome is unknown is never retried there, so a
   * send after a success is a duplicate (4.duplicate); only a resend after the lease counts (redelivery.ts).
   */
  retriedAfterUnseenSuccess: number;
  lost: number;
  duplicates: number;
}

/** Every count at 0; a literal, so the compiler holds it complete against RecordCounts. */
export const zeroCounts = (): RecordCounts => ({
  records: 0,
  delivered: 0,
  deadLettered: 0,
  reported: 0,
  skipped: 0,
  deliveredAndReported: 0,
  unacknowledged: 0,
  retriedAfterUnseenSuccess: 0,
  lost: 0,
  duplicates: 0,
});
const RECORD_COUNTS = Object.keys(zeroCounts()) as Array<keyof RecordCounts>;

/** Adds a batch's counts into a total. */
export function addRecordCounts(total: RecordCounts, c: RecordCounts): void {
  for (const k of RECORD_COUNTS) total[k] += c[k];
}

const FAILED_AT_DELIVERY = new Set<DeliveryStatus>(['transient', 'auth', 'deadline', 'unknown']);
/** Codes of a delivery that gave up waiting (its answer may have been on the way). */
const TIMED_OUT = new Set(['timeout', 'deadline', 'task_timeout', 'network']);

export function reportedOffsets(response: KafkaBatchResponse): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const f of response.batchItemFailures) {
    const list = out.get(f.itemIdentifier.partition) ?? [];
    list.push(f.itemIdentifier.offset);
    out.set(f.itemIdentifier.partition, list);
  }
  return out;
}

/**
 * Reported = its partition resumes at or below it. A record without an offset sits somewhere in its partition's
 * batch: only a response at or below the partition's lowest offset in the batch (`lowestInBatch`) brings it back.
 */
export function isReported(r: Pick<ObservedRecord, 'partitionKey' | 'offset'>, offsets: ReadonlyMap<string, number[]>, lowestInBatch?: number): boolean {
  const listed = offsets.get(r.partitionKey);
  if (!listed || listed.length === 0) return false;
  const resumesAt = Math.min(...listed);
  if (r.offset === null) return lowestInBatch !== undefined && resumesAt <= lowestInBatch;
  return resumesAt <= r.offset;
}

export function classifyRecord(r: ObservedRecord, offsets: ReadonlyMap<string, number[]>, lowestInBatch?: number): Set<RecordClass> {
  const classes = new Set<RecordClass>();
  if (r.successes > 0) classes.add('delivered');
  if (r.deadLetters > 0) classes.add('dead_lettered');
  if (isReported(r, offsets, lowestInBatch)) classes.add('reported');
  if (r.status === 'unrouted' || r.status === 'tombstone') classes.add('skipped');
  return classes;
}

/** Per partition, the lowest offset any record of the batch carries. */
export function lowestOffsets(records: readonly Pick<ObservedRecord, 'partitionKey' | 'offset'>[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of records) if (r.offset !== null && r.offset < (out.get(r.partitionKey) ?? Infinity)) out.set(r.partitionKey, r.offset);
  return out;
}

export function judge(o: Observation): Verdict {
  const violations: Violation[] = [];
  const offsets = reportedOffsets(o.response);
  const lowestInBatch = lowestOffsets(o.records);
  const classes = new Map<string, Set<RecordClass>>();
  const byId = new Map(o.records.map((r) => [r.id, r]));
  const counts: Verdict['counts'] = { ...zeroCounts(), records: o.records.length };
  const deliveriesOf = new Map<string, ObservedDelivery[]>();
  for (const d of o.deliveries) deliveriesOf.set(d.recordId, [...(deliveriesOf.get(d.recordId) ?? []), d]);
  const failedAtDelivery = (r: ObservedRecord) => (deliveriesOf.get(r.id) ?? []).some((d) => FAILED_AT_DELIVERY.has(d.status));
  /** Failed by itself (not merely held behind or left for redelivery because of another record). */
  const selfFailed = (r: ObservedRecord) => failedAtDelivery(r) || r.deadLetterWriteFailed;

  const chains = new Map<string, ObservedRecord[]>();
  for (const r of o.records) chains.set(r.chain, [...(chains.get(r.chain) ?? []), r]);

  // ---- invariant 1 (and 4, and the agent/bridge agreement), record by record ------------------------------
  for (const r of o.records) {
    const c = classifyRecord(r, offsets, lowestInBatch.get(r.partitionKey));
    classes.set(r.id, c);
    const v = (invariant: InvariantId, detail: string) => violations.push({ invariant, record: r.id, detail });
    if (c.has('delivered')) counts.delivered++;
    if (c.has('dead_lettered')) counts.deadLettered++;
    if (c.has('reported')) counts.reported++;
    if (c.has('skipped')) counts.skipped++;
    // In a redelivery a record the store knows as handled is skipped as a duplicate, not lost.
    if (c.size === 0 && r.status !== 'duplicate') {
      counts.lost++;
      v('1.lost', `neither delivered, dead-lettered, reported nor skipped (bridge status ${r.status})`);
    }
    if (c.has('dead_lettered') && c.has('delivered')) v('1.dead-lettered+delivered', 'dead-lettered although the agent answered it with success');
    // Exempt: a record without an offset. Its place in the partition is unknown, so the bridge writes its letter
    // first (at least once); should the partition then be reported at its lowest offset, it comes back and may be
    // dead-lettered again. A duplicate letter, never a loss.
    if (c.has('dead_lettered') && c.has('reported') && r.offset !== null) v('1.dead-lettered+reported', 'dead-lettered and also at/after its partition\'s reported offset: Lambda redelivers it and it is dead-lettered again');
    if (r.deadLetters > 1) v('1.dead-lettered-twice', `dead-lettered ${r.deadLetters} times`);
    if (r.corruptLetters > 0) v('1.content', `${r.corruptLetters} dead letter(s) without the record's full content`);
    // Without a token nothing of the batch is judged: every record is reported (documented), unrouted ones too.
    const noToken = r.status === 'failed' && (r.code === 'token_unavailable' || r.code === 'token_invalid') && c.has('reported');
    if (c.has('skipped') !== r.skipExpected && !noToken) v('1.skip', r.skipExpected ? `should be skipped, ended ${r.status}` : `skipped (${r.status}) but a route matches`);
    if (c.has('skipped') && (c.has('delivered') || c.has('dead_lettered') || r.successes > 0)) v('1.skip', 'skipped yet sent or dead-lettered');
    if (c.has('delivered') && c.has('reported')) {
      counts.deliveredAndReported++;
      // Allowed only when the record was sent in a chain that had not failed below it: another chain's
      // failure lowered its partition's offset (ORDERING key/none), so Lambda brings it back.
      const chain = chains.get(r.chain) ?? [];
      const below = chain.find((q) => q !== r && q.offset !== null && r.offset !== null && q.offset < r.offset && selfFailed(q));
      if (below) {
        v('1.delivered+reported-same-chain', `delivered and reported, but ${below.id} of its own chain failed before it (${below.deadLetterWriteFailed ? 'its dead-letter write failed' : 'delivery failed'}): the partition resumes below a record its chain already delivered`);
      }
    }
    if (r.successes > 1 || r.sendsAfterSuccess > 0) {
      // The client retries only an exchange that provably did not run the agent, so within one
      // invocation any second run is a duplicate (the unknown-outcome window only opens after a lease).
      if (r.successes > 1) v('4.duplicate', `the agent answered it with success ${r.successes} times`);
      if (r.sendsAfterSuccess > 0) v('4.duplicate', `sent ${r.sendsAfterSuccess} more time(s) after the agent had answered it`);
      counts.duplicates++;
    }
    if (r.status === 'delivered' && r.successes === 0) v('ack', 'the bridge says delivered, the agent never answered it with success');
    if (r.status !== 'delivered' && r.successes > 0) {
      // A reply can complete on the wire just as the client's timer fires (two generals): the bridge must then
      // say "timed out" and report the record. Any other verdict on a successful answer is a misreading.
      if (r.status === 'failed' && TIMED_OUT.has(r.code ?? '')) counts.unacknowledged++;
      else v('ack', `the agent answered it with success, the bridge says ${r.status} (${r.code ?? 'no code'})`);
    }
  }

  // ---- invariant 2: the response -----------------------------------------------------------------------------
  const partitions = new Map<string, ObservedRecord[]>();
  for (const r of o.records) partitions.set(r.partitionKey, [...(partitions.get(r.partitionKey) ?? []), r]);
  for (const [pk, listed] of offsets) {
    if (listed.length > 1) violations.push({ invariant: '2.response', detail: `partition ${pk} listed ${listed.length} times` });
    const recs = partitions.get(pk) ?? [];
    for (const off of listed) {
      const at = recs.find((r) => r.offset === off);
      if (!at) {
        violations.push({ invariant: '2.response', detail: `${pk}@${off} is not a record of the batch` });
        continue;
      }
      // A failed record without an offset is reported through the partition's lowest record, whatever became of it.
      const carrier = off === lowestInBatch.get(pk) && recs.some((r) => r.offset === null && r.status === 'failed');
      if (carrier) continue;
      if (at.status !== 'failed') violations.push({ invariant: '2.response', record: at.id, detail: `listed, but its status is ${at.status}` });
      const c = classes.get(at.id)!;
      if (c.has('dead_lettered') || (c.has('delivered') && !TIMED_OUT.has(at.code ?? ''))) {
        violations.push({ invariant: '2.response', record: at.id, detail: 'listed, but already handled' });
      }
    }
  }
  for (const [pk, recs] of partitions) {
    const failed = recs.filter((r) => r.status === 'failed');
    if (failed.length === 0) {
      if (offsets.has(pk)) violations.push({ invariant: '2.response', detail: `partition ${pk} listed without a failed record` });
      continue;
    }
    // A failed record without an offset can only be redelivered with the whole of its partition's batch.
    const lowest = failed.some((r) => r.offset === null)
      ? (lowestInBatch.get(pk) ?? Infinity)
      : Math.min(...failed.map((r) => r.offset as number));
    const listed = offsets.get(pk);
    if (!listed) violations.push({ invariant: '2.response', detail: `partition ${pk} has failed records but is not listed` });
    else if (Math.min(...listed) !== lowest) {
      violations.push({ invariant: '2.response', detail: `partition ${pk} listed at ${Math.min(...listed)}, its lowest failed offset is ${lowest}` });
    }
  }

  // ---- invariant 3: order within a chain, nothing after a transient failure ------------------------------
  const order = new Map<string, number>();
  for (const [, chain] of chains) {
    const sorted = [...chain].filter((r) => r.offset !== null).sort((a, b) => (a.offset as number) - (b.offset as number));
    for (const [i, r] of sorted.entries()) order.set(r.id, i);
  }
  const lastArrival = new Map<string, { recordId: string; seq: number }>();
  for (const a of [...o.arrivals].sort((x, y) => x.seq - y.seq)) {
    const r = byId.get(a.recordId);
    if (!r) {
      violations.push({ invariant: '3.order', detail: `the agent received a send for ${a.recordId}, not a record of the batch` });
      continue;
    }
    const prev = lastArrival.get(r.chain);
    if (prev && prev.recordId !== r.id && (order.get(prev.recordId) ?? 0) > (order.get(r.id) ?? 0)) {
      violations.push({ invariant: '3.order', record: r.id, detail: `received after ${prev.recordId} of the same chain` });
    }
    lastArrival.set(r.chain, a);
  }
  const sendsOf = new Map<string, ObservedSend[]>();
  for (const s of o.sends) sendsOf.set(s.recordId, [...(sendsOf.get(s.recordId) ?? []), s]);
  for (const [, chain] of chains) {
    const sorted = [...chain].filter((r) => r.offset !== null).sort((a, b) => (a.offset as number) - (b.offset as number));
    for (let i = 0; i < sorted.length; i++) {
      const r = sorted[i];
      const ends = (deliveriesOf.get(r.id) ?? []).map((d) => d.end);
      if (failedAtDelivery(r)) {
        for (const later of sorted.slice(i + 1)) {
          const n = o.arrivals.filter((a) => a.recordId === later.id).length;
          if (n > 0) violations.push({ invariant: '3.order', record: later.id, detail: `sent ${n} time(s) after ${r.id} of its chain failed` });
        }
      }
      if (ends.length === 0) continue;
      const doneAt = Math.max(...ends);
      for (const later of sorted.slice(i + 1)) {
        const early = (sendsOf.get(later.id) ?? []).find((s) => s.at < doneAt);
        if (early) violations.push({ invariant: '3.order', record: later.id, detail: `sent before ${r.id} of its chain was settled` });
      }
    }
  }

  // ---- the handler itself: it answers, in time, and nothing of it outlives the answer ------------------------
  if (o.threw !== undefined) violations.push({ invariant: 'throws', detail: `the handler threw: ${o.threw}` });
  if (o.durationMs !== undefined && o.remainingMs !== undefined && o.durationMs >= o.remainingMs) {
    violations.push({ invariant: 'deadline', detail: `answered after ${o.durationMs.toFixed(0)} ms, Lambda's deadline was ${o.remainingMs} ms` });
  }
  if (o.lateRequests) violations.push({ invariant: 'after-return', detail: `${o.lateRequests} request(s) reached the agent after the handler returned` });
  for (const a of o.agentInFlight ?? []) {
    if (a.max > a.limit) violations.push({ invariant: 'agent-limit', detail: `${a.max} requests in flight to agent ${a.agent} at once, its limit is ${a.limit}` });
  }
  if (o.sendsAfterRefusal) violations.push({ invariant: 'refused-resend', detail: `${o.sendsAfterRefusal} send(s) started after the agent refused the token` });

  // ---- hold: no send starts above a partition's failure offset once that failure is known ------------------
  for (const [pk, recs] of o.idempotency ? [] : partitions) {
    const failures = recs
      .filter((r) => r.offset !== null)
      .flatMap((r) => (deliveriesOf.get(r.id) ?? []).filter((d) => FAILED_AT_DELIVERY.has(d.status)).map((d) => ({ r, d })));
    if (failures.length === 0) continue;
    for (const g of recs) {
      if (g.offset === null) continue;
      for (const s of sendsOf.get(g.id) ?? []) {
        const f = failures.find(({ r, d }) => (r.offset as number) < (g.offset as number) && d.end < s.at);
        if (!f) continue;
        const gd = (deliveriesOf.get(g.id) ?? []).find((d) => d.start <= s.at && s.at <= d.end);
        const retry = (sendsOf.get(g.id) ?? []).some((x) => x.at < s.at);
        const how =
          gd && gd.start > f.d.end
            ? 'its delivery began after that failure'
            : retry
              ? 'a retry of a delivery begun before that failure'
              : 'its first send, queued for a concurrency slot when that failure happened';
        violations.push({ invariant: 'hold', record: g.id, detail: `a send started ${(s.at - f.d.end).toFixed(1)} ms after ${f.r.id} failed (${f.d.status}) in ${pk}: ${how}` });
        break;
      }
    }
  }

  return { classes, violations, counts };
}
