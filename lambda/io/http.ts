// The HTTP edge: one JSON POST with a hard timeout and a capped body, over node:http(s) with keep-alive
// agents reused across requests and warm invocations. Not fetch: on the benchmark machine Node's fetch
// (undici) cost ~730 us of CPU per request against ~230 us for node:http, and loading undici added
// ~40 ms to the first invocation (docs/BENCHMARKS.md).
// Not undici 7's Pool either, although its Pool.request costs less CPU per request once warm (W2's
// transport-only probes): bundled, undici is ~535 KB minified, more than three times this whole handler, and a fresh
// node takes 50-100 ms to require it against ~5 ms for node:http (W3), which alone would spend most of the 150 ms
// cold-start budget; loaded lazily it would land on the first invocation instead. docs/BENCHMARKS.md has the figures.
// Hand-written on node:http for what no client gives as such: `HttpError.sent` (whether the request can have reached
// the server), one deadline from connect to last byte, a capped body, no redirects, the caller's AbortSignal. With
// them it still costs less CPU per request than a bare node:http client handed the URL string (bench/http-edge.ts:
// ~80 against ~95 us, warm), as each URL is parsed once and a request's state is one Exchange whose listeners are
// module functions that find it on the emitter, not a closure per listener. Over 200 lines: one request's whole life
// (connect, sent or not, abort, timeout, capped body) is one object, so `sent` is decided in one place.
import * as http from 'node:http';
import * as https from 'node:https';
import type { Socket } from 'node:net';
import { urlToHttpOptions } from 'node:url';
import { BridgeError } from '../errors';
import type { HttpPost, HttpReply } from '../ports';
export type { HttpPost, HttpReply } from '../ports';

export class HttpError extends BridgeError {
  constructor(
    readonly code: 'timeout' | 'network' | 'reply_too_large',
    message: string,
    /**
     * false only when the request provably never reached the server: no connection was ever established for it
     * (refused, DNS, TLS handshake, connect timeout, aborted before connecting). true when any byte may have left:
     * the outcome is then unknown.
     */
    readonly sent: boolean = true,
  ) {
    super(code, message);
    this.name = 'HttpError';
  }
}

/** A reply larger than this is not an agent answer we can log or use; refuse it rather than buffer it. */
const MAX_REPLY_BYTES = 8 * 1024 * 1024;

// Idle sockets are closed after 4 s, below the usual 5 s server keep-alive, so a reused socket is not one
// the server is closing at that moment.
const agents = {
  'http:': new http.Agent({ keepAlive: true, keepAliveMsecs: 1000, timeout: 4000, scheduling: 'lifo' }),
  'https:': new https.Agent({ keepAlive: true, keepAliveMsecs: 1000, timeout: 4000, scheduling: 'lifo' }),
};

interface Target {
  tls: boolean;
  protocol: 'http:' | 'https:';
  hostname: string;
  port: number | undefined;
  path: string;
  auth: string | undefined;
}

/** Parsed URLs: a deployment posts to a handful (its agents, DynamoDB), so the cap only bounds a misuse. */
const targets = new Map<string, Target>();
function targetOf(url: string): Target {
  const cached = targets.get(url);
  if (cached) return cached;
  const o = urlToHttpOptions(new URL(url));
  const tls = o.protocol === 'https:';
  const t: Target = { tls, protocol: tls ? 'https:' : 'http:', hostname: o.hostname ?? '', port: o.port == null ? undefined : Number(o.port), path: o.path ?? '/', auth: o.auth ?? undefined };
  if (targets.size >= 64) targets.clear();
  targets.set(url, t);
  return t;
}

const EXCHANGE = Symbol('exchange');
type Carrier = { [EXCHANGE]?: Exchange };

/** One request's state; the caller's signal calls it directly (an EventTarget listener object). */
class Exchange {
  settled = false;
  // Set once the socket is usable (a reused keep-alive socket already is; TLS counts after its handshake): from
  // then on a failure may come after the server read the request.
  connected = false;
  chunks: Buffer[] = [];
  size = 0;
  timer: NodeJS.Timeout | undefined;
  req: http.ClientRequest | undefined;
  /** Set before the body's listeners are. */
  res!: http.IncomingMessage;

  constructor(
    readonly resolve: (r: HttpReply) => void,
    readonly reject: (e: HttpError) => void,
    readonly tls: boolean,
    readonly timeoutMs: number,
    readonly signal: AbortSignal | undefined,
  ) {}

  handleEvent() {
    this.fail(new HttpError('timeout', 'aborted by the caller before a complete reply'));
  }

