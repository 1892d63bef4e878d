// Validation against the official A2A v0.3.0 JSON Schema (draft-07, a2aproject/A2A tag v0.3.0, Apache-2.0), carried
// in the repository as test data (test/fixtures/a2a/, see its README). Used to prove that what the bridge sends, and
// what the peers answer, is spec-shaped; A2A 1.0 has no JSON Schema (its wire format is protobuf JSON).
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

/** The copy in test/fixtures/a2a/; `A2A_SCHEMA_PATH` points the tests at another one. */
export const A2A_SCHEMA_PATH =
  process.env.A2A_SCHEMA_PATH ?? resolve(__dirname, '..', 'fixtures', 'a2a', 'a2a-v0.3.0.schema.json');

const SCHEMA_ID = 'https://a2a-protocol.org/v0.3.0/a2a.json';

let ajv: Ajv | undefined;
let definitions: ReadonlySet<string> = new Set();
const compiled = new Map<string, ValidateFunction>();

function load(): Ajv {
  if (ajv) return ajv;
  if (!existsSync(A2A_SCHEMA_PATH)) {
    throw new Error(`A2A JSON Schema not found at ${A2A_SCHEMA_PATH} (the repository carries it in test/fixtures/a2a/; A2A_SCHEMA_PATH overrides the path)`);
  }
  const schema = JSON.parse(readFileSync(A2A_SCHEMA_PATH, 'utf8')) as { definitions?: Record<string, unknown> };
  definitions = new Set(Object.keys(schema.definitions ?? {}));
  // strict: false because the generated schema carries annotations ajv's strict mode rejects; allErrors so a
  // failing assertion names every problem at once.
  const instance = new Ajv({ allErrors: true, strict: false });
  addFormats(instance);
  instance.addSchema({ ...schema, $id: SCHEMA_ID });
  ajv = instance;
  return instance;
}

function validatorFor(definition: string): ValidateFunction {
  const cached = compiled.get(definition);
  if (cached) return cached;
  const instance = load();
  if (!definitions.has(definition)) {
    throw new Error(`Unknown A2A v0.3.0 definition "${definition}" (see ${A2A_SCHEMA_PATH})`);
  }
  const fn = instance.getSchema(`${SCHEMA_ID}#/definitions/${definition}`);
  if (!fn) throw new Error(`ajv could not compile definition "${definition}"`);
  compiled.set(definition, fn);
  return fn;
}

function describe(e: ErrorObject): string {
  const where = e.instancePath || '(root)';
  const extra =
    e.keyword === 'additionalProperties' ? ` "${(e.params as { additionalProperty: string }).additionalProperty}"`
    : e.keyword === 'const' ? ` ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`
    : e.keyword === 'enum' ? ` ${JSON.stringify((e.params as { allowedValues: unknown }).allowedValues)}`
    : '';
  return `${where} ${e.message ?? e.keyword}${extra}`;
}

/** Validates `value` against `#/definitions/<definitionName>`; returns problems, empty when valid. */
export function validateA2A(definitionName: string, value: unknown): string[] {
  const fn = validatorFor(definitionName);
  if (fn(value)) return [];
  // anyOf branches repeat the same problem many times; keep each message once.
  return [...new Set((fn.errors ?? []).map(describe))];
}

/** Jest-friendly: throws with the definition name, every problem and the value when invalid. */
export function expectValidA2A(definitionName: string, value: unknown): void {
  const problems = validateA2A(definitionName, value);
  if (problems.length) {
    throw new Error(
      `not a valid A2A v0.3.0 ${definitionName}:\n  - ${problems.join('\n  - ')}\nvalue: ${JSON.stringify(value, null, 2)}`,
    );
  }
}

/** Names of all definitions in the schema (for discovery and for error messages). */
export function a2aDefinitions(): string[] {
  load();
  return [...definitions].sort();
}
