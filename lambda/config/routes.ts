// Route configuration: the schema and its validation. Pure (no I/O) so the CDK app validates
// the same file at synth time with exactly the rules the handler applies at cold start.
// Over 200 lines: one schema for every route field and the cross-field rules between them; split, the rules would
// have to be read across files to know what one route may say.
// zod/mini: the same validation as classic zod at about 25 KB of bundle instead of 440 KB (cold start).
import * as z from 'zod/mini';
import { en } from 'zod/locales';
import { ConfigError } from '../errors';
import { checkTemplate } from '../template';
import { checkUrlTemplate } from '../url-template';
import type { FormatSpec } from '../schema/codecs';
import { parseDestination, type Destination } from '../reply/destination';
import { closest } from './suggest';

z.config(en());

const nonEmpty = () => z.string().check(z.minLength(1, 'must be a non-empty string'));
const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const headerValue = z.union([z.string(), z.array(z.string()).check(z.minLength(1))]);
const fieldValue = z.union([scalar, z.array(scalar).check(z.minLength(1))]);

// A schema file ships inside the deployment package next to the routes file: a relative path that stays inside it.
const schemaPath = () =>
  nonEmpty().check(
    z.refine((p) => !p.startsWith('/') && !/^[A-Za-z]:/.test(p) && !p.split(/[\\/]/).includes('..'), 'must be a path relative to the routes file, without ".."'),
  );

const formatSchema = z
  .strictObject({
    type: z.enum(['avro', 'protobuf']),
    schema_file: schemaPath(),
    message_type: z.optional(nonEmpty()),
    framing: z._default(z.enum(['auto', 'confluent', 'glue', 'none']), 'auto'),
    writer_schemas: z.optional(z.record(nonEmpty(), schemaPath())),
  })
  .check(
    z.superRefine((f, ctx) => {
      if (f.type === 'protobuf' && f.message_type === undefined) ctx.addIssue({ code: 'custom', path: ['message_type'], message: 'is required for protobuf' });
      if (f.type === 'avro' && f.message_type !== undefined) ctx.addIssue({ code: 'custom', path: ['message_type'], message: 'is for protobuf only' });
      if (f.type === 'protobuf' && f.writer_schemas !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['writer_schemas'], message: 'is for avro only (Protobuf reads older messages with the current schema)' });
      }
    }),
  );

const toFormat = (f: z.output<typeof formatSchema> | undefined): FormatSpec | undefined =>
  f && { type: f.type, schemaFile: f.schema_file, messageType: f.message_type, framing: f.framing, writerSchemas: f.writer_schemas };

/** RFC 9110 token: what Node accepts as a header name. */
const HTTP_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers of the request the bridge owns: a record must not be able to set them. */
const RESERVED_HEADERS = new Set(['authorization', 'content-type', 'content-length', 'accept', 'a2a-version', 'host', 'connection', 'transfer-encoding', 'traceparent', 'tracestate']);

