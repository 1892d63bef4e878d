import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RouteConfigError, parseRoutesText } from '../../lambda/config/routes';
import { loadSettings, SettingsError } from '../../lambda/config/settings';
import { decodeEvent, EventShapeError } from '../../lambda/decode';
import { BridgeError, ConfigError } from '../../lambda/errors';
import { HttpError } from '../../lambda/io/http';
import { scramFromSecret } from '../../lambda/io/reply-kafka';
import { createTokenSource, tokenFromSecret, TokenUnavailableError } from '../../lambda/io/token';
import { SchemaConfigError } from '../../lambda/schema/load';
import { SchemaError, unframe } from '../../lambda/schema/framing';
import { parseTemplate, TemplateError } from '../../lambda/template';
import { ContextError, readConfig } from '../../infra/context';
import { ReplyDestinationsError } from '../../infra/constructs/reply-destinations';
import { startMoto, type MotoServer } from '../support/moto';

const thrown = (f: () => unknown): unknown => {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('did not throw');
};

describe('one error family', () => {
  test.each([
    ['SettingsError', () => new SettingsError('m'), 'settings_invalid', true],
    ['RouteConfigError', () => new RouteConfigError('m'), 'routes_invalid', true],
    ['SchemaConfigError', () => new SchemaConfigError('m'), 'schema_config_invalid', true],
    ['ContextError', () => new ContextError('m'), 'context_invalid', true],
    ['ReplyDestinationsError', () => new ReplyDestinationsError('m'), 'reply_destinations_invalid', true],
    ['EventShapeError', () => new EventShapeError('m'), 'event_shape_invalid', false],
    ['TemplateError', () => new TemplateError('m'), 'template_invalid', false],
    ['SchemaError', () => new SchemaError('m'), 'schema_frame_invalid', false],
    ['HttpError', () => new HttpError('timeout', 'm'), 'timeout', false],
    ['TokenUnavailableError', () => new TokenUnavailableError('m'), 'token_unavailable', false],
  ] as const)('%s is a BridgeError with its own name and a stable code', (name, make, code, config) => {
    const err = make();
    expect(err).toBeInstanceOf(BridgeError);
    expect(err).toBeInstanceOf(Error);
    expect(err instanceof ConfigError).toBe(config);
    expect(err.name).toBe(name);
    expect(err.code).toBe(code);
    expect(err.message).toBe('m');
  });

  test('errors thrown by the product code are of the family', () => {
    expect(thrown(() => parseTemplate('{a'))).toBeInstanceOf(TemplateError);
    expect(thrown(() => decodeEvent({ eventSource: 'aws:sqs' }))).toBeInstanceOf(EventShapeError);
    expect(thrown(() => unframe(Buffer.alloc(0), 'auto', false))).toBeInstanceOf(SchemaError);
    expect(thrown(() => readConfig(() => undefined))).toBeInstanceOf(ContextError);
  });
});

describe('a rewrapped error keeps its cause', () => {
  test('routes that are not JSON: RouteConfigError <- SyntaxError', () => {
    const err = thrown(() => parseRoutesText('{', 'ROUTES_CONFIG')) as RouteConfigError;
    expect(err).toBeInstanceOf(RouteConfigError);
    expect(err.cause).toBeInstanceOf(SyntaxError);
  });

  test('settings refused for their routes: SettingsError <- RouteConfigError', () => {
    const err = thrown(() => loadSettings({ ROUTES_CONFIG: '[]', ARCHESTRA_URL: 'http://127.0.0.1:1' })) as SettingsError;
    expect(err).toBeInstanceOf(SettingsError);
    expect(err.message).toMatch(/at least one route/);
    expect(err.cause).toBeInstanceOf(RouteConfigError);
  });

  test('a routes file that cannot be read: SettingsError <- the ENOENT error', () => {
    const missing = join(mkdtempSync(join(tmpdir(), 'errors-')), 'none.json');
    const err = thrown(() => loadSettings({ ROUTES_CONFIG_FILE: missing })) as SettingsError;
    expect((err.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  test('settings refused for the environment alone have no cause to keep', () => {
    const routes = JSON.stringify([{ name: 'r', topic_pattern: 't', prompt_id: '5c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f' }]);
    const err = thrown(() => loadSettings({ ROUTES_CONFIG: routes, MAX_RETRIES: 'abc' })) as SettingsError;
    expect(err).toBeInstanceOf(SettingsError);
    expect(err.message).toMatch(/MAX_RETRIES/);
    expect('cause' in err).toBe(false);
  });

  test('a Glue frame whose zlib payload does not inflate: SchemaError <- the zlib error', () => {
    const frame = Buffer.concat([Buffer.from([3, 5]), Buffer.alloc(16), Buffer.from('not zlib')]);
    const err = thrown(() => unframe(frame, 'glue', false)) as SchemaError;
    expect(err.message).toMatch(/does not inflate/);
    // zlib's error comes from another realm under jest: compare its fields, not its prototype.
    expect((err.cause as NodeJS.ErrnoException).code).toBe('Z_DATA_ERROR');
  });

  test('a secret that is not JSON carries no cause: the parser quotes the text, which is the token', () => {
    const err = thrown(() => tokenFromSecret('{"token": s3cr3t-value')) as TokenUnavailableError;
    expect(err.code).toBe('token_invalid');
    expect(err.cause).toBeUndefined();
    expect(JSON.stringify(err) + err.message + String(err.stack)).not.toContain('s3cr3t');
  });

  describe('the token secret read', () => {
    let moto: MotoServer;
    beforeAll(async () => {
      moto = await startMoto();
    }, 60_000);
    afterAll(() => moto?.stop());

    test("a secret that does not exist: TokenUnavailableError <- Secrets Manager's error", async () => {
      const secrets = { endpoint: moto.endpoint, credentials: moto.clientConfig.credentials };
      const source = createTokenSource({ secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf', ttlMs: 60_000, secrets });
      const err = (await source.get().catch((e: unknown) => e)) as TokenUnavailableError;
      expect(err).toBeInstanceOf(TokenUnavailableError);
      expect(err.code).toBe('token_unavailable');
      expect(err.message).toMatch(/^cannot read the token secret: ResourceNotFoundException: \S/);
      expect((err.cause as Error).name).toBe('ResourceNotFoundException');
    });
  });
});

describe('the reply-Kafka SCRAM secret', () => {
  const PASSWORD = 'hunter2-scram-9f1c';
  test('is read from MSK\'s {"username", "password"} JSON', () => {
    expect(scramFromSecret(JSON.stringify({ username: 'bridge', password: PASSWORD }))).toEqual({ username: 'bridge', password: PASSWORD });
  });
  test.each([
    ['malformed JSON', `{"username": "bridge", "password": "${PASSWORD}"`, 'the secret is not JSON'],
    ['no password', JSON.stringify({ username: 'bridge' }), 'the secret needs username and password'],
    ['a password that is not a string', JSON.stringify({ username: 'bridge', password: 42 }), 'the secret needs username and password'],
    ['no secret string', undefined, 'the secret needs username and password'],
  ])('%s: a ConfigError naming the problem, never quoting the secret', (_, text, why) => {
    let err: unknown;
    try {
      scramFromSecret(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain(why);
    expect(JSON.stringify({ message: (err as Error).message, cause: String((err as Error).cause ?? '') })).not.toContain(PASSWORD);
  });
});
