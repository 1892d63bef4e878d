// Reads and compiles the schema files routes name (cold start, and synth through infra/routes-file.ts):
// a missing file or a schema that does not compile fails there, naming the route, never on a record.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Route } from '../config/routes';
import { ConfigError } from '../errors';
import { compileReader, type FormatSpec, type Reader } from './codecs';

export interface RouteReaders {
  value?: Reader;
  key?: Reader;
}

export class SchemaConfigError extends ConfigError {
  constructor(message: string, options?: ErrorOptions) {
    super('schema_config_invalid', message, options);
    this.name = 'SchemaConfigError';
  }
}

/** Every schema file the routes name (schema and writer schemas), relative to the routes file's directory. */
export function schemaFiles(routes: readonly Route[]): string[] {
  const files = new Set<string>();
  for (const r of routes) {
    for (const f of [r.valueFormat, r.keyFormat]) {
      if (!f) continue;
      files.add(f.schemaFile);
      for (const w of Object.values(f.writerSchemas ?? {})) files.add(w);
    }
  }
  return [...files];
}

function compile(route: Route, spec: FormatSpec, what: 'value' | 'key', dir: string): Reader {
  const read = (file: string) => {
    try {
      return readFileSync(resolve(dir, file), 'utf8');
    } catch (e) {
      throw new SchemaConfigError(`route "${route.name}": ${what}_format: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
    }
  };
  const texts = {
    schema: read(spec.schemaFile),
    writers: Object.fromEntries(Object.entries(spec.writerSchemas ?? {}).map(([id, f]) => [id, read(f)])),
  };
  try {
    return compileReader(spec, texts, what);
  } catch (e) {
    throw new SchemaConfigError(`route "${route.name}": ${what}_format: ${(e as Error).message}`, { cause: e });
  }
}

/** The readers of the routes that name a format; empty (and avsc/protobufjs never loaded) when none does. */
export function loadReaders(routes: readonly Route[], dir: string): Map<string, RouteReaders> {
  const out = new Map<string, RouteReaders>();
  for (const r of routes) {
    if (!r.valueFormat && !r.keyFormat) continue;
    out.set(r.name, {
      value: r.valueFormat && compile(r, r.valueFormat, 'value', dir),
      key: r.keyFormat && compile(r, r.keyFormat, 'key', dir),
    });
  }
  return out;
}
