// The routes file is checked at synth with the handler's own schema and topic matcher, so a
// deployment never ships a routes file that the function would reject at cold start.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseRoutesText, RouteConfigError, type Route } from '../lambda/config/routes';
import { ConfigError } from '../lambda/errors';
import type { Destination } from '../lambda/reply/destination';
import { compileTopicPattern } from '../lambda/route';
import { loadReaders } from '../lambda/schema/load';

export function loadRoutesFile(file: string): Route[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new RouteConfigError(`routesFile ${file}: cannot be read: ${(e as Error).message}`);
  }
  const routes = parseRoutesText(text, `routesFile ${file}`);
  // The schema files routes name are compiled as the function compiles them at cold start.
  try {
    loadReaders(routes, path.dirname(file));
  } catch (e) {
    throw new RouteConfigError(`routesFile ${file}: ${(e as Error).message}`);
  }
  return routes;
}

/** Subscribed topics that no route's topic_pattern matches: their records would all be unrouted. */
export function unroutedTopics(topics: readonly string[], routes: readonly Route[]): string[] {
  const matchers = routes.map((r) => compileTopicPattern(r.topicPattern));
  return topics.filter((t) => !matchers.some((m) => m(t)));
}

export class ReplyDestinationsError extends ConfigError {
  constructor(message: string) {
    super('reply_destinations_invalid', message);
    this.name = 'ReplyDestinationsError';
  }
}

/** The distinct destinations the routes name (reply and errors), in the order of the routes file. */
export function replyDestinations(routes: readonly Route[]): Destination[] {
  const seen = new Map<string, Destination>();
  for (const r of routes) for (const d of [r.reply, r.errors]) if (d) seen.set(d.kind === 'kafka' ? d.uri : d.arn, d);
  return [...seen.values()];
}

/** Why the stack cannot write the routes' replies: a reply topic it consumes (a loop), or Kafka replies it cannot reach. */
export function replyProblems(routes: readonly Route[], c: { topics: readonly string[]; msk: boolean; kafkaAuth: 'iam' | 'scram' | 'mtls' }): string[] {
  const problems: string[] = [];
  const kafka = replyDestinations(routes).flatMap((d) => (d.kind === 'kafka' ? [d] : []));
  for (const d of kafka) {
    if (c.topics.includes(d.topic)) problems.push(`reply topic "${d.topic}" is also a consumed topic: its replies would be sent to the agents again (a loop)`);
  }
  if (kafka.length && !c.msk) problems.push('kafka:// replies need an MSK cluster (mskClusterArn); self-managed Kafka is not supported for replies');
  if (kafka.length && c.kafkaAuth === 'mtls') problems.push('kafka:// replies support MSK IAM and SASL/SCRAM; this cluster uses mTLS');
  return problems;
}
