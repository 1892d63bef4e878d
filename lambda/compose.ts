// Composition root: settings -> the pipeline's dependencies, every edge included (HTTP, token, dead letters,
// idempotency). The Lambda handler, the local tools (invoke, redrive) and the tests all compose the bridge here,
// overriding only the edges they replace, so a local run uses the same store as the deployed function.
import { compileRenderer } from './render';
import type { Settings } from './config/settings';
import { AgentClient } from './deliver/agent-client';
import { AgentLimits, type LimitSpec } from './deliver/agent-limits';
import { CircuitBreakers } from './deliver/circuit-breaker';
import { CredentialGates } from './deliver/credential-gate';
import { createDynamoIdempotency } from './io/dynamo-idempotency';
import { httpPost } from './io/http';
import { createSqsDeadLetterSink } from './io/sqs-dead-letters';
import { createTokenSource } from './io/token';
import { readSecretString } from './io/aws-json-secrets';
import { createEventBridgeReplyEdge } from './io/reply-eventbridge';
import { createFolderReplyEdge, folderEdges } from './io/reply-folder';
import { createKafkaReplyEdge, scramFromSecret } from './io/reply-kafka';
import { createSnsReplyEdge } from './io/reply-sns';
import { createSqsReplyEdge } from './io/reply-sqs';
import type { DeadLetterSink, HttpPost, Idempotency, Log, MetricsSink, ReplyEdges, TokenSource } from './ports';
import { ReplyStage } from './reply/stage';
import { logger, powertoolsMetrics } from './observe';
import type { PipelineDeps, RoutePlan } from './pipeline';
import { createRecordRouter } from './route';
import { loadReaders } from './schema/load';
import { compileUrlTemplate } from './url-template';

