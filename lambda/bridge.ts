// Composition root: settings -> the pipeline's dependencies, every edge included (HTTP, token, dead letters,
// idempotency). The Lambda handler, the local tools (invoke, redrive) and the tests all build the bridge here,
// overriding only the edges they replace, so a local run uses the same store as the deployed function.
import { compileRenderer } from './render';
import type { Settings } from './config/settings';
import { AgentClient, type TokenSource } from './deliver/agent-client';
import { CredentialGates } from './deliver/credential-gate';
import type { DeadLetterSink } from './dead-letter';
import { createDynamoIdempotency } from './io/dynamo-idempotency';
import { httpPost, type HttpPost } from './io/http';
import { createSqsDeadLetterSink } from './io/sqs-dead-letters';
import { createTokenSource } from './io/token';
import { createEventBridgeReplyEdge } from './io/reply-eventbridge';
import { createFolderReplyEdge, folderEdges } from './io/reply-folder';
import { createKafkaReplyEdge } from './io/reply-kafka';
import { createSnsReplyEdge } from './io/reply-sns';
import { createSqsReplyEdge } from './io/reply-sqs';
import type { ReplyEdges } from './reply/sink';
import { ReplyStage } from './reply/stage';
import { logger, powertoolsMetrics, type Log, type MetricsSink } from './observe';
import type { Idempotency, PipelineDeps, RoutePlan } from './pipeline';
import { createRecordRouter } from './route';
import { loadReaders } from './schema/load';

export interface EdgeOverrides {
  post?: HttpPost;
  tokens?: TokenSource;
  deadLetters?: DeadLetterSink | null;
  /** null: no store even when IDEMPOTENCY_TABLE is set. */
  idempotency?: Idempotency | null;
  /** Credential memory shared with another pipeline (tests: several invocations of one warm container). */
  gates?: CredentialGates;
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
          scram: async () => {
            const sm = await import('@aws-sdk/client-secrets-manager');
            const res = await new sm.SecretsManagerClient({}).send(new sm.GetSecretValueCommand({ SecretId: secretArn }));
            const v = JSON.parse(res.SecretString ?? '{}') as { username?: string; password?: string };
            if (!v.username || !v.password) throw new Error('REPLY_KAFKA_SECRET_ARN: the secret needs username and password');
            return { username: v.username, password: v.password };
          },
        }),
      }),
    }),
  };
}

export function targetUrl(s: Settings, route: RoutePlan['route']): string {
  if (route.url) return route.url;
  const prefix = route.a2aVersion === '1.0' ? 'v2' : 'v1';
  return `${s.archestraUrl}/${prefix}/a2a/${encodeURIComponent(route.agentId)}`;
}

export function buildPipeline(s: Settings, o: EdgeOverrides = {}): PipelineDeps {
  const archestraOrigin = s.archestraUrl ? new URL(s.archestraUrl).origin : undefined;
  const plans = new Map<string, RoutePlan>();
  for (const route of s.routes) {
    const url = targetUrl(s, route);
    plans.set(route.name, {
      route,
      render: compileRenderer(route, s.maxTextBytes),
      target: {
        url,
        version: route.a2aVersion,
        timeoutMs: route.timeoutSeconds !== undefined ? route.timeoutSeconds * 1000 : s.requestTimeoutMs,
        sendToken: archestraOrigin !== undefined && new URL(url).origin === archestraOrigin,
      },
    });
  }
  const tokens = o.tokens ?? createTokenSource({ token: s.token, secretArn: s.tokenSecretArn, ttlMs: s.tokenTtlMs });
  const deadLetters =
    o.deadLetters === null ? undefined : o.deadLetters ?? (s.dlqUrl ? createSqsDeadLetterSink({ queueUrl: s.dlqUrl, maxMessageBytes: s.dlqMaxMessageBytes }) : undefined);
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
    }),
    tokens,
    gates: o.gates ?? new CredentialGates({ coolDownMs: s.authCooldownMs, now: o.now }),
    deadLetters,
    idempotency:
      o.idempotency === null
        ? undefined
        : o.idempotency ?? (s.idempotencyTable ? createDynamoIdempotency({ table: s.idempotencyTable, ttlSeconds: s.idempotencyTtlSeconds }) : undefined),
    ordering: s.ordering,
    maxConcurrency: s.maxConcurrency,
    safetyMarginMs: s.safetyMarginMs,
    minRequestMs: s.minRequestMs,
    logReplyChars: s.logReplyChars,
    log: o.log ?? logger,
    metrics: o.metrics ?? powertoolsMetrics,
    now: o.now,
    ...(s.routes.some((r) => r.reply || r.errors) && {
      replies: new ReplyStage({ edges: o.replyEdges ?? replyEdges(s), maxStoredBytes: s.replyStoreMaxBytes, now: o.now }),
    }),
  };
}
