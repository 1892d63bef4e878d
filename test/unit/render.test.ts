import fc from 'fast-check';
import { parseRoutes, RouteConfigError, type RouteInput } from '../../lambda/config/routes';
import { decodeEvent } from '../../lambda/decode';
import { compileRenderer, truncateUtf8, type RenderResult } from '../../lambda/render';
import { checkTemplate, parseTemplate, TemplateError } from '../../lambda/template';
import { jsonRecord, mskEvent, rawRecord, record, route } from './helpers';

const BIG = 1024 * 1024;

/** Renders `rec` with a route built from `input`; expects success and returns the text. */
function text(input: Partial<RouteInput>, rec = record(), maxBytes = BIG): string {
  const res = compileRenderer(route(input), maxBytes)(rec);
  if (!res.ok) throw new Error(`render failed: ${res.reason}`);
  return res.text;
}

const tpl = (transform_template: string, rec = record(), extra: Partial<RouteInput> = {}) => text({ transform_template, ...extra }, rec);

const order = {
  id: 'o-17',
  total: 99.5,
  paid: true,
  note: null,
  customer: { name: 'Ada', tier: 'gold' },
  items: [
    { sku: 'A-1', qty: 2 },
    { sku: 'B-2', qty: 1 },
  ],
};

describe('parseTemplate', () => {
  test('splits literals and placeholders, meta placeholders flagged', () => {
    expect(parseTemplate('Order {id} on {$topic}.')).toEqual([
      { literal: 'Order ' },
      { placeholder: 'id', meta: false, path: ['id'] },
      { literal: ' on ' },
      { placeholder: '$topic', meta: true, path: ['topic'] },
      { literal: '.' },
    ]);
  });

  test('"{{" and "}}" are literal braces, also directly around a placeholder', () => {
    expect(parseTemplate('{{x}} {{{id}}}')).toEqual([{ literal: '{x} {' }, { placeholder: 'id', meta: false, path: ['id'] }, { literal: '}' }]);
  });

  test('an empty template has no parts', () => {
    expect(parseTemplate('')).toEqual([]);
  });

  test.each([
    ['{id', /unclosed "\{" at position 0/],
    ['a {b {c}', /unclosed "\{" at position 2/],
    ['a } b', /unmatched "\}" at position 2/],
    ['{id}}}}', /unmatched "\}" at position 6/],
    ['x {} y', /empty placeholder "\{\}" at position 2/],
    ['{   }', /empty placeholder/],
  ])('%p is a TemplateError', (t, msg) => {
    expect(() => parseTemplate(t)).toThrow(TemplateError);
    expect(() => parseTemplate(t)).toThrow(msg);
  });

  test('checkTemplate accepts every known metadata placeholder', () => {
    expect(checkTemplate('{$topic}{$partition}{$offset}{$key}{$timestamp}{$timestamp_iso}{$value}{$headers.x-y.z}')).toBeUndefined();
  });

  test.each([
    ['{$nope}', /unknown metadata placeholder \{\$nope\}; known: \{\$topic\}/],
    ['{$headers}', /\{\$headers\} needs a header name/],
    ['{$Topic}', /unknown metadata placeholder/],
    ['{a', /unclosed/],
  ])('checkTemplate(%p) explains the problem', (t, msg) => {
    expect(checkTemplate(t)).toMatch(msg);
  });
});

describe('render: JSON fields', () => {
  const rec = jsonRecord(order);

  test('top-level and nested paths', () => {
    expect(tpl('{id} for {customer.name} ({customer.tier})', rec)).toBe('o-17 for Ada (gold)');
  });

  test('array positions: {items.0.sku} and {items.1.qty}', () => {
    expect(tpl('{items.0.sku} x{items.0.qty}, {items.1.sku} x{items.1.qty}', rec)).toBe('A-1 x2, B-2 x1');
  });

  test('strings are inserted raw (no quotes), numbers/booleans/null as JSON', () => {
    expect(tpl('{id}|{total}|{paid}|{note}', rec)).toBe('o-17|99.5|true|null');
  });

  test('objects and arrays are inserted as compact JSON', () => {
    expect(tpl('{customer}', rec)).toBe('{"name":"Ada","tier":"gold"}');
    expect(tpl('{items}', rec)).toBe('[{"sku":"A-1","qty":2},{"sku":"B-2","qty":1}]');
    expect(tpl('{items.0}', rec)).toBe('{"sku":"A-1","qty":2}');
  });

  test('an empty string field renders as nothing (it is present, not missing)', () => {
    expect(tpl('[{s}]', jsonRecord({ s: '' }))).toBe('[]');
  });

  test('literal braces around values', () => {
    expect(tpl('{{"id": "{id}"}}', rec)).toBe('{"id": "o-17"}');
  });

  test('a template of literals only', () => {
    expect(tpl('static text', rec)).toBe('static text');
  });

  test('an empty template renders the empty string', () => {
    expect(tpl('', rec)).toBe('');
  });

  test('multi-line templates keep their newlines', () => {
    expect(tpl('Order {id}\nTier: {customer.tier}\n', rec)).toBe('Order o-17\nTier: gold\n');
  });
});

