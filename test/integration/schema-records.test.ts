// Avro and Protobuf records read in the function, and records the mapping deserialized with a registry:
// fixtures made here by the real encoders (avsc, protobufjs), framed as Confluent's and Glue's serializers
// frame them, sent through the real pipeline to the Archestra simulator, dead letters to the local DLQ sink.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import * as avro from 'avsc';
import * as protobuf from 'protobufjs';
import { startArchestraSim, type ArchestraSim } from '../../sim/archestra';
import { createLocalDeadLetterSink, type LocalDeadLetterSink } from '../../scripts/lib/local-dlq';
import { loadSettings } from '../../lambda/config/settings';
import { loadReaders } from '../../lambda/schema/load';
import { makeBridge } from '../support/bridge';
import { mskEvent } from '../support/kafka';

const TOKEN = 'tok-schema-7d1e';
const AGENT = '5a0c6f0e-3a43-4d4e-9f57-6d1b1c0e2a11';
const GLUE_V1 = '0b1e2d3c-4b5a-4697-8877-665544332211';
const GLUE_V2 = 'f0e1d2c3-b4a5-4697-8877-a1b2c3d4e5f6';

const ORDER_V1 = { type: 'record', name: 'Order', namespace: 'acme', fields: [{ name: 'order_id', type: 'string' }, { name: 'amount', type: 'double' }] };
const ORDER_V2 = {
  ...ORDER_V1,
  fields: [...ORDER_V1.fields, { name: 'currency', type: 'string', default: 'EUR' }, { name: 'status', type: { type: 'enum', name: 'Status', symbols: ['NEW', 'PAID'] }, default: 'NEW' }],
};
const OTHER = { type: 'record', name: 'Click', fields: [{ name: 'x', type: 'long' }, { name: 'y', type: 'long' }, { name: 'z', type: 'long' }] };
const PROTO = `syntax = "proto3";
package acme.payments;
message PaymentKey { string payment_id = 1; }
message Payment {
  string payment_id = 1;
  int64 amount_cents = 2;
  enum State { PENDING = 0; SETTLED = 1; }
  State state = 3;
  repeated string tags = 4;
  message Card { string last4 = 1; }
  Card card = 5;
}`;
// The same message before tags and card were added: an older schema version.
const PROTO_OLD = `syntax = "proto3"; package acme.payments; message PaymentKey { string payment_id = 1; }
message Payment { string payment_id = 1; int64 amount_cents = 2; enum State { PENDING = 0; SETTLED = 1; } State state = 3; }`;

const v1 = avro.Type.forSchema(ORDER_V1 as avro.Schema);
const v2 = avro.Type.forSchema(ORDER_V2 as avro.Schema);
const other = avro.Type.forSchema(OTHER as avro.Schema);
const pb = protobuf.parse(PROTO, { keepCase: true }).root;
const pbOld = protobuf.parse(PROTO_OLD, { keepCase: true }).root;
const Payment = pb.lookupType('acme.payments.Payment');
const PaymentKey = pb.lookupType('acme.payments.PaymentKey');

const zigzag = (n: number) => {
  let v = n >= 0 ? n * 2 : -n * 2 - 1;
  const out: number[] = [];
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
};
/** Confluent: magic byte 0, the schema id as a big-endian int32, then (Protobuf) the message indexes. */
function confluent(id: number, payload: Buffer, indexes?: number[]): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(id, 1);
  const idx = indexes === undefined ? [] : indexes.length === 1 && indexes[0] === 0 ? [0] : [...zigzag(indexes.length), ...indexes.flatMap(zigzag)];
  return Buffer.concat([head, Buffer.from(idx), payload]);
}
/** Glue: header version 3, compression (0 none, 5 zlib), the 16-byte schema version UUID, then the payload. */
function glue(uuid: string, payload: Buffer, zlib = false): Buffer {
  return Buffer.concat([Buffer.from([3, zlib ? 5 : 0]), Buffer.from(uuid.replace(/-/g, ''), 'hex'), zlib ? deflateSync(payload) : payload]);
}

