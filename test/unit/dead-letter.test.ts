import { joinChunks, toQueueMessages, type DeadLetter, type DeadLetterBody } from '../../lambda/dead-letter';
import { shuffled } from './helpers';

const SQS_MAX = 256 * 1024;

function letter(value: string, patch: Partial<DeadLetterBody> = {}): DeadLetter {
  return {
    id: 'orders-0@42',
    partitionKey: 'orders-0',
    offset: 42,
    body: {
      version: 1,
      kind: 'permanent_failure',
      error: { class: 'task_failed', message: 'task t-1 ended failed' },
      attempts: 3,
      route: 'orders',
      agentId: 'agent-1',
      deadLetteredAt: '2025-01-01T00:00:00.000Z',
      eventSource: 'aws:kafka',
      requestId: 'req-1',
      record: {
        topic: 'orders',
        partition: 0,
        offset: 42,
        timestamp: 1_700_000_000_000,
        timestampType: 'CREATE_TIME',
        key: Buffer.from('k1').toString('base64'),
        value: Buffer.from(value).toString('base64'),
        headers: [{ type: [99, 114, 101, 97, 116, 101, 100] }],
      },
      ...patch,
    },
  };
}

interface Chunk {
  version: number;
  kind: string;
  chunk: { id: string; index: number; count: number; encoding: string };
  topic: unknown;
  partition: unknown;
  offset: unknown;
  data: string;
}

describe('toQueueMessages: small letters', () => {
  test('a small letter is one message: the JSON body itself', () => {
    const l = letter('{"id":1}');
    const msgs = toQueueMessages(l, SQS_MAX);
    expect(msgs).toHaveLength(1);
    expect(msgs[0].letterId).toBe('orders-0@42');
    expect(JSON.parse(msgs[0].body)).toEqual(l.body);
    expect(msgs[0].bytes).toBe(Buffer.byteLength(msgs[0].body, 'utf8'));
  });

  test('bytes counts UTF-8 bytes, not characters', () => {
    const l = letter('x', { error: { class: 'c', message: 'é🚀' } });
    const [m] = toQueueMessages(l, SQS_MAX);
    expect(m.bytes).toBe(Buffer.byteLength(m.body, 'utf8'));
    expect(m.bytes).toBeGreaterThan(m.body.length);
  });

  test('a body exactly at the limit is still one message; one byte less splits it', () => {
    const l = letter('v'.repeat(5000));
    const size = Buffer.byteLength(JSON.stringify(l.body), 'utf8');
    expect(toQueueMessages(l, size)).toHaveLength(1);
    const split = toQueueMessages(l, size - 1);
    expect(split.length).toBeGreaterThan(1);
    expect(joinChunks(split.map((m) => m.body))).toEqual(l.body);
  });
});