describe('render: metadata placeholders', () => {
  const rec = record({
    topic: 'orders.eu',
    partition: 3,
    offset: 1234,
    key: 'cust-9',
    timestamp: Date.UTC(2024, 0, 2, 3, 4, 5, 678),
    value: '{"a":1}',
    headers: { 'x-trace.id': 'tr-1', 'content-type': 'application/json', plain: 'p' },
  });

  test.each([
    ['{$topic}', 'orders.eu'],
    ['{$partition}', '3'],
    ['{$offset}', '1234'],
    ['{$key}', 'cust-9'],
    ['{$timestamp}', String(Date.UTC(2024, 0, 2, 3, 4, 5, 678))],
    ['{$timestamp_iso}', '2024-01-02T03:04:05.678Z'],
    ['{$value}', '{"a":1}'],
    ['{$headers.plain}', 'p'],
    ['{$headers.x-trace.id}', 'tr-1'],
    ['{$headers.content-type}', 'application/json'],
  ])('%s -> %p', (t, expected) => {
    expect(tpl(t, rec)).toBe(expected);
  });

  test('partition 0 and offset 0 render as "0", not as missing', () => {
    expect(tpl('{$partition}/{$offset}', record({ partition: 0, offset: 0 }), { on_missing: 'fail' })).toBe('0/0');
  });

  test('{$value} is the raw text even for a non-JSON value', () => {
    expect(tpl('got: {$value}', record({ value: 'plain text' }))).toBe('got: plain text');
  });

  test('metadata and JSON fields mix', () => {
    expect(tpl('[{$topic}#{$offset}] {a}', rec)).toBe('[orders.eu#1234] 1');
  });

  test.each([
    ['{$key}', record({ key: null })],
    ['{$timestamp}', record({ timestamp: null })],
    ['{$timestamp_iso}', record({ timestamp: null })],
    ['{$value}', record({ value: null })],
    ['{$headers.absent}', record({ headers: {} })],
    ['{$headers.toString}', record({ headers: {} })], // an inherited name is not a header
  ])('%s with nothing to show is missing (on_missing fail)', (t, r) => {
    const res = compileRenderer(route({ transform_template: t, on_missing: 'fail' }), BIG)(r);
    expect(res).toEqual({ ok: false, reason: `template field ${t} is missing` });
  });

  // new Date(ts).toISOString() throws for timestamps outside Date's range (e.g. Long.MAX_VALUE).
  // The renderer turns any throw into a failure, so "does not throw" proves nothing: the placeholder must be
  // treated as missing, like an absent timestamp.
  test('{$timestamp_iso} with an out-of-range timestamp is missing, not a render failure', () => {
    // biome-ignore lint/correctness/noPrecisionLoss: Long.MAX_VALUE as Lambda's JSON delivers it, rounded on purpose
    const r = record({ timestamp: 9_223_372_036_854_775_807 });
    expect(compileRenderer(route({ transform_template: 'at {$timestamp_iso}', on_missing: 'fail' }), BIG)(r)).toEqual({
      ok: false,
      reason: 'template field {$timestamp_iso} is missing',
    });
    expect(tpl('at {$timestamp_iso} ({$timestamp})', r)).toBe('at {$timestamp_iso} (9223372036854776000)');
    expect(tpl('at {$timestamp_iso}.', r, { on_missing: 'empty' })).toBe('at .');
  });
});

