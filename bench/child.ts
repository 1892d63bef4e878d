// The bench's processes: spawning a measured child (the handler or a probe) and reading its report from fd 3,
// the Lambda-like environment it runs in, one fresh agent per measured run, and small helpers the workloads share.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { machineTicks, ROOT, startAgent, type Agent, type AgentStats } from './agent';
import { BUNDLE, TMP, TOKEN } from './options';
import { routesConfig, summarize, type Ordering, type Summary } from './workloads';

export const CORES = os.cpus().length;


export interface ChildResult<R> {
  report: R;
  /** From just before spawn() to the report line on fd 3. */
  spawnToReportMs: number;
  stdoutBytes: number;
  /** Only with keepStdout. */
  stdout?: string;
  stderr: string;
}

export function runChild<R extends { ok: boolean; error?: string }>(args: string[], env: Record<string, string>, what: string, keepStdout = false): Promise<ChildResult<R>> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    let reportText = '';
    let reportAt: bigint | undefined;
    let stdoutBytes = 0;
    const kept: Buffer[] = [];
    let stderr = '';
    // Drained as fast as it comes: pipe writes are synchronous on Linux, a slow reader would slow the handler.
    child.stdout!.on('data', (d: Buffer) => {
      stdoutBytes += d.length;
      if (keepStdout) kept.push(d);
    });
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
    (child.stdio[3] as Readable).on('data', (d: Buffer) => {
      reportText += d.toString();
      if (reportAt === undefined && reportText.includes('\n')) reportAt = process.hrtime.bigint();
    });
    child.once('error', reject);
    child.once('close', (code) => {
      const line = reportText.split('\n')[0];
      if (!line) return reject(new Error(`${what}: no report (exit ${code})\n${stderr}`));
      const report = JSON.parse(line) as R;
      if (!report.ok) return reject(new Error(`${what}: ${report.error}\n${stderr.slice(-3000)}`));
      const stdout = keepStdout ? Buffer.concat(kept).toString('utf8') : undefined;
      resolve({ report, spawnToReportMs: Number((reportAt ?? process.hrtime.bigint()) - t0) / 1e6, stdoutBytes, stdout, stderr });
    });
  });
}

/** The environment of a Lambda function (nothing inherited from this shell but PATH). */
export function lambdaEnv(agent: Agent, o: { ordering: Ordering; concurrency: number; logLevel: 'WARN' | 'INFO'; extra?: Record<string, string> }): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    TZ: ':UTC',
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs20.x',
    AWS_LAMBDA_FUNCTION_NAME: 'kafka-a2a-bridge-bench',
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1024',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/kafka-a2a-bridge-bench',
    AWS_LAMBDA_LOG_STREAM_NAME: '2025/01/15/[$LATEST]bench',
    POWERTOOLS_LOG_LEVEL: o.logLevel,
    ROUTES_CONFIG: routesConfig(agent.agentId),
    ARCHESTRA_URL: agent.url,
    ARCHESTRA_TOKEN: TOKEN,
    ORDERING: o.ordering,
    MAX_CONCURRENCY: String(o.concurrency),
    ...o.extra,
  };
}

export interface Invocation {
  records: number;
  wallMs: number;
  cpuUserUs: number;
  cpuSystemUs: number;
  loop?: { p50Ms: number; p99Ms: number; maxMs: number };
  phase?: { firstRequestMs: number; afterLastAnswerMs: number };
}
export interface BatchesReport {
  ok: boolean;
  error?: string;
  bootMs: number;
  requireMs: number;
  invocations: Invocation[];
  maxRssBytes: number;
  heapUsedBytes: number;
  processCpuUs: number;
}
export interface ColdReport {
  ok: boolean;
  error?: string;
  bootMs: number;
  requireMs: number;
  firstInvokeMs: number;
  inProcessMs: number;
  sinceStartMs: number;
}

/** real: the bundle's own node:http transport to the agent; stub: node:http's request faked in process (bench/handler-child.cjs). */
export type Transport = 'real' | 'stub';

export function handlerChild<R extends { ok: boolean; error?: string }>(
  env: Record<string, string>,
  mode: 'batches' | 'cold',
  events: string[],
  what: string,
  o: { transport?: Transport; keepStdout?: boolean; loopDelay?: boolean; phases?: boolean; bundle?: string } = {},
) {
  const spec = { mode, bundle: o.bundle ?? BUNDLE, events, transport: o.transport ?? 'real', loopDelay: o.loopDelay ?? false, phases: o.phases ?? false };
  return runChild<R>([path.join(ROOT, 'bench/handler-child.cjs')], { ...env, BENCH_CHILD: JSON.stringify(spec) }, what, o.keepStdout);
}


/** Every record must have reached the agent exactly once, and been answered with a message. */
export function checkAgent(stats: AgentStats, expected: number, what: string) {
  if (stats.total !== expected || stats.byOutcome.message !== expected) {
    throw new Error(`${what}: the agent saw ${stats.total} requests (${JSON.stringify(stats.byOutcome)}), expected ${expected} answered messages`);
  }
}

export interface Window {
  wallMs: number;
  agentCpuMs: number;
  /** Whole machine, in cores (/proc/stat). */
  machineBusyCores: number;
}

/** One measured run: a fresh agent, the work, the agent's statistics, and the CPU the machine spent meanwhile. */
export async function withAgent<T>(latencyMs: number, fn: (agent: Agent) => Promise<T>): Promise<{ value: T; stats: AgentStats; window: Window }> {
  const agent = await startAgent({ latencyMs, token: TOKEN });
  try {
    const c0 = agent.cpuMs();
    const m0 = machineTicks();
    const t0 = process.hrtime.bigint();
    const value = await fn(agent);
    const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const c1 = agent.cpuMs();
    const m1 = machineTicks();
    const stats = await agent.stop();
    const busy = m0 && m1 && m1.total > m0.total ? ((m1.busy - m0.busy) / (m1.total - m0.total)) * CORES : NaN;
    return { value, stats, window: { wallMs, agentCpuMs: c0 !== undefined && c1 !== undefined ? c1 - c0 : NaN, machineBusyCores: busy } };
  } catch (e) {
    await agent.stop().catch(() => undefined);
    throw e;
  }
}

/** Cores other processes (other users of the machine) kept busy during the window: noise in every figure. */
export const otherCores = (w: Window, childCpuUs: number) => w.machineBusyCores - (w.agentCpuMs + childCpuUs / 1000) / w.wallMs;

export const log = (s: string) => process.stderr.write(`${s}\n`);
export const writeEvent = (name: string, event: unknown) => {
  const file = path.join(TMP, name);
  writeFileSync(file, JSON.stringify(event));
  return file;
};
export const bucket = <V>(m: Map<string, V[]>, k: string) => m.get(k) ?? m.set(k, []).get(k)!;
/** Summary of the known figures (some are unknown off Linux); undefined when there are none. */
export const known = (xs: number[]): Summary | undefined => {
  const ok = xs.filter((x) => Number.isFinite(x));
  return ok.length ? summarize(ok) : undefined;
};

