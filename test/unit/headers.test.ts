import { decodeEvent } from '../../lambda/decode';
import { travellingHeaders } from '../../lambda/headers';
import { mskEvent, rawRecord, route } from './helpers';

/** A record decoded from Lambda's shape, with these raw header entries (name -> bytes) in order. */
function withHeaders(...entries: Array<Record<string, number[]>>) {
  const raw = rawRecord();
  raw.headers = entries;
  const [rec] = decodeEvent(mskEvent({ 'orders-0': [raw] })).records;
  return rec;
}
const text = (s: string) => [...Buffer.from(s, 'utf8')];
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('travellingHeaders', () => {
  test('only the headers a route lists travel: none by default', () => {
    const rec = withHeaders({ tenant: text('acme') }, { secret: text('s3cr3t') });
    expect(travellingHeaders(rec, route())).toEqual({});
  });

  test('metadata_headers: text as text, bytes that are not UTF-8 as base64, a missing header left out', () => {
    const rec = withHeaders({ tenant: text('acme') }, { blob: [0xff, 0xfe] });
    const out = travellingHeaders(rec, route({ metadata_headers: ['tenant', 'blob', 'absent'] }));
    expect({ ...out.metadata }).toEqual({ tenant: 'acme', blob: { base64: Buffer.from([0xff, 0xfe]).toString('base64') } });
    expect(out.http).toBeUndefined();
  });

  test('a repeated header: the last value wins, as in the decoded map', () => {
    const rec = withHeaders({ tenant: text('first') }, { tenant: text('last') });
    expect(travellingHeaders(rec, route({ metadata_headers: ['tenant'] })).metadata?.tenant).toBe('last');
  });

  test('a header named __proto__ is kept as data, not as a prototype', () => {
    const rec = withHeaders({ ['__proto__']: text('x') });
    const metadata = travellingHeaders(rec, route({ metadata_headers: ['__proto__'] })).metadata!;
    expect(Object.getPrototypeOf(metadata)).toBeNull();
    expect(Object.hasOwn(metadata, '__proto__')).toBe(true);
  });

  test('forward_headers: lower-cased names and trimmed printable values; binary or control characters are not forwarded', () => {
    const rec = withHeaders({ 'X-Tenant': text(' acme ') }, { 'x-bin': [0xff] }, { 'x-crlf': text('a\r\nInjected: 1') });
    const out = travellingHeaders(rec, route({ forward_headers: ['X-Tenant', 'x-bin', 'x-crlf'] }));
    expect(out.http).toEqual({ 'x-tenant': 'acme' });
  });

  test('a valid W3C traceparent travels (normalised) with its tracestate, listed or not', () => {
    const rec = withHeaders({ traceparent: text(` ${TRACEPARENT.toUpperCase()} `) }, { tracestate: text('vendor=1') });
    expect(travellingHeaders(rec, route())).toEqual({ traceparent: TRACEPARENT, http: { traceparent: TRACEPARENT, tracestate: 'vendor=1' } });
  });

  test.each([
    ['version ff', `ff${TRACEPARENT.slice(2)}`],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`],
    ['an all-zero parent id', `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`],
    ['not hex', TRACEPARENT.replace('4bf9', 'zzzz')],
  ])('a traceparent with %s does not travel', (_label, value) => {
    expect(travellingHeaders(withHeaders({ traceparent: text(value) }), route())).toEqual({});
  });

  test('a tracestate longer than 512 characters is dropped, the traceparent kept', () => {
    const rec = withHeaders({ traceparent: text(TRACEPARENT) }, { tracestate: text(`v=${'a'.repeat(511)}`) });
    expect(travellingHeaders(rec, route()).http).toEqual({ traceparent: TRACEPARENT });
  });
});
