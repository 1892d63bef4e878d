'use strict';
// The handler's process in the bench: plain node (no tsx loader: its hooks would pollute the CPU and
// cold-start figures) loading the production bundle dist/handler.js, invoked like the Lambda runtime does.
// The handler's own settings come from the environment (ORDERING, MAX_CONCURRENCY, ARCHESTRA_URL, ...);
// BENCH_CHILD (JSON) says what to do:
//   {"mode": "batches", "bundle": "...", "events": ["a.json", ...]}  one invocation per event file, in order
//   {"mode": "cold", "bundle": "...", "events": ["one.json"]}        require + first invocation, timed
//   optional: "transport": "http" | "stub" (see installHttpFetch, installStubFetch), "loopDelay": true (event-loop
//   delay per invocation), "phases": true (first request and last answer, see trackPhases)
// The report is one JSON line on fd 3: stdout belongs to Powertools (JSON logs and EMF metrics), as in Lambda.
const bootMs = performance.now(); // ms from process start (Node's own bootstrap) to this script's first line
const fs = require('node:fs');
const { randomUUID } = require('node:crypto');

const spec = JSON.parse(process.env.BENCH_CHILD || '{}');
const report = (obj) => fs.writeSync(3, `${JSON.stringify(obj)}\n`);
const ms = (a, b) => Number(b - a) / 1e6;

/**
 * spec.transport === 'http': Node's fetch replaced by a minimal fetch over node:http with a keep-alive agent: a
 * projection of the bridge with lambda/io/http.ts ported to node:http, measured without touching lambda/. It
 * covers what io/http.ts uses: status, headers.get, an async-iterable body with cancel(), the abort signal (an
 * abort rejects the promise, as with fetch). node:http is loaded on the first call, as undici is by fetch, so
 * the cold-start figures stay comparable.
 */
