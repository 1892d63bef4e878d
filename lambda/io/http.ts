// The HTTP edge: one JSON POST with a hard timeout and a capped body, over node:http(s) with keep-alive
// agents reused across requests and warm invocations. Not fetch: on the benchmark machine Node's fetch
// (undici) cost ~730 us of CPU per request against ~230 us for node:http, and loading undici added
// ~40 ms to the first invocation (docs/BENCHMARKS.md).
// Not undici 7's Pool either, although its Pool.request costs less CPU per request once warm (W2's
// transport-only probes): bundled, undici is ~535 KB minified, more than three times this whole handler, and a fresh
// node takes 50-100 ms to require it against ~5 ms for node:http (W3), which alone would spend most of the 150 ms
// cold-start budget; loaded lazily it would land on the first invocation instead. docs/BENCHMARKS.md has the figures.
import * as http from 'node:http';
import * as https from 'node:https';
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

export const httpPost: HttpPost = (url, headers, body, timeoutMs, signal) =>
  new Promise<HttpReply>((resolve, reject) => {
    const u = new URL(url);
    const proto = u.protocol === 'https:' ? 'https:' : 'http:';
    const payload = Buffer.from(body, 'utf8');
    let settled = false;
    // Set once the socket is usable (a reused keep-alive socket already is; TLS counts after its handshake): from
    // then on a failure may come after the server read the request.
    let connected = false;
    const onAbort = () => fail(new HttpError('timeout', 'aborted by the caller before a complete reply'));
    const fail = (err: HttpError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      req.destroy();
      reject(connected ? err : new HttpError(err.code, err.message, false));
    };
    // Looked up on the module at each call (not destructured) so the benchmark can observe requests.
    const req = (proto === 'https:' ? https : http).request(
      u,
      { method: 'POST', agent: agents[proto], headers: { ...headers, 'content-length': String(payload.length) } },
      (res) => {
        const status = res.statusCode ?? 0;
        // A redirect would re-send the token to wherever it points: never followed, treated like a network fault.
        if (status >= 300 && status < 400) {
          res.resume();
          fail(new HttpError('network', `redirect (HTTP ${status}) refused: point ARCHESTRA_URL or the route's url at the final address`));
          return;
        }
        const declared = Number(res.headers['content-length'] ?? 0);
        if (declared > MAX_REPLY_BYTES) {
          fail(new HttpError('reply_too_large', `reply of ${declared} bytes exceeds ${MAX_REPLY_BYTES}`));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_REPLY_BYTES) fail(new HttpError('reply_too_large', `reply exceeds ${MAX_REPLY_BYTES} bytes`));
          else chunks.push(chunk);
        });
        res.on('end', () => {
          if (settled) return;
          // A body shorter than its Content-Length is a cut connection, not a reply.
          if (!res.complete) return fail(new HttpError('network', 'connection closed before the reply was complete'));
          settled = true;
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          const retryAfter = res.headers['retry-after'];
          resolve({ status, text: Buffer.concat(chunks).toString('utf8'), retryAfter: typeof retryAfter === 'string' ? retryAfter : null });
        });
        res.on('aborted', () => fail(new HttpError('network', 'connection closed before the reply was complete')));
        res.on('error', (err: NodeJS.ErrnoException) => fail(new HttpError('network', `${err.message}${err.code ? ` (${err.code})` : ''}`)));
      },
    );
    // One timer for the whole exchange, connect to last byte: a trickling body cannot outlive it.
    const timer = setTimeout(
      () => fail(new HttpError('timeout', `no complete reply within ${Math.round(timeoutMs)} ms${connected ? '' : ' (not connected)'}`)),
      Math.max(1, Math.floor(timeoutMs)),
    );
    req.on('socket', (socket) => {
      // A kept-alive socket is already connected; a new one is once its TCP (and TLS) handshake is done.
      if (req.reusedSocket || !socket.connecting) connected = true;
      else socket.once(proto === 'https:' ? 'secureConnect' : 'connect', () => (connected = true));
    });
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (err: NodeJS.ErrnoException) => fail(new HttpError('network', `${err.message}${err.code && !err.message.includes(err.code) ? ` (${err.code})` : ''}`)));
    req.end(payload);
  });
