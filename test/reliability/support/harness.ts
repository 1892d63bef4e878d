// Runs one generated batch through the real pipeline (makeBridge) against the fault-injecting Archestra
// sim, and turns what everyone saw into an Observation for the judge (classify.ts).
import { performance } from 'node:perf_hooks';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { isAuthLockout } from '../../../lambda/deliver/a2a-protocol';
import type { CredentialGates } from '../../../lambda/deliver/credential-gate';
import { createDynamoIdempotency } from '../../../lambda/io/dynamo-idempotency';
import type { Idempotency } from '../../../lambda/pipeline';
import type { FaultProxy } from '../../support/fault-proxy';
import type { DeadLetterBody, DeadLetterSink } from '../../../lambda/dead-letter';
import type { AgentClient, DeliveryResult } from '../../../lambda/deliver/agent-client';
import { httpPost, type HttpPost } from '../../../lambda/io/http';
import type { BatchResult } from '../../../lambda/pipeline';
import { isGetTask, isSend, type ArchestraSim, type RecordedRequest } from '../../../sim/archestra';
import { makeBridge } from '../../support/bridge';
import { judge, type Observation, type ObservedDelivery, type ObservedRecord, type ObservedSend, type Verdict } from './classify';
import { awsFaultSchedule, faultSchedule, type AwsFault, type FaultKind } from './faults';
import { memoryDeadLetters, type MemoryDeadLetters } from './dlq';
import { hash32 } from './prng';

export type Ordering = 'partition' | 'key' | 'none';
export const ORDERINGS: Ordering[] = ['partition', 'key', 'none'];

export const AGENT_ORDERS = '5a1f0c2e-7b3d-4e8f-9a6b-0c1d2e3f4a5b';
export const AGENT_PAYMENTS = '6b2e1d3f-8c4e-4f9a-8b7c-1d2e3f4a5b6c';

/** The routes every generated batch runs under. `metrics` matches no route on purpose. */
export const ROUTES = [
  { name: 'orders', topic_pattern: 'orders.*', prompt_id: AGENT_ORDERS, timeout_seconds: 0.3 },
  {
    name: 'payments',
    topic_pattern: 'payments',
    prompt_id: AGENT_PAYMENTS,
    a2a_version: '1.0',
    transform_template: 'Payment {id}: {amount} [{$topic}/{$partition}@{$offset}]',
    on_missing: 'fail',
    // A per-agent limit below MAX_CONCURRENCY, measured at the HTTP edge (invariant agent-limit).
    max_in_flight: 2,
  },
];
/** The per-agent limits of ROUTES, by agent id. */
export const AGENT_LIMITS: Record<string, number> = { [AGENT_PAYMENTS]: 2 };

export const TOPICS = ['orders.eu', 'orders.us', 'payments', 'metrics'] as const;
export type Topic = (typeof TOPICS)[number];

/**
 * json: an object with id and amount; text: not JSON; tombstone: null value; missing_field: JSON without `id`
 * (the payments template fails); empty: an empty value (the agent refuses an empty prompt); bad_base64 /
 * bad_utf8: undecodable (poison); no_offset: undecodable AND without an offset (it can only be reported
 * through its partition's lowest offset; the only record of its partition keeps an offset, see buildEvent).
 */
export type ValueKind = 'json' | 'text' | 'tombstone' | 'missing_field' | 'empty' | 'bad_base64' | 'bad_utf8' | 'no_offset';

export interface RecordSpec {
  topic: Topic;
  partition: number;
  /** Offset step from the previous record of its partition (gaps as on a compacted topic). */
  gap: number;
  key: string | null;
  value: ValueKind;
  header: boolean;
}

