// Benchmark workloads: Lambda MSK events in Lambda's own wire shape, the ideal-schedule math and the
// statistics. Pure (no I/O, no clock, no randomness) so test/tools/bench-math.test.ts can check it.

export type Ordering = 'partition' | 'key' | 'none';
export const ORDERINGS: readonly Ordering[] = ['partition', 'key', 'none'];

export const TOPIC = 'orders';
export const ROUTE_NAME = 'orders';
/** Rendered for every record: JSON fields, nested paths, an array element and Kafka metadata. */
export const TEMPLATE =
  'New order {order_id} from {customer.name} <{customer.email}> (tier {customer.tier}): ' +
  '{items.0.qty} x {items.0.sku} and more, total {total} {currency}. Ship to {shipping.city}, {shipping.country}. ' +
  'Notes: {notes} [key {$key}, {$topic}/{$partition}@{$offset}, {$timestamp_iso}, trace {$headers.trace-id}]';

/** The routes the handler child is configured with (ROUTES_CONFIG). */
export function routesConfig(agentId: string): string {
  return JSON.stringify([{ name: ROUTE_NAME, topic_pattern: TOPIC, agent_id: agentId, transform_template: TEMPLATE, on_missing: 'keep' }]);
}

/** Where record i goes: key k = i mod keys lives in partition k mod partitions (one key, one partition). */
export interface Placement {
  partition: number;
  /** null: a record without a key (carries no order in `key` mode). */
  key: string | null;
}

export interface LayoutOptions {
  records: number;
  partitions: number;
  keys: number;
}

export const keyName = (k: number): string => `customer-${String(k).padStart(4, '0')}`;

export function placementOf(i: number, o: Omit<LayoutOptions, 'records'>): Placement {
  const k = i % o.keys;
  return { partition: k % o.partitions, key: keyName(k) };
}

/** Placements of records `first` .. `first + records - 1`. */
export function layout(o: LayoutOptions, first = 0): Placement[] {
  if (!(o.records >= 0 && o.partitions >= 1 && o.keys >= 1)) throw new RangeError('records >= 0, partitions >= 1 and keys >= 1');
  return Array.from({ length: o.records }, (_, n) => placementOf(first + n, o));
}

// ---------------------------------------------------------------------------------------------------------
// Ideal schedule

/** Records in each ordered chain, as the bridge forms them (lambda/schedule.ts chainKey). */
export function chainLengths(placements: readonly Placement[], mode: Ordering): number[] {
  if (mode === 'none') return placements.map(() => 1);
  const chains = new Map<string, number>();
  placements.forEach((p, i) => {
    const k = mode === 'partition' ? `${p.partition}` : p.key === null ? `${p.partition}\u0000@${i}` : `${p.partition}\u0000${p.key}`;
    chains.set(k, (chains.get(k) ?? 0) + 1);
  });
  return [...chains.values()];
}

/** partition: the largest partition; key: the largest key (within its partition); none: 1 (0 for no records). */
export function longestChain(placements: readonly Placement[], mode: Ordering): number {
  return chainLengths(placements, mode).reduce((m, n) => Math.max(m, n), 0);
}

export interface IdealInput {
  records: number;
  longestChain: number;
  latencyMs: number;
  concurrency: number;
}

/**
 * Lower bound on the wall time of any schedule: the longest chain runs one request after another, and no
 * more than `concurrency` requests are ever in flight: max(longestChain x latency, records x latency / concurrency).
 */
export function idealScheduleMs(i: IdealInput): number {
  if (!(i.concurrency >= 1)) throw new RangeError('concurrency must be >= 1');
  return Math.max(i.longestChain * i.latencyMs, (i.records * i.latencyMs) / i.concurrency);
}

