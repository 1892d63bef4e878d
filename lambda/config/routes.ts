// Route configuration: the schema and its validation. Pure (no I/O) so the CDK app validates
// the same file at synth time with exactly the rules the handler applies at cold start.
import { z } from 'zod';

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);

const routeSchema = z
  .strictObject({
    name: z.string().min(1, 'must be a non-empty string'),
    description: z.string().optional(),
    topic_pattern: z.string().min(1, 'must be a non-empty string'),
    prompt_id: z.string().min(1, 'must be a non-empty string').optional(),
    agent_id: z.string().min(1, 'must be a non-empty string').optional(),
    header_match: z.record(z.string(), z.union([z.string(), z.array(z.string()).min(1)])).optional(),
    field_match: z.record(z.string().min(1), z.union([scalar, z.array(scalar).min(1)])).optional(),
    transform_template: z.string().optional(),
    on_missing: z.enum(['keep', 'empty', 'fail']).default('keep'),
    on_oversize: z.enum(['dead_letter', 'truncate']).default('dead_letter'),
    a2a_version: z.enum(['0.3', '1.0']).default('0.3'),
    url: z.url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL' }).optional(),
    timeout_seconds: z.number().positive('must be a positive number of seconds').max(900).optional(),
  })
  .superRefine((route, ctx) => {
    if (route.prompt_id === undefined && route.agent_id === undefined) {
      ctx.addIssue({ code: 'custom', path: ['prompt_id'], message: 'is required (or its alias agent_id)' });
    }
    if (route.prompt_id !== undefined && route.agent_id !== undefined && route.prompt_id !== route.agent_id) {
      ctx.addIssue({ code: 'custom', path: ['agent_id'], message: 'conflicts with prompt_id: give one of them' });
    }
    const p = route.topic_pattern;
    if (p.length > 1 && p.startsWith('/') && p.endsWith('/')) {
      try {
        new RegExp(p.slice(1, -1));
      } catch (e) {
        ctx.addIssue({ code: 'custom', path: ['topic_pattern'], message: `is not a valid regex: ${(e as Error).message}` });
      }
    }
  });

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
  timeoutSeconds?: number;
}

export class RouteConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RouteConfigError';
  }
}

const asArray = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

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
        const msg = issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.join(', ')}` : issue.message;
        problems.push(`${label}: field "${field}": ${msg}`);
      }
      return;
    }
    const r = res.data;
    const dup = seen.get(r.name);
    if (dup !== undefined) problems.push(`${label}: field "name": duplicates route ${dup}; route names must be unique`);
    seen.set(r.name, i);
    routes.push({
      name: r.name,
      topicPattern: r.topic_pattern,
      agentId: (r.prompt_id ?? r.agent_id) as string,
      headerMatch: r.header_match && Object.fromEntries(Object.entries(r.header_match).map(([k, v]) => [k, asArray(v)])),
      fieldMatch: r.field_match && Object.fromEntries(Object.entries(r.field_match).map(([k, v]) => [k, asArray(v)])),
      template: r.transform_template,
      onMissing: r.on_missing,
      onOversize: r.on_oversize,
      a2aVersion: r.a2a_version,
      url: r.url,
      timeoutSeconds: r.timeout_seconds,
    });
  });
  if (problems.length) throw new RouteConfigError(`${source} is invalid:\n  - ${problems.join('\n  - ')}`);
  return routes;
}

/** Parses routes JSON text (from ROUTES_CONFIG or a file). */
export function parseRoutesText(text: string, source = 'routes'): Route[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new RouteConfigError(`${source}: not valid JSON: ${(e as Error).message}`);
  }
  return parseRoutes(json, source);
}