let sim: ArchestraSim;
let dir: string;
let dlqDir: string;
let dlq: LocalDeadLetterSink;

const ROUTES = [
  {
    name: 'orders-paid',
    topic_pattern: 'orders.avro',
    field_match: { status: 'PAID' },
    prompt_id: AGENT,
    transform_template: 'PAID {order_id}: {amount} {currency} ({$value_format} schema {$value_schema_id})',
    value_format: { type: 'avro', schema_file: 'schemas/order.avsc', writer_schemas: { '1': 'schemas/order.v1.avsc', [GLUE_V1]: 'schemas/order.v1.avsc' } },
  },
  {
    name: 'orders',
    topic_pattern: 'orders.avro',
    prompt_id: AGENT,
    transform_template: 'Order {order_id}: {amount} {currency} status {status} ({$value_format} schema {$value_schema_id})',
    value_format: { type: 'avro', schema_file: 'schemas/order.avsc', writer_schemas: { '1': 'schemas/order.v1.avsc', [GLUE_V1]: 'schemas/order.v1.avsc' } },
  },
  {
    name: 'payments',
    topic_pattern: 'payments.proto',
    prompt_id: AGENT,
    transform_template: 'Payment {payment_id} key {$key} ({$key_format}): {amount_cents} cents {state} tags {tags} card {card.last4} ({$value_format} {$value_schema_id})',
    value_format: { type: 'protobuf', schema_file: 'schemas/payment.proto', message_type: 'acme.payments.Payment' },
    key_format: { type: 'protobuf', schema_file: 'schemas/payment.proto', message_type: 'acme.payments.PaymentKey', framing: 'none' },
  },
  {
    name: 'registry-json',
    topic_pattern: 'orders.json',
    prompt_id: AGENT,
    on_missing: 'fail',
    transform_template: 'Order {order_id} ({$value_format} schema {$value_schema_id}, key {$key_format}) {required_field}',
  },
  { name: 'text', topic_pattern: 'plain', prompt_id: AGENT },
];

beforeAll(async () => {
  sim = await startArchestraSim({ tokens: [TOKEN] });
  dir = mkdtempSync(join(tmpdir(), 'schema-routes-'));
  const schemas = join(dir, 'schemas');
  require('node:fs').mkdirSync(schemas);
  writeFileSync(join(schemas, 'order.avsc'), JSON.stringify(ORDER_V2));
  writeFileSync(join(schemas, 'order.v1.avsc'), JSON.stringify(ORDER_V1));
  writeFileSync(join(schemas, 'payment.proto'), PROTO);
  writeFileSync(join(dir, 'routes.json'), JSON.stringify(ROUTES));
});
afterAll(async () => {
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  sim.clear();
  dlqDir = mkdtempSync(join(tmpdir(), 'schema-dlq-'));
  dlq = createLocalDeadLetterSink(dlqDir);
});
afterEach(() => rmSync(dlqDir, { recursive: true, force: true }));

const bridge = () => makeBridge({ ROUTES_CONFIG_FILE: join(dir, 'routes.json'), ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN }, { deadLetters: dlq });
const letters = () => readdirSync(dlqDir).sort().map((f) => JSON.parse(readFileSync(join(dlqDir, f), 'utf8')));
const sentTexts = () => sim.requests.filter((r) => r.text !== undefined).map((r) => r.text!);

