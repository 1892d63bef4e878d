// Per-record target URLs for routes outside Archestra: `url_template` with `{header.NAME}` placeholders
// filled from the record's Kafka headers (for example a tenant id), percent-encoded. Checked at cold start
// (and at synth): the origin is fixed, so a record can choose a path, never another host. Pure.
import type { KafkaRecord } from './decode';

const PLACEHOLDER = /\{([^{}]*)\}/g;
const HEADER_REF = /^header\.(.+)$/;

/** Why `template` is not a usable URL template, or undefined. */
export function checkUrlTemplate(template: string): string | undefined {
  const names: string[] = [];
  for (const m of template.matchAll(PLACEHOLDER)) {
    const ref = HEADER_REF.exec(m[1]);
    if (!ref) return `placeholder {${m[1]}} is not {header.NAME}`;
    names.push(ref[1]);
  }
  const sample = template.replace(PLACEHOLDER, 'x');
  if (/[{}]/.test(sample)) return 'has an unmatched brace';
  if (names.length === 0) return 'has no {header.NAME} placeholder: use url';
  let u: URL;
  try {
    u = new URL(sample);
  } catch {
    return 'is not an absolute URL once its placeholders are filled';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'must be an http(s) URL';
  const firstBrace = template.indexOf('{');
  const originEnd = template.indexOf('/', template.indexOf('//') + 2);
  if (originEnd < 0 || firstBrace < originEnd) return 'may only use placeholders after the host (in the path or query): the origin is fixed';
  return undefined;
}

/** The template's fixed origin (scheme, host, port). */
export function templateOrigin(template: string): string {
  return new URL(template.replace(PLACEHOLDER, 'x')).origin;
}

export type UrlResult = { ok: true; url: string } | { ok: false; reason: string };

export function compileUrlTemplate(template: string): (record: KafkaRecord) => UrlResult {
  return (record) => {
    let missing: string | undefined;
    const url = template.replace(PLACEHOLDER, (_, inner: string) => {
      const name = HEADER_REF.exec(inner)![1];
      const v = Object.hasOwn(record.headers, name) ? record.headers[name] : undefined;
      if (v === undefined || v === '') {
        missing ??= name;
        return '';
      }
      return encodeURIComponent(v);
    });
    return missing !== undefined ? { ok: false, reason: `url_template: the record has no (or an empty) header "${missing}"` } : { ok: true, url };
  };
}
