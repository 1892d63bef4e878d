// The README's numbered steps work as written, with nothing changed but the ids: its routes file is valid,
// its example message renders into a complete prompt for those routes (no placeholder left), its deploy
// command synthesizes a stack that consumes exactly the topic the routes match, and every `npm run event`
// example in README.md, docs/ and the demo's "Next" hints sends a complete message.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRoutesText } from '../lambda/config/routes';
import { synth } from './infra/helpers';
import { ROOT, tsx } from './support/cli';

jest.setTimeout(180_000);

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The fenced blocks of a document, with `\` continuation lines joined. */
function blocks(text: string, lang?: string): string[] {
  return [...text.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].filter((m) => lang === undefined || m[1] === lang).map((m) => m[2].replace(/\\\n\s*/g, ''));
}

/** A shell command line split into words: single quotes and double quotes grouped, comments dropped. */
function words(line: string): string[] {
  const out: string[] = [];
  for (const m of line.replace(/\s+#\s.*$/, '').matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

const step = (n: number) => readme.slice(readme.indexOf(`### ${n}. `), readme.indexOf(`### ${n + 1}. `));

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'readme-steps-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

function readmeRoutes(): string {
  const [json] = blocks(step(3), 'json');
  const file = join(tmp, 'routes.json');
  writeFileSync(file, json);
  return file;
}

/** Runs an `npm run event -- ...` example (its --out replaced by a file in tmp), then a dry run of the event. */
async function dryRunOf(command: string, routes: string): Promise<string> {
  const args = words(command).slice(4); // npm run event --
  const out = args.indexOf('--out');
  if (out >= 0) args.splice(out, 2);
  const event = join(tmp, `event-${Math.random().toString(36).slice(2)}.json`);
  const built = await tsx('scripts/event.ts', [...args, '--out', event]);
  expect(built.stderr).toMatch(/^wrote /);
  expect(built.code).toBe(0);
  const dry = await tsx('scripts/invoke.ts', [event, '--routes', routes, '--dry-run']);
  expect(dry.code).toBe(0);
  return dry.stdout;
}

test('step 3: the routes file is valid as written', () => {
  const routes = parseRoutesText(readFileSync(readmeRoutes(), 'utf8'), 'README step 3');
  expect(routes.map((r) => [r.name, r.topicPattern])).toEqual([['orders', 'orders']]);
});

test('step 4: the example message renders into a complete prompt for those routes', async () => {
  const commands = blocks(step(4), 'sh').flatMap((b) => b.split('\n')).filter((l) => l.startsWith('npm run event -- '));
  expect(commands).toHaveLength(1);
  const out = await dryRunOf(commands[0], readmeRoutes());
  expect(out).toContain('orders-0@0  orders -> agent 3d5f7b9a-1c2e-4f6a-8b0d-2e4f6a8c0e1f  would send');
  expect(out).toContain('    | Order ORD-1 is now shipped. Write to the customer at ana@example.com what this means for them.');
  expect(out).not.toMatch(/^ {4}! /m);
  expect(out).toContain('1 record: 1 would be sent, 0 not (dry run: nothing was sent)');
});

test('every `npm run event` example in docs/ and the demo sends a complete message with the sample routes', async () => {
  const docs = readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => readFileSync(join(ROOT, 'docs', f), 'utf8'));
  const demo = readFileSync(join(ROOT, 'scripts', 'demo.ts'), 'utf8');
  const commands = [
    ...docs.flatMap((d) => blocks(d)).flatMap((b) => b.split('\n')),
    ...[...demo.matchAll(/say\('\s+(npm run event -- .*?)'\);$/gm)].map((m) => m[1].replace(/\\'/g, "'").replace(/\s{2,}\S.*$/, '')),
  ]
    .map((l) => l.trim())
    // Examples that carry a message on the command line; --append adds to an event built by the line before it.
    .filter((l) => l.startsWith('npm run event -- ') && /'\{/.test(l) && !l.includes('--append'));
  expect(commands.some((c) => c.includes('ORD-123'))).toBe(true); // docs/LOCAL_INVOKE.md
  expect(commands.some((c) => c.includes('ORD-9'))).toBe(true); // the demo's "Next" hint
  for (const c of commands) {
    const out = await dryRunOf(c, join(ROOT, 'events', 'routes.json'));
    expect(out).toMatch(/would send/);
    expect({ command: c, incomplete: out.match(/^ {4}! .*$/gm) ?? [] }).toEqual({ command: c, incomplete: [] });
  }
});

test('step 5: the deploy command synthesizes a stack that consumes the topic the routes match, without warnings about it', () => {
  const block = blocks(step(5), 'sh').find((b) => b.includes('npx cdk deploy'))!;
  const context = Object.fromEntries(
    words(block.slice(block.indexOf('npx cdk deploy')))
      .filter((_w, i, all) => all[i - 1] === '-c')
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
  expect(Object.keys(context).sort()).toEqual(['alarmEmail', 'archestraUrl', 'mskClusterArn', 'routesFile', 'topics']);
  const { stack, template } = synth({ ...context, routesFile: readmeRoutes() });
  const mappings = Object.values(template.findResources('AWS::Lambda::EventSourceMapping')) as Array<{ Properties: { Topics: string[]; Enabled: boolean } }>;
  expect(mappings.map((m) => m.Properties.Topics)).toEqual([['orders']]);
  expect(mappings[0].Properties.Enabled).toBe(false); // a first deploy: disabled until the token is in (step 6)
  const warnings = stack.node.metadata.filter((m) => m.type === 'aws:cdk:warning').map((m) => String(m.data));
  expect(warnings.filter((w) => /Topic "|not a knob/.test(w))).toEqual([]);
  expect(stack.region).toBe('eu-west-1');
  // Step 7 reads the log group's name from the function's LoggingConfig: the stack must set it.
  const functions = Object.values(template.findResources('AWS::Lambda::Function')) as Array<{ Properties: { LoggingConfig?: { LogGroup?: unknown } } }>;
  expect(functions.filter((f) => f.Properties.LoggingConfig?.LogGroup !== undefined)).toHaveLength(1);
});
