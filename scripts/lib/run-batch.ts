// Runs the bridge in-process the way Lambda does: settings from the environment, the pipeline from the
// composition root (lambda/compose.ts), one invocation with a Lambda-like context. Only the edges a laptop
// lacks are replaced: an embedded A2A agent when ARCHESTRA_URL is not set, a directory instead of the SQS
// dead-letter queue when DLQ_URL is not set, and quiet logs and metrics (or JSON lines on stderr).
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import type { Context } from 'aws-lambda';
import { composeBridge, targetUrl, type EdgeOverrides } from '../../lambda/compose';
import { loadSettings, type Settings } from '../../lambda/config/settings';
import { decodeEvent } from '../../lambda/decode';
import type { Log, MetricsSink } from '../../lambda/observe';
import { processBatch, type BatchResult, type FinalStatus, type PipelineDeps, type RecordOutcome } from '../../lambda/pipeline';
import { defaultSummary, startArchestraSim, UUID_V4, type ArchestraSim } from '../../sim/archestra';
import { UsageError } from './cli';
import { createLocalDeadLetterSink, type LocalDeadLetterSink } from './local-dlq';
import { createFolderReplyEdge, folderEdges } from '../../lambda/io/reply-folder';

export const ROOT = resolve(__dirname, '..', '..');
export const SAMPLE_ROUTES = resolve(ROOT, 'events', 'routes.json');
export const DEFAULT_TIMEOUT_SECONDS = 300; // the deployed function's default (infra/context.ts)
export const DEFAULT_FUNCTION_NAME = 'kafka-a2a-bridge-local';

/** The flags of the commands that run batches through a local bridge and report them (consume, replay). */
export const LOCAL_BRIDGE_OPTIONS = { routes: { type: 'string' }, timeout: { type: 'string' }, 'dlq-dir': { type: 'string' }, json: { type: 'boolean' }, verbose: { type: 'boolean' } } as const;

export type Env = Record<string, string | undefined>;

export interface LocalBridgeOptions {
  /** Routes file; default: ROUTES_CONFIG / ROUTES_CONFIG_FILE from the environment, else events/routes.json. */
  routesFile?: string;
  /** Environment the settings are read from (default process.env). */
  env?: Env;
  /** Directory for dead letters when DLQ_URL is not set. Default .dlq */
  dlqDir?: string;
  /** JSON log lines and metrics on stderr instead of nothing. */
  verbose?: boolean;
  /** Latency of the embedded agent, ms. */
  agentLatencyMs?: number;
  /** Do not start the embedded agent (dry runs send nothing). */
  noAgent?: boolean;
  /** Directory for the replies of routes with a `reply` destination, unless liveReplies. Default .replies */
  replyDir?: string;
  /** Write replies to the routes' real destinations (AWS credentials, REPLY_KAFKA_*) instead of replyDir. */
  liveReplies?: boolean;
}

export interface LocalBridge {
  settings: Settings;
  deps: PipelineDeps;
  /** Where the routes came from, for display. */
  routesSource: string;
  /** True when ARCHESTRA_URL was not set: the embedded agent answers (unless noAgent). */
  embedded: boolean;
  /** The embedded agent, when ARCHESTRA_URL was not set. */
  agent?: ArchestraSim;
  /** The local dead-letter directory, when DLQ_URL was not set. */
  dlq?: LocalDeadLetterSink;
  /** The local reply directory, when some route replies and liveReplies is off. */
  replies?: { dir: string; files: string[] };
  /** One line saying which agent and which DLQ this run uses. */
  describe(): string[];
  /** Routes whose agent id Archestra would reject (not a UUID v4). */
  warnings: string[];
  close(): Promise<void>;
}

export { UsageError } from './cli';

