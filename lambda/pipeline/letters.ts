// The letter writer: dead letters through the sink (or reported when there is none), bounded in time, and why a
// record is lettered.
import type { PoisonRecord } from '../decode';
import type { DeadLetter, LetterContext } from '../dead-letter';
import type { ToLetter, Track } from './record-state';
import type { InvocationInfo, PipelineDeps } from './types';

/** Records the bridge cannot read or render are poison; an agent's refusal is a permanent failure. */
export function letterReason(s: ToLetter) {
  if (s.awaitingInput) return { kind: 'awaiting_input' as const, class: 'awaiting_input', message: s.message, attempts: s.result?.attempts ?? 0 };
  const code = s.code;
  return {
    kind: code === 'render_failed' || code === 'poison' || code === 'schema_error' ? ('poison' as const) : ('permanent_failure' as const),
    class: code === 'poison' ? 'undecodable' : code,
    message: s.message,
    attempts: s.result?.attempts ?? s.remembered?.attempts ?? 0,
  };
}

/** A poison record without an offset can only be reported through its partition's lowest known offset. */
export function reportableOffset(p: PoisonRecord, tracks: readonly Track[]): { partitionKey: string; offset: number } {
  if (p.offset !== null) return { partitionKey: p.partitionKey, offset: p.offset };
  const known = tracks.filter((t) => t.at.partitionKey === p.partitionKey).map((t) => t.at.offset);
  if (known.length === 0) {
    // No identifier of this batch can name the record: failing the invocation makes Lambda retry it whole.
    throw new Error(`record in ${p.partitionKey} could not be dead-lettered and has no offset to report`);
  }
  return { partitionKey: p.partitionKey, offset: Math.min(...known) };
}

/** Writes dead letters through the sink (or reports them when there is none), bounded in time. */
export class LetterWriter {
  readonly ctx: LetterContext;
  private warned = false;

  constructor(
    private readonly deps: PipelineDeps,
    source: string,
    info: InvocationInfo,
    private readonly writeBy: number,
  ) {
    this.ctx = { at: new Date().toISOString(), source, requestId: info.requestId };
  }

  async write<T>(entries: Array<{ target: T; letter: DeadLetter }>): Promise<Array<{ target: T; ok: boolean }>> {
    if (entries.length === 0) return [];
    let failed: Set<string>;
    if (!this.deps.deadLetters) {
      if (!this.warned) this.deps.log.error('no DLQ_URL configured: records that need dead-lettering are reported for redelivery instead');
      this.warned = true;
      failed = new Set(entries.map((e) => e.letter.id));
    } else {
      failed = await this.deps.deadLetters.send(
        entries.map((e) => e.letter),
        this.writeBy,
      );
    }
    return entries.map(({ target, letter }) => ({ target, ok: !failed.has(letter.id) }));
  }
}
