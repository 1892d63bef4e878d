'use strict';
// The handler's process in the bench: plain node (no tsx loader: its hooks would pollute the CPU and
// cold-start figures) loading the production bundle dist/handler.js, invoked like the Lambda runtime does.
// The handler's own settings come from the environment (ORDERING, MAX_CONCURRENCY, ARCHESTRA_URL, ...);
// BENCH_CHILD (JSON) says what to do:
//   {"mode": "batches", "bundle": "...", "events": ["a.json", ...]}  one invocation per event file, in order
//   {"mode": "cold", "bundle": "...", "events": ["one.json"]}        require + first invocation, timed
//   optional: "transport": "stub" (the agent answered in process, see bench/stub-http.cjs), "loopDelay": true (event-loop
//   delay per invocation), "phases": true (first request and last answer, see trackPhases)
// The report is one JSON line on fd 3: stdout belongs to Powertools (JSON logs and EMF metrics), as in Lambda.
const bootMs = performance.now(); // ms from process start (Node's own bootstrap) to this script's first line
const fs = require('node:fs');
const { randomUUID } = require('node:crypto');

const spec = JSON.parse(process.env.BENCH_CHILD || '{}');
const report = (obj) => fs.writeSync(3, `${JSON.stringify(obj)}\n`);
const ms = (a, b) => Number(b - a) / 1e6;

if (spec.transport === 'stub') require('./stub-http.cjs').installStubHttp();

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
 * spec.phases: when the first request left and the last answer came back (its body's last byte), relative to the
 * invocation's start. node:http's and node:https's `request` are wrapped (one closure and one listener per
 * request); lambda/io/http.ts looks `request` up on the module at each call, so wrapping after require works,
 * whichever transport (real or stub) is underneath.
 */
const phases = { first: undefined, last: undefined };
function trackPhases() {
  for (const lib of [require('node:http'), require('node:https')]) {
    const inner = lib.request;
    lib.request = function (...args) {
      phases.first ??= process.hrtime.bigint();
      const req = inner.apply(this, args);
      req.once('response', (res) => res.once('end', () => (phases.last = process.hrtime.bigint())));
      return req;
    };
  }
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
    if (spec.phases && records > 0 && (phases.first === undefined || phases.last === undefined)) {
      // The hooks rely on lambda/io/http.ts calling `request` through the node:http / node:https module objects.
      report({ ok: false, error: "no request seen through node:http's or node:https's `request`: the phase hooks no longer see the bundle's transport", invocations });
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
      report({ ok: false, error: String(err?.stack || err) });
    } finally {
      process.exit(1);
    }
  });