/** Powertools-shaped JSON lines on stderr, so stdout keeps only the table (or the --json document). */
export function stderrLog(service = 'kafka-a2a-bridge'): Log {
  const at = (level: string) => (message: unknown, ...extra: unknown[]) => {
    const fields = Object.assign({}, ...extra.filter((e) => e && typeof e === 'object'));
    process.stderr.write(`${JSON.stringify({ level: level.toUpperCase(), message: String(message), timestamp: new Date().toISOString(), service, ...fields })}\n`);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } as unknown as Log;
}

const noop = () => undefined;
export const quietLog: Log = { debug: noop, info: noop, warn: noop, error: noop } as unknown as Log;
export const noMetrics: MetricsSink = { add: noop };
/** What Powertools Metrics would publish, as one JSON line on stderr. */
export const stderrMetrics: MetricsSink = {
  add(totals, perRoute) {
    const routes = Object.fromEntries([...perRoute].map(([name, r]) => [name, { ...r.counts, ...(r.latenciesMs.length ? { A2ALatency: r.latenciesMs } : {}) }]));
    process.stderr.write(`${JSON.stringify({ metrics: totals, routes })}\n`);
  },
};

export const display = (p: string) => {
  const rel = relative(process.cwd(), p);
  return rel && !rel.startsWith('..') ? rel : p;
};

export async function createLocalBridge(o: LocalBridgeOptions = {}): Promise<LocalBridge> {
  const base = { ...(o.env ?? process.env) };
  const env: Env = { ...base };
  let routesSource: string;
  if (o.routesFile !== undefined) {
    if (!existsSync(o.routesFile)) throw new UsageError(`routes file not found: ${o.routesFile}`, 'check the path; events/routes.json is the sample to start from');
    delete env.ROUTES_CONFIG;
    env.ROUTES_CONFIG_FILE = resolve(o.routesFile);
    routesSource = display(resolve(o.routesFile));
  } else if (env.ROUTES_CONFIG) routesSource = 'ROUTES_CONFIG';
  else if (env.ROUTES_CONFIG_FILE) routesSource = display(resolve(env.ROUTES_CONFIG_FILE));
  else {
    env.ROUTES_CONFIG_FILE = SAMPLE_ROUTES;
    routesSource = display(SAMPLE_ROUTES);
  }

  const embedded = !env.ARCHESTRA_URL;
  let token: string | undefined;
  if (embedded) {
    // A fresh token per run: the embedded agent accepts it and nothing else, like a real Archestra.
    token = `local-${randomBytes(16).toString('hex')}`;
    env.ARCHESTRA_URL = 'http://127.0.0.1:1'; // replaced by the agent's address below, once it listens
    env.ARCHESTRA_TOKEN = token;
    delete env.ARCHESTRA_TOKEN_SECRET_ARN;
  }
  const settings = loadSettings(env); // throws SettingsError with every problem listed

  let agent: ArchestraSim | undefined;
  if (embedded && !o.noAgent) {
    const agents = Object.fromEntries(
      settings.routes.filter((r) => !r.url && UUID_V4.test(r.agentId)).map((r) => [r.agentId, { name: r.name, description: `embedded agent for route ${r.name}` }]),
    );
    agent = await startArchestraSim({ tokens: [token!], agents, acceptAnyAgent: true, latencyMs: o.agentLatencyMs ?? 0, summarize: defaultSummary });
    settings.archestraUrl = agent.url;
  }

  const dlq = settings.dlqUrl ? undefined : createLocalDeadLetterSink(o.dlqDir ?? '.dlq');
  const replies = settings.routes.some((r) => r.reply || r.errors) && !o.liveReplies ? createFolderReplyEdge(o.replyDir ?? settings.replyDir ?? '.replies') : undefined;
  const overrides: EdgeOverrides = {
    log: o.verbose ? stderrLog() : quietLog,
    metrics: o.verbose ? stderrMetrics : noMetrics,
    ...(dlq ? { deadLetters: dlq } : {}),
    ...(replies ? { replyEdges: folderEdges(replies) } : {}),
  };
  const deps = composeBridge(settings, overrides);
  const warnings: string[] = [];
  // Without ARCHESTRA_URL the embedded agent answers: a token set for a real Archestra would be silently unused.
  if (embedded && (base.ARCHESTRA_TOKEN || base.ARCHESTRA_TOKEN_SECRET_ARN)) {
    warnings.push(`${base.ARCHESTRA_TOKEN ? 'ARCHESTRA_TOKEN' : 'ARCHESTRA_TOKEN_SECRET_ARN'} is set but ARCHESTRA_URL is not: the embedded agent answers, not your Archestra (set ARCHESTRA_URL to use it)`);
  }
  warnings.push(...settings.routes
    .filter((r) => !r.url && !UUID_V4.test(r.agentId))
    .map((r) => `route "${r.name}": prompt_id "${r.agentId}" is not a UUID v4; Archestra (and the embedded agent) will reject it`))

  return {
    settings,
    deps,
    routesSource,
    embedded,
    agent,
    dlq,
    replies,
    warnings,
    describe() {
      const lines = [
        embedded
          ? `agent   embedded A2A agent at ${agent?.url ?? '(not started)'} (set ARCHESTRA_URL and ARCHESTRA_TOKEN for a real Archestra)`
          : `agent   ${settings.archestraUrl}${settings.token ? ' (token from ARCHESTRA_TOKEN)' : settings.tokenSecretArn ? ' (token from Secrets Manager)' : ' (no token set!)'}`,
        `routes  ${routesSource} (${settings.routes.length} route${settings.routes.length === 1 ? '' : 's'})`,
        `dlq     ${dlq ? `${display(dlq.dir)}/ (local directory; set DLQ_URL for SQS)` : settings.dlqUrl}`,
        ...(replies ? [`replies ${display(replies.dir)}/ (local directory, one JSON file per reply; --live-replies writes to the routes' destinations)`] : []),
        ...(o.liveReplies && settings.routes.some((r) => r.reply) ? ['replies to the routes\' destinations (--live-replies)'] : []),
      ];
      return lines;
    },
    close: async () => {
      await agent?.close();
    },
  };
}

