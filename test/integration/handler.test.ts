// The Lambda entry point as Lambda loads it: module-level config validation, middy with Powertools'
// logger and metrics middlewares, JSON logs and EMF metrics on stdout, the Kafka batch response.
import type { Context } from 'aws-lambda';
import { startArchestraSim, type ArchestraSim } from '../../sim/archestra';
import { mskEvent } from '../support/kafka';
import { lambdaContext } from '../../scripts/lib/run-batch';

const AGENT = '44444444-4444-4444-8444-444444444444';
const TOKEN = 'tok-handler-5e8a1c77';
let sim: ArchestraSim;
const savedEnv = { ...process.env };

beforeAll(async () => {
  sim = await startArchestraSim({ tokens: [TOKEN] });
});
afterAll(async () => {
  process.env = savedEnv;
  await sim.close();
});

/** The local runner's Lambda context (scripts/lib/run-batch.ts), with a request id the tests can look for. */
function context(remainingMs = 30_000): Context {
  return { ...lambdaContext(remainingMs / 1000, 'kafka-a2a-bridge'), awsRequestId: 'req-123' };
}

/** Loads lambda/handler.ts afresh with this environment, capturing everything written to stdout. */
function loadHandler(env: Record<string, string>) {
  process.env = { ...savedEnv, POWERTOOLS_DEV: 'false', ...env };
  let mod: typeof import('../../lambda/handler') | undefined;
  jest.isolateModules(() => {
    mod = require('../../lambda/handler');
  });
  return mod!.handler;
}

/** Powertools writes JSON lines to stdout (and ERROR lines to stderr) through its own Console. */
async function captureStdout<T>(fn: () => Promise<T>): Promise<{ value: T; lines: Array<Record<string, unknown>> }> {
  const chunks: string[] = [];
  const sink = (chunk: string | Uint8Array) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  };
  const out = jest.spyOn(process.stdout, 'write').mockImplementation(sink);
  const err = jest.spyOn(process.stderr, 'write').mockImplementation(sink);
  try {
    const value = await fn();
    const lines = chunks
      .join('')
      .split('\n')
      .filter((l) => l.trim().startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    return { value, lines };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

const routes = JSON.stringify([{ name: 'orders', topic_pattern: 'orders.*', prompt_id: AGENT }]);

test('invokes end to end through middy: batch response, JSON logs and EMF metrics with a route dimension', async () => {
  const { value: handler } = await captureStdout(async () => loadHandler({ ROUTES_CONFIG: routes, ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, POWERTOOLS_METRICS_NAMESPACE: 'BridgeTest' }));
  const event = mskEvent([
    { topic: 'orders.events', partition: 0, offset: 1, key: 'a', value: { order_id: '1' } },
    { topic: 'other.events', partition: 0, offset: 2, value: { x: 1 } },
  ]);
  const { value: response, lines } = await captureStdout(() => handler(event, context()));
  expect(response).toEqual({ batchItemFailures: [] });

  const summary = lines.find((l) => l.message === 'batch summary')!;
  expect(summary).toMatchObject({ level: 'INFO', service: 'kafka-a2a-bridge', records: 2, delivered: 1, unrouted: 1, function_request_id: 'req-123' });
  // At INFO (the default) a delivered record has no line of its own: the summary and the metrics count it.
  expect(lines.find((l) => l.message === 'record delivered')).toBeUndefined();
  expect(lines.find((l) => l.message === 'record unrouted')).toMatchObject({ level: 'INFO', topic: 'other.events', outcome: 'unrouted' });

  const emf = lines.filter((l) => l._aws);
  const names = (l: Record<string, unknown>) =>
    ((l._aws as { CloudWatchMetrics: Array<{ Metrics: Array<{ Name: string }>; Dimensions: string[][]; Namespace: string }> }).CloudWatchMetrics[0]);
  const totals = emf.find((l) => names(l).Dimensions[0].length === 1 && 'RecordsReceived' in l)!;
  expect(names(totals).Namespace).toBe('BridgeTest');
  expect(totals).toMatchObject({ service: 'kafka-a2a-bridge', RecordsReceived: 2, RecordsDelivered: 1, RecordsUnrouted: 1 });
  const perRoute = emf.find((l) => l.route === 'orders')!;
  expect(names(perRoute).Dimensions[0].sort()).toEqual(['route', 'service']);
  expect(perRoute).toMatchObject({ RecordsDelivered: 1 });
  expect(Array.isArray(perRoute.A2ALatency) || typeof perRoute.A2ALatency === 'number').toBe(true);
  expect(JSON.stringify(lines)).not.toContain(TOKEN);
});

test('POWERTOOLS_LOG_LEVEL=DEBUG adds one DEBUG line per delivered record', async () => {
  const { value: handler } = await captureStdout(async () => loadHandler({ ROUTES_CONFIG: routes, ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, POWERTOOLS_LOG_LEVEL: 'DEBUG' }));
  const event = mskEvent([{ topic: 'orders.events', partition: 0, offset: 7, key: 'a', value: { order_id: '7' } }]);
  const { value: response, lines } = await captureStdout(() => handler(event, context()));
  expect(response).toEqual({ batchItemFailures: [] });
  const delivered = lines.find((l) => l.message === 'record delivered')!;
  expect(delivered).toMatchObject({ level: 'DEBUG', topic: 'orders.events', partition: 0, offset: 7, route: 'orders', agentId: AGENT, outcome: 'delivered' });
  expect(typeof delivered.latencyMs).toBe('number');
  expect(JSON.stringify(lines)).not.toContain(TOKEN);
});

test('an invalid route config fails the cold start with a message naming the route and the field', async () => {
  const bad = JSON.stringify([{ name: 'orders', topic_pattern: 'orders.*', prompt_id: AGENT }, { name: 'broken', topic_pattern: 'x', promptid: AGENT }]);
  const { lines } = await captureStdout(async () => {
    expect(() => loadHandler({ ROUTES_CONFIG: bad, ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN })).toThrow(
      /route 1 \("broken"\): field "\(route\)": unknown field\(s\) promptid[\s\S]*route 1 \("broken"\): field "prompt_id": is required/,
    );
    return undefined;
  });
  expect(lines.find((l) => l.message === 'invalid configuration')).toBeDefined();
});

test('a non-loopback plain-http ARCHESTRA_URL is refused at cold start unless explicitly allowed', async () => {
  await captureStdout(async () => {
    expect(() => loadHandler({ ROUTES_CONFIG: routes, ARCHESTRA_URL: 'http://archestra.internal:9000', ARCHESTRA_TOKEN: TOKEN })).toThrow(/ALLOW_INSECURE_HTTP/);
    expect(() => loadHandler({ ROUTES_CONFIG: routes, ARCHESTRA_URL: 'http://archestra.internal:9000', ARCHESTRA_TOKEN: TOKEN, ALLOW_INSECURE_HTTP: 'true' })).not.toThrow();
    return undefined;
  });
});

test('an event that is not a Kafka event fails the invocation loudly (Lambda retries it), never a silent success', async () => {
  const { value: handler } = await captureStdout(async () => loadHandler({ ROUTES_CONFIG: routes, ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN }));
  await captureStdout(async () => {
    await expect(handler({ Records: [] }, context())).rejects.toThrow(/unsupported eventSource/);
    return undefined;
  });
});