export interface EdgeOverrides {
  post?: HttpPost;
  tokens?: TokenSource;
  deadLetters?: DeadLetterSink | null;
  /** null: no store even when IDEMPOTENCY_TABLE is set. */
  idempotency?: Idempotency | null;
  /** Credential memory shared with another pipeline (tests: several invocations of one warm container). */
  gates?: CredentialGates;
  /** Circuits and per-target limiters shared with another pipeline (several invocations of one warm container). */
  breakers?: CircuitBreakers;
  limits?: AgentLimits;
  log?: Log;
  metrics?: MetricsSink;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Reply writers by kind of destination (default: the AWS and Kafka edges, or REPLY_DIR's folder). */
  replyEdges?: ReplyEdges;
}

/** The reply edges a deployment needs: only kinds some route names, so an unused SDK is never loaded. */
export function replyEdges(s: Settings): ReplyEdges {
  if (s.replyDir) return folderEdges(createFolderReplyEdge(s.replyDir));
  const kinds = new Set(s.routes.flatMap((r) => [r.reply, r.errors].flatMap((d) => (d ? [d.kind] : []))));
  const k = s.replyKafka;
  const secretArn = k.secretArn;
  return {
    ...(kinds.has('sqs') && { sqs: createSqsReplyEdge() }),
    ...(kinds.has('sns') && { sns: createSnsReplyEdge() }),
    ...(kinds.has('eventbridge') && { eventbridge: createEventBridgeReplyEdge() }),
    ...(kinds.has('kafka') && {
      kafka: createKafkaReplyEdge({
        brokers: k.brokers,
        auth: k.auth,
        tls: k.tls,
        region: k.region,
        ...(secretArn && {
          scram: async () => scramFromSecret(await readSecretString(secretArn)),
        }),
      }),
    }),
  };
}

/** The target URL (for a templated route: its template, filled per record); an OpenAI route's url is a base URL. */
export function targetUrl(s: Settings, route: RoutePlan['route']): string {
  const own = route.url ?? route.urlTemplate;
  if (route.target === 'openai') {
    // Archestra's LLM proxy applies the platform's guardrails, budgets and logs to the call.
    if (own) return `${own.replace(/\/+$/, '')}/chat/completions`;
    return `${s.archestraUrl}/v1/openai/${encodeURIComponent(route.agentId)}/chat/completions`;
  }
  if (own) return own;
  const prefix = route.a2aVersion === '1.0' ? 'v2' : 'v1';
  return `${s.archestraUrl}/${prefix}/a2a/${encodeURIComponent(route.agentId)}`;
}

export function composeBridge(s: Settings, o: EdgeOverrides = {}): PipelineDeps {
  const archestraOrigin = s.archestraUrl ? new URL(s.archestraUrl).origin : undefined;
  const plans = new Map<string, RoutePlan>();
  const limits = sharedLimits(s);
  for (const route of s.routes) {
    const url = targetUrl(s, route);
    plans.set(route.name, {
      route,
      render: compileRenderer(route, s.maxTextBytes),
      ...(route.urlTemplate && { urlFor: compileUrlTemplate(url) }),
      target: {
        url,
        version: route.a2aVersion,
        timeoutMs: route.timeoutSeconds !== undefined ? route.timeoutSeconds * 1000 : s.requestTimeoutMs,
        sendToken: archestraOrigin !== undefined && new URL(url).origin === archestraOrigin,
        protocol: route.target,
        ...(route.target === 'openai' && { chat: { model: route.model!, systemPrompt: route.systemPrompt } }),
        ...(limits.has(url) && { limits: limits.get(url), limitKey: url }),
      },
    });
  }
  const tokens = o.tokens ?? createTokenSource({ token: s.token, secretArn: s.tokenSecretArn, ttlMs: s.tokenTtlMs });
  const deadLetters =
    o.deadLetters === null ? undefined : o.deadLetters ?? (s.dlqUrl ? createSqsDeadLetterSink({ queueUrl: s.dlqUrl, maxMessageBytes: s.dlqMaxMessageBytes }) : undefined);
  const idempotency =
    o.idempotency === null
      ? undefined
      : o.idempotency ?? (s.idempotencyTable ? createDynamoIdempotency({ table: s.idempotencyTable, ttlSeconds: s.idempotencyTtlSeconds }) : undefined);
  const log = o.log ?? logger;
  // Task mode (docs/TASKS.md) works without the store, but then cannot resume a task: said once, at cold start.
  const unresumable = s.routes.filter((r) => r.mode === 'task').map((r) => r.name);
  if (unresumable.length && !idempotency) {
    log.warn('task mode without IDEMPOTENCY_TABLE: a task still running at the deadline is cancelled and its record sent again by the redelivery', { routes: unresumable });
  }
  return {
    // Schema files are read and compiled here, at cold start: a bad one fails the init, not a record.
    router: createRecordRouter(s.routes, loadReaders(s.routes, s.routesDir)),
    plans,
    client: new AgentClient({
      post: o.post ?? httpPost,
      tokens,
      maxRetries: s.maxRetries,
      retryDelayMs: s.retryDelayMs,
      minRequestMs: s.minRequestMs,
      now: o.now,
      sleep: o.sleep,
      breakers: o.breakers ?? new CircuitBreakers({ threshold: s.breakerFailures, coolDownMs: s.breakerCooldownMs, now: o.now }),
      limits: o.limits ?? new AgentLimits(o.now),
    }),
    tokens,
    gates: o.gates ?? new CredentialGates({ coolDownMs: s.authCooldownMs, now: o.now }),
    deadLetters,
    idempotency,
    ordering: s.ordering,
    maxConcurrency: s.maxConcurrency,
    safetyMarginMs: s.safetyMarginMs,
    minRequestMs: s.minRequestMs,
    unknownOutcomeMarginMs: s.unknownOutcomeMarginMs,
    logReplyChars: s.logReplyChars,
    conversationTtlSeconds: s.conversationTtlSeconds,
    log,
    metrics: o.metrics ?? powertoolsMetrics,
    now: o.now,
    ...(s.routes.some((r) => r.reply || r.errors) && {
      replies: new ReplyStage({ edges: o.replyEdges ?? replyEdges(s), maxStoredBytes: s.replyStoreMaxBytes, now: o.now }),
    }),
  };
}

/** Routes that share a target URL share its limiter: the smallest limit any of them sets applies to all. */
function sharedLimits(s: Settings): Map<string, LimitSpec> {
  const out = new Map<string, LimitSpec>();
  const min = (a: number | undefined, b: number | undefined) => (a === undefined ? b : b === undefined ? a : Math.min(a, b));
  for (const route of s.routes) {
    if (route.maxInFlight === undefined && route.ratePerSecond === undefined) continue;
    const url = targetUrl(s, route);
    const prev = out.get(url) ?? {};
    out.set(url, { maxInFlight: min(prev.maxInFlight, route.maxInFlight), ratePerSecond: min(prev.ratePerSecond, route.ratePerSecond) });
  }
  return out;
}
