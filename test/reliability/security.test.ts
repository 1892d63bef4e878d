// Security: the token never leaves the Authorization header (logs, errors, outcomes, responses, dead letters,
// the real Powertools output, snapshots); plain http:// only to loopback unless ALLOW_INSECURE_HTTP=true; the
// rendered text can never break the JSON-RPC body; MAX_TEXT_BYTES bounds the text of every request.
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { composeBridge } from '../../lambda/compose';
import { loadSettings } from '../../lambda/config/settings';
import { parseRoutes } from '../../lambda/config/routes';
import { decodeEvent } from '../../lambda/decode';
import type { DeadLetterBody } from '../../lambda/dead-letter';
import { processBatch } from '../../lambda/pipeline';
import { compileRenderer } from '../../lambda/render';
import { isSend, startArchestraSim, type ArchestraSim, type SimRequest } from '../../sim/archestra';
import { makeBridge } from '../support/bridge';
import { mskEvent, type TestRecord } from '../support/kafka';
import { memoryDeadLetters } from './support/dlq';
import { profile, writeFigures } from './support/profile';

const P = profile();
const AGENT = 'b17a6c8d-3e9f-4a0b-8c1d-6e7f8a9b0c1d';
/** Distinctive, so any leak is unmistakable. */
const TOKEN = `tok-${randomBytes(16).toString('hex')}`;
const figures = { tokenScans: 0, scannedBytes: 0, bodySafetyRecords: 0, truncationRecords: 0 };

let sim: ArchestraSim;
beforeAll(async () => {
  sim = await startArchestraSim({ tokens: [TOKEN] });
});
afterAll(async () => {
  await sim.close();
  writeFigures('security', { profile: P.name, seed: P.seed, ...figures });
});
beforeEach(() => {
  sim.clear();
  sim.setBehaviour(undefined);
});

const ROUTES = JSON.stringify([{ name: 'orders', topic_pattern: 'orders', prompt_id: AGENT, on_missing: 'fail' }]);
const n = (r: SimRequest) => (JSON.parse(r.text ?? '{}') as { n?: number }).n;

/** A child process, awaited without blocking this event loop (the sim answers it from here). */
function run(file: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) =>
    execFile(file, args, { ...opts, maxBuffer: 64 * 1024 * 1024, timeout: 50_000 }, (err, stdout, stderr) =>
      err ? reject(Object.assign(err, { message: `${err.message}\n${stderr}` })) : resolve({ stdout, stderr }),
    ),
  );
}

function expectNoToken(what: string, ...values: unknown[]) {
  const text = values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v, (_k, x) => (x instanceof Error ? { name: x.name, message: x.message, stack: x.stack } : x)))).join('\n');
  figures.tokenScans++;
  figures.scannedBytes += text.length;
  if (text.includes(TOKEN)) {
    const at = text.indexOf(TOKEN);
    // The excerpt names the place without repeating the secret itself in the test output.
    throw new Error(`the token appears in ${what}: ...${text.slice(Math.max(0, at - 120), at + TOKEN.length + 40).split(TOKEN).join('<TOKEN>')}...`);
  }
}

/**
 * One record per way a delivery can end: retried then delivered (1), permanent refusals (2, 3, 4: dead-lettered),
 * delivered (5), transient (6: 502, 7: hang past the timeout: reported), and an undecodable record (offset 0).
 * The transient ones come last in their partitions, so the permanent ones below them are dead-lettered.
 */
function everyOutcome(): ReturnType<typeof mskEvent> {
  const records: TestRecord[] = [1, 2, 3, 4, 5, 6, 7].map((i) => ({ topic: 'orders', partition: i % 2, offset: i, key: `k${i}`, value: { n: i } }));
  const event = mskEvent(records);
  (event.records['orders-0'] as unknown[]).unshift({ topic: 'orders', partition: 0, offset: 0, value: '%%', headers: [] });
  return event;
}
const behaviours = (r: SimRequest) => {
  if (!isSend(r)) return undefined;
  switch (n(r)) {
    case 1:
      return r.attempt === 1 ? ({ kind: 'http', status: 503 } as const) : undefined;
    case 2:
      return { kind: 'rpcError', code: -32602, message: 'Invalid params' } as const;
    case 3:
      return { kind: 'malformed' } as const;
    case 4:
      return { kind: 'llmError', retryable: false } as const;
    case 6:
      return { kind: 'http', status: 502 } as const;
    case 7:
      return { kind: 'hang' } as const;
    default:
      return undefined;
  }
};

