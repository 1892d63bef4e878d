// The pure half of `npm run redrive`: turns poison-queue messages into dead letters (chunked letters
// reassembled), selects the ones an operator asked for, and decides after the run which messages may be
// deleted. A message is deleted only when its record is settled again: delivered, found delivered already
// (duplicate), skipped as a tombstone, or dead-lettered again as a new message. Everything else stays in
// the queue, visible again, for the next attempt.
import { joinChunks, type DeadLetterBody } from '../../lambda/dead-letter';
import type { RecordOutcome } from '../../lambda/outcome';

export interface QueueMessage {
  messageId: string;
  receiptHandle: string;
  body: string;
}

export interface Letter {
  /** `topic-partition@offset`, as the pipeline names records (`?` for an unreadable offset). */
  id: string;
  body: DeadLetterBody;
  /** Every queue message that carries this letter (one, or each chunk). */
  messages: QueueMessage[];
}

export interface Unusable {
  messages: QueueMessage[];
  reason: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export const letterId = (b: DeadLetterBody) => `${String(b.record.topic)}-${String(b.record.partition)}@${b.record.offset ?? '?'}`;

/** Parses messages into letters; chunks are joined by their set id. Incomplete sets and foreign messages are unusable. */
export function readLetters(messages: readonly QueueMessage[]): { letters: Letter[]; unusable: Unusable[] } {
  const letters: Letter[] = [];
  const unusable: Unusable[] = [];
  const sets = new Map<string, { count: number; parts: Map<number, QueueMessage> }>();
  const add = (b: DeadLetterBody, ms: QueueMessage[]) => {
    // Without its offset a record cannot be put back at its place in its partition, nor told apart.
    if (typeof b.record.offset !== 'number') unusable.push({ messages: ms, reason: 'the record has no offset: it cannot be redriven' });
    else letters.push({ id: letterId(b), body: b, messages: ms });
  };
  for (const m of messages) {
    let body: unknown;
    try {
      body = JSON.parse(m.body);
    } catch {
      unusable.push({ messages: [m], reason: 'not JSON: not a dead letter of this bridge' });
      continue;
    }
    if (isObject(body) && body.kind === 'chunk' && isObject(body.chunk) && typeof body.chunk.id === 'string') {
      const set = sets.get(body.chunk.id) ?? { count: Number(body.chunk.count), parts: new Map() };
      set.parts.set(Number(body.chunk.index), m); // a chunk received twice counts once
      sets.set(body.chunk.id, set);
      continue;
    }
    if (!isObject(body) || body.version !== 1 || !isObject(body.record) || typeof body.eventSource !== 'string') {
      unusable.push({ messages: [m], reason: 'not a dead letter of this bridge (version 1, eventSource, record)' });
      continue;
    }
    add(body as unknown as DeadLetterBody, [m]);
  }
  for (const [id, set] of sets) {
    const parts = [...set.parts.entries()].sort((a, b) => a[0] - b[0]).map(([, m]) => m);
    if (parts.length !== set.count) {
      // A set whose writer stopped midway (the Lambda's write failed and the record was redelivered), or
      // whose other chunks another reader holds right now: leave it, never delete part of a set here.
      unusable.push({ messages: parts, reason: `chunk set ${id}: ${parts.length} of ${set.count} chunks received` });
      continue;
    }
    try {
      add(joinChunks(parts.map((m) => m.body)), parts);
    } catch (e) {
      unusable.push({ messages: parts, reason: `chunk set ${id}: ${(e as Error).message}` });
    }
  }
  return { letters, unusable };
}

export interface Filter {
  routes?: string[];
  topics?: string[];
  classes?: string[];
  /** ISO times, compared with the letter's deadLetteredAt. */
  since?: string;
  until?: string;
  partition?: number;
  /** Inclusive offset range. */
  offsets?: [number, number];
}

/** Undecodable records come back undecodable: they are redriven only when asked for by class. */
export const UNDECODABLE = 'undecodable';

/**
 * A letter that holds the agent's answer (its reply could not be written): sending its record again would run
 * the agent a second time, so redrive never does; the reply envelope in the letter is what is left to deliver.
 */
export const holdsReply = (l: Letter) => l.body.kind === 'reply_unwritten';

export function matches(l: Letter, f: Filter): boolean {
  const b = l.body;
  if (holdsReply(l)) return false;
  if (f.routes && !f.routes.includes(b.route ?? '')) return false;
  if (f.topics && !f.topics.includes(String(b.record.topic))) return false;
  if (f.classes ? !f.classes.includes(b.error.class) : b.error.class === UNDECODABLE) return false;
  if (f.since && b.deadLetteredAt < f.since) return false;
  if (f.until && b.deadLetteredAt > f.until) return false;
  if (f.partition !== undefined && b.record.partition !== f.partition) return false;
  if (f.offsets) {
    const o = b.record.offset;
    if (typeof o !== 'number' || o < f.offsets[0] || o > f.offsets[1]) return false;
  }
  return true;
}

/** One record once, even when it was dead-lettered twice: the later copies ride along and settle with it. */
export function uniqueRecords(letters: readonly Letter[]): Map<string, Letter[]> {
  const byRecord = new Map<string, Letter[]>();
  for (const l of letters) byRecord.set(l.id, [...(byRecord.get(l.id) ?? []), l]);
  return byRecord;
}

/** Groups records by event source: one invocation each, as Lambda never mixes sources in a batch. */
export function eventsOf(records: Map<string, Letter[]>): Array<{ eventSource: string; bodies: DeadLetterBody[] }> {
  const bySource = new Map<string, DeadLetterBody[]>();
  for (const [, copies] of records) {
    const b = copies[0].body;
    bySource.set(b.eventSource, [...(bySource.get(b.eventSource) ?? []), b]);
  }
  return [...bySource].map(([eventSource, bodies]) => ({ eventSource, bodies }));
}

/** Statuses after which the letter is no longer needed. `unrouted` is not one: the record went nowhere. */
const SETTLED = new Set<RecordOutcome['status']>(['delivered', 'dead_lettered', 'duplicate', 'tombstone']);

export const isSettled = (o: RecordOutcome) => SETTLED.has(o.status);

/** The messages to delete: those of every record whose outcome settled it. */
export function settledMessages(records: Map<string, Letter[]>, outcomes: readonly RecordOutcome[]): QueueMessage[] {
  const out: QueueMessage[] = [];
  for (const o of outcomes) {
    if (!isSettled(o)) continue;
    for (const l of records.get(`${o.partitionKey}@${o.offset ?? '?'}`) ?? []) out.push(...l.messages);
  }
  return out;
}

/** A dead-lettered record as Kafka held it: key, value and headers as bytes, for republishing. */
export interface KafkaCopy {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer[]>;
}

/** Strict base64 (as the decode stage checks it): a letter whose bytes cannot be recovered exactly is not copied. */
function bytes(field: string, v: unknown): Buffer | null {
  if (v === undefined || v === null) return null;
  const b = typeof v === 'string' ? Buffer.from(v, 'base64') : undefined;
  if (!b || typeof v !== 'string' || b.toString('base64').replace(/=+$/, '') !== v.replace(/=+$/, '')) throw new Error(`${field} is not base64`);
  return b;
}

/** The record of a letter as Kafka held it, or why it cannot be rebuilt byte for byte. */
export function kafkaCopy(b: DeadLetterBody): KafkaCopy | { error: string } {
  try {
    // Null prototype: a header named __proto__ is a header like any other.
    const headers = Object.create(null) as Record<string, Buffer[]>;
    const raw = b.record.headers ?? [];
    if (!Array.isArray(raw)) throw new Error('headers are not a list');
    for (const entry of raw) {
      if (!isObject(entry)) throw new Error('a header is not an object');
      for (const [name, value] of Object.entries(entry)) {
        const buf = typeof value === 'string' ? Buffer.from(value, 'utf8') : Array.isArray(value) && value.every((x) => Number.isInteger(x)) ? Buffer.from(value as number[]) : undefined;
        if (!buf) throw new Error(`header "${name}" is not bytes`);
        (headers[name] ??= []).push(buf);
      }
    }
    return { key: bytes('key', b.record.key), value: bytes('value', b.record.value), headers };
  } catch (e) {
    return { error: `cannot rebuild the record: ${(e as Error).message}` };
  }
}