describe('render: on_missing', () => {
  const rec = jsonRecord({ a: 1, o: { b: 2 } });
  const t = 'a={a} x={x} deep={o.c.d} idx={o.0} h={$headers.h}';

  test('keep (the default) leaves the placeholder as written', () => {
    expect(text({ transform_template: t }, rec)).toBe('a=1 x={x} deep={o.c.d} idx={o.0} h={$headers.h}');
    expect(route({ transform_template: t }).onMissing).toBe('keep');
  });

  test('empty drops missing placeholders', () => {
    expect(text({ transform_template: t, on_missing: 'empty' }, rec)).toBe('a=1 x= deep= idx= h=');
  });

  test('fail gives ok:false naming the first missing placeholder', () => {
    expect(compileRenderer(route({ transform_template: t, on_missing: 'fail' }), BIG)(rec)).toEqual({ ok: false, reason: 'template field {x} is missing' });
  });

  test('fail succeeds when everything is present', () => {
    expect(text({ transform_template: '{a}-{o.b}', on_missing: 'fail' }, rec)).toBe('1-2');
  });

  test('a field of a non-JSON value is missing', () => {
    expect(text({ transform_template: '{a}', on_missing: 'keep' }, record({ value: 'a=1' }))).toBe('{a}');
  });

  test('a field of a tombstone is missing; with on_missing empty only literals stay', () => {
    expect(text({ transform_template: 'deleted {id} ({$key})', on_missing: 'empty' }, record({ value: null, key: 'k9' }))).toBe('deleted  (k9)');
  });

  test('an array index out of range, and a non-numeric index into an array, are missing', () => {
    const r = jsonRecord({ items: [{ sku: 'A' }] });
    expect(text({ transform_template: '{items.5.sku}|{items.first}|{items.-1}|{items.01}', on_missing: 'keep' }, r)).toBe(
      '{items.5.sku}|{items.first}|{items.-1}|{items.01}',
    );
  });

  test('a path through a scalar is missing', () => {
    expect(text({ transform_template: '{a.b}', on_missing: 'empty' }, jsonRecord({ a: 'str' }))).toBe('');
  });

  test('inherited object properties are not fields', () => {
    expect(text({ transform_template: '{constructor}|{toString}', on_missing: 'empty' }, jsonRecord({}))).toBe('|');
  });
});

describe('render: no template', () => {
  test('a JSON value is pretty-printed with 2 spaces', () => {
    const json = { a: 1, b: [1, { c: 'd' }], e: null };
    expect(text({}, jsonRecord(json))).toBe(JSON.stringify(json, null, 2));
    expect(text({}, jsonRecord(json))).toBe('{\n  "a": 1,\n  "b": [\n    1,\n    {\n      "c": "d"\n    }\n  ],\n  "e": null\n}');
  });

  test('compact JSON input comes out re-indented', () => {
    expect(text({}, record({ value: '[1,2]' }))).toBe('[\n  1,\n  2\n]');
  });

  test('a JSON number comes out as its JSON text', () => {
    expect(text({}, record({ value: '42' }))).toBe('42');
  });

  test('a text value is sent as is', () => {
    expect(text({}, record({ value: '  hello\n  world ' }))).toBe('  hello\n  world ');
  });

  test('a tombstone renders as the empty string', () => {
    expect(text({}, record({ value: null }))).toBe('');
  });

  test('a JSON string value is sent as its content, without quotes', () => {
    const [rec] = decodeEvent(mskEvent({ 'orders-0': [rawRecord({ value: '"hello"' })] })).records;
    expect(compileRenderer(route({}), BIG)(rec)).toEqual({ ok: true, text: 'hello' });
  });

  // A deeply nested value must not reach JSON.stringify in render (it would overflow the stack).
  test('a 100k-level nested JSON value (decoded from an event) renders without throwing', () => {
    const value = '['.repeat(100_000) + ']'.repeat(100_000);
    const [rec] = decodeEvent(mskEvent({ 'orders-0': [rawRecord({ value })] })).records;
    let res: RenderResult | undefined;
    expect(() => {
      res = compileRenderer(route({}), 64 * BIG)(rec);
    }).not.toThrow();
    expect(res).toEqual({ ok: true, text: value });
  });
});