describe('the token never leaves the Authorization header', () => {
  test('logs, metrics, outcomes, the response and every dead letter of a batch with every kind of outcome', async () => {
    sim.setBehaviour(behaviours);
    const dlq = memoryDeadLetters({ seed: 1, failRate: 0 });
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: ROUTES, MAX_RETRIES: '1', REQUEST_TIMEOUT: '0.3', ORDERING: 'none' }, { deadLetters: dlq });
    const result = await bridge.run(everyOutcome());
    expect(new Set(result.outcomes.map((o) => o.status))).toEqual(new Set(['delivered', 'failed', 'dead_lettered']));
    // Offset 3 (an HTTP 200 that is not JSON) is transient: reported, not dead-lettered.
    expect(dlq.bodies.map((b) => b.record.offset).sort()).toEqual([0, 2, 4]);
    // It did go where it belongs.
    expect(sim.requests.every((r) => r.headers.authorization === `Bearer ${TOKEN}`)).toBe(true);
    expectNoToken('the captured logs', bridge.logs);
    expectNoToken('the metrics', bridge.metrics);
    expectNoToken('the outcomes and the response', result);
    expectNoToken('the dead letters', dlq.bodies);
  });

  test('a refused token: the refusal, the re-read and the blocked sends never echo it', async () => {
    const refusing = await startArchestraSim({ tokens: ['another-token'] });
    try {
      const bridge = makeBridge({ ARCHESTRA_URL: refusing.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: ROUTES, ORDERING: 'none' });
      const result = await bridge.run(everyOutcome());
      expect(result.outcomes.filter((o) => o.code === 'http_401' || o.code === 'auth_refused').length).toBeGreaterThan(0);
      expectNoToken('logs and outcomes after an auth failure', bridge.logs, result);
    } finally {
      await refusing.close();
    }
  });

  test('through the real Powertools logger and metrics (everything written to stdout and stderr)', async () => {
    sim.setBehaviour(behaviours);
    const written: string[] = [];
    const out = process.stdout.write.bind(process.stdout);
    const err = process.stderr.write.bind(process.stderr);
    const capture = (chunk: unknown) => {
      written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      return true;
    };
    process.stdout.write = capture as typeof process.stdout.write;
    process.stderr.write = capture as typeof process.stderr.write;
    let result: Awaited<ReturnType<typeof processBatch>> | undefined;
    try {
      const settings = loadSettings({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: ROUTES, RETRY_DELAY: '0.01', REQUEST_TIMEOUT: '0.3', SAFETY_MARGIN_SECONDS: '0.5', MIN_REQUEST_SECONDS: '0.05', ORDERING: 'none' });
      const deps = composeBridge(settings, { deadLetters: memoryDeadLetters({ seed: 1, failRate: 0 }) }); // real logger and metrics
      result = await processBatch(everyOutcome(), { requestId: 'req-1', remainingMs: 60_000 }, deps);
    } finally {
      process.stdout.write = out;
      process.stderr.write = err;
    }
    expect(written.join('')).toMatch(/"message":"batch summary"/);
    expectNoToken('the Powertools output', written.join(''), result);
  });

  test('through the bundled handler as Lambda runs it (esbuild bundle of lambda/handler.ts, middy, Powertools), in its own process', async () => {
    sim.setBehaviour(behaviours);
    const dir = mkdtempSync(join(tmpdir(), 'reliability-bundle-'));
    try {
      const root = join(__dirname, '..', '..');
      const bundle = join(dir, 'handler.js');
      // The very options of `npm run build` (scripts/bundle-options.mjs), into a temporary file: dist/ is not touched.
      await run(process.execPath, ['--input-type=module', '-e', `const { bundleOptions } = await import(${JSON.stringify(join(root, 'scripts', 'bundle-options.mjs'))}); const { build } = await import('esbuild'); await build({ ...bundleOptions, entryPoints: ['lambda/handler.ts'], outfile: ${JSON.stringify(bundle)} });`], { cwd: root });
      writeFileSync(join(dir, 'event.json'), JSON.stringify(everyOutcome()));
      const invoke = `const { handler } = require(${JSON.stringify(bundle)}); const event = require(${JSON.stringify(join(dir, 'event.json'))});
        const end = Date.now() + 30000;
        const context = { awsRequestId: 'req-bundle', functionName: 'kafka-a2a-bridge', functionVersion: '$LATEST', invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:kafka-a2a-bridge', memoryLimitInMB: '512', logGroupName: 'g', logStreamName: 's', getRemainingTimeInMillis: () => end - Date.now() };
        handler(event, context).then((r) => process.stdout.write('\\n@@RESPONSE ' + JSON.stringify(r) + '\\n'), (e) => process.stdout.write('\\n@@ERROR ' + String(e && e.stack) + '\\n'));`;
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        ARCHESTRA_URL: sim.url,
        ARCHESTRA_TOKEN: TOKEN,
        ROUTES_CONFIG: ROUTES,
        ORDERING: 'none',
        RETRY_DELAY: '0.01',
        REQUEST_TIMEOUT: '0.3',
        SAFETY_MARGIN_SECONDS: '0.5',
        MIN_REQUEST_SECONDS: '0.05',
        POWERTOOLS_DEV: 'false',
        AWS_LAMBDA_FUNCTION_NAME: 'kafka-a2a-bridge',
      };
      const { stdout, stderr } = await run(process.execPath, ['-e', invoke], { cwd: dir, env });
      const response = /@@RESPONSE (.*)/.exec(stdout)?.[1];
      expect(stdout).not.toMatch(/@@ERROR/);
      expect(JSON.parse(response ?? 'null')).toEqual({
        batchItemFailures: [
          { itemIdentifier: { partition: 'orders-0', offset: 0 } },
          { itemIdentifier: { partition: 'orders-1', offset: 3 } },
        ],
      });
      expect(stdout).toMatch(/"message":"batch summary"/);
      expect(stdout).toMatch(/"_aws":\{/); // EMF metrics went out too
      expectNoToken('the bundled handler\'s stdout and stderr', stdout, stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  test('settings errors and event errors never quote it', () => {
    const errors: unknown[] = [];
    const attempt = (env: Record<string, string>) => {
      try {
        loadSettings(env);
      } catch (e) {
        errors.push(e);
      }
    };
    attempt({ ARCHESTRA_TOKEN: TOKEN, ARCHESTRA_URL: 'not a url', ROUTES_CONFIG: ROUTES });
    attempt({ ARCHESTRA_TOKEN: TOKEN, ARCHESTRA_URL: 'http://example.com', ROUTES_CONFIG: ROUTES });
    attempt({ ARCHESTRA_TOKEN: TOKEN, ARCHESTRA_TOKEN_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:1:secret:x', ARCHESTRA_URL: 'https://a.example', ROUTES_CONFIG: ROUTES });
    attempt({ ARCHESTRA_TOKEN: TOKEN, ARCHESTRA_URL: 'https://a.example', ROUTES_CONFIG: '[{' });
    attempt({ ARCHESTRA_TOKEN: TOKEN, ARCHESTRA_URL: 'https://a.example', ROUTES_CONFIG: ROUTES, MAX_RETRIES: TOKEN });
    expect(errors).toHaveLength(5);
    expectNoToken('settings errors', errors.map((e) => String(e)));
  });

  test('no committed test snapshot holds a bearer token', () => {
    const snaps: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.snap')) snaps.push(p);
      }
    };
    walk(join(__dirname, '..'));
    for (const p of snaps) {
      const text = readFileSync(p, 'utf8');
      expect(text).not.toMatch(/Bearer\s+(?!\[|<|\{)[A-Za-z0-9._~+/=-]{8,}/);
      expect(text).not.toContain(TOKEN);
    }
  });

  // Whatever the agent or a proxy in front of it sends back (reply text, JSON-RPC error message, HTTP error body)
  // reaches outcome messages, log lines (`reply`, `reason`) and dead letters (`error.message`), so the token must be
  // redacted from it first: an endpoint that echoes the request's Authorization header (debug proxies and some
  // gateways' error pages do) would otherwise leak it there.
  test('an agent that echoes the Authorization header back cannot make the bridge log or dead-letter it', async () => {
    sim.setBehaviour((r) => {
      if (!isSend(r)) return undefined;
      const echo = r.headers.authorization;
      if (n(r) === 1) return { kind: 'message', text: `you sent: ${echo}` };
      if (n(r) === 2) return { kind: 'rpcError', code: -32602, message: `Invalid params (request had ${echo})` };
      return { kind: 'http', status: 500, body: { jsonrpc: '2.0', id: null, error: { code: -32000, message: `upstream rejected ${echo}` } } };
    });
    const dlq = memoryDeadLetters({ seed: 1, failRate: 0 });
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: ROUTES, MAX_RETRIES: '0', ORDERING: 'none' }, { deadLetters: dlq });
    const result = await bridge.run(mskEvent([1, 2, 3].map((i) => ({ topic: 'orders', partition: 0, offset: i, value: { n: i } }))));
    expectNoToken('logs, outcomes and dead letters after an echoing agent', bridge.logs, result, dlq.bodies);
  });
});

describe('plain http:// only to loopback, unless ALLOW_INSECURE_HTTP=true', () => {
  const base = { ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: ROUTES };
  const refusal = /uses plain http:\/\/ to a non-loopback host .*use https:\/\/ or set ALLOW_INSECURE_HTTP=true/;

  test.each([
    'http://example.com',
    'http://archestra.internal:9000',
    'http://10.0.0.5:9000',
    'http://192.168.1.10',
    'http://0.0.0.0:9000',
    'http://localhost.evil.example',
    'http://127.0.0.1.nip.io',
    'http://[2001:db8::1]:9000',
  ])('ARCHESTRA_URL %s is refused', (url) => {
    expect(() => loadSettings({ ...base, ARCHESTRA_URL: url })).toThrow(refusal);
    expect(() => loadSettings({ ...base, ARCHESTRA_URL: url, ALLOW_INSECURE_HTTP: 'false' })).toThrow(refusal);
    for (const yes of ['true', '1', 'yes']) expect(loadSettings({ ...base, ARCHESTRA_URL: url, ALLOW_INSECURE_HTTP: yes }).allowInsecureHttp).toBe(true);
  });

  test.each(['http://localhost:9000', 'http://LOCALHOST', 'http://127.0.0.1:9000', 'http://127.10.20.30', 'http://[::1]:9000', 'https://example.com', 'https://10.0.0.5'])(
    '%s is accepted',
    (url) => {
      expect(loadSettings({ ...base, ARCHESTRA_URL: url }).archestraUrl).toBeDefined();
    },
  );

  test('a route\'s own url follows the same rule; an unknown ALLOW_INSECURE_HTTP value is an error', () => {
    const routes = JSON.stringify([{ name: 'ext', topic_pattern: 'x', prompt_id: AGENT, url: 'http://agents.example.com/a2a' }]);
    expect(() => loadSettings({ ROUTES_CONFIG: routes })).toThrow(/route "ext" url uses plain http:\/\//);
    expect(loadSettings({ ROUTES_CONFIG: routes, ALLOW_INSECURE_HTTP: 'true' }).routes[0].url).toBe('http://agents.example.com/a2a');
    expect(() => loadSettings({ ...base, ARCHESTRA_URL: 'http://example.com', ALLOW_INSECURE_HTTP: 'TRUE' })).toThrow(/ALLOW_INSECURE_HTTP/);
  });
});

describe('the rendered text can never break the JSON-RPC body', () => {
  /** Text a JSON encoder must escape or may get wrong: quotes, backslashes, controls, separators, surrogates. */
  const nasty = fc
    .array(
      fc.oneof(
        { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
        { weight: 2, arbitrary: fc.string({ unit: fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)), maxLength: 6 }) },
        {
          weight: 3,
          arbitrary: fc.constantFrom('"', '\\', '\\"', '\n', '\r\n', '\t', '\u0000', '\u007f', '\u0085', '\u2028', '\u2029', '\ufeff', '\ufffe', '\uffff', '\ud800', '\udfff', '\udbff\udfff', '😀', '</script>', '{"id":1}', '"}]}', '{$value}', '%s'),
        },
      ),
      { maxLength: 12 },
    )
    .map((parts) => parts.join(''));
  /**
   * What the bridge can read back from the record's bytes: the producer's string encoded as UTF-8, where a
   * lone surrogate becomes U+FFFD (EF BF BD). A UTF-8 decoder may also drop one leading byte-order mark
   * (TextDecoder does by default, Buffer#toString does not): both readings are accepted.
   */
  const readings = (s: string): string[] => {
    const text = Buffer.from(s, 'utf8').toString('utf8');
    return text.startsWith('\uFEFF') ? [text, text.slice(1)] : [text];
  };
  // The template itself (JSON config text) may carry a lone surrogate and control characters: they are not
  // encoded to UTF-8 on the way in, so they reach JSON.stringify as they are and must be escaped by it.
  const TEMPLATE = '«{$value}»\u0000"\\\n\u2028[{$headers.h}]\ud800';
  const routes = [
    { name: 'raw-03', topic_pattern: 'raw', prompt_id: AGENT, transform_template: TEMPLATE },
    { name: 'raw-10', topic_pattern: 'raw10', prompt_id: AGENT, transform_template: TEMPLATE, a2a_version: '1.0' },
    { name: 'plain', topic_pattern: 'plain', prompt_id: AGENT },
  ];

  test(`any value or header text reaches the agent as valid JSON whose text part is exactly the rendered text (${P.propertyRuns} batches)`, async () => {
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: JSON.stringify(routes), MAX_RETRIES: '0', ORDERING: 'none' });
    const renderers = new Map(parseRoutes(routes).map((r) => [r.topicPattern, compileRenderer(r, 256 * 1024)]));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(nasty, nasty), { minLength: 1, maxLength: 8 }), async (pairs) => {
        sim.clear();
        const records: TestRecord[] = pairs.flatMap(([value, header], i) =>
          ['raw', 'raw10', 'plain'].map((topic) => ({ topic, partition: 0, offset: i, value, headers: { h: header } })),
        );
        const event = mskEvent(records);
        const result = await bridge.run(event);
        figures.bodySafetyRecords += records.length;
        // The rendered text, as the route's own renderer makes it from the decoded record ...
        const rendered = new Map(decodeEvent(event).records.map((r) => [`${r.topic}@${r.offset}`, renderers.get(r.topic)!(r)]));
        // ... and, for the templates, as written out by hand.
        pairs.forEach(([value, header], i) => {
          const expected = readings(value).flatMap((v) => readings(header).map((h) => `«${v}»\u0000"\\\n\u2028[${h}]\ud800`));
          for (const topic of ['raw', 'raw10']) {
            const r = rendered.get(`${topic}@${i}`)!;
            expect(r.ok).toBe(true);
            expect(expected).toContain(r.ok && r.text);
          }
        });
        const sends = sim.requests.filter(isSend);
        for (const req of sends) {
          expect(() => JSON.parse(req.rawBody)).not.toThrow();
          const meta = (req.body as { params: { message: { metadata: { kafka: { topic: string; offset: number } } } } }).params.message.metadata.kafka;
          const r = rendered.get(`${meta.topic}@${meta.offset}`)!;
          expect(r.ok).toBe(true);
          if (r.ok && r.text === '') {
            expect(req).toMatchObject({ outcome: 'rpcError', errorCode: -32602 }); // an empty prompt, refused as such
          } else {
            expect(req.text).toBe(r.ok && r.text);
            expect(req.outcome).toBe('message');
          }
        }
        for (const o of result.outcomes) {
          const r = rendered.get(`${o.topic}@${o.offset}`)!;
          // An empty prompt is refused by the agent (-32602): dead-lettered, never a broken request.
          if (r.ok && r.text === '') expect(o).toMatchObject({ status: 'failed', code: 'jsonrpc_-32602' });
          else expect(o.status).toBe('delivered');
        }
        expect(result.response.batchItemFailures.every((f) => rendered.get(`plain@${f.itemIdentifier.offset}`)?.ok)).toBe(true);
      }),
      { seed: P.seed + 21, numRuns: P.propertyRuns, endOnFailure: !P.shrink },
    );
  }, P.name === 'fast' ? 60_000 : 600_000);
});

