// Per-partition state of one invocation's delivery: where each partition has failed, and which offsets
// are still in play. Pure bookkeeping, no I/O: the deliver loop (lambda/pipeline/deliver-all.ts) consults it.

/**
 * Lowest failed offset so far per partition. A record above it comes back with its partition: it is
 * neither dead-lettered now (it would be twice) nor, without an idempotency store, sent (it would run twice).
 */
export class PartitionFailures {
  private readonly lowest = new Map<string, number>();
  mark(partitionKey: string, offset: number): void {
    if (offset < (this.lowest.get(partitionKey) ?? Infinity)) this.lowest.set(partitionKey, offset);
  }
  below(partitionKey: string, offset: number): number | undefined {
    const at = this.lowest.get(partitionKey);
    return at !== undefined && at < offset ? at : undefined;
  }
}

/**
 * Per partition, the offsets its chains have not yet passed. A dead letter is written only
 * once everything below it in its partition is settled: if one of those fails, the letter's record comes
 * back with its partition and must not already sit in the queue.
 */
export class Settlement {
  private readonly parts = new Map<string, { offsets: number[]; done: Set<number>; next: number; waiters: Array<{ offset: number; wake: () => void }> }>();

  constructor(inPlay: Iterable<{ partitionKey: string; offset: number }>) {
    for (const { partitionKey, offset } of inPlay) {
      let part = this.parts.get(partitionKey);
      if (!part) this.parts.set(partitionKey, (part = { offsets: [], done: new Set(), next: 0, waiters: [] }));
      part.offsets.push(offset);
    }
    for (const part of this.parts.values()) part.offsets.sort((a, b) => a - b);
  }

  private lowest(part: { offsets: number[]; next: number }): number {
    return part.next < part.offsets.length ? part.offsets[part.next] : Infinity;
  }

  settle(pk: string, offset: number): void {
    const part = this.parts.get(pk);
    if (!part || part.done.has(offset)) return;
    part.done.add(offset);
    while (part.next < part.offsets.length && part.done.has(part.offsets[part.next])) part.next++;
    const low = this.lowest(part);
    const waiting: typeof part.waiters = [];
    for (const w of part.waiters) {
      if (w.offset <= low) w.wake();
      else waiting.push(w);
    }
    part.waiters = waiting;
  }

  /** Resolves when every offset below this one in its partition is settled. */
  below(pk: string, offset: number): Promise<void> {
    const part = this.parts.get(pk);
    if (!part || this.lowest(part) >= offset) return Promise.resolve();
    return new Promise((wake) => part.waiters.push({ offset, wake }));
  }
}
