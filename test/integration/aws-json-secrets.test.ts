// The token secret read over the lean AWS JSON client (lambda/io/aws-json-secrets.ts, lambda/io/token.ts) against
// real servers: moto_server for GetSecretValue itself, raw node:http servers for what moto cannot be made to do
// (throttle, fail with a 5xx, hang), one of which accepts a request only if the AWS SDK's own signer
// (@smithy/signature-v4) computes the same signature for it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AwsError } from '../../lambda/io/aws-json';
import { arnRegion, readSecretString } from '../../lambda/io/aws-json-secrets';
import { createTokenSource, TokenUnavailableError } from '../../lambda/io/token';
import { json, rawServer, signedAsTheSdkWould } from '../support/aws-json-server';
import { startMoto, type MotoServer } from '../support/moto';

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const TOKEN = 'lean-secret-token-0123456789';
const ARN = 'arn:aws:secretsmanager:eu-west-2:123456789012:secret:archestra-AbCdEf';
const JSON_11 = 'application/x-amz-json-1.1';
const reply = (res: ServerResponse, status: number, body: object) => json(res, status, body, JSON_11);
const failure = (e: unknown) => e as TokenUnavailableError;

describe('against moto_server', () => {
  let moto: MotoServer;
  let sm: SecretsManagerClient;
  const create = async (name: string, value: { SecretString?: string; SecretBinary?: Uint8Array }) =>
    (await sm.send(new CreateSecretCommand({ Name: name, ...value }))).ARN!;
  beforeAll(async () => {
    moto = await startMoto();
    sm = new SecretsManagerClient(moto.clientConfig);
  }, 60_000);
  afterAll(async () => {
    sm?.destroy();
    await moto?.stop();
  });
  const secrets = () => ({ endpoint: moto.endpoint, credentials });

  test('a plain string secret and a JSON {"token"} secret both give the token', async () => {
    const plain = await create('lean/plain', { SecretString: ` ${TOKEN}\n` });
    const asJson = await create('lean/json', { SecretString: JSON.stringify({ token: TOKEN }) });
    expect(await readSecretString(plain, undefined, secrets())).toBe(` ${TOKEN}\n`);
    expect(await createTokenSource({ secretArn: plain, ttlMs: 60_000, secrets: secrets() }).get()).toBe(TOKEN);
    expect(await createTokenSource({ secretArn: asJson, ttlMs: 60_000, secrets: secrets() }).get()).toBe(TOKEN);
  });

  test('a missing secret: ResourceNotFoundException, with its message, as the cause of token_unavailable', async () => {
    const missing = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf';
    const direct = (await readSecretString(missing, undefined, secrets()).catch((e: unknown) => e)) as AwsError;
    expect(direct).toBeInstanceOf(AwsError);
    expect(direct).toMatchObject({ name: 'ResourceNotFoundException', retryable: false });
    expect(direct.message).toMatch(/can't find the specified secret/i);
    const err = failure(await createTokenSource({ secretArn: missing, ttlMs: 60_000, secrets: secrets() }).get().catch((e: unknown) => e));
    expect(err).toBeInstanceOf(TokenUnavailableError);
    expect(err.code).toBe('token_unavailable');
    expect(err.message).toBe(`cannot read the token secret: ResourceNotFoundException: ${direct.message}`);
    expect(err.cause).toBeInstanceOf(AwsError);
  });

  test('a binary secret has no SecretString: token_invalid', async () => {
    const binary = await create('lean/binary', { SecretBinary: Buffer.from(TOKEN) });
    expect(await readSecretString(binary, undefined, secrets())).toBeUndefined();
    const err = failure(await createTokenSource({ secretArn: binary, ttlMs: 60_000, secrets: secrets() }).get().catch((e: unknown) => e));
    expect(err).toMatchObject({ code: 'token_invalid', message: 'token secret has no SecretString' });
  });

  test('endpoint from AWS_ENDPOINT_URL_SECRETS_MANAGER before AWS_ENDPOINT_URL; credentials from the environment', async () => {
    const arn = await create('lean/env', { SecretString: TOKEN });
    const keys = { AWS_ACCESS_KEY_ID: 'AKIDENV', AWS_SECRET_ACCESS_KEY: 'secret', AWS_SESSION_TOKEN: 'session' };
    const nowhere = 'http://127.0.0.1:1';
    expect(await readSecretString(arn, undefined, { env: { ...keys, AWS_ENDPOINT_URL_SECRETS_MANAGER: moto.endpoint, AWS_ENDPOINT_URL: nowhere } })).toBe(TOKEN);
    expect(await readSecretString(arn, undefined, { env: { ...keys, AWS_ENDPOINT_URL: moto.endpoint } })).toBe(TOKEN);
    // Where it went when only AWS_ENDPOINT_URL says otherwise: refused, i.e. not to moto.
    await expect(readSecretString(arn, undefined, { env: { ...keys, AWS_ENDPOINT_URL: nowhere }, maxAttempts: 1 })).rejects.toMatchObject({ name: 'HttpError', code: 'network' });
  });

  test('without credentials in the environment (a profile, outside Lambda) the SDK reads the secret', async () => {
    const arn = await create('lean/profile', { SecretString: TOKEN });
    const dir = mkdtempSync(path.join(tmpdir(), 'lean-secrets-'));
    const saved = { ...process.env };
    try {
      writeFileSync(path.join(dir, 'credentials'), '[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = fromfile\n');
      for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_ENDPOINT_URL']) delete process.env[k];
      Object.assign(process.env, { AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'credentials'), AWS_CONFIG_FILE: path.join(dir, 'config'), AWS_ENDPOINT_URL_SECRETS_MANAGER: moto.endpoint });
      // The lean client alone would refuse for want of credentials; the SDK's provider chain finds the file's.
      expect(await readSecretString(arn)).toBe(TOKEN);
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('arnRegion: the region an ARN names, none for a plain name', () => {
  expect(arnRegion(ARN)).toBe('eu-west-2');
  expect(arnRegion('arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:x')).toBe('cn-north-1');
  expect(arnRegion('archestra-token')).toBeUndefined();
});

test("the request: JSON 1.1, secretsmanager.GetSecretValue, signed as the AWS SDK's signer would for the ARN's region", async () => {
  const server = await rawServer(async (req, body, _n, res) => {
    const ok = await signedAsTheSdkWould(req, body, { service: 'secretsmanager', region: 'eu-west-2', credentials: { ...credentials, sessionToken: 'tok' } });
    if (ok) reply(res, 200, { ARN, Name: 'archestra', SecretString: TOKEN });
    else reply(res, 400, { __type: 'InvalidSignatureException', message: 'signature mismatch' });
  });
  try {
    // AWS_REGION says otherwise: the ARN's region wins, or the server's check (eu-west-2) fails.
    const env = { AWS_REGION: 'us-east-1' };
    expect(await readSecretString(ARN, undefined, { endpoint: server.url, env, credentials: { ...credentials, sessionToken: 'tok' } })).toBe(TOKEN);
    expect(server.seen[0].headers).toMatchObject({ 'content-type': JSON_11, 'x-amz-target': 'secretsmanager.GetSecretValue' });
    expect(JSON.parse(server.seen[0].body)).toEqual({ SecretId: ARN });
    // A wrong secret key is refused by the same server, and not retried: the check can fail.
    const wrong = { ...credentials, secretAccessKey: 'other', sessionToken: 'tok' };
    await expect(readSecretString(ARN, undefined, { endpoint: server.url, env, credentials: wrong })).rejects.toMatchObject({ name: 'InvalidSignatureException' });
    expect(server.seen).toHaveLength(2);
  } finally {
    await server.close();
  }
});

describe('retries and deadlines of the token read', () => {
  test('a 500 then throttling are retried, then the token is returned', async () => {
    const server = await rawServer((_req, _body, n, res) => {
      if (n === 1) reply(res, 500, { __type: 'InternalServiceError', message: 'boom' });
      else if (n === 2) reply(res, 400, { __type: 'ThrottlingException', message: 'Rate exceeded' });
      else reply(res, 200, { SecretString: TOKEN });
    });
    try {
      const source = createTokenSource({ secretArn: ARN, ttlMs: 60_000, secrets: { endpoint: server.url, credentials, random: () => 0 } });
      expect(await source.get()).toBe(TOKEN);
      expect(server.seen).toHaveLength(3);
    } finally {
      await server.close();
    }
  });

  test('three 5xx in a row: token_unavailable after the third attempt', async () => {
    const server = await rawServer((_req, _body, _n, res) => reply(res, 503, { __type: 'InternalServiceError', message: 'unavailable' }));
    try {
      const source = createTokenSource({ secretArn: ARN, ttlMs: 60_000, secrets: { endpoint: server.url, credentials, random: () => 0 } });
      const err = failure(await source.get().catch((e: unknown) => e));
      expect(err).toMatchObject({ code: 'token_unavailable', message: 'cannot read the token secret: InternalServiceError: unavailable' });
      expect((err.cause as AwsError).status).toBe(503);
      expect(server.seen).toHaveLength(3);
    } finally {
      await server.close();
    }
  });

  test("a server that never answers: 5 s per attempt, then the 10 s budget ends the read", async () => {
    const held: ServerResponse[] = [];
    const server = await rawServer((_req, _body, _n, res) => held.push(res));
    try {
      const source = createTokenSource({ secretArn: ARN, ttlMs: 60_000, secrets: { endpoint: server.url, credentials } });
      const t0 = Date.now();
      const err = failure(await source.get().catch((e: unknown) => e));
      const took = Date.now() - t0;
      expect(err).toMatchObject({ code: 'token_unavailable' });
      expect(err.message).toMatch(/^cannot read the token secret: AbortError: Secrets Manager call aborted/);
      expect(took).toBeGreaterThanOrEqual(9_900);
      expect(took).toBeLessThan(13_000);
      // The first attempt's own 5 s limit ended it, and a second was under way when the budget ran out.
      expect(server.seen).toHaveLength(2);
    } finally {
      for (const r of held) r.destroy();
      await server.close();
    }
  }, 20_000);

  test("the caller's signal ends a hanging read at once", async () => {
    const held: ServerResponse[] = [];
    const server = await rawServer((_req, _body, _n, res) => held.push(res));
    try {
      const source = createTokenSource({ secretArn: ARN, ttlMs: 60_000, secrets: { endpoint: server.url, credentials } });
      const ac = new AbortController();
      const pending = source.get({ signal: ac.signal }).catch((e: unknown) => e);
      while (held.length < 1) await new Promise((r) => setTimeout(r, 10));
      const t0 = Date.now();
      ac.abort();
      const err = failure(await pending);
      expect(Date.now() - t0).toBeLessThan(1_000);
      expect(err).toMatchObject({ code: 'token_unavailable' });
      await new Promise((r) => setTimeout(r, 200));
      expect(server.seen).toHaveLength(1);
    } finally {
      for (const r of held) r.destroy();
      await server.close();
    }
  });
});