describe('MAX_TEXT_BYTES: the text of one request is bounded', () => {
  const LIMIT = 256 * 1024;
  const route = (extra: object = {}) => JSON.stringify([{ name: 'r', topic_pattern: 'orders', prompt_id: AGENT, ...extra }]);

  test('default 256 KB: exactly 256 KB is sent, one byte more is dead-lettered with the reason', async () => {
    const dlq = memoryDeadLetters({ seed: 1, failRate: 0 });
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: route() }, { deadLetters: dlq });
    const result = await bridge.run(mskEvent([
      { topic: 'orders', partition: 0, offset: 1, value: 'a'.repeat(LIMIT) },
      { topic: 'orders', partition: 0, offset: 2, value: `${'a'.repeat(LIMIT - 1)}é` },
    ]));
    expect(result.outcomes.map((o) => o.status)).toEqual(['delivered', 'dead_lettered']);
    expect(result.outcomes[1].message).toBe(`rendered text is ${LIMIT + 1} bytes, over MAX_TEXT_BYTES ${LIMIT}`);
    expect(dlq.bodies[0].error).toEqual({ class: 'render_failed', message: `rendered text is ${LIMIT + 1} bytes, over MAX_TEXT_BYTES ${LIMIT}` });
    expect(Buffer.byteLength(sim.requests.filter(isSend)[0].text!)).toBe(LIMIT);
  });

  test(`on_oversize "truncate": any text under any MAX_TEXT_BYTES is cut at a character boundary, marked, within the limit (${P.propertyRuns} batches)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4096 }), fc.array(fc.string({ unit: 'binary', minLength: 1, maxLength: 2000 }), { minLength: 1, maxLength: 6 }), async (max, values) => {
        sim.clear();
        const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: route({ on_oversize: 'truncate', transform_template: '{$value}' }), MAX_TEXT_BYTES: String(max), MAX_RETRIES: '0' });
        const result = await bridge.run(mskEvent(values.map((value, i) => ({ topic: 'orders', partition: 0, offset: i, value }))));
        figures.truncationRecords += values.length;
        const sent = new Map(sim.requests.filter(isSend).map((r) => [(r.body as { id: string }).id, r.text!]));
        values.forEach((value, i) => {
          const text = sent.get(`kafka:orders-0-${i}#r`);
          const outcome = result.outcomes[i];
          const bytes = Buffer.byteLength(value, 'utf8');
          if (text === undefined) {
            // Cut to nothing (a limit smaller than the first character): the agent refuses the empty prompt.
            expect(outcome).toMatchObject({ status: 'failed', code: 'jsonrpc_-32602' });
            return;
          }
          expect(Buffer.byteLength(text, 'utf8')).toBeLessThanOrEqual(max);
          if (bytes <= max) expect(text).toBe(value);
          else {
            const marker = `\n[truncated: ${bytes} bytes in all]`;
            const body = text.endsWith(marker) ? text.slice(0, -marker.length) : text;
            expect(value.startsWith(body)).toBe(true);
            // no character was split: re-encoding the kept part loses nothing
            expect(Buffer.from(body, 'utf8').toString('utf8')).toBe(body);
            if (max >= Buffer.byteLength(marker) + 4) expect(text.endsWith(marker)).toBe(true);
          }
          expect(outcome.status).toBe('delivered');
        });
      }),
      { seed: P.seed + 31, numRuns: P.propertyRuns, endOnFailure: !P.shrink },
    );
  }, P.name === 'fast' ? 60_000 : 600_000);

  test('the limit is on text bytes: 256 KB of control characters escapes to ~1.5 MB of JSON, which Archestra refuses (413); the record is dead-lettered with that reason, not lost', async () => {
    const dlq = memoryDeadLetters({ seed: 1, failRate: 0 });
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: route({ transform_template: '{$value}' }) }, { deadLetters: dlq });
    const result = await bridge.run(mskEvent([{ topic: 'orders', partition: 0, offset: 1, value: '\u0001'.repeat(LIMIT) }]));
    expect(result.outcomes[0]).toMatchObject({ status: 'dead_lettered', code: 'http_413' });
    expect((dlq.bodies[0] as DeadLetterBody).error.class).toBe('http_413');
    expect(result.response.batchItemFailures).toEqual([]);
  });
});