function installHttpFetch() {
  let lib;
  const load = () => {
    const http = require('node:http');
    const https = require('node:https');
    return { http, https, agents: { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) } };
  };
  globalThis.fetch = (url, init = {}) =>
    new Promise((resolve, reject) => {
      lib ??= load();
      const u = new URL(url);
      const body = init.body ?? '';
      const req = (u.protocol === 'https:' ? lib.https : lib.http).request(
        u,
        { method: init.method ?? 'GET', headers: { ...init.headers, 'content-length': Buffer.byteLength(body) }, agent: lib.agents[u.protocol], signal: init.signal },
        (res) => {
          const get = (name) => {
            const v = res.headers[name.toLowerCase()];
            return v === undefined ? null : Array.isArray(v) ? v.join(', ') : String(v);
          };
          res.cancel = async () => res.destroy();
          resolve({ status: res.statusCode, headers: { get }, body: res });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
}
/**
 * spec.transport === 'stub': no network at all. fetch answers at once, in process, with the agent's usual reply
 * (the request's JSON-RPC id, a one-line summary), so what is left is the bridge's own work: decode, route,
 * render, ids, scheduling, reply parsing, logging and metrics.
 */
function installStubFetch() {
  const ID = /^\{"jsonrpc":"2\.0","id":("(?:[^"\\]|\\.)*")/;
  const summary = JSON.stringify(`Summary: ${'x'.repeat(80)}...`);
  globalThis.fetch = async (url, init = {}) => {
    const id = ID.exec(init.body)?.[1] ?? 'null';
    const buf = Buffer.from(`{"jsonrpc":"2.0","id":${id},"result":{"messageId":"${randomUUID()}","role":"agent","parts":[{"kind":"text","text":${summary}}]}}`);
    const headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(buf.length) };
    return {
      status: 200,
      headers: { get: (name) => headers[name.toLowerCase()] ?? null },
      body: {
        async *[Symbol.asyncIterator]() {
          yield buf;
        },
        cancel: async () => undefined,
      },
    };
  };
}

if (spec.transport === 'http') installHttpFetch();
if (spec.transport === 'stub') installStubFetch();

const FUNCTION_NAME = 'kafka-a2a-bridge-bench';
/** A Lambda-like context; the remaining time counts down from the function timeout (900 s). */
function lambdaContext(timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  return {
    functionName: FUNCTION_NAME,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${FUNCTION_NAME}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${FUNCTION_NAME}`,
    logStreamName: '2025/01/15/[$LATEST]bench',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done() {},
    fail() {},
    succeed() {},
  };
}

function countRecords(event) {
  let n = 0;
  for (const list of Object.values(event.records || {})) n += Array.isArray(list) ? list.length : 0;
  return n;
}

/** A bench that silently measured failures would be worthless: every record must be delivered. */
function failuresOf(res) {
  if (!res || !Array.isArray(res.batchItemFailures)) return `unexpected handler response ${JSON.stringify(res).slice(0, 300)}`;
  if (res.batchItemFailures.length) return `batchItemFailures: ${JSON.stringify(res.batchItemFailures).slice(0, 300)}`;
  return undefined;
}

async function cold() {
  const event = JSON.parse(fs.readFileSync(spec.events[0], 'utf8'));
  const t0 = process.hrtime.bigint();
  const { handler } = require(spec.bundle);
  const t1 = process.hrtime.bigint();
  const res = await handler(event, lambdaContext(spec.timeoutMs || 900_000));
  const t2 = process.hrtime.bigint();
  const sinceStartMs = performance.now();
  const failure = failuresOf(res);
  report({ ok: !failure, error: failure, bootMs, requireMs: ms(t0, t1), firstInvokeMs: ms(t1, t2), inProcessMs: ms(t0, t2), sinceStartMs });
}

/**
 * spec.phases: when the first request left and the last answer came back, relative to the invocation's start
 * (fetch wrapped: one closure call per request). The bundle looks `fetch` up at each call, so wrapping after
 * require works, whichever transport is installed.
 */
const phases = { first: undefined, last: undefined };
function trackPhases() {
  const inner = globalThis.fetch;
  globalThis.fetch = function (...args) {
    phases.first ??= process.hrtime.bigint();
    const p = inner.apply(this, args);
    const done = () => (phases.last = process.hrtime.bigint());
    p.then(done, done);
    return p;
  };
}

/**
 * Event-loop delay during one invocation (spec.loopDelay): how late a 10 ms timer ran, ms. The histogram holds
 * the intervals between the timer's runs, so the resolution itself is taken off.
 */
function loopDelay() {
  if (!spec.loopDelay) return { stop: () => undefined };
  const RESOLUTION_MS = 10;
  const h = require('node:perf_hooks').monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  h.enable();
  const late = (ns) => Math.max(0, ns / 1e6 - RESOLUTION_MS);
  return {
    stop() {
      h.disable();
      return { p50Ms: late(h.percentile(50)), p99Ms: late(h.percentile(99)), maxMs: late(h.max) };
    },
  };
}

async function batches() {
  const t0 = process.hrtime.bigint();
  const { handler } = require(spec.bundle);
  const requireMs = ms(t0, process.hrtime.bigint());
  if (spec.phases) trackPhases();
  const invocations = [];
  for (const file of spec.events) {
    const event = JSON.parse(fs.readFileSync(file, 'utf8')); // the runtime's work, outside the measurement
    const records = countRecords(event);
    const context = lambdaContext(spec.timeoutMs || 900_000);
    const lag = loopDelay();
    phases.first = phases.last = undefined;
    const cpu0 = process.cpuUsage();
    const w0 = process.hrtime.bigint();
    const res = await handler(event, context);
    const w1 = process.hrtime.bigint();
    const cpu = process.cpuUsage(cpu0);
    const loop = lag.stop();
    const failure = failuresOf(res);
    const phase = spec.phases && phases.first !== undefined ? { firstRequestMs: ms(w0, phases.first), afterLastAnswerMs: ms(phases.last, w1) } : undefined;
    invocations.push({ records, wallMs: ms(w0, w1), cpuUserUs: cpu.user, cpuSystemUs: cpu.system, loop, phase });
    if (failure) {
      report({ ok: false, error: failure, invocations });
      return;
    }
  }
  const ru = process.resourceUsage();
  const all = process.cpuUsage();
  report({ ok: true, bootMs, requireMs, invocations, maxRssBytes: ru.maxRSS * 1024, heapUsedBytes: process.memoryUsage().heapUsed, processCpuUs: all.user + all.system });
}

(spec.mode === 'cold' ? cold() : batches())
  .then(() => process.exit(0)) // pooled keep-alive sockets would keep the process up for seconds
  .catch((err) => {
    try {
      report({ ok: false, error: String((err && err.stack) || err) });
    } finally {
      process.exit(1);
    }
  });
