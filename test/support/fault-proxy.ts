// An HTTP proxy on 127.0.0.1 in front of a real AWS peer (moto_server, dynalite): each request is passed
// through, held without an answer (a hung endpoint), reset, delayed, or answered with a scripted error. It
// also counts the requests in flight per operation (`X-Amz-Target`, e.g. DynamoDB_20120810.PutItem).
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ProxiedRequest {
  seq: number;
  /** The operation: the X-Amz-Target header (JSON protocols), else the Action of a query body, else the path. */
  operation: string;
  body: string;
  receivedAt: number;
}

export type ProxyAction =
  | 'pass'
  /** Accept, never answer (until the client gives up or the proxy closes). */
  | 'hang'
  /** TCP reset. */
  | 'reset'
  | { delayMs: number }
  | { status: number; body?: string; headers?: Record<string, string> };

export interface FaultProxy {
  url: string;
  requests: ProxiedRequest[];
  /** Most requests of one operation in flight at once, by operation. */
  maxInFlight: Record<string, number>;
  setDecide(decide: ((r: ProxiedRequest) => ProxyAction) | undefined): void;
  close(): Promise<void>;
}

function operationOf(req: IncomingMessage, body: string): string {
  const target = req.headers['x-amz-target'];
  if (typeof target === 'string') return target;
  const action = /(?:^|&)Action=([^&]+)/.exec(body);
  return action ? action[1] : req.url ?? '/';
}

export async function startFaultProxy(targetUrl: string, decide?: (r: ProxiedRequest) => ProxyAction): Promise<FaultProxy> {
  const target = new URL(targetUrl);
  const requests: ProxiedRequest[] = [];
  const inFlight: Record<string, number> = {};
  const maxInFlight: Record<string, number> = {};
  const sockets = new Set<Socket>();
  let seq = 0;
  let rule = decide;

  const forward = (req: IncomingMessage, res: ServerResponse, raw: Buffer, done: () => void) => {
    const up = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
        upRes.on('end', done);
      },
    );
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
      done();
    });
    up.end(raw);
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = raw.toString('utf8');
      const r: ProxiedRequest = { seq: ++seq, operation: operationOf(req, body), body, receivedAt: Date.now() };
      requests.push(r);
      const op = r.operation;
      inFlight[op] = (inFlight[op] ?? 0) + 1;
      maxInFlight[op] = Math.max(maxInFlight[op] ?? 0, inFlight[op]);
      let ended = false;
      const done = () => {
        if (ended) return;
        ended = true;
        inFlight[op]--;
      };
      res.on('close', done);
      const action = rule?.(r) ?? 'pass';
      if (action === 'pass') return forward(req, res, raw, done);
      if (action === 'hang') return;
      if (action === 'reset') return req.socket.resetAndDestroy();
      if ('delayMs' in action) {
        const t = setTimeout(() => forward(req, res, raw, done), action.delayMs);
        res.on('close', () => clearTimeout(t));
        return;
      }
      res.writeHead(action.status, { 'content-type': 'application/x-amz-json-1.0', ...action.headers });
      res.end(action.body ?? '');
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    maxInFlight,
    setDecide: (d) => (rule = d),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
