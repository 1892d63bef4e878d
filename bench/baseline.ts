// The reference bridge's algorithm, as the bench's baseline: every record of the batch, in the event's
// order (partition by partition, offset by offset), posted to the agent one at a time, each awaited before
// the next. With --concurrency N it is also the bench's transport probe: the same loop with N requests in
// flight and nothing else (no scheduling, no logging, no metrics), i.e. what the HTTP client alone costs: Node's
// fetch, a minimal node:http client, or the bridge's own (lambda/io/http.ts).
//
// Run as a child process under plain `node` (bench/run.ts compiles it to .bench-tmp/baseline.cjs with esbuild,
// so no loader runs beside the measured loop): BENCH_BASELINE = {"events": [...], "url", "token", "concurrency", "client"}.
// The report is one JSON line on fd 3, like bench/handler-child.cjs.
import { randomUUID } from 'node:crypto';
import { readFileSync, writeSync } from 'node:fs';
import http from 'node:http';
import { Pool } from 'undici';
import { httpPost } from '../lambda/io/http';
import type { MskEvent } from './workloads';

export interface BaselineSpec {
  events: string[];
  url: string;
  token: string;
  /** 1: the reference algorithm. */
  concurrency: number;
  /**
   * `fetch`: Node's fetch (undici), the reference bridge's client. `http`: a minimal node:http POST with a keep-alive
   * agent. `bridge`: the bridge's own client, lambda/io/http.ts `httpPost` (node:http, keep-alive, one timer and a
   * body cap per request), bundled in, unchanged.
   */
  client: 'fetch' | 'http' | 'bridge' | 'undici';
}

export interface BaselineReport {
  ok: boolean;
  error?: string;
  requests: number;
  wallMs: number;
  cpuUserUs: number;
  cpuSystemUs: number;
  maxRssBytes: number;
  /** The whole process's CPU (start-up included), µs. */
  processCpuUs: number;
  /** Per event file, in order (the events are run one after the other, like the handler's invocations). */
  perEvent: Array<{ requests: number; cpuUs: number; wallMs: number }>;
}

interface Job {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  text: string;
}

/** The event's records in the reference bridge's order. */
export function jobsOf(event: MskEvent): Job[] {
  const out: Job[] = [];
  for (const list of Object.values(event.records)) {
    for (const r of [...list].sort((a, b) => a.offset - b.offset)) {
      out.push({
        topic: r.topic,
        partition: r.partition,
        offset: r.offset,
        key: r.key ? Buffer.from(r.key, 'base64').toString('utf8') : null,
        text: Buffer.from(r.value, 'base64').toString('utf8'),
      });
    }
  }
  return out;
}

/** The A2A v0.3 message/send body the bridge sends (lambda/deliver/a2a-protocol.ts), the value's text as the prompt. */
export function a2aBody(j: Job): string {
  const id = `${j.topic}-${j.partition}-${j.offset}#baseline`;
  return JSON.stringify({
    jsonrpc: '2.0',
    id: `kafka:${id}`,
    method: 'message/send',
    params: {
      message: {
        kind: 'message',
        role: 'user',
        messageId: randomUUID(),
        parts: [{ kind: 'text', text: j.text }],
        metadata: { kafka: { topic: j.topic, partition: j.partition, offset: j.offset, key: j.key }, route: 'baseline' },
      },
      configuration: { blocking: true },
    },
  });
}

type Post = (body: string) => Promise<{ status: number; text: string }>;

function fetchClient(url: string, headers: Record<string, string>): Post {
  return async (body) => {
    const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(60_000) });
    return { status: res.status, text: await res.text() };
  };
}

function httpClient(url: string, headers: Record<string, string>): Post {
  const agent = new http.Agent({ keepAlive: true });
  return (body) =>
    new Promise((resolve, reject) => {
      const req = http.request(url, { method: 'POST', agent, timeout: 60_000, headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(body);
    });
}

/** undici 7's Pool.request with keep-alive and no pipelining (pipelining: 1), the candidate transport of issue #18. */
function undiciClient(url: string, headers: Record<string, string>, connections: number): Post {
  const u = new URL(url);
  const pool = new Pool(u.origin, { connections, pipelining: 1, keepAliveTimeout: 4000 });
  const path = u.pathname + u.search;
  return async (body) => {
    const res = await pool.request({ method: 'POST', path, headers, body, headersTimeout: 60_000, bodyTimeout: 60_000 });
    return { status: res.statusCode, text: await res.body.text() };
  };
}

function bridgeClient(url: string, headers: Record<string, string>): Post {
  return (body) => httpPost(url, headers, body, 60_000);
}

/** An answer counts only if it is a JSON-RPC result (not an error). */
function check(reply: { status: number; text: string }): string | undefined {
  if (reply.status !== 200) return `HTTP ${reply.status}: ${reply.text.slice(0, 200)}`;
  const body = JSON.parse(reply.text) as { result?: unknown; error?: unknown };
  return body.result && !body.error ? undefined : `JSON-RPC error: ${reply.text.slice(0, 200)}`;
}

export async function runBaseline(spec: BaselineSpec): Promise<BaselineReport> {
  const headers = { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${spec.token}` };
  const post =
    spec.client === 'http'
      ? httpClient(spec.url, headers)
      : spec.client === 'bridge'
        ? bridgeClient(spec.url, headers)
        : spec.client === 'undici'
          ? undiciClient(spec.url, headers, Math.max(1, spec.concurrency))
          : fetchClient(spec.url, headers);
  const batches = spec.events.map((f) => jobsOf(JSON.parse(readFileSync(f, 'utf8')) as MskEvent));
  let requests = 0;
  let error: string | undefined;
  const perEvent: BaselineReport['perEvent'] = [];
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (const jobs of batches) {
    let next = 0;
    const c0 = process.cpuUsage();
    const w0 = process.hrtime.bigint();
    const worker = async () => {
      while (next < jobs.length && error === undefined) {
        const job = jobs[next++];
        requests++;
        error = check(await post(a2aBody(job)));
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, spec.concurrency) }, worker));
    const c = process.cpuUsage(c0);
    perEvent.push({ requests: next, cpuUs: c.user + c.system, wallMs: Number(process.hrtime.bigint() - w0) / 1e6 });
    if (error !== undefined) break;
  }
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  const all = process.cpuUsage();
  return {
    ok: error === undefined,
    error,
    requests,
    wallMs,
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    processCpuUs: all.user + all.system,
    perEvent,
  };
}

if (require.main === module) {
  const spec = JSON.parse(process.env.BENCH_BASELINE ?? '{}') as BaselineSpec;
  runBaseline(spec)
    .then((r) => writeSync(3, `${JSON.stringify(r)}\n`))
    .catch((e: unknown) => writeSync(3, `${JSON.stringify({ ok: false, error: String((e as Error).stack ?? e) })}\n`))
    .finally(() => process.exit(0));
}
