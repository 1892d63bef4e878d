// The tests' Lambda Kafka event: records with every field under the test's control, built by the product's
// own builder (scripts/lib/msk-event.ts, the one `npm run event` uses), so the shape has one definition.
import { buildMskEvent, type KafkaMessage, type MskEvent } from '../../scripts/lib/msk-event';

export interface TestRecord {
  topic: string;
  partition: number;
  offset: number;
  key?: string | null;
  /** An object is JSON-encoded; null is a tombstone; a Buffer is sent as its raw bytes; undefined: no value field at all. */
  value?: unknown;
  headers?: Record<string, string>;
  timestamp?: number;
}

const TEST_CLUSTER_ARN = 'arn:aws:kafka:us-east-1:123456789012:cluster/test/abc';

/** Loosely typed: tests reach into records to break them on purpose. */
export interface TestEvent {
  eventSource: MskEvent['eventSource'];
  eventSourceArn?: string;
  bootstrapServers: string;
  records: Record<string, unknown[]>;
}

export function mskEvent(records: TestRecord[], eventSource: 'aws:kafka' | 'SelfManagedKafka' = 'aws:kafka'): TestEvent {
  const messages = records.map(
    (r): KafkaMessage => ({
      topic: r.topic,
      partition: r.partition,
      offset: r.offset,
      timestamp: r.timestamp ?? 1736676000000 + r.offset,
      key: r.key ?? null,
      value: r.value === undefined ? null : (r.value as KafkaMessage['value']),
      headers: r.headers,
    }),
  );
  const event = buildMskEvent(messages, {
    source: eventSource === 'aws:kafka' ? 'msk' : 'self-managed',
    eventSourceArn: TEST_CLUSTER_ARN,
    bootstrapServers: 'b-1:9092',
  });
  // A record without a value field at all (not a tombstone) is a shape Lambda never sends: tests of hostile input build it here.
  const valueless = new Set(records.filter((r) => r.value === undefined).map((r) => `${r.topic}-${r.partition}@${r.offset}`));
  if (valueless.size) {
    for (const list of Object.values(event.records)) {
      for (const rec of list) if (valueless.has(`${rec.topic}-${rec.partition}@${rec.offset}`)) delete (rec as { value?: unknown }).value;
    }
  }
  return event;
}
