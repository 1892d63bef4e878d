// Report stage: the Kafka partial-batch response. Lambda resumes each listed partition from the given
// offset, so each partition is listed once, at its lowest record that was neither handled nor dead-lettered.

export interface KafkaBatchResponse {
  batchItemFailures: Array<{ itemIdentifier: { partition: string; offset: number } }>;
}

export interface Reportable {
  partitionKey: string;
  offset: number;
}

/** Lowest failed offset per partition. Offsets come from the batch's own records, never invented. */
export function failureOffsets(failed: Iterable<Reportable>): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of failed) {
    const cur = out.get(f.partitionKey);
    if (cur === undefined || f.offset < cur) out.set(f.partitionKey, f.offset);
  }
  return out;
}

export function batchResponse(offsets: ReadonlyMap<string, number>): KafkaBatchResponse {
  return {
    batchItemFailures: [...offsets.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([partition, offset]) => ({ itemIdentifier: { partition, offset } })),
  };
}
