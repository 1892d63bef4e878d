// The in-function readers on their own: fixtures from avsc and protobufjs, framed by hand as Confluent's
// and Glue's serializers frame them.
import { deflateSync } from 'node:zlib';
import * as avro from 'avsc';
import * as protobuf from 'protobufjs';
import { compileReader, type FormatSpec } from '../../lambda/schema/codecs';
import { unframe } from '../../lambda/schema/framing';

const UUID = '11111111-2222-4333-8444-555555555555';
const glueHead = (compression = 0) => Buffer.concat([Buffer.from([3, compression]), Buffer.from(UUID.replace(/-/g, ''), 'hex')]);
const confluentHead = (id: number) => {
  const b = Buffer.alloc(5);
  b.writeUInt32BE(id, 1);
  return b;
};
const avroSpec = (o: Partial<FormatSpec> = {}): FormatSpec => ({ type: 'avro', schemaFile: 'x.avsc', framing: 'auto', ...o });

describe('framing', () => {
  test('Confluent Protobuf message indexes are zigzag varints: a count then the indexes; 0 alone is [0]', () => {
    expect(unframe(Buffer.concat([confluentHead(9), Buffer.from([0, 0xaa])]), 'auto', true)).toMatchObject({ schemaId: '9', messageIndexes: [0], payload: Buffer.from([0xaa]) });
    // count 2 -> 4, indexes 1 -> 2 and 70 -> 140 (two bytes: 0x8c 0x01)
    expect(unframe(Buffer.concat([confluentHead(9), Buffer.from([4, 2, 0x8c, 0x01, 0xbb])]), 'auto', true)).toMatchObject({ messageIndexes: [1, 70], payload: Buffer.from([0xbb]) });
  });

  test('explicit framing refuses the other kind; Glue compression 5 is zlib, a bad stream is named', () => {
    expect(() => unframe(Buffer.concat([glueHead(), Buffer.from([1])]), 'confluent', false)).toThrow('not a Confluent frame: magic byte 3, expected 0');
    expect(() => unframe(Buffer.concat([confluentHead(1), Buffer.from([1])]), 'glue', false)).toThrow('not a Glue frame: header version byte 0, expected 3');
    expect(unframe(Buffer.concat([glueHead(5), deflateSync(Buffer.from('abc'))]), 'glue', false)).toMatchObject({ registry: 'glue', schemaId: UUID, payload: Buffer.from('abc') });
    expect(() => unframe(Buffer.concat([glueHead(5), Buffer.from('not zlib')]), 'auto', false)).toThrow(/^Glue frame: zlib payload does not inflate/);
    expect(() => unframe(Buffer.alloc(0), 'auto', false)).toThrow('empty payload: no registry frame');
    expect(unframe(Buffer.from([7, 7]), 'none', false)).toEqual({ registry: null, schemaId: null, payload: Buffer.from([7, 7]) });
  });
});

describe('readers', () => {
  test('Avro bytes become base64, unions and nested records plain JSON', () => {
    const schema = { type: 'record', name: 'R', fields: [{ name: 'raw', type: 'bytes' }, { name: 'note', type: ['null', 'string'] }, { name: 'n', type: { type: 'record', name: 'N', fields: [{ name: 'v', type: 'int' }] } }] };
    const t = avro.Type.forSchema(schema as avro.Schema);
    const read = compileReader(avroSpec(), { schema: JSON.stringify(schema), writers: {} }, 'value');
    const res = read(Buffer.concat([confluentHead(3), t.toBuffer({ raw: Buffer.from([1, 2, 250]), note: 'hi', n: { v: 5 } })]));
    expect(res).toEqual({ ok: true, dataFormat: 'AVRO', schemaId: '3', value: { raw: Buffer.from([1, 2, 250]).toString('base64'), note: 'hi', n: { v: 5 } } });
    expect(JSON.stringify((res as { value: unknown }).value)).toBe(`{"raw":"AQL6","note":"hi","n":{"v":5}}`);
  });

  test('a protobufjs JSON descriptor works like a .proto; nested message indexes [0, 0]', () => {
    const root = protobuf.parse('syntax = "proto3"; package p; message Outer { message Inner { string s = 1; } Inner i = 1; }').root;
    const Inner = root.lookupType('p.Outer.Inner');
    const spec: FormatSpec = { type: 'protobuf', schemaFile: 'd.json', messageType: 'p.Outer.Inner', framing: 'confluent' };
    const read = compileReader(spec, { schema: JSON.stringify(root.toJSON()), writers: {} }, 'key');
    const payload = Buffer.from(Inner.encode({ s: 'deep' }).finish());
    expect(read(Buffer.concat([confluentHead(4), Buffer.from([4, 0, 0]), payload]))).toEqual({ ok: true, dataFormat: 'PROTOBUF', schemaId: '4', value: { s: 'deep' } });
    const wrong = read(Buffer.concat([confluentHead(4), Buffer.from([0]), payload]));
    expect(wrong).toEqual({ ok: false, reason: 'key does not match its Protobuf schema (d.json p.Outer.Inner, schema id 4): message indexes [0] name p.Outer in d.json, not p.Outer.Inner' });
  });

  test('data written with another Avro schema names the schema and the decoder error', () => {
    const schema = { type: 'record', name: 'Order', fields: [{ name: 'order_id', type: 'string' }, { name: 'amount', type: 'double' }] };
    const other = avro.Type.forSchema({ type: 'record', name: 'Click', fields: [{ name: 'x', type: 'long' }, { name: 'y', type: 'long' }, { name: 'z', type: 'long' }] });
    const read = compileReader(avroSpec({ schemaFile: 'schemas/order.avsc' }), { schema: JSON.stringify(schema), writers: {} }, 'value');
    expect(read(Buffer.concat([confluentHead(7), other.toBuffer({ x: 1, y: 2, z: 3 })]))).toEqual({
      ok: false,
      reason: 'value does not match its Avro schema (schemas/order.avsc, schema id 7): truncated buffer',
    });
  });
});