const routeSchema = z
  .strictObject({
    name: nonEmpty(),
    description: z.optional(z.string()),
    topic_pattern: nonEmpty(),
    prompt_id: z.optional(nonEmpty()),
    agent_id: z.optional(nonEmpty()),
    header_match: z.optional(z.record(z.string(), headerValue)),
    field_match: z.optional(z.record(nonEmpty(), fieldValue)),
    transform_template: z.optional(z.string()),
    on_missing: z._default(z.enum(['keep', 'empty', 'fail']), 'keep'),
    on_oversize: z._default(z.enum(['dead_letter', 'truncate']), 'dead_letter'),
    a2a_version: z._default(z.enum(['0.3', '1.0']), '0.3'),
    url: z.optional(z.url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL' })),
    timeout_seconds: z.optional(z.number().check(z.positive('must be a positive number of seconds'), z.maximum(900, 'must be at most 900 (the Lambda maximum)'))),
    value_format: z.optional(formatSchema),
    key_format: z.optional(formatSchema),
    url_template: z.optional(nonEmpty()),
    target: z._default(z.enum(['a2a', 'openai']), 'a2a'),
    model: z.optional(nonEmpty()),
    system_prompt: z.optional(z.string()),
    max_in_flight: z.optional(z.int().check(z.minimum(1, 'must be at least 1'))),
    rate_per_second: z.optional(z.number().check(z.positive('must be a positive number of requests per second'))),
    metadata_headers: z.optional(z.array(nonEmpty())),
    forward_headers: z.optional(z.array(z.string().check(z.regex(HTTP_TOKEN, 'must be a valid HTTP header name')))),
    reply: z.optional(nonEmpty()),
    reply_headers: z.optional(z.array(nonEmpty())),
    errors: z.optional(nonEmpty()),
    reply_key: z.optional(nonEmpty()),
    mode: z._default(z.enum(['message', 'task']), 'message'),
    on_give_up: z.optional(z.enum(['cancel', 'leave'])),
    conversation: z.optional(z.enum(['key'])),
  })
  .check(
    z.superRefine((route, ctx) => {
      if (route.prompt_id === undefined && route.agent_id === undefined) {
        ctx.addIssue({ code: 'custom', path: ['prompt_id'], message: 'is required (or its alias agent_id)' });
      }
      if (route.prompt_id !== undefined && route.agent_id !== undefined && route.prompt_id !== route.agent_id) {
        ctx.addIssue({ code: 'custom', path: ['agent_id'], message: 'conflicts with prompt_id: give one of them' });
      }
      if (route.transform_template !== undefined) {
        const problem = checkTemplate(route.transform_template);
        if (problem) ctx.addIssue({ code: 'custom', path: ['transform_template'], message: problem });
      }
      if (route.url_template !== undefined) {
        const problem = checkUrlTemplate(route.url_template);
        if (problem) ctx.addIssue({ code: 'custom', path: ['url_template'], message: problem });
        if (route.url !== undefined) ctx.addIssue({ code: 'custom', path: ['url_template'], message: 'conflicts with url: give one of them' });
      }
      if (route.target === 'openai' && route.model === undefined) ctx.addIssue({ code: 'custom', path: ['model'], message: 'is required for target "openai"' });
      if (route.target !== 'openai') {
        for (const f of ['model', 'system_prompt'] as const) {
          if (route[f] !== undefined) ctx.addIssue({ code: 'custom', path: [f], message: 'is for target "openai" only' });
        }
      }
      for (const name of route.forward_headers ?? []) {
        if (RESERVED_HEADERS.has(name.toLowerCase())) ctx.addIssue({ code: 'custom', path: ['forward_headers'], message: `"${name}" is set by the bridge itself and cannot be forwarded` });
      }
      if (route.reply !== undefined) {
        const d = parseDestination(route.reply);
        if (typeof d === 'string') ctx.addIssue({ code: 'custom', path: ['reply'], message: d });
      }
      if (route.errors !== undefined) {
        const d = parseDestination(route.errors);
        if (typeof d === 'string') ctx.addIssue({ code: 'custom', path: ['errors'], message: d });
      }
      if (route.reply_key !== undefined) {
        const problem = checkTemplate(route.reply_key);
        if (problem) ctx.addIssue({ code: 'custom', path: ['reply_key'], message: problem });
        if (route.reply === undefined) ctx.addIssue({ code: 'custom', path: ['reply_key'], message: 'needs reply (it is the reply\'s key)' });
      }
      if (route.reply_headers !== undefined && route.reply === undefined) {
        ctx.addIssue({ code: 'custom', path: ['reply_headers'], message: 'needs reply (it chooses the headers copied into the reply)' });
      }
      // Task mode and conversations: lambda/deliver/task-mode.ts, lambda/conversation.ts (docs/TASKS.md).
      if (route.mode === 'task' && (route.target !== 'a2a' || route.a2a_version !== '1.0')) {
        ctx.addIssue({ code: 'custom', path: ['mode'], message: '"task" needs a2a_version "1.0" (returnImmediately, GetTask and CancelTask are A2A 1.0: Archestra\'s /v2 endpoint)' });
      }
      if (route.conversation !== undefined && route.target !== 'a2a') {
        ctx.addIssue({ code: 'custom', path: ['conversation'], message: 'is for A2A targets only (an A2A contextId continues the conversation)' });
      }
      if (route.target === 'openai' && route.on_give_up !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['on_give_up'], message: 'is for A2A targets only (an OpenAI call has no task to cancel)' });
      }
      const p = route.topic_pattern;
      if (p.length > 1 && p.startsWith('/') && p.endsWith('/')) {
        try {
          new RegExp(p.slice(1, -1));
        } catch (e) {
          ctx.addIssue({ code: 'custom', path: ['topic_pattern'], message: `is not a valid regex: ${(e as Error).message}` });
        }
      }
    }),
  );