export interface BatchSpec {
  ordering: Ordering;
  maxConcurrency: number;
  maxRetries: number;
  /** Probability that a request to the agent meets a fault. */
  faultRate: number;
  seed: number;
  /** Probability that one dead-letter write fails; `dlqDown`: every write fails. */
  dlqFailRate: number;
  dlqDown: boolean;
  /** context.getRemainingTimeInMillis() at the start: small values put the deadline in play. */
  remainingMs: number;
  /** Where the token comes from: ARCHESTRA_TOKEN, or a Secrets Manager secret (moto) re-read every 50 ms. */
  tokenStore: 'env' | 'secret';
  /** A token the agent does not accept (these batches share one container's credential memory). */
  wrongToken: boolean;
  /** The DynamoDB idempotency store (dynalite) is on. */
  idempotency: boolean;
  /** Probability that a Secrets Manager or DynamoDB call is throttled, fails, is slow or (little time left) hangs. */
  awsFaultRate: number;
  records: RecordSpec[];
}

const recordArb = fc.record({
  topic: fc.constantFrom<Topic>('orders.eu', 'orders.eu', 'orders.us', 'orders.us', 'payments', 'payments', 'metrics'),
  partition: fc.integer({ min: 0, max: 3 }),
  gap: fc.oneof({ weight: 5, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 2, max: 5 }) }),
  key: fc.option(fc.constantFrom('k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7'), { freq: 5 }),
  value: fc.oneof(
    { weight: 40, arbitrary: fc.constant<ValueKind>('json') },
    { weight: 3, arbitrary: fc.constant<ValueKind>('text') },
    { weight: 2, arbitrary: fc.constant<ValueKind>('tombstone') },
    { weight: 2, arbitrary: fc.constant<ValueKind>('missing_field') },
    { weight: 1, arbitrary: fc.constant<ValueKind>('empty') },
    { weight: 1, arbitrary: fc.constant<ValueKind>('bad_base64') },
    { weight: 1, arbitrary: fc.constant<ValueKind>('bad_utf8') },
    { weight: 1, arbitrary: fc.constant<ValueKind>('no_offset') },
  ),
  header: fc.boolean(),
});

