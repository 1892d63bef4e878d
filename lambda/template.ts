// Template parsing, done once per route at cold start so rendering is a flat walk over parts.
// Syntax: `{json.path}` reads the record's JSON value, `{$meta}` Kafka metadata, `{{` and `}}` literal braces.
import { BridgeError } from './errors';

export type TemplatePart = { literal: string } | { placeholder: string; path: string[]; meta: boolean };

export class TemplateError extends BridgeError {
  constructor(message: string) {
    super('template_invalid', message);
    this.name = 'TemplateError';
  }
}

export function parseTemplate(template: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let literal = '';
  let i = 0;
  while (i < template.length) {
    const c = template[i];
    if (c === '{' && template[i + 1] === '{') {
      literal += '{';
      i += 2;
    } else if (c === '}' && template[i + 1] === '}') {
      literal += '}';
      i += 2;
    } else if (c === '{') {
      const end = template.indexOf('}', i + 1);
      const inner = end < 0 ? '' : template.slice(i + 1, end);
      if (end < 0 || inner.includes('{')) {
        throw new TemplateError(`unclosed "{" at position ${i}; write "{{" for a literal brace`);
      }
      if (inner.trim() === '') throw new TemplateError(`empty placeholder "{}" at position ${i}`);
      if (literal) parts.push({ literal });
      literal = '';
      const meta = inner.startsWith('$');
      parts.push({ placeholder: inner, meta, path: (meta ? inner.slice(1) : inner).split('.') });
      i = end + 1;
    } else if (c === '}') {
      throw new TemplateError(`unmatched "}" at position ${i}; write "}}" for a literal brace`);
    } else {
      literal += c;
      i++;
    }
  }
  if (literal) parts.push({ literal });
  return parts;
}

export const META_FIELDS = [
  'topic',
  'partition',
  'offset',
  'key',
  'timestamp',
  'timestamp_iso',
  'value',
  'headers',
  'value_format',
  'value_schema_id',
  'key_format',
  'key_schema_id',
] as const;

/** Config-time check: unknown `{$x}` names are typos, not missing data. */
export function checkTemplate(template: string): string | undefined {
  try {
    for (const part of parseTemplate(template)) {
      if ('placeholder' in part && part.meta) {
        const [name, ...rest] = part.path;
        if (!(META_FIELDS as readonly string[]).includes(name)) {
          return `unknown metadata placeholder {${part.placeholder}}; known: ${META_FIELDS.map((m) => `{$${m}}`).join(' ')}`;
        }
        if (name === 'headers' && rest.length === 0) return `{$headers} needs a header name: {$headers.NAME}`;
        if (name !== 'headers' && rest.length > 0) return `{${part.placeholder}}: {$${name}} has no fields`;
      }
    }
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}