export type RouteInput = z.input<typeof routeSchema>;

export interface Route {
  name: string;
  topicPattern: string;
  agentId: string;
  headerMatch?: Record<string, string[]>;
  fieldMatch?: Record<string, Array<string | number | boolean | null>>;
  template?: string;
  onMissing: 'keep' | 'empty' | 'fail';
  onOversize: 'dead_letter' | 'truncate';
  a2aVersion: '0.3' | '1.0';
  url?: string;
  /** A per-record URL outside Archestra: `{header.NAME}` placeholders in its path or query (lambda/url-template). */
  urlTemplate?: string;
  timeoutSeconds?: number;
  /** In-function Avro/Protobuf decoding of the value / key (lambda/schema). */
  valueFormat?: FormatSpec;
  keyFormat?: FormatSpec;
  /** The wire protocol: A2A (default) or an OpenAI-compatible Chat Completions endpoint. */
  target: 'a2a' | 'openai';
  model?: string;
  systemPrompt?: string;
  /** Per-route limits below MAX_CONCURRENCY (shared by the routes of one target URL: the smallest wins). */
  maxInFlight?: number;
  ratePerSecond?: number;
  /** Kafka headers copied into the A2A message's metadata (`kafka.headers`); nothing else is. */
  metadataHeaders?: string[];
  /** Kafka headers sent as HTTP headers of the request; nothing else is. */
  forwardHeaders?: string[];
  /** Where the agent's replies go (lambda/reply). */
  reply?: Destination;
  /** Source headers copied into the reply envelope. */
  replyHeaders?: string[];
  /** Template of the reply's key (default: the source record's key bytes). */
  replyKey?: string;
  /** Where records this route dead-letters are announced (the DLQ keeps their content). */
  errors?: Destination;
  /** `task`: a durable A2A 1.0 task, resumed across invocations (lambda/deliver/task-mode.ts). */
  mode: 'message' | 'task';
  /** When the bridge stops waiting for a task: cancel it on the agent (default) or let it run. */
  onGiveUp: 'cancel' | 'leave';
  /** `key`: the agent's contextId is kept per Kafka key and sent with the key's next record (lambda/conversation.ts). */
  conversation?: 'key';
}

export class RouteConfigError extends ConfigError {
  constructor(message: string, options?: ErrorOptions) {
    super('routes_invalid', message, options);
    this.name = 'RouteConfigError';
  }
}

const asArray = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

/**
 * A match map from the route's own JSON, into a null-prototype object: zod's record output (a plain object)
 * silently drops a key named `__proto__`, and a header may well be called that. Values are checked here too.
 */
function matchMap<T>(raw: unknown, field: string, value: z.ZodMiniType<T | T[]>, problems: string[], label: string): Record<string, T[]> | undefined {
  if (raw === undefined) return undefined;
  const out = Object.create(null) as Record<string, T[]>;
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    const res = value.safeParse(v);
    if (!res.success) problems.push(`${label}: field "${field}.${k}": ${res.error.issues[0]?.message ?? 'invalid value'}`);
    else out[k] = asArray(res.data);
  }
  return out;
}