describe('render: MAX_TEXT_BYTES', () => {
  const value = 'é'.repeat(50); // 100 bytes, 50 characters

  test('text exactly at the limit passes untouched', () => {
    expect(compileRenderer(route({}), 100)(record({ value }))).toEqual({ ok: true, text: value });
  });

  test('over the limit with on_oversize dead_letter (the default) is ok:false with both sizes', () => {
    const r = route({});
    expect(r.onOversize).toBe('dead_letter');
    expect(compileRenderer(r, 99)(record({ value }))).toEqual({ ok: false, reason: 'rendered text is 100 bytes, over MAX_TEXT_BYTES 99' });
  });

  test('the limit applies to the rendered text, not the record value', () => {
    const big = jsonRecord({ blob: 'x'.repeat(10_000), id: 7 });
    expect(compileRenderer(route({ transform_template: 'id {id}' }), 50)(big)).toEqual({ ok: true, text: 'id 7' });
    expect(compileRenderer(route({ transform_template: '{blob}' }), 50)(big).ok).toBe(false);
  });

  test('truncate cuts within the limit, appends the marker and reports the original size', () => {
    const long = 'abcdefghij'.repeat(100); // 1000 bytes
    const res = compileRenderer(route({ on_oversize: 'truncate' }), 200)(record({ value: long }));
    expect(res.ok).toBe(true);
    if (!res.ok) return;
    const marker = '\n[truncated: 1000 bytes in all]';
    expect(res.truncatedBytes).toBe(1000);
    expect(res.text.endsWith(marker)).toBe(true);
    expect(Buffer.byteLength(res.text)).toBe(200); // single-byte text fills the room exactly
    expect(long.startsWith(res.text.slice(0, -marker.length))).toBe(true);
  });

  test('truncate never splits a multi-byte character', () => {
    const res = compileRenderer(route({ on_oversize: 'truncate' }), 60)(record({ value: '🚀'.repeat(40) }));
    expect(res.ok).toBe(true);
    if (!res.ok) return;
    expect(res.text).not.toContain('\uFFFD');
    expect(Buffer.byteLength(res.text)).toBeLessThanOrEqual(60);
    expect(res.text).toMatch(/^(🚀)+\n\[truncated: 160 bytes in all\]$/);
  });

  test('truncate does nothing when within the limit (no truncatedBytes)', () => {
    expect(compileRenderer(route({ on_oversize: 'truncate' }), 100)(record({ value: 'short' }))).toEqual({ ok: true, text: 'short' });
  });

  test('on_missing fail wins before the size check', () => {
    const res = compileRenderer(route({ transform_template: '{x}', on_missing: 'fail', on_oversize: 'truncate' }), 1)(jsonRecord({}));
    expect(res).toEqual({ ok: false, reason: 'template field {x} is missing' });
  });

  test('property: truncateUtf8 stays within the limit, keeps a prefix of whole characters, and ends with the marker', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), fc.integer({ min: 64, max: 1200 }), (s, maxBytes) => {
        const total = Buffer.byteLength(s, 'utf8');
        const out = truncateUtf8(s, maxBytes);
        const marker = `\n[truncated: ${total} bytes in all]`;
        expect(out.endsWith(marker)).toBe(true);
        expect(Buffer.byteLength(out, 'utf8')).toBeLessThanOrEqual(maxBytes);
        const kept = out.slice(0, -marker.length);
        expect(s.startsWith(kept)).toBe(true); // a split character would decode to U+FFFD and break the prefix
        // As much as fits: the next whole character would not have fitted.
        const rest = [...s.slice(kept.length)];
        if (rest.length) {
          expect(Buffer.byteLength(kept + rest[0] + marker, 'utf8')).toBeGreaterThan(maxBytes);
        }
      }),
      { numRuns: 500 },
    );
  });

  test('property: a truncating renderer returns text within MAX_TEXT_BYTES for any oversized text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 200 }), fc.integer({ min: 48, max: 400 }), (s, max) => {
        const res = compileRenderer(route({ on_oversize: 'truncate' }), max)(record({ value: s, json: undefined }));
        expect(res.ok).toBe(true);
        if (!res.ok) return;
        const bytes = Buffer.byteLength(s, 'utf8');
        expect(Buffer.byteLength(res.text, 'utf8')).toBeLessThanOrEqual(max);
        if (bytes <= max) {
          expect(res).toEqual({ ok: true, text: s });
        } else {
          expect(res.truncatedBytes).toBe(bytes);
          expect(res.text).toContain(`[truncated: ${bytes} bytes in all]`);
        }
      }),
      { numRuns: 300 },
    );
  });

  // With a limit smaller than the marker, the marker alone must not exceed the limit.
  test('truncateUtf8 stays within a limit smaller than its marker', () => {
    const out = truncateUtf8('x'.repeat(100), 10);
    expect(Buffer.byteLength(out, 'utf8')).toBeLessThanOrEqual(10);
  });
});

describe('template errors surface through parseRoutes', () => {
  const cfg = (transform_template: string) => [{ name: 'orders-summary', topic_pattern: 'orders', prompt_id: 'p', transform_template }];

  test.each([
    ['unclosed brace', 'Order {id', /unclosed "\{" at position 6/],
    ['stray "}"', 'Order id}', /unmatched "\}" at position 8/],
    ['empty {}', 'Order {}', /empty placeholder "\{\}"/],
    ['unknown {$nope}', 'Order {$nope}', /unknown metadata placeholder \{\$nope\}/],
    ['{$headers} without a name', '{$headers}', /needs a header name/],
    ['fields on a metadata placeholder other than $headers', '{$topic.x}', /\{\$topic\.x\}: \{\$topic\} has no fields/],
  ])('%s: RouteConfigError naming the route and field transform_template', (_label, t, msg) => {
    let err: unknown;
    try {
      parseRoutes(cfg(t));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RouteConfigError);
    const m = (err as Error).message;
    expect(m).toContain('route 0 ("orders-summary"): field "transform_template": ');
    expect(m).toMatch(msg);
  });

  test('a valid template passes through to the route unchanged', () => {
    expect(parseRoutes(cfg('{{ {$topic}: {id} }}'))[0].template).toBe('{{ {$topic}: {id} }}');
  });
});
