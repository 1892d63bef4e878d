import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DeliveryStatus, FATE_CODES, isFateCode } from '../../lambda/fate';
import { stageAfterDelivery } from '../../lambda/pipeline/record-state';

const ALL: DeliveryStatus[] = ['delivered', 'permanent', 'transient', 'auth', 'deadline', 'held', 'unknown', 'task'];

describe('stageAfterDelivery', () => {
  it('delivers only delivered, dead-letters only permanent, reports every other status', () => {
    expect(Object.fromEntries(ALL.map((s) => [s, stageAfterDelivery(s)]))).toEqual({
      delivered: 'delivered',
      permanent: 'dead_letter',
      transient: 'failed',
      auth: 'failed',
      deadline: 'failed',
      held: 'failed',
      unknown: 'failed',
      task: 'failed',
    });
  });
});

describe('fate codes', () => {
  it('accepts the fixed codes and the http_/jsonrpc_/task_ families, nothing else', () => {
    for (const c of FATE_CODES) expect(isFateCode(c)).toBe(true);
    expect(isFateCode('http_503')).toBe(true);
    expect(isFateCode('task_input-required')).toBe(true);
    expect(isFateCode('jsonrpc_-32603')).toBe(true);
    expect(isFateCode('jsonrpc_unknown')).toBe(true);
    expect(isFateCode('http_5xx')).toBe(false);
    expect(isFateCode('dead_letter')).toBe(false);
    expect(new Set(FATE_CODES).size).toBe(FATE_CODES.length);
  });

  // The codes are a public contract: a literal code in the product that the list does not hold is a new public value.
  it('holds every literal code the product emits', () => {
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
    const found = new Set<string>();
    for (const f of files(join(__dirname, '../../lambda'))) {
      if (f.includes(`${join('lambda', 'config')}`)) continue; // zod issue codes, not the bridge's
      const src = readFileSync(f, 'utf8');
      for (const m of src.matchAll(/\bcode: '([a-z_]+)'|failure\('[a-z]+', '([a-z_]+)'|class: '([a-z_]+)'|result\('[a-z]+', \{ code: '([a-z_]+)'/g)) {
        found.add(m[1] ?? m[2] ?? m[3] ?? m[4]);
      }
    }
    expect(found.size).toBeGreaterThan(20);
    expect([...found].filter((c) => !isFateCode(c))).toEqual([]);
  });
});
