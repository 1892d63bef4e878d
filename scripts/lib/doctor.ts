// `npm run doctor`'s checks: the settings and routes exactly as the function validates them at cold start,
// the token, and each route's agent through its agent card, the one request that proves an agent id and a
// token without running the agent. Nothing here sends a message: only GETs of agent cards.
// Archestra locks an IP out after 10 failed authentications a minute, so the token is tried on one card
// first and, once refused, on no other.
import { loadSettings, SettingsError, TOKEN_PLACEHOLDER_PREFIX, type Settings } from '../../lambda/config/settings';
import { targetUrl } from '../../lambda/compose';
import { createTokenSource } from '../../lambda/io/token';
import type { Route } from '../../lambda/config/routes';
import type { Check } from './checks';

export type Env = Record<string, string | undefined>;

/** The value a secret created by the CDK app starts with: the function refuses it as a token too. */
export const PLACEHOLDER = new RegExp(`^${TOKEN_PLACEHOLDER_PREFIX}`);

export interface ConfigResult {
  checks: Check[];
  settings?: Settings;
}

/** Settings and routes through the function's own loader: the same rules, the same messages. */
export function checkConfig(env: Env, where: string): ConfigResult {
  try {
    const settings = loadSettings(env);
    const routes = settings.routes;
    return {
      settings,
      checks: [{ name: `settings (${where})`, status: 'ok', detail: `valid; ${routes.length} route${routes.length === 1 ? '' : 's'}: ${routes.map((r) => r.name).join(', ')}` }],
    };
  } catch (e) {
    if (!(e instanceof SettingsError)) throw e;
    return { checks: [{ name: `settings (${where})`, status: 'fail', detail: e.message, fix: 'the function would fail its cold start with this message: correct the variables or the routes file' }] };
  }
}

export interface TokenResult {
  check: Check;
  token?: string;
}

/** Reads the token as the function would (ARCHESTRA_TOKEN or the secret); the value is never printed. */
export async function checkToken(settings: Settings): Promise<TokenResult | undefined> {
  if (!settings.routes.some((r) => !r.url)) return undefined; // no route talks to Archestra
  const name = 'Archestra token';
  const from = settings.tokenSecretArn ? `secret ${settings.tokenSecretArn}` : 'ARCHESTRA_TOKEN';
  if (!settings.token && !settings.tokenSecretArn) {
    return { check: { name, status: 'fail', detail: 'neither ARCHESTRA_TOKEN nor ARCHESTRA_TOKEN_SECRET_ARN is set', fix: 'set one of them (the deployed function uses the secret)' } };
  }
  let token: string | undefined;
  try {
    token = await createTokenSource({ token: settings.token, secretArn: settings.tokenSecretArn, ttlMs: 0 }).get();
  } catch (e) {
    const message = (e as Error).message;
    if (message.includes('still holds the placeholder')) {
      return { check: { name, status: 'fail', detail: `${from} still holds the placeholder the stack created it with`, fix: 'put the token in (the stack output SetArchestraTokenCommand), then run doctor again' } };
    }
    return { check: { name, status: 'fail', detail: `cannot read it from ${from}: ${message}`, fix: 'check the secret ARN, the region and your credentials' } };
  }
  if (!token) return { check: { name, status: 'fail', detail: `${from} is empty` } };
  if (PLACEHOLDER.test(token)) {
    return {
      check: {
        name,
        status: 'fail',
        detail: `${from} still holds the placeholder the stack created it with`,
        fix: 'put the token in (the stack output SetArchestraTokenCommand), then run doctor again',
      },
    };
  }
  return { check: { name, status: 'ok', detail: `read from ${from} (${token.length} characters, not shown)` }, token };
}

export interface CardTarget {
  /** Routes that share this agent. */
  routes: string[];
  /** Card URLs to try in order (the first that is not a 404 decides). */
  urls: string[];
  /** Archestra: sent with the bearer token. */
  archestra: boolean;
}

/** One target per agent: routes that share an agent id (or an url) are checked once. */
export function cardTargets(settings: Settings): CardTarget[] {
  const byKey = new Map<string, CardTarget>();
  for (const r of settings.routes) {
    const t = cardTarget(settings, r);
    const key = t.urls[0];
    const seen = byKey.get(key);
    if (seen) seen.routes.push(r.name);
    else byKey.set(key, t);
  }
  return [...byKey.values()];
}