describe('in-function Avro', () => {
  test('Confluent and Glue frames (zlib too) route, match fields on the deserialized value and render; an older writer schema resolves', async () => {
    const b = bridge();
    const event = mskEvent([
      { topic: 'orders.avro', partition: 0, offset: 1, value: confluent(2, v2.toBuffer({ order_id: 'A-1', amount: 12.5, currency: 'USD', status: 'PAID' })) },
      { topic: 'orders.avro', partition: 0, offset: 2, value: glue(GLUE_V2, v2.toBuffer({ order_id: 'A-2', amount: 3, currency: 'GBP', status: 'NEW' }), true) },
      // Written with v1 (no currency, no status): read through the v1 writer schema into v2's defaults.
      { topic: 'orders.avro', partition: 0, offset: 3, value: confluent(1, v1.toBuffer({ order_id: 'A-3', amount: 7 })) },
      { topic: 'orders.avro', partition: 0, offset: 4, value: glue(GLUE_V1, v1.toBuffer({ order_id: 'A-4', amount: 8 })) },
    ]);
    const res = await b.run(event);
    expect(res.response).toEqual({ batchItemFailures: [] });
    expect(res.outcomes.map((o) => [o.offset, o.route, o.status])).toEqual([
      [1, 'orders-paid', 'delivered'],
      [2, 'orders', 'delivered'],
      [3, 'orders', 'delivered'],
      [4, 'orders', 'delivered'],
    ]);
    expect(sentTexts().sort()).toEqual([
      'Order A-2: 3 GBP status NEW (AVRO schema f0e1d2c3-b4a5-4697-8877-a1b2c3d4e5f6)',
      `Order A-3: 7 EUR status NEW (AVRO schema 1)`,
      `Order A-4: 8 EUR status NEW (AVRO schema ${GLUE_V1})`,
      'PAID A-1: 12.5 USD (AVRO schema 2)',
    ]);
  });

  test('a corrupt frame and a wrong schema are dead-lettered with the schema problem; the rest of the batch is delivered', async () => {
    const b = bridge();
    const event = mskEvent([
      { topic: 'orders.avro', partition: 0, offset: 10, value: Buffer.from([0, 0, 0]) }, // truncated Confluent header
      { topic: 'orders.avro', partition: 0, offset: 11, value: glue(GLUE_V2, v2.toBuffer({ order_id: 'B', amount: 1, currency: 'EUR', status: 'NEW' })).fill(9, 1, 2) },
      { topic: 'orders.avro', partition: 0, offset: 12, value: confluent(7, other.toBuffer({ x: 1, y: 2, z: 3 })) }, // another schema's record
      { topic: 'orders.avro', partition: 0, offset: 13, value: Buffer.from([0x42, 0xff, 0xfe]) }, // no frame at all
      { topic: 'orders.avro', partition: 0, offset: 14, value: confluent(2, v2.toBuffer({ order_id: 'OK', amount: 1, currency: 'EUR', status: 'NEW' })) },
    ]);
    const res = await b.run(event);
    expect(res.response).toEqual({ batchItemFailures: [] });
    expect(res.outcomes.map((o) => [o.offset, o.status, o.code])).toEqual([
      [10, 'dead_lettered', 'schema_error'],
      [11, 'dead_lettered', 'schema_error'],
      [12, 'dead_lettered', 'schema_error'],
      [13, 'dead_lettered', 'schema_error'],
      [14, 'delivered', undefined],
    ]);
    const ls = letters();
    expect(ls.map((l) => [l.record.offset, l.kind, l.error.class])).toEqual([
      [10, 'poison', 'schema_error'],
      [11, 'poison', 'schema_error'],
      [12, 'poison', 'schema_error'],
      [13, 'poison', 'schema_error'],
    ]);
    const reasons = ls.map((l) => l.error.message);
    expect(reasons[0]).toBe('route "orders-paid": value does not match its Avro schema (schemas/order.avsc): Confluent frame: 3 bytes, shorter than its 5-byte header');
    expect(reasons[1]).toMatch(/^route "orders-paid": value does not match its Avro schema \(schemas\/order\.avsc\): Glue frame: unknown compression byte 9$/);
    expect(reasons[2]).toMatch(/^route "orders-paid": value does not match its Avro schema \(schemas\/order\.avsc, schema id 7\): /);
    expect(reasons[3]).toMatch(/no registry frame: first byte 66/);
    // The letter keeps the record as it arrived: base64 value, replayable.
    expect(ls[2].record.value).toBe(confluent(7, other.toBuffer({ x: 1, y: 2, z: 3 })).toString('base64'));
  });
});