export function batchArb(ordering: fc.Arbitrary<Ordering>, opts: { dlqFaults: boolean; maxRecords?: number; aws?: boolean; storeOnly?: boolean }): fc.Arbitrary<BatchSpec> {
  return fc.record({
    ordering,
    maxConcurrency: fc.oneof(fc.constant(1), fc.integer({ min: 2, max: 16 })),
    maxRetries: fc.integer({ min: 0, max: 3 }),
    faultRate: fc.constantFrom(0, 0.03, 0.08, 0.15, 0.3),
    seed: fc.integer({ min: 0, max: 0x7fffffff }),
    dlqFailRate: opts.dlqFaults ? fc.constantFrom(0, 0, 0, 0.1, 0.4) : fc.constant(0),
    dlqDown: opts.dlqFaults ? fc.oneof({ weight: 12, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }) : fc.constant(false),
    remainingMs: fc.oneof({ weight: 9, arbitrary: fc.constant(60_000) }, { weight: 1, arbitrary: fc.integer({ min: 900, max: 2500 }) }),
    tokenStore: opts.aws ? fc.constantFrom<'env' | 'secret'>('env', 'env', 'secret') : fc.constant<'env' | 'secret'>('env'),
    wrongToken: fc.oneof({ weight: 24, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    // The batches with the store are redelivered until settled (the `redelivery` profile: all of them).
    idempotency: opts.aws ? (opts.storeOnly ? fc.constant(true) : fc.boolean()) : fc.constant(false),
    awsFaultRate: opts.aws ? fc.constantFrom(0, 0.1, 0.3) : fc.constant(0),
    records: fc.integer({ min: 1, max: opts.maxRecords ?? 200 }).chain((n) => fc.array(recordArb, { minLength: n, maxLength: n })),
  });
}

// ---- the event -------------------------------------------------------------------------------------------

export interface BuiltRecord {
  id: string;
  partitionKey: string;
  topic: Topic;
  partition: number;
  /** null for a `no_offset` record: the event carries no offset for it. */
  offset: number | null;
  spec: RecordSpec;
  raw: Record<string, unknown>;
}

const b64 = (s: string | Buffer) => (typeof s === 'string' ? Buffer.from(s, 'utf8') : s).toString('base64');

export function buildEvent(spec: BatchSpec): { event: unknown; records: BuiltRecord[] } {
  const next = new Map<string, number>();
  const grouped: Record<string, Array<Record<string, unknown>>> = {};
  const records: BuiltRecord[] = [];
  // A partition of nothing but offset-less records has no offset to report them by (the invocation would fail
  // whole, by design): its first such record keeps its offset.
  const withOffset = new Set(spec.records.filter((r) => r.value !== 'no_offset').map((r) => `${r.topic}-${r.partition}`));
  spec.records.forEach((r, i) => {
    const pk = `${r.topic}-${r.partition}`;
    const noOffset = r.value === 'no_offset' && withOffset.has(pk);
    if (r.value === 'no_offset') withOffset.add(pk);
    const offset = noOffset ? null : (next.get(pk) ?? hash32(spec.seed, pk) % 1_000_000) + r.gap;
    if (offset !== null) next.set(pk, offset);
    let value: string | null | undefined;
    switch (r.value) {
      case 'json':
        value = b64(JSON.stringify({ id: `E${i}`, amount: (i * 7) % 100, note: `record ${i} of ${pk}`, tags: ['a', i] }));
        break;
      case 'text':
        value = b64(`plain text event ${i} "quoted" \\ and a newline\nend`);
        break;
      case 'tombstone':
        value = null;
        break;
      case 'missing_field':
        value = b64(JSON.stringify({ amount: i, note: 'no id' }));
        break;
      case 'empty':
        value = '';
        break;
      case 'bad_base64':
        value = `not*base64!${i}`;
        break;
      case 'bad_utf8':
      case 'no_offset':
        value = Buffer.from([0xc3, 0x28, 0xff, 0xfe, i & 0xff]).toString('base64');
        break;
    }
    const raw: Record<string, unknown> = {
      topic: r.topic,
      partition: r.partition,
      ...(offset === null ? {} : { offset }),
      timestamp: 1736676000000 + i,
      timestampType: 'CREATE_TIME',
      ...(r.key === null ? {} : { key: b64(r.key) }),
      value,
      headers: r.header ? [{ trace: [...Buffer.from(`t-${i}`)] }, { signed: [-1, -128, 0, 127] }] : [],
    };
    (grouped[pk] ??= []).push(raw);
    records.push({ id: offset === null ? `${pk}@none#${i}` : `${pk}@${offset}`, partitionKey: pk, topic: r.topic, partition: r.partition, offset, spec: r, raw });
  });
  return { event: { eventSource: 'aws:kafka', eventSourceArn: 'arn:aws:kafka:us-east-1:123456789012:cluster/rel/x', records: grouped }, records };
}

const poisonous = (r: RecordSpec) => r.value === 'bad_base64' || r.value === 'bad_utf8' || r.value === 'no_offset';

/** The test's own oracle of what the routes make of a record: nothing to do (skipped)? */
export function skipExpected(r: RecordSpec): boolean {
  if (poisonous(r)) return false;
  if (r.topic === 'metrics') return true; // no route
  return r.topic.startsWith('orders.') && r.value === 'tombstone'; // tombstone, no template
}

/** The pipeline's chain of a record (schedule.ts's chainKey, recomputed from the raw record). */
export function chainOf(ordering: Ordering, r: BuiltRecord): string {
  if (ordering === 'partition') return r.partitionKey;
  const key = r.raw.key;
  if (ordering === 'key' && typeof key === 'string') return `${r.partitionKey}\u0000${key}`;
  return `${r.partitionKey}\u0000@${r.offset}`;
}

/** `kafka:<topic>-<partition>-<offset>#<route>[:get:<n>]` -> `<topic>-<partition>@<offset>` */
export function recordIdOfRpc(rpcId: string): string | undefined {
  const m = /^kafka:(.*)-(\d+)#[^#]*?(?::get:\d+)?$/.exec(rpcId);
  return m ? `${m[1]}@${m[2]}` : undefined;
}

// ---- the dead letters ------------------------------------------------------------------------------------

/** Does this dead letter hold the record's full content (coordinates, base64 key and value, headers)? */
export function letterHolds(body: DeadLetterBody, r: BuiltRecord): boolean {
  const rec = body.record;
  const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
  return (
    rec.topic === r.topic &&
    rec.partition === r.partition &&
    rec.offset === r.offset &&
    same(rec.timestamp, r.raw.timestamp) &&
    same(rec.key, r.raw.key) &&
    same(rec.value, r.raw.value) &&
    same(rec.headers ?? [], r.raw.headers ?? []) &&
    typeof body.error?.message === 'string' &&
    body.error.message.length > 0
  );
}

// ---- one run ---------------------------------------------------------------------------------------------

export interface RunFigures {
  /** Requests the agent refused for their credential (injected auth faults, or a wrong token), and when (epoch ms). */
  refused: number;
  refusedAt?: number[];
  awsFaults: Partial<Record<AwsFault, number>>;
  requests: number;
  sends: number;
  polls: number;
  faults: Partial<Record<FaultKind, number>>;
  dlqWriteFailures: number;
  durationMs: number;
  statuses: Record<string, number>;
  codes: Record<string, number>;
}

export interface BatchRun {
  spec: BatchSpec;
  records: BuiltRecord[];
  result: BatchResult;
  observation: Observation;
  verdict: Verdict;
  figures: RunFigures;
  deadLetters: DeadLetterBody[];
  /** Sends of each record the agent ran in this invocation (see runBatch). */
  ran: Map<string, number>;
  /** Records whose delivery ended with an unknown outcome (the claim leased). */
  unknown: Set<string>;
  /** Records whose idempotency update after the send failed. */
  storeWriteFailed: Set<string>;
}

export interface RunOptions {
  sim: ArchestraSim;
  token: string;
  /** Real SQS (moto): the queue URL and a function reading it back. Otherwise the in-memory sink. */
  sqs?: { queueUrl: string; read: () => Promise<DeadLetterBody[]> };
  /** Extra environment for the bridge. */
  env?: Record<string, string>;
  /** The AWS peers behind fault proxies: a secret holding `token`, and an idempotency table. */
  aws?: { secretArn: string; secrets: FaultProxy; dynamo: FaultProxy; dynamoClient: DynamoDBClient; table: string };
  /** One container's credential memory, shared by the wrong-token batches. */
  gates?: CredentialGates;
  /** Names this batch's idempotency keys apart from every other batch's (the table is shared). */
  batchId?: string;
  /** A redelivery (support/redelivery.ts): these records of the first event, faults drawn from `faultSeed`. */
  redeliver?: { records: BuiltRecord[]; faultSeed: number };
  /** Added to the idempotency store's clock: the time that passed between redeliveries. */
  storeSkewMs?: number;
}

/** Did this reply refuse the credential? (401/403, the lockout, or a JSON-RPC -32600 about the token.) */
function refusal(status: number, text: string): boolean {
  return status === 401 || status === 403 || isAuthLockout(status, text) || /"code":\s*-32600[^}]*"message":\s*"[^"]*(auth|token)/i.test(text);
}

