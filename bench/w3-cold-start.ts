// W3, bundle and cold start: fresh node processes loading dist/handler.js and serving one record, spawn to answer,
// with and without the idempotency table, with the token in the environment or read from Secrets Manager (moto_server),
// beside a reference bundle without the AWS SDK that the bench builds itself.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { ROOT } from './agent';
import { bucket, checkAgent, handlerChild, lambdaEnv, log, runChild, withAgent, writeEvent, type ColdReport } from './child';
import { BUNDLE, TMP, TOKEN, type BenchOptions } from './options';
import { startMoto } from '../test/support/moto';
import { buildEvent, summarize, type Summary } from './workloads';


export interface W3Result {
  bundleBytes: number;
  gzipBytes: number;
  mapBytes: number;
  /** dist/node_modules/<name>/index.js: built apart (scripts/bundle-lazy.mjs), read only by the deployments and calls that use them. */
  lazy?: Array<{ name: string; bytes: number }>;
  /** What undici 7 (the transport candidate of #18) would add at load: minified bytes and require time in a fresh node. */
  undici?: { bytes: number; requireMs: Summary; httpRequireMs: Summary };
  variants: Array<{ name: string; boot: Summary; require: Summary; firstInvoke: Summary; inProcess: Summary; spawnToAnswer: Summary }>;
  /**
   * Part of the Secrets Manager rows' first invocation, measured apart: moto_server's answer to GetSecretValue from a
   * warm client in the bench's process.
   */
  secrets?: { getSecretMs: Summary };
}

/**
 * A reference bundle: the same sources and bundle options as `npm run build`, with every `@aws-sdk/client-*`
 * module replaced by an empty stub, i.e. what loading the handler costs with no AWS SDK in it at all: the floor
 * the lazy `import()` of each client (lambda/io/*.ts) can reach at load. Only for configurations that never
 * reach an AWS client.
 */
export async function buildWithoutSdk(): Promise<string> {
  const optionsModule = pathToFileURL(path.join(ROOT, 'scripts/bundle-options.mjs')).href;
  const { bundleOptions } = (await import(optionsModule)) as { bundleOptions: Record<string, unknown> };
  const { build } = await import('esbuild');
  const outfile = path.join(TMP, 'reference-no-sdk/handler.js');
  await build({
    ...bundleOptions,
    absWorkingDir: ROOT,
    entryPoints: ['lambda/handler.ts'],
    outfile,
    sourcemap: false,
    plugins: [
      {
        name: 'stub-aws-sdk-clients',
        setup(b) {
          b.onResolve({ filter: /^@aws-sdk\/client-/ }, (a) => ({ path: a.path, namespace: 'stub' }));
          b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({
            contents: 'module.exports = new Proxy({}, { get: () => class { send() { throw new Error("AWS SDK stubbed out of a bench reference bundle"); } } });',
            loader: 'js',
          }));
        },
      },
    ],
  });
  return outfile;
}

/**
 * A DynamoDB-compatible server (dynalite: in the bench's process, in memory, on a loopback port) for the cold start
 * with IDEMPOTENCY_TABLE; one fresh table per run, so every run's record is a first claim, not a duplicate.
 */
