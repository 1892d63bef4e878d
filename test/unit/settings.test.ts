import { join } from 'node:path';
import { checkTransport, loadSettings, SettingsError } from '../../lambda/config/settings';
import { tokenFromSecret } from '../../lambda/io/token';
import { TOKEN_PLACEHOLDER } from '../../infra/constructs/archestra-token';

const AGENT = '5c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f';
const ROUTES = JSON.stringify([{ name: 'orders', topic_pattern: 'orders', prompt_id: AGENT }]);
const ROUTES_WITH_URLS = JSON.stringify([{ name: 'own', topic_pattern: 'orders', prompt_id: 'agent-1', url: 'https://agent.example.com/a2a' }]);

/** A minimal valid environment plus overrides. */
const env = (extra: Record<string, string | undefined> = {}) => ({
  ROUTES_CONFIG: ROUTES,
  ARCHESTRA_URL: 'https://archestra.example.com',
  ARCHESTRA_TOKEN_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:archestra-AbCdEf',
  ...extra,
});

function problem(e: Record<string, string | undefined>): string {
  try {
    loadSettings(e);
  } catch (err) {
    expect(err).toBeInstanceOf(SettingsError);
    return (err as Error).message;
  }
  throw new Error('expected a SettingsError');
}

describe('loadSettings: defaults', () => {
  test('a minimal environment gets every default', () => {
    const s = loadSettings(env());
    expect(s).toEqual({
      routes: [expect.objectContaining({ name: 'orders', agentId: AGENT })],
      routesDir: process.cwd(),
      archestraUrl: 'https://archestra.example.com',
      token: undefined,
      tokenSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:archestra-AbCdEf',
      tokenTtlMs: 300_000,
      authCooldownMs: 60_000,
      breakerFailures: 5,
      breakerCooldownMs: 30_000,
      dlqUrl: undefined,
      dlqMaxMessageBytes: 262_144,
      ordering: 'key',
      replyKafka: { auth: 'none', tls: false },
      replyStoreMaxBytes: 300 * 1024,
      maxConcurrency: 10,
      maxRetries: 3,
      retryDelayMs: 1000,
      requestTimeoutMs: 60_000,
      safetyMarginMs: 2000,
      minRequestMs: 1000,
      logReplyChars: 500,
      maxTextBytes: 262_144,
      allowInsecureHttp: false,
      idempotencyTable: undefined,
      idempotencyTtlSeconds: 86_400,
      unknownOutcomeMarginMs: 60_000,
      conversationTtlSeconds: 604_800,
    });
  });

  test('empty strings count as unset (CloudFormation often passes "")', () => {
    const s = loadSettings(env({ MAX_CONCURRENCY: '', ORDERING: '', ARCHESTRA_TOKEN: '', DLQ_URL: '' }));
    expect(s.maxConcurrency).toBe(10);
    expect(s.ordering).toBe('key');
    expect(s.token).toBeUndefined();
    expect(s.dlqUrl).toBeUndefined();
  });

  test('a trailing slash on ARCHESTRA_URL is removed', () => {
    expect(loadSettings(env({ ARCHESTRA_URL: 'https://archestra.example.com/api//' })).archestraUrl).toBe('https://archestra.example.com/api');
  });

  test('unrelated variables are ignored', () => {
    expect(() => loadSettings(env({ PATH: '/usr/bin', AWS_REGION: 'eu-west-1', SOMETHING_ELSE: 'x' }))).not.toThrow();
  });
});