describe('a record read with its route\'s schema, then refused by the agent', () => {
  test('its dead letter keeps the schema the route read it with, and the value exactly as Kafka held it', async () => {
    const b = bridge();
    sim.setBehaviour((r) => (r.text?.startsWith('Order R-1') ? { kind: 'http', status: 400 } : undefined));
    try {
      const value = confluent(2, v2.toBuffer({ order_id: 'R-1', amount: 5, currency: 'EUR', status: 'NEW' }));
      const res = await b.run(mskEvent([{ topic: 'orders.avro', partition: 0, offset: 20, value }]));
      expect(res.outcomes.map((o) => [o.status, o.code])).toEqual([['dead_lettered', 'http_400']]);
      const [letter] = letters();
      expect(letter).toMatchObject({ kind: 'permanent_failure', error: { class: 'http_400' }, route: 'orders' });
      expect(letter.record).toMatchObject({ offset: 20, value: value.toString('base64'), valueSchemaMetadata: { dataFormat: 'AVRO', schemaId: '2' } });
    } finally {
      sim.setBehaviour(undefined);
    }
  });
});

describe('in-function Protobuf', () => {
  test('Confluent message indexes and Glue frames; a key read unframed; an older message version reads with defaults', async () => {
    const b = bridge();
    const msg = (o: object) => Buffer.from(Payment.encode(Payment.fromObject(o)).finish());
    const OldPayment = pbOld.lookupType('acme.payments.Payment');
    const key = Buffer.from(PaymentKey.encode({ payment_id: 'P-1' }).finish());
    const event = mskEvent([
      { topic: 'payments.proto', partition: 0, offset: 1, key: key.toString('latin1'), value: confluent(31, msg({ payment_id: 'P-1', amount_cents: '1099', state: 1, tags: ['eu', 'card'], card: { last4: '4242' } }), [1]) },
      { topic: 'payments.proto', partition: 0, offset: 2, value: glue(GLUE_V2, msg({ payment_id: 'P-2', amount_cents: 5, card: { last4: '0005' } })) },
      { topic: 'payments.proto', partition: 0, offset: 3, value: confluent(30, Buffer.from(OldPayment.encode(OldPayment.fromObject({ payment_id: 'P-3', amount_cents: 1 })).finish()), [1]) },
    ]);
    // The test helper sends a string key as UTF-8; the protobuf key bytes are ASCII here, so latin1 round-trips.
    const res = await b.run(event);
    expect(res.response).toEqual({ batchItemFailures: [] });
    expect(res.outcomes.map((o) => o.status)).toEqual(['delivered', 'delivered', 'delivered']);
    expect(sentTexts()).toEqual([
      'Payment P-1 key {"payment_id":"P-1"} (PROTOBUF): 1099 cents SETTLED tags ["eu","card"] card 4242 (PROTOBUF 31)',
      `Payment P-2 key {$key} ({$key_format}): 5 cents PENDING tags [] card 0005 (PROTOBUF ${GLUE_V2})`,
      'Payment P-3 key {$key} ({$key_format}): 1 cents PENDING tags [] card {card.last4} (PROTOBUF 30)',
    ]);
  });

  test('message indexes naming another message are a schema problem, dead-lettered with the reason', async () => {
    const b = bridge();
    const event = mskEvent([
      { topic: 'payments.proto', partition: 0, offset: 5, value: confluent(31, Buffer.from(PaymentKey.encode({ payment_id: 'x' }).finish()), [0]) },
      { topic: 'payments.proto', partition: 0, offset: 6, value: confluent(31, Buffer.from([0x0a, 0x50]), [1]) }, // length 80, 0 bytes follow
    ]);
    const res = await b.run(event);
    expect(res.response).toEqual({ batchItemFailures: [] });
    const ls = letters();
    expect(ls.map((l) => l.error.message)).toEqual([
      'route "payments": value does not match its Protobuf schema (schemas/payment.proto acme.payments.Payment, schema id 31): message indexes [0] name acme.payments.PaymentKey in schemas/payment.proto, not acme.payments.Payment',
      expect.stringMatching(/^route "payments": value does not match its Protobuf schema \(schemas\/payment\.proto acme\.payments\.Payment, schema id 31\): index out of range/),
    ]);
  });
});

