// The sample events in events/, built with the event generator from the reference messages. The JSON files
// are committed (readable, usable with any tool); this module is their source: `tsx scripts/lib/samples.ts`
// rewrites them, and a test checks the files still match.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as avro from 'avsc';
import * as protobuf from 'protobufjs';
import { buildMskEvent, formatEvent, type MskEvent } from './msk-event';

export const REFERENCE = {
  support: { customer_id: 'CUST-001', issue_type: 'billing', priority: 'high', message: 'Double charged for subscription' },
  order: { order_id: 'ORD-123', event_type: 'shipped', customer_email: 'user@example.com', details: '{}' },
  analytics: { metric_name: 'conversion_rate', value: 3.5, timestamp: '2025-01-12T10:00:00Z', dimensions: '{}' },
};

const T0 = '2025-01-12T10:00:00Z';

/** The Glue schema version id of the sample Protobuf schema. */
export const SAMPLE_GLUE_SCHEMA_VERSION = '7c9e6679-7425-40de-944b-e07fc1f90ae7';

const schemaText = (file: string) => readFileSync(resolve(__dirname, '..', '..', 'events', 'schemas', file), 'utf8');

/** Confluent's wire format: magic byte 0, the schema id as a big-endian int32, the Avro datum. */
function confluentAvro(schemaId: number, file: string, value: object): Uint8Array {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(schemaId, 1);
  return Buffer.concat([head, avro.Type.forSchema(JSON.parse(schemaText(file))).toBuffer(value)]);
}

/** Glue's framing: header version 3, compression 0 (none), the 16-byte schema version UUID, the message. */
function glueProtobuf(versionId: string, type: string, value: object): Uint8Array {
  const t = protobuf.parse(schemaText('payment.proto'), { keepCase: true }).root.lookupType(type);
  return Buffer.concat([Buffer.from([3, 0]), Buffer.from(versionId.replace(/-/g, ''), 'hex'), t.encode(t.fromObject(value)).finish()]);
}

export interface Sample {
  file: string;
  title: string;
  /** What the demo should show for it, in words. */
  expect: string;
  build(): MskEvent;
}

