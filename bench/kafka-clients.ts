// `npx tsx bench/kafka-clients.ts [--messages N] [--runs N] [--write]` (--write: into docs/BENCHMARKS.md, between its markers): chooses the function's Kafka producer by measurement.
// kafkajs 2.2.4 against @platformatic/kafka, each bundled as the function would bundle it (esbuild, the options of
// scripts/bundle-options.mjs): bundle size, cost of loading the bundle in a fresh node process (cold start), and
// producer throughput against kcat's mock cluster (one-message sends, as the reply stage writes, and batches of 100).
// Also: what the SNS and EventBridge SDK clients add to dist/handler.js. Prints a markdown table. Not a test.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { startKafkaMock } from '../test/support/kafka-mock';

const ROOT = path.resolve(__dirname, '..');
const OUT = path.join(ROOT, '.bench-tmp', 'kafka-clients');
const { values } = parseArgs({ options: { messages: { type: 'string', default: '2000' }, runs: { type: 'string', default: '5' }, write: { type: 'boolean' } } });
const MESSAGES = Number(values.messages);
const RUNS = Number(values.runs);
// @platformatic/kafka calls Promise.withResolvers (Node 22, the function's runtime); the tools run Node 20 here.
(Promise as unknown as { withResolvers?: unknown }).withResolvers ??= function withResolvers<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((a, b) => {
    resolve = a;
    reject = b;
  });
  return { promise, resolve, reject };
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function bundleSize(entry: string, outfile: string, external: string[] = [], format: 'cjs' | 'esm' = 'cjs'): Promise<number> {
  const { bundleOptions } = (await import(path.join(ROOT, 'scripts', 'bundle-options.mjs'))) as { bundleOptions: Record<string, unknown> };
  await build({ ...bundleOptions, format, external, sourcemap: false, absWorkingDir: ROOT, entryPoints: [entry], outfile });
  return statSync(outfile).size;
}

/** Median ms to load the bundle in a fresh node process (what it adds to a cold start when it is loaded). */
function loadMs(file: string, env: NodeJS.ProcessEnv = process.env): number {
  const load = file.endsWith('.mjs') ? `await import(${JSON.stringify(file)})` : `require(${JSON.stringify(file)})`;
  const code = `(async()=>{const t=process.hrtime.bigint();${load};process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))})()`;
  return median(Array.from({ length: RUNS * 2 }, () => Number(execFileSync(process.execPath, ['-e', code], { encoding: 'utf8', env }))));
}

interface Client {
  name: string;
  connect(brokers: string[]): Promise<void>;
  send(topic: string, messages: Array<{ key: string; value: string }>): Promise<void>;
  close(): Promise<void>;
}

async function kafkajsClient(): Promise<Client> {
  const { Kafka, logLevel } = await import('kafkajs');
  let producer: import('kafkajs').Producer;
  return {
    name: 'kafkajs 2.2.4',
    async connect(brokers) {
      producer = new Kafka({ brokers, logLevel: logLevel.NOTHING }).producer({ maxInFlightRequests: 1 });
      await producer.connect();
    },
    async send(topic, messages) {
      await producer.send({ topic, acks: -1, messages });
    },
    close: () => producer.disconnect(),
  };
}

async function platformaticClient(): Promise<Client> {
  const { Producer, stringSerializers } = (await import('@platformatic/kafka')) as typeof import('@platformatic/kafka');
  let producer: InstanceType<typeof Producer<string, string, string, string>>;
  return {
    name: '@platformatic/kafka',
    async connect(brokers) {
      producer = new Producer({ clientId: 'bench', bootstrapBrokers: brokers, serializers: stringSerializers, acks: -1 } as never);
    },
    async send(topic, messages) {
      await producer.send({ messages: messages.map((m) => ({ topic, ...m })) });
    },
    close: () => producer.close(),
  };
}

async function throughput(make: () => Promise<Client>, brokers: string[], batch: number): Promise<number> {
  const rates: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const c = await make();
    await c.connect(brokers);
    const topic = `bench-${c.name.replace(/\W/g, '')}-${batch}-${run}`;
    await c.send(topic, [{ key: 'warm', value: 'x' }]); // metadata and connections, outside the clock
    const value = 'x'.repeat(1024);
    const n = batch === 1 ? Math.min(MESSAGES, 1000) : MESSAGES;
    const t = performance.now();
    for (let i = 0; i < n; i += batch) {
      await c.send(topic, Array.from({ length: Math.min(batch, n - i) }, (_, j) => ({ key: `k${(i + j) % 50}`, value })));
    }
    rates.push(n / ((performance.now() - t) / 1000));
    await c.close();
  }
  return median(rates);
}