describe('loadSettings: every knob is parsed', () => {
  test('all numeric and enum knobs, with unit conversions', () => {
    const s = loadSettings(
      env({
        ARCHESTRA_TOKEN_SECRET_ARN: undefined,
        TOKEN_CACHE_TTL_SECONDS: '60',
        DLQ_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/bridge-dlq',
        DLQ_MAX_MESSAGE_BYTES: '65536',
        ORDERING: 'partition',
        MAX_CONCURRENCY: '50',
        MAX_RETRIES: '0',
        RETRY_DELAY: '0.25',
        REQUEST_TIMEOUT: '12.5',
        SAFETY_MARGIN_SECONDS: '5',
        MIN_REQUEST_SECONDS: '0',
        LOG_REPLY_CHARS: '0',
        MAX_TEXT_BYTES: '1000',
        ALLOW_INSECURE_HTTP: 'true',
        IDEMPOTENCY_TABLE: 'bridge-idem',
        IDEMPOTENCY_TTL_SECONDS: '3600',
        ARCHESTRA_TOKEN: 'tok-123',
      }),
    );
    expect(s).toMatchObject({
      tokenTtlMs: 60_000,
      dlqUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/bridge-dlq',
      dlqMaxMessageBytes: 65_536,
      ordering: 'partition',
      maxConcurrency: 50,
      maxRetries: 0,
      retryDelayMs: 250,
      requestTimeoutMs: 12_500,
      safetyMarginMs: 5000,
      minRequestMs: 0,
      logReplyChars: 0,
      maxTextBytes: 1000,
      allowInsecureHttp: true,
      idempotencyTable: 'bridge-idem',
      idempotencyTtlSeconds: 3600,
      token: 'tok-123',
    });
  });

  test.each([['partition'], ['key'], ['none']])('ORDERING=%s', (ordering) => {
    expect(loadSettings(env({ ORDERING: ordering })).ordering).toBe(ordering);
  });

  test.each([
    ['true', true],
    ['1', true],
    ['yes', true],
    ['false', false],
    ['0', false],
    ['no', false],
  ])('ALLOW_INSECURE_HTTP=%s -> %p', (v, expected) => {
    expect(loadSettings(env({ ALLOW_INSECURE_HTTP: v })).allowInsecureHttp).toBe(expected);
  });

  test('ARCHESTRA_TOKEN_SECRET_ARN is passed through', () => {
    const arn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:archestra-token-AbCdEf';
    expect(loadSettings(env({ ARCHESTRA_TOKEN_SECRET_ARN: arn })).tokenSecretArn).toBe(arn);
  });

  test.each([
    ['MAX_CONCURRENCY', '1', 'maxConcurrency', 1],
    ['MAX_CONCURRENCY', '1000', 'maxConcurrency', 1000],
    ['MAX_RETRIES', '20', 'maxRetries', 20],
    ['DLQ_MAX_MESSAGE_BYTES', '16384', 'dlqMaxMessageBytes', 16_384],
    ['DLQ_MAX_MESSAGE_BYTES', '1048576', 'dlqMaxMessageBytes', 1_048_576],
    ['MAX_TEXT_BYTES', '1', 'maxTextBytes', 1],
    ['IDEMPOTENCY_TTL_SECONDS', '60', 'idempotencyTtlSeconds', 60],
    ['RETRY_DELAY', '0', 'retryDelayMs', 0],
    ['UNKNOWN_OUTCOME_MARGIN_SECONDS', '0', 'unknownOutcomeMarginMs', 0],
    ['UNKNOWN_OUTCOME_MARGIN_SECONDS', '86400', 'unknownOutcomeMarginMs', 86_400_000],
  ] as const)('boundary %s=%s is accepted', (name, value, key, expected) => {
    expect(loadSettings(env({ [name]: value }))[key]).toBe(expected);
  });
});