export const SAMPLES: Sample[] = [
  {
    file: 'customer-support.json',
    title: 'a customer support request (billing, high priority)',
    expect: 'routed by field_match to the billing agent and answered',
    build: () =>
      buildMskEvent([{ value: REFERENCE.support, key: 'CUST-001', headers: { source: 'support-portal' } }], {
        topic: 'customer.events',
        startOffset: 1041,
        timestamp: T0,
      }),
  },
  {
    file: 'order-shipped.json',
    title: 'an order event (shipped)',
    expect: 'routed by a glob to the orders agent and answered',
    build: () => buildMskEvent([{ value: REFERENCE.order, key: 'ORD-123' }], { topic: 'orders.events', partition: 2, startOffset: 7730, timestamp: T0 }),
  },
  {
    file: 'analytics-metric.json',
    title: 'an analytics event (conversion rate)',
    expect: 'routed by a regex to the analytics agent and answered',
    build: () => buildMskEvent([REFERENCE.analytics].map((value) => ({ value })), { topic: 'analytics.events', startOffset: 88210, timestamp: T0 }),
  },
  {
    file: 'mixed-batch.json',
    title: 'a mixed batch: three topics, five partitions, keys and headers',
    expect: 'every record routed (one by its x-priority header) and answered',
    build: () =>
      buildMskEvent(
        [
          { topic: 'customer.events', partition: 0, key: 'CUST-001', value: REFERENCE.support, headers: { source: 'support-portal' } },
          {
            topic: 'customer.events',
            partition: 0,
            key: 'CUST-002',
            value: { customer_id: 'CUST-002', issue_type: 'login', priority: 'low', message: 'Password reset email never arrives' },
            headers: { source: 'mobile-app' },
          },
          {
            topic: 'customer.events',
            partition: 1,
            key: 'CUST-007',
            value: { customer_id: 'CUST-007', issue_type: 'outage', priority: 'critical', message: 'Checkout returns 500 for all EU customers' },
            headers: { source: 'status-page', 'x-priority': 'urgent' },
          },
          { topic: 'orders.events', partition: 2, key: 'ORD-123', value: REFERENCE.order, headers: { 'content-type': 'application/json' } },
          {
            topic: 'orders.events',
            partition: 2,
            key: 'ORD-123',
            value: { order_id: 'ORD-123', event_type: 'delivered', customer_email: 'user@example.com', details: '{"carrier":"UPS"}' },
            headers: { 'content-type': 'application/json' },
          },
          {
            topic: 'orders.events',
            partition: 0,
            key: 'ORD-124',
            value: { order_id: 'ORD-124', event_type: 'cancelled', customer_email: 'other@example.com', details: '{"reason":"out of stock"}' },
            headers: { 'content-type': 'application/json' },
          },
          { topic: 'analytics.events', partition: 0, value: REFERENCE.analytics },
          {
            topic: 'analytics.events',
            partition: 0,
            value: { metric_name: 'cart_abandonment', value: 71.2, timestamp: '2025-01-12T10:05:00Z', dimensions: '{"region":"eu-west-1"}' },
          },
        ],
        { startOffset: 500, timestamp: T0, timestampStepMs: 250 },
      ),
  },
  {
    file: 'edge-cases.json',
    title: 'a tombstone, a non-JSON value and an undecodable value',
    expect: 'tombstone skipped, plain text answered, undecodable value dead-lettered to the local DLQ',
    build: () =>
      buildMskEvent(
        [
          { topic: 'customer.profiles', key: 'CUST-001', value: null },
          { topic: 'app.logs', key: 'payment-service', value: 'WARN payment-service: retrying charge for CUST-001 (attempt 2 of 3)' },
          // Binary that no route reads (orders.events has no value_format): truly undecodable, dead-lettered.
          { topic: 'orders.events', key: 'ORD-125', value: Uint8Array.from([0x00, 0x00, 0x00, 0x00, 0x07, 0x0e, 0x4f, 0x52, 0x44, 0xff, 0xfe, 0x80]) },
        ],
        { startOffset: 3150, timestamp: T0 },
      ),
  },
  {
    file: 'schema-registry.json',
    title: 'Avro and Protobuf records, and a record the mapping deserialized with its schema registry',
    expect: 'Avro (schema 2, and 1 read through its writer schema) and Glue-framed Protobuf read by their routes; the JSON record routed with its schema metadata',
    build: () =>
      buildMskEvent(
        [
          {
            topic: 'orders.avro',
            key: 'ORD-200',
            value: confluentAvro(2, 'order.avsc', { order_id: 'ORD-200', event_type: 'shipped', customer_email: 'user@example.com', amount: 42.5, currency: 'USD' }),
          },
          {
            topic: 'orders.avro',
            key: 'ORD-201',
            value: confluentAvro(1, 'order.v1.avsc', { order_id: 'ORD-201', event_type: 'delivered', customer_email: 'other@example.com', amount: 19.99 }),
          },
          {
            topic: 'payments.proto',
            key: 'PAY-77',
            value: glueProtobuf(SAMPLE_GLUE_SCHEMA_VERSION, 'com.example.payments.Payment', {
              payment_id: 'PAY-77',
              customer_id: 'CUST-001',
              amount_cents: 4250,
              status: 'DECLINED',
              reason: 'card expired',
            }),
          },
          {
            topic: 'orders.registry',
            key: 'ORD-202',
            value: { order_id: 'ORD-202', event_type: 'created', customer_email: 'user@example.com' },
            valueSchemaMetadata: { dataFormat: 'AVRO', schemaId: '2b1d9f7e-5a3c-4e8b-9d6f-1a2b3c4d5e6f' },
          },
        ],
        { startOffset: 610, timestamp: T0 },
      ),
  },
  {
    file: 'self-managed.json',
    title: 'a self-managed Kafka event (eventSource SelfManagedKafka)',
    expect: 'handled exactly like MSK: routed and answered',
    build: () =>
      buildMskEvent(
        [
          { topic: 'orders.events', key: 'ORD-123', value: REFERENCE.order },
          { topic: 'customer.events', key: 'CUST-001', value: REFERENCE.support },
        ],
        { source: 'self-managed', bootstrapServers: 'kafka-1.internal:9092,kafka-2.internal:9092', startOffset: 42, timestamp: T0 },
      ),
  },
];

export const EVENTS_DIR = resolve(__dirname, '..', '..', 'events');

export const sampleText = (s: Sample): string => `${formatEvent(s.build())}\n`;

if (require.main === module) {
  for (const s of SAMPLES) {
    writeFileSync(join(EVENTS_DIR, s.file), sampleText(s));
    process.stdout.write(`wrote events/${s.file}\n`);
  }
}