/** The same bound for whole requests: a round of `concurrency` requests cannot be split (ceil). */
export function idealRoundsMs(i: IdealInput): number {
  if (!(i.concurrency >= 1)) throw new RangeError('concurrency must be >= 1');
  return Math.max(i.longestChain, Math.ceil(i.records / i.concurrency)) * i.latencyMs;
}

/** The reference bridge: one request at a time, each awaited. */
export const sequentialMs = (records: number, latencyMs: number): number => records * latencyMs;

// ---------------------------------------------------------------------------------------------------------
// Statistics

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError('median of no values');
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function summarize(xs: readonly number[]): Summary {
  if (xs.length === 0) throw new RangeError('summary of no values');
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
}

// ---------------------------------------------------------------------------------------------------------
// Events (Lambda's MSK shape: records grouped by "<topic>-<partition>", base64 key and value, headers as
// arrays of byte values)

export interface MskRecord {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  timestampType: 'CREATE_TIME';
  key: string;
  value: string;
  headers: Array<Record<string, number[]>>;
}

export interface MskEvent {
  eventSource: 'aws:kafka';
  eventSourceArn: string;
  bootstrapServers: string;
  records: Record<string, MskRecord[]>;
}

export interface EventOptions extends LayoutOptions {
  /** Approximate size of each JSON value in bytes (before base64). Default: a small ~300 byte order. */
  valueBytes?: number;
  /** First offset of each partition (default 0): lets consecutive batches continue a partition. */
  startOffsets?: Readonly<Record<number, number>>;
  /** Index of the first record (names, timestamps); default 0. */
  firstIndex?: number;
  /** Epoch ms of record 0. Default a fixed date (events are reproducible byte for byte). */
  baseTimestamp?: number;
}

const BASE_TS = Date.UTC(2025, 0, 15, 12, 0, 0);
const CITIES = [
  ['Berlin', 'DE'],
  ['Lyon', 'FR'],
  ['Austin', 'US'],
  ['Osaka', 'JP'],
  ['Porto', 'PT'],
] as const;
const TIERS = ['bronze', 'silver', 'gold', 'platinum'];
const LOREM =
  'Please deliver between nine and five, leave the parcel with the concierge if nobody answers, and call ahead ' +
  'for the fragile items; the customer asked for recyclable packaging and a printed invoice in the box. ';