/** Validates parsed JSON; throws RouteConfigError naming the route and field of every problem. */
export function parseRoutes(json: unknown, source = 'routes'): Route[] {
  if (!Array.isArray(json)) {
    throw new RouteConfigError(`${source}: must be a JSON array of routes, got ${json === null ? 'null' : typeof json}`);
  }
  if (json.length === 0) throw new RouteConfigError(`${source}: must contain at least one route`);
  const problems: string[] = [];
  const routes: Route[] = [];
  const seen = new Map<string, number>();
  json.forEach((raw, i) => {
    const label =
      raw && typeof raw === 'object' && typeof (raw as { name?: unknown }).name === 'string'
        ? `route ${i} ("${(raw as { name: string }).name}")`
        : `route ${i}`;
    const res = routeSchema.safeParse(raw);
    if (!res.success) {
      for (const issue of res.error.issues) {
        const field = issue.path.length ? issue.path.join('.') : '(route)';
        const msg = issue.code === 'unrecognized_keys' ? unknownFields((issue as { keys: string[] }).keys, issue.path.length ? [] : ROUTE_FIELDS) : issue.message;
        problems.push(`${label}: field "${field}": ${msg}`);
      }
      return;
    }
    const r = res.data;
    const dup = seen.get(r.name);
    if (dup !== undefined) problems.push(`${label}: field "name": duplicates route ${dup}; route names must be unique`);
    seen.set(r.name, i);
    const input = raw as { header_match?: unknown; field_match?: unknown };
    routes.push({
      name: r.name,
      topicPattern: r.topic_pattern,
      agentId: (r.prompt_id ?? r.agent_id) as string,
      headerMatch: matchMap(input.header_match, 'header_match', headerValue, problems, label),
      fieldMatch: matchMap(input.field_match, 'field_match', fieldValue, problems, label),
      template: r.transform_template,
      onMissing: r.on_missing,
      onOversize: r.on_oversize,
      a2aVersion: r.a2a_version,
      url: r.url,
      ...(r.url_template !== undefined && { urlTemplate: r.url_template }),
      timeoutSeconds: r.timeout_seconds,
      ...(r.value_format && { valueFormat: toFormat(r.value_format) }),
      ...(r.key_format && { keyFormat: toFormat(r.key_format) }),
      target: r.target,
      ...(r.model !== undefined && { model: r.model }),
      ...(r.system_prompt !== undefined && { systemPrompt: r.system_prompt }),
      ...(r.max_in_flight !== undefined && { maxInFlight: r.max_in_flight }),
      ...(r.rate_per_second !== undefined && { ratePerSecond: r.rate_per_second }),
      ...(r.metadata_headers !== undefined && { metadataHeaders: r.metadata_headers }),
      ...(r.forward_headers !== undefined && { forwardHeaders: r.forward_headers }),
      ...(r.reply !== undefined && { reply: parseDestination(r.reply) as Destination }),
      ...(r.reply_headers && { replyHeaders: r.reply_headers }),
      ...(r.errors !== undefined && { errors: parseDestination(r.errors) as Destination }),
      ...(r.reply_key !== undefined && { replyKey: r.reply_key }),
      mode: r.mode,
      onGiveUp: r.on_give_up ?? 'cancel',
      ...(r.conversation !== undefined && { conversation: r.conversation }),
    });
  });
  if (problems.length) throw new RouteConfigError(`${source} is invalid:\n  - ${problems.join('\n  - ')}`);
  return routes;
}

/** Parses routes JSON text (from ROUTES_CONFIG or a file). */
const ROUTE_FIELDS = Object.keys(routeSchema.def.shape);

/** "unknown field(s) promt_id (did you mean prompt_id?)" */
function unknownFields(keys: string[], known: string[]): string {
  const hints = keys.map((k) => closest(k, known)).map((c, i) => (c ? `${keys[i]} (did you mean ${c}?)` : keys[i]));
  return `unknown field(s) ${hints.join(', ')}`;
}

export function parseRoutesText(text: string, source = 'routes'): Route[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new RouteConfigError(`${source}: not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  return parseRoutes(json, source);
}