describe('loadSettings: invalid values name the variable', () => {
  test.each([
    ['MAX_CONCURRENCY', '0'],
    ['MAX_CONCURRENCY', '1001'],
    ['MAX_CONCURRENCY', '2.5'],
    ['MAX_CONCURRENCY', 'ten'],
    ['MAX_RETRIES', '-1'],
    ['MAX_RETRIES', '21'],
    ['ORDERING', 'bogus'],
    ['ORDERING', 'KEY'],
    ['TOKEN_CACHE_TTL_SECONDS', '0'],
    ['REQUEST_TIMEOUT', '-3'],
    ['RETRY_DELAY', '-0.5'],
    ['SAFETY_MARGIN_SECONDS', '-1'],
    ['MIN_REQUEST_SECONDS', 'soon'],
    ['DLQ_MAX_MESSAGE_BYTES', '1024'],
    ['DLQ_MAX_MESSAGE_BYTES', '2000000'],
    ['MAX_TEXT_BYTES', '0'],
    ['LOG_REPLY_CHARS', '-1'],
    ['IDEMPOTENCY_TTL_SECONDS', '59'],
    ['UNKNOWN_OUTCOME_MARGIN_SECONDS', '-1'],
    ['UNKNOWN_OUTCOME_MARGIN_SECONDS', '86401'],
    ['UNKNOWN_OUTCOME_MARGIN_SECONDS', 'soon'],
    ['IDEMPOTENCY_TABLE', 'ab'],
    ['ALLOW_INSECURE_HTTP', 'maybe'],
    ['ARCHESTRA_URL', 'not a url'],
    ['ARCHESTRA_URL', 'ftp://archestra.example.com'],
    ['DLQ_URL', 'queue-name'],
    ['ARCHESTRA_TOKEN_SECRET_ARN', 'my-secret'],
  ])('%s=%p', (name, value) => {
    const m = problem(env({ [name]: value }));
    expect(m).toMatch(/^invalid environment:\n {2}- /);
    expect(m).toContain(`- ${name}: `);
  });

  test('several invalid variables are all reported at once', () => {
    const m = problem(env({ MAX_CONCURRENCY: '0', ORDERING: 'bogus', MAX_RETRIES: 'x' }));
    expect(m).toContain('MAX_CONCURRENCY: ');
    expect(m).toContain('ORDERING: ');
    expect(m).toContain('MAX_RETRIES: ');
  });

  test('SettingsError is a named Error', () => {
    const e = new SettingsError('x');
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('SettingsError');
  });
});

describe('loadSettings: routes source', () => {
  test('no routes at all is an error naming both variables', () => {
    expect(problem({ ARCHESTRA_URL: 'https://a.example.com' })).toBe('invalid environment:\n  - no routes: set ROUTES_CONFIG (JSON text) or ROUTES_CONFIG_FILE (a path)');
  });

  test('invalid ROUTES_CONFIG is a SettingsError carrying the route problem', () => {
    const m = problem(env({ ROUTES_CONFIG: JSON.stringify([{ name: 'a', topic_pattern: 't' }]) }));
    expect(m).toContain('ROUTES_CONFIG is invalid');
    expect(m).toContain('route 0 ("a"): field "prompt_id"');
  });

  test('ROUTES_CONFIG that is not JSON names the variable', () => {
    expect(problem(env({ ROUTES_CONFIG: '[oops' }))).toMatch(/^invalid environment:\n {2}- ROUTES_CONFIG: not valid JSON/);
  });

  test('ROUTES_CONFIG_FILE pointing at a missing file names the variable, the path and the error code', () => {
    const path = join(__dirname, 'does-not-exist', 'routes.json');
    const m = problem({ ROUTES_CONFIG_FILE: path, ARCHESTRA_URL: 'https://a.example.com' });
    expect(m).toBe(`invalid environment:\n  - ROUTES_CONFIG_FILE: cannot read ${path}: ENOENT`);
  });

  test('ROUTES_CONFIG takes precedence over ROUTES_CONFIG_FILE (the file is not read)', () => {
    const s = loadSettings(env({ ROUTES_CONFIG_FILE: join(__dirname, 'does-not-exist.json') }));
    expect(s.routes.map((r) => r.name)).toEqual(['orders']);
  });
});