describe('records the mapping deserialized (EventRecordFormat JSON)', () => {
  test('route and render like JSON, with {$value_format} and {$value_schema_id}; a dead letter keeps the schema metadata', async () => {
    const b = bridge();
    const event = mskEvent([
      { topic: 'orders.json', partition: 0, offset: 1, value: { order_id: 'J-1', required_field: 'present' } },
      { topic: 'orders.json', partition: 0, offset: 2, value: { order_id: 'J-2' } },
    ]) as { records: Record<string, Array<Record<string, unknown>>> };
    for (const r of event.records['orders.json-0']) {
      r.valueSchemaMetadata = { dataFormat: 'AVRO', schemaId: GLUE_V1 };
      r.keySchemaMetadata = { dataFormat: 'JSON', schemaId: '12' };
    }
    const res = await b.run(event);
    expect(res.outcomes.map((o) => o.status)).toEqual(['delivered', 'dead_lettered']);
    expect(sentTexts()).toEqual([`Order J-1 (AVRO schema ${GLUE_V1}, key JSON) present`]);
    expect(letters()[0].record).toMatchObject({
      offset: 2,
      valueSchemaMetadata: { dataFormat: 'AVRO', schemaId: GLUE_V1 },
      keySchemaMetadata: { dataFormat: 'JSON', schemaId: '12' },
    });
  });
});

describe('a binary value no route reads', () => {
  test('is poison with the reason it always had (undecodable, not UTF-8 text), whatever else the batch holds', async () => {
    const b = bridge();
    const event = mskEvent([
      { topic: 'plain', partition: 0, offset: 1, value: Buffer.from([0x00, 0x00, 0x00, 0x00, 0x07, 0xff, 0xfe]) },
      { topic: 'plain', partition: 0, offset: 2, value: 'hello' },
    ]);
    const res = await b.run(event);
    expect(res.outcomes.map((o) => [o.offset, o.status, o.code, o.route])).toEqual([
      [1, 'dead_lettered', 'poison', null],
      [2, 'delivered', undefined, 'text'],
    ]);
    expect(letters()[0]).toMatchObject({ kind: 'poison', error: { class: 'undecodable', message: 'undecodable record: value is not valid UTF-8 text' } });
  });
});

describe('schema files are checked at cold start', () => {
  const settingsWith = (routes: unknown[]) => {
    writeFileSync(join(dir, 'bad-routes.json'), JSON.stringify(routes));
    return loadSettings({ ROUTES_CONFIG_FILE: join(dir, 'bad-routes.json'), ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN });
  };
  test.each([
    [{ type: 'avro', schema_file: 'schemas/missing.avsc' }, /route "r": value_format: cannot read schemas\/missing\.avsc: ENOENT/],
    [{ type: 'avro', schema_file: 'schemas/payment.proto' }, /route "r": value_format: schemas\/payment\.proto: not a valid Avro schema/],
    [{ type: 'protobuf', schema_file: 'schemas/payment.proto', message_type: 'acme.payments.Nope' }, /route "r": value_format: schemas\/payment\.proto: no such type: acme\.payments\.Nope/],
    [{ type: 'avro', schema_file: 'schemas/order.v1.avsc', writer_schemas: { '9': 'schemas/payment.proto' } }, /not a valid Avro schema/],
  ])('%j fails', (format, message) => {
    const s = settingsWith([{ name: 'r', topic_pattern: 't', prompt_id: AGENT, value_format: format }]);
    expect(() => loadReaders(s.routes, s.routesDir)).toThrow(message);
  });
});