async function main() {
  mkdirSync(OUT, { recursive: true });
  const rows: string[] = [];
  const mock = await startKafkaMock({ brokers: 3 });
  try {
    for (const [name, entry, make] of [
      ['kafkajs 2.2.4', 'kafkajs', kafkajsClient],
      ['@platformatic/kafka', '@platformatic/kafka', platformaticClient],
    ] as const) {
      // @platformatic/kafka is ESM only and reads a WebAssembly file beside its code (@platformatic/wasm-utils, found
      // through import.meta.url): bundled into CommonJS it fails at load. Measured as an ESM bundle plus that file.
      const esm = entry === '@platformatic/kafka';
      const file = esm ? path.join(OUT, 'pk', 'bundle.mjs') : path.join(OUT, `${entry.replace(/\W/g, '_')}.cjs`);
      let bytes = await bundleSize(require.resolve(entry), file, [], esm ? 'esm' : 'cjs');
      if (esm) {
        const wasm = path.join(ROOT, 'node_modules', '@platformatic', 'wasm-utils', 'dist', 'native.wasm');
        mkdirSync(path.join(OUT, 'dist'), { recursive: true });
        copyFileSync(wasm, path.join(OUT, 'dist', 'native.wasm'));
        bytes += statSync(wasm).size;
      }
      const load = loadMs(file);
      const single = await throughput(make, mock.brokers, 1);
      const batched = await throughput(make, mock.brokers, 100);
      rows.push(`| ${name} | ${(bytes / 1024).toFixed(0)} KiB | ${load.toFixed(1)} ms | ${single.toFixed(0)} msg/s | ${batched.toFixed(0)} msg/s |`);
    }
    const signer = path.join(OUT, 'signer.cjs');
    const signerBytes = await bundleSize(require.resolve('aws-msk-iam-sasl-signer-js'), signer);
    rows.push(`| aws-msk-iam-sasl-signer-js (IAM only) | ${(signerBytes / 1024).toFixed(0)} KiB | ${loadMs(signer).toFixed(1)} ms | - | - |`);
  } finally {
    await mock.stop();
  }
  const handler = path.join(ROOT, 'lambda', 'handler.ts');
  const lazy = ['avsc', 'protobufjs', 'kafkajs', 'aws-msk-iam-sasl-signer-js'];
  const withAll = await bundleSize(handler, path.join(OUT, 'handler.cjs'), lazy);
  const without = await bundleSize(handler, path.join(OUT, 'handler-no-sns-eb.cjs'), [...lazy, '@aws-sdk/client-sns', '@aws-sdk/client-eventbridge']);
  // The handler's init runs at load: a route that replies to Kafka (init does not load the producer: the first reply does).
  const env = { ...process.env, ARCHESTRA_URL: 'http://127.0.0.1:9', ROUTES_CONFIG: JSON.stringify([{ name: 'r', topic_pattern: 't', prompt_id: 'a', reply: 'kafka://replies' }]) };
  const handlerLoad = loadMs(path.join(OUT, 'handler.cjs'), env);
  const handlerLoadWithout = loadMs(path.join(OUT, 'handler-no-sns-eb.cjs'), env);
  const report = [
    `Kafka producer clients (${os.cpus().length} cores, Node ${process.version}, ${RUNS} runs each, median; kcat mock cluster, 3 brokers, acks=all, 1 KiB values):`,
    '',
    '| client | bundle (minified) | load in a fresh process | one-message sends | batches of 100 |',
    '|---|---:|---:|---:|---:|',
    ...rows,
    '',
    `dist/handler.js: ${(withAll / 1024).toFixed(0)} KiB with the SNS and EventBridge clients, ${(without / 1024).toFixed(0)} KiB without them (+${((withAll - without) / 1024).toFixed(0)} KiB); loading it with a kafka:// reply route (init included) takes ${handlerLoad.toFixed(1)} ms, ${handlerLoadWithout.toFixed(1)} ms without the two clients.`,
  ].join('\n');
  writeFileSync(path.join(OUT, 'report.md'), `${report}\n`);
  process.stdout.write(`${report}\n`);
  if (values.write) writeSection(report);
}

/** Replaces this bench's section of docs/BENCHMARKS.md (bench/run.ts keeps it when it rewrites the rest). */
function writeSection(report: string) {
  const file = path.join(ROOT, 'docs', 'BENCHMARKS.md');
  const section = [
    '<!-- kafka-clients:begin -->',
    '## Kafka reply producer',
    '',
    `Generated by \`npx tsx bench/kafka-clients.ts --write\` (${new Date().toISOString()}). Each client bundled with the function's esbuild options; load time is \`require\` (\`import\` for the ESM-only client) of that bundle in a fresh node process; throughput is sequential \`send\` calls awaited one after the other. @platformatic/kafka is ESM-only and reads a WebAssembly file beside its code (its size is included), so it was measured as an ESM bundle: it does not load from the function's CommonJS bundle. Node 20 lacks Promise.withResolvers, which it needs: the bench adds it. The one-message column is the reply stage's pattern (one write per reply); it varies by tens of percent between runs on this shared machine.`,
    '',
    report,
    '',
    'Chosen: kafkajs 2.2.4, loaded only by a route with a `kafka://` reply and built apart (scripts/bundle-lazy.mjs): a small part of the load time and about a third of the size, and a CommonJS bundle that loads; @platformatic/kafka batches faster, which one-write-per-reply does not use.',
    '<!-- kafka-clients:end -->',
    '',
  ].join('\n');
  const old = readFileSync(file, 'utf8');
  const re = /\n<!-- kafka-clients:begin -->[\s\S]*<!-- kafka-clients:end -->\n/;
  writeFileSync(file, re.test(old) ? old.replace(re, `\n${section}`) : `${old.replace(/\n*$/, '\n')}\n${section}`);
}

void main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