function cardTarget(settings: Settings, r: Route): CardTarget {
  if (!r.url) {
    // Archestra's card endpoints: v1 (A2A 0.3) agent.json, v2 (A2A 1.0) agent-card.json, both behind the token.
    const file = r.a2aVersion === '1.0' ? 'agent-card.json' : 'agent.json';
    return { routes: [r.name], urls: [`${targetUrl(settings, r)}/.well-known/${file}`], archestra: true };
  }
  // Other A2A agents publish the card at the server's well-known path (agent.json before A2A 0.3).
  const origin = new URL(r.url).origin;
  return { routes: [r.name], urls: [`${origin}/.well-known/agent-card.json`, `${origin}/.well-known/agent.json`], archestra: false };
}

export type Fetch = (url: string, init: { headers: Record<string, string>; signal: AbortSignal }) => Promise<Response>;

const LOCKOUT = /too many (failed )?auth/i;

/**
 * GETs each agent's card. Archestra's answers: 200 the agent and the token are good, 401/403 the token,
 * 404 the agent id, 429 too many requests (or the IP lockout). After the first refused token no other
 * Archestra card is fetched: each refusal counts toward the lockout.
 */
export async function checkAgents(settings: Settings, token: string | undefined, o: { fetch?: Fetch; timeoutMs?: number } = {}): Promise<Check[]> {
  const get = o.fetch ?? ((url, init) => fetch(url, init));
  const checks: Check[] = [];
  let refused = false;
  for (const t of cardTargets(settings)) {
    const name = `agent of route${t.routes.length > 1 ? 's' : ''} ${t.routes.map((r) => `"${r}"`).join(', ')}`;
    if (t.archestra && (refused || !token)) {
      checks.push({ name, status: 'skip', detail: refused ? 'not checked: the token was refused (each refusal counts toward the lockout)' : 'not checked: no usable token' });
      continue;
    }
    const headers: Record<string, string> = { accept: 'application/json' };
    if (t.archestra) headers.authorization = `Bearer ${token}`;
    let verdict: Check | undefined;
    for (const url of t.urls) {
      let res: Response;
      try {
        res = await get(url, { headers, signal: AbortSignal.timeout(o.timeoutMs ?? 10_000) });
      } catch (e) {
        const cause = (e as { cause?: { code?: string; message?: string } }).cause;
        const why = cause?.code ?? cause?.message ?? (e as Error).message;
        verdict = { name, status: 'fail', detail: `${url}: no answer (${why})`, fix: 'check the URL, DNS and the network path from the function' };
        break;
      }
      const body = await res.text().catch(() => '');
      if (res.status === 404 && url !== t.urls[t.urls.length - 1]) continue;
      verdict = judge(name, url, res.status, body, t);
      if (t.archestra && (res.status === 401 || res.status === 403 || (res.status === 429 && LOCKOUT.test(body)))) refused = true;
      break;
    }
    checks.push(verdict!);
  }
  return checks;
}

function judge(name: string, url: string, status: number, body: string, t: CardTarget): Check {
  if (status === 200) {
    let card: { name?: unknown; protocolVersion?: unknown } | undefined;
    try {
      card = JSON.parse(body) as typeof card;
    } catch {
      /* judged below */
    }
    if (!card || typeof card.name !== 'string') return { name, status: 'fail', detail: `${url}: HTTP 200 but not an agent card`, fix: 'the URL does not point at an A2A agent' };
    const version = typeof card.protocolVersion === 'string' ? `, A2A ${card.protocolVersion}` : '';
    return { name, status: 'ok', detail: `agent "${card.name}"${version}${t.archestra ? ', token accepted' : ''}` };
  }
  if (status === 401 || status === 403) {
    return t.archestra
      ? { name, status: 'fail', detail: `${url}: HTTP ${status}, the token was refused`, fix: 'put a valid Archestra API token in the secret; no further token checks were made' }
      : { name, status: 'fail', detail: `${url}: HTTP ${status}, the agent wants credentials the bridge does not send`, fix: 'routes with their own url get no token' };
  }
  if (status === 404) {
    return t.archestra
      ? { name, status: 'fail', detail: `${url}: HTTP 404, Archestra has no such agent`, fix: 'check the route\'s prompt_id against the agent\'s id in Archestra' }
      : { name, status: 'fail', detail: `${url}: HTTP 404, no agent card`, fix: 'check the route\'s url' };
  }
  if (status === 429) {
    return { name, status: 'fail', detail: `${url}: HTTP 429${LOCKOUT.test(body) ? ', locked out after failed authentications' : ', rate-limited'}`, fix: 'wait a minute before trying again' };
  }
  return { name, status: 'fail', detail: `${url}: HTTP ${status}` };
}
