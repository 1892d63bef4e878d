// Scheduling for the deliver stage: which records form an ordered chain, and a concurrency limit
// that serves the longest remaining chain first (the critical path decides the batch's wall time).
import type { Ordering } from './config/limits';

export type { Ordering };

/** Where a record sits in its partition: all that ordering (and the partition bookkeeping) reads of it. */
export interface Position {
  partitionKey: string;
  offset: number;
  /** The record's key as it arrived (base64), null when it has none. */
  keyB64: string | null;
}

/**
 * `partition`: one chain per partition. `key`: one per key within a partition (Kafka's own ordering
 * guarantee); records without a key carry no order, so each is its own chain. `none`: every record alone.
 */
export function chainKey(mode: Ordering, r: Position): string {
  if (mode === 'partition') return r.partitionKey;
  if (mode === 'key' && r.keyB64 !== null) return `${r.partitionKey}\u0000${r.keyB64}`;
  return `${r.partitionKey}\u0000@${r.offset}`;
}

/** Groups entries into chains by their position (`at`), each sorted by offset; returned longest first. */
export function buildChains<T extends { at: Position }>(items: readonly T[], mode: Ordering): T[][] {
  const chains = new Map<string, T[]>();
  for (const item of items) {
    const k = chainKey(mode, item.at);
    const chain = chains.get(k);
    if (chain) chain.push(item);
    else chains.set(k, [item]);
  }
  const out = [...chains.values()];
  for (const c of out) c.sort((a, b) => a.at.offset - b.at.offset);
  return out.sort((a, b) => b.length - a.length);
}

interface Waiter {
  priority: number;
  seq: number;
  start: () => void;
}

/** A counting semaphore whose queue is a max-heap on priority (ties first come, first served). */
export class PrioritySlots {
  private inFlight = 0;
  private seq = 0;
  private readonly heap: Waiter[] = [];

  constructor(private readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError('concurrency must be a positive integer');
  }

  get active(): number {
    return this.inFlight;
  }

  async run<T>(priority: number, fn: () => Promise<T>): Promise<T> {
    if (this.inFlight >= this.max) {
      await new Promise<void>((start) => this.push({ priority, seq: this.seq++, start }));
    } else {
      this.inFlight++;
    }
    try {
      return await fn();
    } finally {
      const next = this.pop();
      if (next) next.start();
      else this.inFlight--;
    }
  }

  private before(a: Waiter, b: Waiter): boolean {
    return a.priority > b.priority || (a.priority === b.priority && a.seq < b.seq);
  }

  private push(w: Waiter): void {
    const h = this.heap;
    h.push(w);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  private pop(): Waiter | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.before(h[l], h[m])) m = l;
        if (r < h.length && this.before(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}