/** The same store under other keys: every batch starts from an empty history in the one shared table. */
function prefixed(inner: Idempotency, prefix: string): Idempotency {
  return {
    claim: (key, holdUntilMs, signal) => inner.claim(prefix + key, holdUntilMs, signal),
    complete: (key, signal) => inner.complete(prefix + key, signal),
    release: (key, signal) => inner.release(prefix + key, signal),
    lease: (key, untilMs, signal) => inner.lease!(prefix + key, untilMs, signal),
    fail: (key, verdict, signal) => inner.fail!(prefix + key, verdict, signal),
  };
}

const tick = () => new Promise((r) => setImmediate(r));

export async function runBatch(spec: BatchSpec, o: RunOptions): Promise<BatchRun> {
  const { sim } = o;
  const { event, records } = o.redeliver ? eventOf(o.redeliver.records) : buildEvent(spec);
  const faultSeed = o.redeliver?.faultSeed ?? spec.seed;
  sim.clear();
  const schedule = faultSchedule(faultSeed, spec.faultRate);
  sim.setBehaviour(schedule.behaviour);

  // The bridge's side of the story: every message send as the HTTP edge started it ...
  const sends: ObservedSend[] = [];
  // When the agent's first refusal of the token reached the bridge, and the requests started after it.
  let refusedAt = Infinity;
  let sendsAfterRefusal = 0;
  // Requests in flight per agent, as the HTTP edge sees them (the per-agent limit).
  const inFlight = new Map<string, number>();
  const maxInFlight = new Map<string, number>();
  const post: HttpPost = async (url, headers, body, timeoutMs) => {
    const agent = Object.keys(AGENT_LIMITS).find((a) => url.includes(a));
    if (agent) {
      inFlight.set(agent, (inFlight.get(agent) ?? 0) + 1);
      maxInFlight.set(agent, Math.max(maxInFlight.get(agent) ?? 0, inFlight.get(agent)!));
    }
    try {
      return await observedPost(url, headers, body, timeoutMs);
    } finally {
      if (agent) inFlight.set(agent, inFlight.get(agent)! - 1);
    }
  };
  const observedPost: HttpPost = async (url, headers, body, timeoutMs) => {
    const at = performance.now();
    // 1 ms of grace: the refusal is seen here a few microtasks before the bridge has recorded it.
    if (at > refusedAt + 1) sendsAfterRefusal++;
    const m = /^\{"jsonrpc":"2\.0","id":("(?:[^"\\]|\\.)*"),"method":"([^"]+)"/.exec(body);
    if (m && (m[2] === 'message/send' || m[2] === 'SendMessage')) {
      const recordId = recordIdOfRpc(JSON.parse(m[1]) as string);
      if (recordId) sends.push({ recordId, at });
    }
    const reply = await httpPost(url, headers, body, timeoutMs);
    if (refusal(reply.status, reply.text)) refusedAt = Math.min(refusedAt, performance.now());
    return reply;
  };
  const aws = o.aws;
  const hangs = spec.remainingMs < 60_000;
  const smFaults = awsFaultSchedule(faultSeed, 'secrets', aws ? spec.awsFaultRate : 0, hangs);
  const dbFaults = awsFaultSchedule(faultSeed, 'dynamo', aws ? spec.awsFaultRate : 0, hangs);
  aws?.secrets.setDecide(smFaults.decide);
  aws?.dynamo.setDecide(dbFaults.decide);
  const useSecret = spec.tokenStore === 'secret' && aws !== undefined && !spec.wrongToken;
  const idempotency =
    spec.idempotency && aws
      ? prefixed(createDynamoIdempotency({ table: aws.table, ttlSeconds: 3600, endpoint: aws.dynamo.url, now: () => Date.now() + (o.storeSkewMs ?? 0) }), `${o.batchId ?? spec.seed}:`)
      : undefined;
  const memory: MemoryDeadLetters | undefined = o.sqs
    ? undefined
    : memoryDeadLetters({ seed: faultSeed, failRate: spec.dlqFailRate, down: spec.dlqDown });
  const bridge = makeBridge(
    {
      ARCHESTRA_URL: sim.url,
      ...(useSecret ? { ARCHESTRA_TOKEN_SECRET_ARN: aws!.secretArn, TOKEN_CACHE_TTL_SECONDS: '0.05' } : { ARCHESTRA_TOKEN: spec.wrongToken ? `${o.token}-revoked` : o.token }),
      ROUTES_CONFIG: JSON.stringify(ROUTES),
      ORDERING: spec.ordering,
      MAX_CONCURRENCY: String(spec.maxConcurrency),
      MAX_RETRIES: String(spec.maxRetries),
      REQUEST_TIMEOUT: '0.3',
      // In a quarter of the batches a low threshold, so that circuits open (and report their records)
      // under the fault mix; the others keep the default and the full reach of the fault catalogue.
      ...(spec.seed % 4 === 0 ? { CIRCUIT_BREAKER_FAILURES: '2' } : {}),
      ...(o.sqs ? { DLQ_URL: o.sqs.queueUrl } : {}),
      ...o.env,
    },
    { post, ...(memory ? { deadLetters: memory as DeadLetterSink } : {}), ...(idempotency ? { idempotency } : {}), ...(spec.wrongToken && o.gates ? { gates: o.gates } : {}) },
  );
  // ... and every record's delivery, from the call to its verdict.
  const deliveries: ObservedDelivery[] = [];
  const client = bridge.deps.client as AgentClient;
  const deliver = client.deliver.bind(client);
  client.deliver = async (...args: Parameters<AgentClient['deliver']>): Promise<DeliveryResult> => {
    const start = performance.now();
    const res = await deliver(...args);
    const recordId = recordIdOfRpc(args[0].msg.rpcId);
    if (recordId) deliveries.push({ recordId, start, end: performance.now(), status: res.status });
    return res;
  };

  const started = performance.now();
  let result: BatchResult;
  let threw: string | undefined;
  try {
    result = await bridge.run(event, spec.remainingMs);
  } catch (err) {
    threw = (err as Error)?.message ?? String(err);
    result = { response: { batchItemFailures: [] }, outcomes: [], durationMs: performance.now() - started };
  }
  const durationMs = performance.now() - started;
  const returnedAt = Date.now();
  await tick();
  await tick();
  // Anything the handler left running would reach the agent now.
  await new Promise((r) => setTimeout(r, 5));
  aws?.secrets.setDecide(undefined);
  aws?.dynamo.setDecide(undefined);
  const lateRequests = sim.requests.filter((q) => q.receivedAt > returnedAt).length;
  const deadLetters = o.sqs ? await o.sqs.read() : memory!.bodies;

  // ---- the agent's side: what it received and answered -------------------------------------------------
  const requests = sim.requests.slice();
  const successes = new Map<string, RecordedRequest[]>();
  const arrivals: Observation['arrivals'] = [];
  const sendsOf = new Map<string, RecordedRequest[]>();
  const succeeded = (q: RecordedRequest): boolean => {
    if (q.clientAborted) return false;
    const kind = schedule.injected.get(q.seq)?.kind;
    if (isSend(q)) return q.outcome === 'message' || (q.outcome === 'slow' && kind === 'slow') || (q.outcome === 'task' && q.taskState === 'completed');
    if (isGetTask(q)) return q.outcome === 'task' && q.taskState === 'completed';
    return false;
  };
  for (const q of requests) {
    const recordId = typeof q.id === 'string' ? recordIdOfRpc(q.id) : undefined;
    if (!recordId) continue;
    if (isSend(q)) {
      arrivals.push({ recordId, seq: q.seq });
      sendsOf.set(recordId, [...(sendsOf.get(recordId) ?? []), q]);
    }
    if (succeeded(q)) successes.set(recordId, [...(successes.get(recordId) ?? []), q]);
  }

  // The sends the agent ran (answered, trickled its answer, or started a task), whether or not the
  // client was still there to read the answer; and the records whose delivery ended with an unknown outcome.
  const ran = new Map<string, number>();
  for (const q of requests) {
    const recordId = isSend(q) && typeof q.id === 'string' ? recordIdOfRpc(q.id) : undefined;
    const kind = schedule.injected.get(q.seq)?.kind;
    if (recordId && (q.outcome === 'message' || q.outcome === 'task' || (q.outcome === 'slow' && kind === 'slow'))) ran.set(recordId, (ran.get(recordId) ?? 0) + 1);
  }
  const unknown = new Set(deliveries.filter((d) => d.status === 'unknown').map((d) => d.recordId));
  // Store writes that failed after a send (complete, lease, fail): the claim then lapses at the invocation's hold.
  const storeWriteFailed = new Set(
    bridge.logs.filter((l) => l.message === 'idempotency update failed' && typeof l.key === 'string').map((l) => recordIdOfRpc(`kafka:${String(l.key)}`) ?? ''),
  );

  const outcomes = new Map(result.outcomes.filter((x) => x.offset !== null).map((x) => [`${x.partitionKey}@${x.offset}`, x]));
  // Records without an offset: their outcomes come in the event's order within their partition.
  const offsetless = new Map<string, typeof result.outcomes>();
  for (const x of result.outcomes) if (x.offset === null) offsetless.set(x.partitionKey, [...(offsetless.get(x.partitionKey) ?? []), x]);
  const outcomeOf = (r: BuiltRecord) => (r.offset === null ? offsetless.get(r.partitionKey)?.shift() : outcomes.get(r.id));
  // A letter names its record by coordinates; offset-less ones (all offset null) by their timestamp, unique per record.
  const names = (l: { topic?: unknown; partition?: unknown; offset?: unknown; timestamp?: unknown }, r: BuiltRecord) =>
    l.topic === r.topic && l.partition === r.partition && (l.offset ?? null) === r.offset && (r.offset !== null || l.timestamp === r.raw.timestamp);
  const failedLetters = memory?.failed ?? [];
  const observed: ObservedRecord[] = records.map((r) => {
    const outcome = outcomeOf(r);
    const ok = successes.get(r.id) ?? [];
    const firstOk = ok.length ? Math.min(...ok.map((q) => q.seq)) : Infinity;
    const letters = deadLetters.filter((b) => names(b.record, r));
    const holding = letters.filter((b) => letterHolds(b, r)).length;
    return {
      id: r.id,
      partitionKey: r.partitionKey,
      offset: r.offset,
      chain: chainOf(spec.ordering, r),
      skipExpected: skipExpected(r.spec),
      status: outcome?.status ?? 'missing',
      code: outcome?.code,
      successes: ok.length,
      sendsAfterSuccess: (sendsOf.get(r.id) ?? []).filter((q) => q.seq > firstOk).length,
      retries: outcome?.retries ?? 0,
      deadLetters: holding,
      corruptLetters: letters.length - holding,
      deadLetterWriteFailed: failedLetters.some((l) => names(l.body.record, r)) || /dead-letter write failed/.test(outcome?.message ?? ''),
    };
  });
  const observation: Observation = {
    records: observed,
    response: result.response,
    arrivals,
    deliveries,
    sends,
    ...(threw !== undefined ? { threw } : {}),
    durationMs,
    remainingMs: spec.remainingMs,
    lateRequests,
    sendsAfterRefusal,
    idempotency: idempotency !== undefined,
    agentInFlight: Object.entries(AGENT_LIMITS).map(([agent, limit]) => ({ agent, limit, max: maxInFlight.get(agent) ?? 0 })),
  };
  const verdict = judge(observation);
  // Disagreements between the bridge and the agent are timing stories: attach the record's exchange to them.
  for (const v of verdict.violations) {
    if (v.invariant !== 'ack' || !v.record) continue;
    const out = outcomes.get(v.record);
    const trace = requests
      .filter((q) => typeof q.id === 'string' && recordIdOfRpc(q.id) === v.record)
      .map((q) => `#${q.seq} ${q.method}${q.attempt ? ` attempt ${q.attempt}` : ''} -> ${schedule.injected.get(q.seq)?.kind ?? '?'}/${q.outcome}${q.status ? ` ${q.status}` : ''}${q.taskState ? ` ${q.taskState}` : ''}${q.clientAborted ? ' (client aborted)' : ''} in ${(q.respondedAt ?? NaN) - q.receivedAt} ms`);
    v.detail += ` [bridge: ${out?.code ?? ''} ${out?.message ?? ''}; agent: ${trace.join('; ')}]`;
  }
  if (result.outcomes.length !== records.length) {
    verdict.violations.push({ invariant: '1.lost', detail: `${records.length} records in, ${result.outcomes.length} outcomes out` });
  }

  const faults: RunFigures['faults'] = {};
  for (const inj of schedule.injected.values()) if (inj.kind !== 'none') faults[inj.kind] = (faults[inj.kind] ?? 0) + 1;
  const statuses: Record<string, number> = {};
  const codes: Record<string, number> = {};
  for (const x of result.outcomes) {
    statuses[x.status] = (statuses[x.status] ?? 0) + 1;
    if (x.code && x.status !== 'delivered') codes[x.code] = (codes[x.code] ?? 0) + 1;
  }
  const awsFaults: RunFigures['awsFaults'] = {};
  for (const src of [smFaults.injected, dbFaults.injected]) for (const [k, n] of Object.entries(src) as Array<[AwsFault, number]>) awsFaults[k] = (awsFaults[k] ?? 0) + n;
  const figures: RunFigures = {
    // Refusals of the credential: the sim's own (a wrong token: 401, or its lockout: 429 not injected) and the injected ones.
    refused: requests.filter((q) => {
      const kind = schedule.injected.get(q.seq)?.kind;
      return q.status === 401 || q.errorCode === -32600 || kind === 'auth_lockout' || (q.status === 429 && (kind === undefined || kind === 'none'));
    }).length,
    refusedAt: requests.filter((q) => q.status === 401 || (q.status === 429 && schedule.injected.get(q.seq)?.kind !== 'http_429' && schedule.injected.get(q.seq)?.kind !== 'http_429_retry_after')).map((q) => q.receivedAt),
    awsFaults,
    requests: requests.length,
    sends: requests.filter(isSend).length,
    polls: requests.filter(isGetTask).length,
    faults,
    dlqWriteFailures: memory?.failed.length ?? 0,
    durationMs,
    statuses,
    codes,
  };
  return { spec, records, result, observation, verdict, figures, deadLetters, ran, unknown, storeWriteFailed };
}

/** The event of a redelivery: these records of the first event, as they were. */
function eventOf(records: BuiltRecord[]): { event: unknown; records: BuiltRecord[] } {
  const grouped: Record<string, Array<Record<string, unknown>>> = {};
  for (const r of records) (grouped[r.partitionKey] ??= []).push(r.raw);
  return { event: { eventSource: 'aws:kafka', eventSourceArn: 'arn:aws:kafka:us-east-1:123456789012:cluster/rel/x', records: grouped }, records };
}

/** A short, readable account of a failing run for the assertion message. */
export function describeRun(run: BatchRun, limit = 12): string {
  const v = run.verdict.violations.slice(0, limit).map((x) => `  [${x.invariant}] ${x.record ?? ''} ${x.detail}`);
  const s = run.spec;
  return [
    `ORDERING=${s.ordering} MAX_CONCURRENCY=${s.maxConcurrency} MAX_RETRIES=${s.maxRetries} faultRate=${s.faultRate} seed=${s.seed} dlqFailRate=${s.dlqFailRate} dlqDown=${s.dlqDown} remainingMs=${s.remainingMs} tokenStore=${s.tokenStore} wrongToken=${s.wrongToken} idempotency=${s.idempotency} awsFaultRate=${s.awsFaultRate} records=${s.records.length}`,
    `response: ${JSON.stringify(run.result.response.batchItemFailures.map((f) => `${f.itemIdentifier.partition}@${f.itemIdentifier.offset}`))}`,
    `${run.verdict.violations.length} violation(s):`,
    ...v,
    ...(run.verdict.violations.length > limit ? [`  ... and ${run.verdict.violations.length - limit} more`] : []),
    // What the bridge decided for the partitions of the violations: the counterexample's story.
    ...partitionStory(run, new Set(run.verdict.violations.map((x) => x.record?.split('@')[0]).filter((p): p is string => !!p)), limit * 2),
  ].join('\n');
}

function partitionStory(run: BatchRun, partitions: Set<string>, limit: number): string[] {
  const rows = run.result.outcomes
    .filter((o) => partitions.has(o.partitionKey))
    .sort((a, b) => (a.offset ?? -1) - (b.offset ?? -1))
    .map((o) => `  ${o.partitionKey}@${o.offset ?? '?'} ${o.status}${o.code ? ` ${o.code}` : ''}${o.message ? `: ${o.message}` : ''}`);
  if (rows.length === 0) return [];
  return ['outcomes in those partitions:', ...rows.slice(0, limit), ...(rows.length > limit ? [`  ... and ${rows.length - limit} more`] : [])];
}