/** A Lambda context whose getRemainingTimeInMillis counts down from the function timeout. */
export function lambdaContext(timeoutSeconds: number, functionName = DEFAULT_FUNCTION_NAME): Context {
  const deadline = Date.now() + timeoutSeconds * 1000;
  const region = process.env.AWS_REGION ?? 'us-east-1';
  const requestId = randomUUID();
  const fail = () => {
    throw new Error('context.done/fail/succeed are not supported: the handler is async');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:123456789012:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `${new Date().toISOString().slice(0, 10).replace(/-/g, '/')}/[$LATEST]${randomBytes(16).toString('hex')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: fail,
    fail,
    succeed: fail,
  };
}

/** Records that will be sent to an agent (for the progress bar): routed, and not a template-less tombstone. */
export function plannedSends(event: unknown, deps: PipelineDeps): number {
  try {
    return decodeEvent(event).records.filter((decoded) => {
      const routed = deps.router(decoded);
      return routed.route !== undefined && !(routed.record.value === null && routed.route.template === undefined);
    }).length;
  } catch {
    return 0;
  }
}

export interface InvokeOptions {
  timeoutSeconds?: number;
  functionName?: string;
  /** A context made beforehand (lambdaContext), e.g. to print its request id first; else a new one. */
  context?: Context;
  /** Called once per record the agent client has finished with (delivered or not). */
  onRecordDone?: () => void;
}

export interface Invocation {
  context: Context;
  result: BatchResult;
}

/**
 * One invocation, as lambda/handler.ts's createHandler does it (processBatch with the context's request id
 * and remaining time), keeping the per-record outcomes that the handler does not return.
 */
export async function invoke(bridge: LocalBridge, event: unknown, o: InvokeOptions = {}): Promise<Invocation> {
  const context = o.context ?? lambdaContext(o.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS, o.functionName);
  const deps = o.onRecordDone ? { ...bridge.deps, onDelivered: o.onRecordDone } : bridge.deps;
  const result = await processBatch(event, { requestId: context.awsRequestId ?? null, remainingMs: context.getRemainingTimeInMillis() }, deps);
  return { context, result };
}

// ---- reading the outcome --------------------------------------------------------------------------------

export type Counts = Record<FinalStatus, number>;

export function countOutcomes(outcomes: readonly RecordOutcome[]): Counts {
  const c: Counts = { delivered: 0, dead_lettered: 0, tombstone: 0, unrouted: 0, duplicate: 0, failed: 0 };
  for (const o of outcomes) c[o.status]++;
  return c;
}

export function addCounts(a: Counts, b: Counts): Counts {
  const out = { ...a };
  for (const k of Object.keys(b) as FinalStatus[]) out[k] += b[k];
  return out;
}

/** Outcomes in event order: by partition (as the event lists them), then offset; unreadable offsets last. */
export function orderOutcomes(event: unknown, outcomes: readonly RecordOutcome[]): RecordOutcome[] {
  const keys = Object.keys(((event as { records?: object } | null)?.records ?? {}) as object);
  const rank = (pk: string) => {
    const i = keys.indexOf(pk);
    return i < 0 ? keys.length : i;
  };
  return outcomes
    .map((o, i) => ({ o, i }))
    .sort((a, b) => rank(a.o.partitionKey) - rank(b.o.partitionKey) || (a.o.offset ?? Infinity) - (b.o.offset ?? Infinity) || a.i - b.i)
    .map((x) => x.o);
}

export const recordId = (o: { partitionKey: string; offset: number | null }) => `${o.partitionKey}@${o.offset ?? '?'}`;

// ---- dry run ----------------------------------------------------------------------------------------------

export interface DryRow {
  id: string;
  topic: string | null;
  partition: number | null;
  offset: number | null;
  route: string | null;
  agentId: string | null;
  url: string | null;
  /** What the bridge would do with it. */
  action: 'send' | 'unrouted' | 'tombstone' | 'dead_letter';
  prompt?: string;
  /** Placeholders without a value in this record: the prompt is sent incomplete. */
  missing?: string[];
  reason?: string;
}

/** Routes and renders every record without sending anything. */
export function dryRun(bridge: LocalBridge, event: unknown, embedded: boolean): DryRow[] {
  const batch = decodeEvent(event);
  const rows: DryRow[] = batch.records.map((decoded) => {
    const base = { id: `${decoded.partitionKey}@${decoded.offset}`, topic: decoded.topic, partition: decoded.partition, offset: decoded.offset };
    const match = bridge.deps.router(decoded);
    if (!match.route) {
      const u = match.unreadable;
      if (u) return { ...base, route: null, agentId: null, url: null, action: 'dead_letter', reason: u.reason };
      return { ...base, route: null, agentId: null, url: null, action: 'unrouted', reason: 'no route matches' };
    }
    const { route, record: r } = match;
    const plan = bridge.deps.plans.get(route.name)!;
    const url = route.url ?? (embedded ? `(embedded agent)/${route.a2aVersion === '1.0' ? 'v2' : 'v1'}/a2a/${route.agentId}` : targetUrl(bridge.settings, route));
    const routed = { ...base, route: route.name, agentId: route.agentId, url };
    if (r.value === null && route.template === undefined) return { ...routed, action: 'tombstone', reason: 'tombstone with no template: nothing to send' };
    const rendered = plan.render(r);
    if (!rendered.ok) return { ...routed, action: 'dead_letter', reason: `render failed: ${rendered.reason}` };
    return { ...routed, action: 'send', prompt: rendered.text, ...(rendered.missing && { missing: rendered.missing }) };
  });
  for (const p of batch.poison) {
    rows.push({
      id: `${p.partitionKey}@${p.offset ?? '?'}`,
      topic: p.topic,
      partition: p.partition,
      offset: p.offset,
      route: null,
      agentId: null,
      url: null,
      action: 'dead_letter',
      reason: p.reason,
    });
  }
  return rows;
}
