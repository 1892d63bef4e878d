import { checkUrlTemplate, compileUrlTemplate, templateOrigin } from '../../lambda/url-template';
import type { KafkaRecord } from '../../lambda/decode';

const rec = (headers: Record<string, string>) => ({ headers }) as unknown as KafkaRecord;

describe('url_template', () => {
  test('fills {header.NAME} from the record, percent-encoded; the origin stays fixed', () => {
    const t = 'https://agents.example.com/tenants/{header.tenant}/a2a?region={header.region}';
    expect(checkUrlTemplate(t)).toBeUndefined();
    expect(templateOrigin(t)).toBe('https://agents.example.com');
    expect(compileUrlTemplate(t)(rec({ tenant: 'acme', region: 'eu west/1' }))).toEqual({ ok: true, url: 'https://agents.example.com/tenants/acme/a2a?region=eu%20west%2F1' });
    expect(compileUrlTemplate(t)(rec({ tenant: '../../admin', region: 'x' }))).toEqual({ ok: true, url: 'https://agents.example.com/tenants/..%2F..%2Fadmin/a2a?region=x' });
  });

  test('a missing or empty header is a per-record failure naming it', () => {
    const f = compileUrlTemplate('https://h.example/{header.tenant}');
    expect(f(rec({}))).toEqual({ ok: false, reason: 'url_template: the record has no (or an empty) header "tenant"' });
    expect(f(rec({ tenant: '' }))).toMatchObject({ ok: false });
  });

  test.each([
    ['https://{header.host}/a2a', 'the origin is fixed'],
    ['https://h.example{header.port}/a2a', 'the origin is fixed'],
    ['https://h.example/{json.tenant}', 'is not {header.NAME}'],
    ['https://h.example/static', 'has no {header.NAME} placeholder'],
    ['ftp://h.example/{header.t}', 'must be an http(s) URL'],
    ['not a url/{header.t}', 'not an absolute URL'],
    ['https://h.example/{header.t', 'unmatched brace'],
  ])('%s is refused (%s)', (t, why) => {
    expect(checkUrlTemplate(t)).toContain(why);
  });
});