describe('toQueueMessages: large letters are chunked, never trimmed', () => {
  const value = `A large value: ${'é🚀x'.repeat(Math.ceil((3 * 1024 * 1024) / 7))} end`; // ~3 MB of multi-byte text
  const big = letter(value);
  const msgs = toQueueMessages(big, SQS_MAX);
  const chunks = msgs.map((m) => JSON.parse(m.body) as Chunk);

  test('the fixture really is over the limit', () => {
    expect(Buffer.byteLength(value)).toBeGreaterThan(3_000_000);
    expect(msgs.length).toBeGreaterThan(10);
  });

  test('every chunk is within maxBytes, and bytes is its true UTF-8 size', () => {
    for (const m of msgs) {
      expect(m.bytes).toBe(Buffer.byteLength(m.body, 'utf8'));
      expect(m.bytes).toBeLessThanOrEqual(SQS_MAX);
      expect(m.letterId).toBe(big.id);
    }
  });

  test('chunks share one id, are numbered 0..count-1 and carry the record coordinates', () => {
    const ids = new Set(chunks.map((c) => c.chunk.id));
    expect(ids.size).toBe(1);
    expect([...ids][0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(chunks.map((c) => c.chunk.index)).toEqual(chunks.map((_, i) => i));
    for (const c of chunks) {
      expect(c).toMatchObject({ version: 1, kind: 'chunk', topic: 'orders', partition: 0, offset: 42 });
      expect(c.chunk.count).toBe(chunks.length);
      expect(c.chunk.encoding).toBe('base64(json)');
      expect(c.data).toMatch(/^[A-Za-z0-9+/]*={0,2}$/);
    }
  });

  test('joinChunks in shuffled order restores the exact body', () => {
    const bodies = shuffled(msgs.map((m) => m.body), 7);
    expect(bodies.map((b) => (JSON.parse(b) as Chunk).chunk.index)).not.toEqual(chunks.map((c) => c.chunk.index)); // really shuffled
    const restored = joinChunks(bodies);
    expect(restored).toEqual(big.body);
    expect(Buffer.from(restored.record.value as string, 'base64').toString('utf8')).toBe(value);
  });

  test('the chunks together carry exactly the single-message body (nothing dropped or added)', () => {
    const data = chunks.map((c) => c.data).join('');
    expect(Buffer.from(data, 'base64').toString('utf8')).toBe(JSON.stringify(big.body));
  });

  test('a smaller queue limit gives more, smaller chunks that still rejoin', () => {
    const small = toQueueMessages(big, 64 * 1024);
    expect(small.length).toBeGreaterThan(msgs.length);
    for (const m of small) expect(m.bytes).toBeLessThanOrEqual(64 * 1024);
    expect(joinChunks(shuffled(small.map((m) => m.body), 3))).toEqual(big.body);
  });

  test('two splits of the same letter get different chunk ids (sets never mix)', () => {
    const again = toQueueMessages(big, SQS_MAX).map((m) => (JSON.parse(m.body) as Chunk).chunk.id);
    expect(again[0]).not.toBe(chunks[0].chunk.id);
  });

  test('a poison letter without coordinates chunks with null topic/partition/offset', () => {
    const l = letter(value);
    l.body.kind = 'poison';
    l.body.record = { value: l.body.record.value };
    const parts = toQueueMessages(l, SQS_MAX).map((m) => JSON.parse(m.body) as Chunk);
    expect(parts[0]).toMatchObject({ topic: null, partition: null, offset: null });
    expect(joinChunks(parts.map((p) => JSON.stringify(p)))).toEqual(l.body);
  });
});

describe('toQueueMessages: limits and errors', () => {
  test('a limit too small to carry chunks is a RangeError', () => {
    expect(() => toQueueMessages(letter('x'.repeat(10_000)), 1200)).toThrow(RangeError);
    expect(() => toQueueMessages(letter('x'.repeat(10_000)), 1200)).toThrow(/too small to carry chunks/);
  });

  test('joinChunks rejects an incomplete set', () => {
    const msgs = toQueueMessages(letter('y'.repeat(400_000)), SQS_MAX);
    expect(msgs.length).toBeGreaterThan(1);
    expect(() => joinChunks(msgs.slice(1).map((m) => m.body))).toThrow('incomplete chunk set');
    expect(() => joinChunks([])).toThrow('incomplete chunk set');
  });
});

describe('toQueueMessages: SQS-unsafe characters', () => {
  const nasty = 'before \uFFFE middle \uFFFF after \\\uFFFE';

  test('U+FFFE and U+FFFF are escaped: the body holds no raw ones and parses to the same content', () => {
    const l = letter('x', { error: { class: 'render_failed', message: nasty }, route: '\uFFFF-route' });
    const [m] = toQueueMessages(l, SQS_MAX);
    expect(m.body).not.toMatch(/[\uFFFE\uFFFF]/);
    expect(m.body).toContain('\\ufffe');
    expect(m.body).toContain('\\uffff');
    const parsed = JSON.parse(m.body) as DeadLetterBody;
    expect(parsed).toEqual(l.body);
    expect(parsed.error.message).toBe(nasty);
  });

  test('escaped characters also survive chunking', () => {
    const l = letter('z'.repeat(500_000), { error: { class: 'c', message: nasty.repeat(1000) } });
    const msgs = toQueueMessages(l, SQS_MAX);
    expect(msgs.length).toBeGreaterThan(1);
    for (const m of msgs) expect(m.body).not.toMatch(/[\uFFFE\uFFFF]/);
    expect(joinChunks(shuffled(msgs.map((m) => m.body), 11))).toEqual(l.body);
  });

  test('other characters (astral, lone surrogates, controls) stay valid JSON', () => {
    const weird = '🚀 \uD800 \u0000 \u001f \u2028 ok';
    const l = letter('x', { error: { class: 'c', message: weird } });
    const [m] = toQueueMessages(l, SQS_MAX);
    expect((JSON.parse(m.body) as DeadLetterBody).error.message).toBe(weird);
    // Lone surrogates and control characters are escaped by JSON.stringify itself.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the assertion is that no raw control character is left
    expect(m.body).not.toMatch(/[\u0000-\u001f]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  });
});