/** A realistic order document; `bytes` pads its `notes` so the JSON is about that long (never shorter). */
export function orderValue(i: number, key: string, bytes?: number): Record<string, unknown> {
  const [city, country] = CITIES[i % CITIES.length];
  const items = Array.from({ length: 3 + (i % 3) }, (_, j) => ({ sku: `SKU-${(i * 7 + j * 13) % 9973}`, qty: 1 + ((i + j) % 4), price: Number((((i * 31 + j * 17) % 20000) / 100 + 1).toFixed(2)) }));
  const doc: Record<string, unknown> = {
    order_id: `ord-${String(i).padStart(8, '0')}`,
    customer: { id: key, name: `Customer ${key.slice(-4)}`, email: `${key}@example.com`, tier: TIERS[i % TIERS.length] },
    items,
    total: Number(items.reduce((s, it) => s + it.qty * it.price, 0).toFixed(2)),
    currency: 'EUR',
    created_at: new Date(BASE_TS + i * 1000).toISOString(),
    shipping: { street: `${(i % 200) + 1} Harbour Road`, city, country, postcode: String(10000 + (i % 89999)) },
    notes: '',
  };
  if (bytes !== undefined) {
    const room = bytes - JSON.stringify(doc).length;
    let notes = '';
    while (notes.length < room) notes += LOREM;
    doc.notes = notes.slice(0, Math.max(0, room)).trimEnd();
  } else {
    doc.notes = 'leave at the door';
  }
  return doc;
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const headerBytes = (s: string) => [...Buffer.from(s, 'utf8')];

export function buildEvent(o: EventOptions): MskEvent {
  const first = o.firstIndex ?? 0;
  const base = o.baseTimestamp ?? BASE_TS;
  const next = new Map<number, number>();
  const records: Record<string, MskRecord[]> = {};
  layout(o, first).forEach((p, n) => {
    const i = first + n;
    const offset = next.get(p.partition) ?? o.startOffsets?.[p.partition] ?? 0;
    next.set(p.partition, offset + 1);
    const key = p.key as string;
    const value = JSON.stringify(orderValue(i, key, o.valueBytes));
    (records[`${TOPIC}-${p.partition}`] ??= []).push({
      topic: TOPIC,
      partition: p.partition,
      offset,
      timestamp: base + i,
      timestampType: 'CREATE_TIME',
      key: b64(key),
      value: b64(value),
      headers: [{ 'content-type': headerBytes('application/json') }, { 'trace-id': headerBytes(`trace-${String(i).padStart(8, '0')}`) }],
    });
  });
  return {
    eventSource: 'aws:kafka',
    eventSourceArn: 'arn:aws:kafka:us-east-1:123456789012:cluster/bench-cluster/6a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d-1',
    bootstrapServers: 'b-1.bench-cluster.abc123.c2.kafka.us-east-1.amazonaws.com:9098',
    records,
  };
}

/** Splits a run of `records` into consecutive batches (as Lambda would deliver them): offsets continue per partition. */
export function buildBatches(o: EventOptions & { batchRecords: number }): MskEvent[] {
  if (!(o.batchRecords >= 1)) throw new RangeError('batchRecords must be >= 1');
  const out: MskEvent[] = [];
  const offsets: Record<number, number> = {};
  for (let first = 0; first < o.records; first += o.batchRecords) {
    const n = Math.min(o.batchRecords, o.records - first);
    out.push(buildEvent({ ...o, records: n, firstIndex: first, startOffsets: { ...offsets } }));
    for (const p of layout({ ...o, records: n }, first)) offsets[p.partition] = (offsets[p.partition] ?? 0) + 1;
  }
  return out;
}

/** Total value bytes (decoded) and event JSON bytes, for the report. */
export function eventSize(e: MskEvent): { records: number; valueBytes: number; jsonBytes: number } {
  let records = 0;
  let valueBytes = 0;
  for (const list of Object.values(e.records)) {
    for (const r of list) {
      records++;
      valueBytes += Buffer.from(r.value, 'base64').length;
    }
  }
  return { records, valueBytes, jsonBytes: Buffer.byteLength(JSON.stringify(e)) };
}

// ---------------------------------------------------------------------------------------------------------
// What the handler's own metrics say (Powertools EMF lines on its stdout)

/**
 * Per invocation, the A2ALatency values (ms, first send to answer, one per delivered record) from the
 * handler's EMF output. An invocation ends with the service-level blob, the one carrying RecordsReceived.
 */
export function emfLatencies(stdout: string): number[][] {
  const out: number[][] = [];
  let cur: number[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{"_aws"')) continue;
    let blob: Record<string, unknown>;
    try {
      blob = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    const lat = blob.A2ALatency;
    if (Array.isArray(lat)) cur.push(...lat.filter((x): x is number => typeof x === 'number'));
    else if (typeof lat === 'number') cur.push(lat);
    if (blob.RecordsReceived !== undefined) {
      out.push(cur);
      cur = [];
    }
  }
  return out;
}

/**
 * Share of the available request slots that held a request in flight: sum of round trips over
 * (parallelism x wall), where parallelism = min(concurrency, chains) is what the ordering allows at most.
 */
export function slotOccupancy(latenciesMs: readonly number[], parallelism: number, wallMs: number): number {
  if (!(parallelism >= 1 && wallMs > 0)) throw new RangeError('parallelism >= 1 and wallMs > 0');
  return latenciesMs.reduce((s, x) => s + x, 0) / (parallelism * wallMs);
}

export const mean = (xs: readonly number[]): number => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : NaN);