  // A field, not a method: the 'end' listener calls it unbound.
  readonly fail = (err: HttpError) => {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.signal?.removeEventListener('abort', this);
    this.req?.destroy();
    this.reject(this.connected ? err : new HttpError(err.code, err.message, false));
  };

  done() {
    this.settled = true;
    clearTimeout(this.timer);
    this.signal?.removeEventListener('abort', this);
    const { res, chunks } = this;
    const text = chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8');
    const retryAfter = res.headers['retry-after'];
    this.resolve({ status: res.statusCode ?? 0, text, retryAfter: typeof retryAfter === 'string' ? retryAfter : null });
  }
}

// Listeners: `this` is the emitter, which carries its Exchange.
function onTimeout(x: Exchange) {
  x.fail(new HttpError('timeout', `no complete reply within ${Math.round(x.timeoutMs)} ms${x.connected ? '' : ' (not connected)'}`));
}
function onSocket(this: http.ClientRequest & Carrier, socket: Socket) {
  const x = this[EXCHANGE]!;
  // A kept-alive socket is already connected; a new one is once its TCP (and TLS) handshake is done.
  if (this.reusedSocket || !socket.connecting) x.connected = true;
  else socket.once(x.tls ? 'secureConnect' : 'connect', () => (x.connected = true));
}
function onRequestError(this: Carrier, err: NodeJS.ErrnoException) {
  this[EXCHANGE]!.fail(new HttpError('network', `${err.message}${err.code && !err.message.includes(err.code) ? ` (${err.code})` : ''}`));
}
function onResponse(this: Carrier, res: http.IncomingMessage & Carrier) {
  const x = this[EXCHANGE]!;
  const status = res.statusCode ?? 0;
  // A redirect would re-send the token to wherever it points: never followed, treated like a network fault.
  if (status >= 300 && status < 400) {
    res.resume();
    x.fail(new HttpError('network', `redirect (HTTP ${status}) refused: point ARCHESTRA_URL or the route's url at the final address`));
    return;
  }
  const declared = Number(res.headers['content-length'] ?? 0);
  if (declared > MAX_REPLY_BYTES) {
    x.fail(new HttpError('reply_too_large', `reply of ${declared} bytes exceeds ${MAX_REPLY_BYTES}`));
    return;
  }
  x.res = res;
  res[EXCHANGE] = x;
  res.on('data', onData);
  res.on('end', onEnd);
  res.on('aborted', onCut);
  res.on('error', onResponseError);
}
function onData(this: Carrier, chunk: Buffer) {
  const x = this[EXCHANGE]!;
  x.size += chunk.length;
  if (x.size > MAX_REPLY_BYTES) x.fail(new HttpError('reply_too_large', `reply exceeds ${MAX_REPLY_BYTES} bytes`));
  else x.chunks.push(chunk);
}
function onEnd(this: Carrier) {
  const x = this[EXCHANGE]!;
  const { res, fail } = x;
  if (x.settled) return;
  // A body shorter than its Content-Length is a cut connection, not a reply.
  if (!res.complete) return fail(new HttpError('network', 'connection closed before the reply was complete'));
  x.done();
}
function onCut(this: Carrier) {
  this[EXCHANGE]!.fail(new HttpError('network', 'connection closed before the reply was complete'));
}
function onResponseError(this: Carrier, err: NodeJS.ErrnoException) {
  this[EXCHANGE]!.fail(new HttpError('network', `${err.message}${err.code ? ` (${err.code})` : ''}`));
}

export const httpPost: HttpPost = (url, headers, body, timeoutMs, signal) =>
  new Promise<HttpReply>((resolve, reject) => {
    const t = targetOf(url);
    const payload = Buffer.from(body, 'utf8');
    const x = new Exchange(resolve, reject, t.tls, timeoutMs, signal);
    // Aborted already: no request at all, so none can have been sent.
    if (signal?.aborted) return x.handleEvent();
    // Looked up on the module at each call (not destructured) so the benchmark can observe requests.
    const req = (t.tls ? https : http).request({
      protocol: t.protocol,
      hostname: t.hostname,
      port: t.port,
      path: t.path,
      auth: t.auth,
      method: 'POST',
      agent: agents[t.protocol],
      headers: { ...headers, 'content-length': String(payload.length) },
    }) as http.ClientRequest & Carrier;
    req[EXCHANGE] = x;
    x.req = req;
    req.on('response', onResponse);
    req.on('error', onRequestError);
    // One timer for the whole exchange, connect to last byte: a trickling body cannot outlive it.
    x.timer = setTimeout(onTimeout, Math.max(1, Math.floor(timeoutMs)), x);
    req.on('socket', onSocket);
    signal?.addEventListener('abort', x, { once: true });
    req.end(payload);
  });
