import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { deliveryKey, messageIds, uuidV5 } from '../../lambda/deliver/ids';

const UUID_V5 = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Independent RFC 4122 §4.3 / RFC 9562 §5.5 implementation, to cross-check the algorithm. */
function referenceV5(namespace: string, name: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const hash = createHash('sha1').update(Buffer.concat([ns, Buffer.from(name, 'utf8')])).digest();
  const b = Buffer.from(hash.subarray(0, 16));
  b[6] = (b[6] & 0x0f) | 0x50; // version 5
  b[8] = (b[8] & 0x3f) | 0x80; // variant 10xx
  const h = b.toString('hex');
  return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)].join('-');
}

// The product's fixed namespace. Pinned on purpose: changing it changes every messageId, and neither an agent
// nor the idempotency store would then recognise a redelivery across a deployment.
const NAMESPACE = '6f1c1c8e-2b7a-4f0c-9a55-d1f3c0b2a7e4';

describe('uuidV5', () => {
  test('is a lowercase RFC 4122 v5 UUID string: version nibble 5, variant 10xx', () => {
    const id = uuidV5('orders-0-5#orders');
    expect(id).toMatch(UUID_V5);
    const bytes = Buffer.from(id.replace(/-/g, ''), 'hex');
    expect(bytes).toHaveLength(16);
    expect(bytes[6] >> 4).toBe(5);
    expect(bytes[8] >> 6).toBe(0b10);
  });

  test('matches an independent v5 implementation with the product namespace', () => {
    for (const name of ['', 'orders-0-5#orders', 'my-topic-name-3-99#vip', 'ünïcødé 🚀']) {
      expect(uuidV5(name)).toBe(referenceV5(NAMESPACE, name));
    }
  });

  test('is deterministic', () => {
    expect(uuidV5('x')).toBe(uuidV5('x'));
  });

  test('property: always a valid v5 UUID, deterministic, and distinct names give distinct ids', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 100 }), fc.string({ unit: 'binary', maxLength: 100 }), (a, b) => {
        expect(uuidV5(a)).toMatch(UUID_V5);
        expect(uuidV5(a)).toBe(uuidV5(a));
        if (a !== b) expect(uuidV5(a)).not.toBe(uuidV5(b));
      }),
      { numRuns: 300 },
    );
  });
});

describe('deliveryKey and messageIds', () => {
  const coords = { topic: 'orders', partition: 2, offset: 41 };

  test('deliveryKey is <topic>-<partition>-<offset>#<route>', () => {
    expect(deliveryKey(coords, 'vip')).toBe('orders-2-41#vip');
    expect(deliveryKey({ topic: 'my-topic-name', partition: 3, offset: 0 }, 'r')).toBe('my-topic-name-3-0#r');
  });

  test('rpcId is "kafka:" + the delivery key; messageId is the v5 UUID of the delivery key', () => {
    expect(messageIds(coords, 'vip')).toEqual({ rpcId: 'kafka:orders-2-41#vip', messageId: uuidV5('orders-2-41#vip') });
  });

  test('the same record and route always give the same ids (a redelivery is recognisable)', () => {
    expect(messageIds({ ...coords }, 'vip')).toEqual(messageIds(coords, 'vip'));
  });

  test('different routes, offsets, partitions or topics give different ids', () => {
    const base = messageIds(coords, 'vip');
    const variants = [
      messageIds(coords, 'std'),
      messageIds({ ...coords, offset: 42 }, 'vip'),
      messageIds({ ...coords, partition: 3 }, 'vip'),
      messageIds({ ...coords, topic: 'payments' }, 'vip'),
    ];
    for (const v of variants) {
      expect(v.rpcId).not.toBe(base.rpcId);
      expect(v.messageId).not.toBe(base.messageId);
      expect(v.messageId).toMatch(UUID_V5);
    }
    expect(new Set(variants.map((v) => v.messageId)).size).toBe(variants.length);
  });

  test('ids of a batch of consecutive offsets are all distinct', () => {
    const ids = Array.from({ length: 1000 }, (_, offset) => messageIds({ topic: 'orders', partition: 0, offset }, 'r').messageId);
    expect(new Set(ids).size).toBe(1000);
  });
});