export async function startDynalite(): Promise<{ endpoint: string; createTable(name: string): Promise<void>; stop(): Promise<void> }> {
  const dynalite = require('dynalite') as (o: { createTableMs?: number }) => import('node:http').Server;
  const { DynamoDBClient, CreateTableCommand } = await import('@aws-sdk/client-dynamodb');
  const server = dynalite({ createTableMs: 0 });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
  const endpoint = `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`;
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
  return {
    endpoint,
    async createTable(name) {
      await client.send(
        new CreateTableCommand({ TableName: name, AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }], BillingMode: 'PAY_PER_REQUEST' }),
      );
    },
    async stop() {
      client.destroy();
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** undici bundled alone with the bundle's options, and the time a fresh node takes to require it (beside node:http and node:https). */
async function undiciAtLoad(runs: number): Promise<W3Result['undici']> {
  const optionsModule = pathToFileURL(path.join(ROOT, 'scripts/bundle-options.mjs')).href;
  const { bundleOptions } = (await import(optionsModule)) as { bundleOptions: Record<string, unknown> };
  const { build } = await import('esbuild');
  const outfile = path.join(TMP, 'undici-alone/index.js');
  await build({ ...bundleOptions, external: [], sourcemap: false, absWorkingDir: ROOT, stdin: { contents: "module.exports = require('undici');", resolveDir: ROOT, loader: 'js' }, outfile });
  const timed = (what: string) =>
    `const fs=require('fs');const t=process.hrtime.bigint();${what};fs.writeSync(3,JSON.stringify({ok:true,ms:Number(process.hrtime.bigint()-t)/1e6})+'\\n')`;
  const u: number[] = [];
  const h: number[] = [];
  for (let i = 0; i < runs; i++) {
    u.push((await runChild<{ ok: boolean; ms: number }>(['-e', timed(`require(${JSON.stringify(outfile)})`)], { PATH: process.env.PATH ?? '' }, 'undici require')).report.ms);
    h.push((await runChild<{ ok: boolean; ms: number }>(['-e', timed("require('node:http');require('node:https')")], { PATH: process.env.PATH ?? '' }, 'node:http require')).report.ms);
  }
  return { bytes: statSync(outfile).size, requireMs: summarize(u), httpRequireMs: summarize(h) };
}

/** The lazily loaded modules beside the bundle: node_modules/<name>/index.js and node_modules/@scope/<name>/index.js. */
function lazyChunks(dir: string): Array<{ name: string; bytes: number }> {
  const out: Array<{ name: string; bytes: number }> = [];
  const visit = (rel: string) => {
    for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const name = rel ? `${rel}/${e.name}` : e.name;
      const index = statSync(path.join(dir, name, 'index.js'), { throwIfNoEntry: false });
      if (index) out.push({ name, bytes: index.size });
      else if (!rel && e.name.startsWith('@')) visit(e.name);
    }
  };
  if (statSync(dir, { throwIfNoEntry: false })) visit('');
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The token as a Secrets Manager secret in moto_server (its own process, on loopback), for the cold starts that read
 * it; getSecretMs times a warm client's reads, i.e. moto's answer, which is not Secrets Manager's.
 */
async function startSecret(runs: number): Promise<{ endpoint: string; arn: string; getSecretMs: Summary; stop(): Promise<void> }> {
  const moto = await startMoto();
  try {
    const { SecretsManagerClient, CreateSecretCommand, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
    const client = new SecretsManagerClient(moto.clientConfig);
    const { ARN } = await client.send(new CreateSecretCommand({ Name: 'kafka-a2a-bridge-bench-token', SecretString: TOKEN }));
    if (!ARN) throw new Error('moto_server created the secret without an ARN');
    const read = () => client.send(new GetSecretValueCommand({ SecretId: ARN }));
    await read();
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = process.hrtime.bigint();
      await read();
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    client.destroy();
    return { endpoint: moto.endpoint, arn: ARN, getSecretMs: summarize(times), stop: () => moto.stop() };
  } catch (e) {
    await moto.stop();
    throw e;
  }
}

/** The W3 rows that read the token from Secrets Manager (bench/report.ts finds them by these names). */
export const SECRET = 'token from Secrets Manager, not ARCHESTRA_TOKEN (the CDK default: one signed GetSecretValue at the first token read)';
export const SECRET_AND_TABLE = 'token from Secrets Manager plus IDEMPOTENCY_TABLE (both CDK defaults)';

export async function w3(o: BenchOptions): Promise<W3Result> {
  const { W3 } = o;
  const bundle = readFileSync(BUNDLE);
  const event = writeEvent('w3.json', buildEvent({ records: 1, partitions: 1, keys: 1, valueBytes: 1024 }));
  const noSdk = await buildWithoutSdk();
  const dynamo = await startDynalite();
  const secret = await startSecret(W3.runs).catch(async (e: unknown) => {
    await dynamo.stop();
    throw e;
  });
  const IDEMPOTENCY = 'plus IDEMPOTENCY_TABLE (the CDK default; lambda/io/dynamo-client.ts: a claim and a completion)';
  // Lambda's own credentials are environment variables too; the endpoint variables are the SDK's standard ones.
  const credentials = { AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench', AWS_SESSION_TOKEN: 'bench' };
  const idempotencyEnv = { ...credentials, AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint };
  // No ARCHESTRA_TOKEN (both set is a configuration error): the first invocation reads the secret with one signed
  // GetSecretValue over the HTTP edge (lambda/io/aws-json-secrets.ts) before its first request to the agent.
  const secretEnv = { ...credentials, AWS_ENDPOINT_URL: secret.endpoint, ARCHESTRA_TOKEN_SECRET_ARN: secret.arn };
  const configs: Array<{ name: string; extra: Record<string, string>; bundle?: string; table?: boolean; secret?: boolean }> = [
    { name: 'routes + token (as W1/W2)', extra: {} },
    { name: 'plus DLQ_URL (SQS client read at the first dead letter)', extra: { DLQ_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/kafka-a2a-bridge-dlq' } },
    { name: IDEMPOTENCY, extra: idempotencyEnv, table: true },
    { name: SECRET, extra: secretEnv, secret: true },
    { name: SECRET_AND_TABLE, extra: { ...secretEnv, AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint }, table: true, secret: true },
    { name: 'reference: AWS SDK stubbed out of the bundle (not deployable)', extra: {}, bundle: noSdk },
  ];
  const samples = new Map<string, ColdReport[]>();
  const spawns = new Map<string, number[]>();
  // Every run's table is created before the first spawn: dynalite and the SDK client that creates tables live in this
  // process, whose own work right before a spawn would otherwise be counted in that run's spawn to answer.
  for (let run = 1; run <= W3.runs; run++) for (const t of ['env', 'secret']) await dynamo.createTable(`bench-idempotency-${run}-${t}`);
  const { stats } = await withAgent(0, async (agent) => {
    for (let run = 1; run <= W3.runs; run++) {
      for (const c of configs) {
        const what = `W3 ${c.name} run ${run}`;
        const extra = c.table ? { ...c.extra, IDEMPOTENCY_TABLE: `bench-idempotency-${run}-${c.secret ? 'secret' : 'env'}` } : c.extra;
        const env = lambdaEnv(agent, { ordering: 'key', concurrency: 16, logLevel: 'INFO', extra });
        if (c.secret) delete env.ARCHESTRA_TOKEN;
        const r = await handlerChild<ColdReport>(env, 'cold', [event], what, { bundle: c.bundle });
        bucket(samples, c.name).push(r.report);
        bucket(spawns, c.name).push(r.spawnToReportMs);
        log(`${what}: require ${r.report.requireMs.toFixed(0)} ms + first invocation ${r.report.firstInvokeMs.toFixed(0)} ms; spawn to answer ${r.spawnToReportMs.toFixed(0)} ms`);
      }
    }
  }).finally(() => Promise.all([dynamo.stop(), secret.stop()]));
  checkAgent(stats, W3.runs * configs.length, 'W3');
  return {
    bundleBytes: bundle.length,
    gzipBytes: gzipSync(bundle, { level: 9 }).length,
    mapBytes: statSync(`${BUNDLE}.map`, { throwIfNoEntry: false })?.size ?? 0,
    lazy: lazyChunks(path.join(path.dirname(BUNDLE), 'node_modules')),
    undici: await undiciAtLoad(W3.runs),
    secrets: { getSecretMs: secret.getSecretMs },
    variants: configs.map((c) => {
      const s = samples.get(c.name)!;
      return {
        name: c.name,
        boot: summarize(s.map((x) => x.bootMs)),
        require: summarize(s.map((x) => x.requireMs)),
        firstInvoke: summarize(s.map((x) => x.firstInvokeMs)),
        inProcess: summarize(s.map((x) => x.inProcessMs)),
        spawnToAnswer: summarize(spawns.get(c.name)!),
      };
    }),
  };
}

