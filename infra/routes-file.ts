// The routes file is checked at synth with the handler's own schema and topic matcher, so a
// deployment never ships a routes file that the function would reject at cold start.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseRoutesText, RouteConfigError, type Route } from '../lambda/config/routes';
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