describe('loadSettings: ARCHESTRA_URL and transport security', () => {
  test('ARCHESTRA_URL is required when a route has no url of its own, naming the routes', () => {
    const routes = JSON.stringify([
      { name: 'a', topic_pattern: 't', prompt_id: AGENT },
      { name: 'b', topic_pattern: 't', prompt_id: 'p', url: 'https://x.example.com' },
      { name: 'c', topic_pattern: 't', prompt_id: AGENT },
    ]);
    expect(problem({ ROUTES_CONFIG: routes })).toBe('invalid environment:\n  - ARCHESTRA_URL: required by route(s) without their own url: a, c');
  });

  test('ARCHESTRA_URL is optional when every route has its own url', () => {
    const s = loadSettings({ ROUTES_CONFIG: ROUTES_WITH_URLS });
    expect(s.archestraUrl).toBeUndefined();
    expect(s.routes[0].url).toBe('https://agent.example.com/a2a');
  });

  test('plain http to a non-loopback ARCHESTRA_URL is refused', () => {
    const m = problem(env({ ARCHESTRA_URL: 'http://archestra.internal:9000' }));
    expect(m).toContain('ARCHESTRA_URL uses plain http:// to a non-loopback host (archestra.internal)');
    expect(m).toContain('ALLOW_INSECURE_HTTP=true');
  });

  test('plain http to a non-loopback route url is refused, naming the route', () => {
    const routes = JSON.stringify([{ name: 'ext', topic_pattern: 't', prompt_id: 'p', url: 'http://10.1.2.3/a2a' }]);
    expect(problem(env({ ROUTES_CONFIG: routes }))).toContain('route "ext" url uses plain http:// to a non-loopback host (10.1.2.3)');
  });

  test('ALLOW_INSECURE_HTTP=true allows non-loopback http', () => {
    const routes = JSON.stringify([{ name: 'ext', topic_pattern: 't', prompt_id: 'p', url: 'http://10.1.2.3/a2a' }]);
    const s = loadSettings(env({ ARCHESTRA_URL: 'http://archestra.internal:9000', ROUTES_CONFIG: routes, ALLOW_INSECURE_HTTP: 'true' }));
    expect(s.archestraUrl).toBe('http://archestra.internal:9000');
    expect(s.allowInsecureHttp).toBe(true);
  });

  test.each([['http://localhost:9000'], ['http://LOCALHOST'], ['http://127.0.0.1:8080'], ['http://127.10.20.30'], ['http://[::1]:9000']])(
    'loopback %s is allowed over http',
    (url) => {
      expect(loadSettings(env({ ARCHESTRA_URL: url })).archestraUrl).toBe(url);
    },
  );

  test.each([['http://localhost.evil.example'], ['http://127.0.0.1.nip.io'], ['http://0.0.0.0'], ['http://[::2]']])(
    'look-alike %s is not loopback',
    (url) => {
      expect(problem(env({ ARCHESTRA_URL: url }))).toContain('uses plain http:// to a non-loopback host');
    },
  );

  test('checkTransport allows https everywhere and reports the label it is given', () => {
    expect(checkTransport('https://anything.example.com', false, 'X')).toBeUndefined();
    expect(checkTransport('http://anything.example.com', true, 'X')).toBeUndefined();
    expect(checkTransport('http://anything.example.com', false, 'X')).toMatch(/^X uses plain http:\/\//);
  });

  test('ARCHESTRA_TOKEN and ARCHESTRA_TOKEN_SECRET_ARN together are an error', () => {
    const m = problem(env({ ARCHESTRA_TOKEN: 't', ARCHESTRA_TOKEN_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:1:secret:x' }));
    expect(m).toContain('ARCHESTRA_TOKEN and ARCHESTRA_TOKEN_SECRET_ARN are both set: give one');
  });

  test('cross-field problems are all reported at once', () => {
    const m = problem({
      ROUTES_CONFIG: ROUTES,
      ARCHESTRA_URL: 'http://archestra.example.com',
      ARCHESTRA_TOKEN: 't',
      ARCHESTRA_TOKEN_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:1:secret:x',
    });
    expect(m.split('\n').slice(1)).toHaveLength(2);
  });
});

describe('loadSettings: credentials and agent ids checked at cold start', () => {
  test('a route sent to Archestra with neither ARCHESTRA_TOKEN nor ARCHESTRA_TOKEN_SECRET_ARN fails at cold start', () => {
    expect(problem(env({ ARCHESTRA_TOKEN_SECRET_ARN: undefined }))).toBe(
      'invalid environment:\n  - ARCHESTRA_TOKEN_SECRET_ARN (or ARCHESTRA_TOKEN): required by route(s) sent to Archestra: orders',
    );
    // Routes with their own url never get the token: none is needed.
    expect(loadSettings({ ROUTES_CONFIG: ROUTES_WITH_URLS }).tokenSecretArn).toBeUndefined();
  });

  test('an Archestra route whose prompt_id is not a UUID fails at cold start (Archestra answers HTTP 400 to it)', () => {
    const routes = JSON.stringify([{ name: 'triage', topic_pattern: 'orders', prompt_id: 'order-triage' }]);
    expect(problem(env({ ROUTES_CONFIG: routes }))).toContain('route "triage": prompt_id "order-triage" is not a UUID');
  });

  test('an ARCHESTRA_TOKEN with a character no HTTP header allows is a cold-start error that does not echo it', () => {
    const m = problem(env({ ARCHESTRA_TOKEN_SECRET_ARN: undefined, ARCHESTRA_TOKEN: 'abc\ndef-secret' }));
    expect(m).toContain('ARCHESTRA_TOKEN: contains a character not allowed in a bearer token');
    expect(m).not.toContain('def-secret');
    expect(loadSettings(env({ ARCHESTRA_TOKEN_SECRET_ARN: undefined, ARCHESTRA_TOKEN: '  tok-123\n' })).token).toBe('tok-123');
  });

  test('the CDK stack\'s placeholder is never taken for a token, in ARCHESTRA_TOKEN or in the secret', () => {
    expect(problem(env({ ARCHESTRA_TOKEN_SECRET_ARN: undefined, ARCHESTRA_TOKEN: 'REPLACE_ME' }))).toContain('ARCHESTRA_TOKEN: still holds the placeholder the stack created it with');
    expect(() => tokenFromSecret(TOKEN_PLACEHOLDER)).toThrow(/still holds the placeholder/);
    expect(() => tokenFromSecret(JSON.stringify({ token: 'REPLACE_ME-later' }))).toThrow(/still holds the placeholder/);
  });

  test('AUTH_COOLDOWN_SECONDS is read in seconds', () => {
    expect(loadSettings(env({ AUTH_COOLDOWN_SECONDS: '2.5' })).authCooldownMs).toBe(2500);
    expect(problem(env({ AUTH_COOLDOWN_SECONDS: '-1' }))).toContain('AUTH_COOLDOWN_SECONDS');
  });

  test('settings errors and route errors are reported together, in one message', () => {
    const m = problem({ ROUTES_CONFIG: JSON.stringify([{ name: 'a', topic_pattern: 't' }]), MAX_CONCURRENCY: '0', ARCHESTRA_URL: 'not a url' });
    expect(m).toContain('MAX_CONCURRENCY: ');
    expect(m).toContain('ARCHESTRA_URL: ');
    expect(m).toContain('route 0 ("a"): field "prompt_id"');
  });
});

describe('loadSettings: conversations per key need the store and key ordering', () => {
  const conv = JSON.stringify([{ name: 'chat', topic_pattern: 'orders', prompt_id: AGENT, conversation: 'key' }]);

  test('without IDEMPOTENCY_TABLE a conversation route is refused at cold start', () => {
    expect(problem(env({ ROUTES_CONFIG: conv }))).toContain('route "chat": conversation "key" needs IDEMPOTENCY_TABLE');
  });

  test('with ORDERING=none it is refused: records of one key would race for the conversation', () => {
    expect(problem(env({ ROUTES_CONFIG: conv, IDEMPOTENCY_TABLE: 'idem', ORDERING: 'none' }))).toContain('route "chat": conversation "key" needs ORDERING=key or partition');
  });

  test('with the table and key ordering it loads; CONVERSATION_TTL_SECONDS is read and bounded', () => {
    expect(loadSettings(env({ ROUTES_CONFIG: conv, IDEMPOTENCY_TABLE: 'idem', CONVERSATION_TTL_SECONDS: '3600' })).conversationTtlSeconds).toBe(3600);
    expect(problem(env({ CONVERSATION_TTL_SECONDS: '10' }))).toContain('CONVERSATION_TTL_SECONDS');
  });
});

test('an invalid value is quoted when short (MAX_RETRIES=abc), only its length when long (a token in the wrong place)', () => {
  expect(problem(env({ MAX_RETRIES: 'abc' }))).toMatch(/- MAX_RETRIES: .* \(got "abc"\)$/m);
  const long = 'x'.repeat(40);
  const m = problem(env({ MAX_RETRIES: long }));
  expect(m).toMatch(/- MAX_RETRIES: .* \(got a value of 40 characters, not shown\)$/m);
  expect(m).not.toContain(long);
});
