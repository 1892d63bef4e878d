// Minimal MSK event builder for tests that need exact control of every field.
export interface TestRecord {
  topic: string;
  partition: number;
  offset: number;
  key?: string | null;
  /** An object is JSON-encoded; null is a tombstone; a Buffer is sent as its raw bytes. */
  value?: unknown;
  headers?: Record<string, string>;
  timestamp?: number;
}

const b64 = (v: string | Buffer) => (typeof v === 'string' ? Buffer.from(v, 'utf8') : v).toString('base64');

export function mskEvent(records: TestRecord[], eventSource: 'aws:kafka' | 'SelfManagedKafka' = 'aws:kafka') {
  const grouped: Record<string, unknown[]> = {};
  for (const r of records) {
    const value =
      r.value === null ? null : r.value === undefined ? undefined : Buffer.isBuffer(r.value) ? b64(r.value) : b64(typeof r.value === 'string' ? r.value : JSON.stringify(r.value));
    (grouped[`${r.topic}-${r.partition}`] ??= []).push({
      topic: r.topic,
      partition: r.partition,
      offset: r.offset,
      timestamp: r.timestamp ?? 1736676000000 + r.offset,
      timestampType: 'CREATE_TIME',
      ...(r.key === undefined || r.key === null ? {} : { key: b64(r.key) }),
      ...(value === undefined ? {} : { value }),
      headers: Object.entries(r.headers ?? {}).map(([k, v]) => ({ [k]: [...Buffer.from(v, 'utf8')] })),
    });
  }
  return {
    eventSource,
    ...(eventSource === 'aws:kafka' ? { eventSourceArn: 'arn:aws:kafka:us-east-1:123456789012:cluster/test/abc' } : { bootstrapServers: 'b-1:9092' }),
    records: grouped,
  };
}
