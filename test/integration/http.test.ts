// The HTTP edge against a raw node:http server: each way a reply can go wrong maps to the right error.
import { createServer, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { HttpError, httpPost } from '../../lambda/io/http';

let server: Server;
let base: string;
let handle: (res: ServerResponse, body: string) => void;
const sockets = new Set<Socket>();

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => handle(res, body));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

const post = (timeoutMs = 2000) => httpPost(`${base}/x`, { 'content-type': 'application/json' }, '{"a":"é"}', timeoutMs);
const rejection = async (p: Promise<unknown>) => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HttpError);
  return err as HttpError;
};

test('a reply: status, body, Retry-After; the request body arrives intact', async () => {
  let seen = '';
  handle = (res, body) => {
    seen = body;
    res.writeHead(429, { 'retry-after': '3', 'content-type': 'application/json' }).end('{"ok":true}');
  };
  expect(await post()).toEqual({ status: 429, text: '{"ok":true}', retryAfter: '3' });
  expect(seen).toBe('{"a":"é"}');
});

test('a redirect is refused, never followed (it would carry the token elsewhere)', async () => {
  handle = (res) => res.writeHead(307, { location: 'http://example.com/' }).end();
  expect((await rejection(post())).code).toBe('network');
});

test('a body cut short of its Content-Length is a network error', async () => {
  handle = (res) => {
    res.writeHead(200, { 'content-length': '100' });
    res.write('{"partial":');
    setTimeout(() => res.socket?.destroy(), 20);
  };
  expect((await rejection(post())).code).toBe('network');
});

test('a body cut short by an orderly close (FIN, no reset) is a network error too, not a short reply', async () => {
  handle = (res) => {
    res.writeHead(200, { 'content-length': '100' });
    res.write('{"partial":');
    setTimeout(() => res.socket?.end(), 20);
  };
  expect((await rejection(post())).code).toBe('network');
});

test('a chunked body that ends without its last chunk is a network error', async () => {
  handle = (res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"partial":');
    setTimeout(() => res.socket?.end(), 20);
  };
  expect((await rejection(post())).code).toBe('network');
});

test('a trickling body cannot outlive the timeout', async () => {
  handle = (res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const t = setInterval(() => res.write(' '), 20);
    res.on('close', () => clearInterval(t));
  };
  const started = Date.now();
  expect((await rejection(post(300))).code).toBe('timeout');
  expect(Date.now() - started).toBeLessThan(1500);
});

test('a declared or streamed reply over 8 MiB is refused', async () => {
  handle = (res) => res.writeHead(200, { 'content-length': String(9 * 1024 * 1024) }).end();
  expect((await rejection(post())).code).toBe('reply_too_large');
  handle = (res) => {
    res.writeHead(200);
    const chunk = Buffer.alloc(1024 * 1024, 32);
    for (let i = 0; i < 9; i++) res.write(chunk);
    res.end();
  };
  expect((await rejection(post())).code).toBe('reply_too_large');
});

test('a refused connection is a network error naming the socket error', async () => {
  const err = await rejection(httpPost('http://127.0.0.1:1/x', {}, '{}', 1000));
  expect(err.code).toBe('network');
  expect(err.message).toMatch(/ECONNREFUSED/);
});

test('connections are kept alive and reused', async () => {
  handle = (res) => res.end('{}');
  const before = sockets.size;
  for (let i = 0; i < 5; i++) await post();
  expect(sockets.size - before).toBeLessThanOrEqual(1);
});

describe('HttpError.sent: false only when the request provably never reached the server', () => {
  test('a refused connection was never sent', async () => {
    expect((await rejection(httpPost('http://127.0.0.1:1/x', {}, '{}', 1000))).sent).toBe(false);
  });

  test('a DNS failure was never sent', async () => {
    const err = await rejection(httpPost('http://no-such-host.invalid/x', {}, '{}', 5000));
    expect(err.code).toBe('network');
    expect(err.sent).toBe(false);
  });

  test('a caller abort before the connection exists was never sent', async () => {
    const ac = new AbortController();
    ac.abort();
    const err = await rejection(httpPost(`${base}/x`, {}, '{}', 5000, ac.signal));
    expect(err.sent).toBe(false);
  });

  test('a caller abort before the call opens no connection and sends nothing', async () => {
    let received = 0;
    handle = (res) => {
      received++;
      res.end('{}');
    };
    const before = sockets.size;
    const ac = new AbortController();
    ac.abort();
    const err = await rejection(httpPost(`${base}/fresh`, {}, '{}', 5000, ac.signal));
    expect(err).toMatchObject({ code: 'timeout', sent: false });
    await new Promise((r) => setTimeout(r, 50));
    expect(received).toBe(0);
    expect(sockets.size).toBe(before);
  });

  test('a caller abort in the same tick as the call, with a kept-alive socket free, was never sent', async () => {
    let received = 0;
    handle = (res) => {
      received++;
      res.end('{}');
    };
    await post(); // leaves a kept-alive socket in the pool
    const ac = new AbortController();
    const pending = rejection(httpPost(`${base}/x`, {}, '{}', 5000, ac.signal));
    ac.abort();
    expect((await pending).sent).toBe(false);
    await new Promise((r) => setTimeout(r, 50));
    expect(received).toBe(1);
  });

  test('a failure on a reused kept-alive socket may have been delivered', async () => {
    handle = (res) => res.end('{}');
    await post();
    const before = sockets.size;
    let received = 0;
    handle = (res) => {
      received++;
      res.socket?.destroy();
    };
    const err = await rejection(post());
    expect(sockets.size).toBeLessThanOrEqual(before); // no new connection: the pooled one was reused
    expect(received).toBe(1);
    expect(err).toMatchObject({ code: 'network', sent: true });
  });

  test('a connection cut after the server read the request may have been delivered', async () => {
    let received = 0;
    handle = (res) => {
      received++;
      res.socket?.destroy();
    };
    const err = await rejection(post());
    expect(received).toBe(1);
    expect(err.code).toBe('network');
    expect(err.sent).toBe(true);
  });

  test('a timeout while the server holds the request, and a caller abort then, were both possibly delivered', async () => {
    const held: ServerResponse[] = [];
    handle = (res) => held.push(res);
    const timedOut = await rejection(post(200));
    expect(timedOut.code).toBe('timeout');
    expect(timedOut.sent).toBe(true);
    const ac = new AbortController();
    const pending = rejection(httpPost(`${base}/x`, {}, '{}', 5000, ac.signal));
    while (held.length < 2) await new Promise((r) => setTimeout(r, 10));
    ac.abort();
    const aborted = await pending;
    expect(aborted.sent).toBe(true);
    for (const r of held) r.destroy();
  });
});

// `sent` tells a request that provably never reached the server from one whose outcome is unknown.
describe('HttpError.sent on sockets and TLS', () => {
  test('a refused connection was not sent', async () => {
    const err = await rejection(httpPost('http://127.0.0.1:1/x', {}, '{}', 1000));
    expect(err.sent).toBe(false);
  });

  test('a timeout after the body was written was sent (the outcome is unknown)', async () => {
    let received = '';
    handle = (_res, body) => (received = body); // reads it, never answers
    const err = await rejection(post(300));
    expect(err).toMatchObject({ code: 'timeout', sent: true });
    expect(received).toBe('{"a":"é"}');
  });

  test('a connection cut after the body was written was sent', async () => {
    handle = (res) => res.socket?.destroy();
    expect(await rejection(post())).toMatchObject({ code: 'network', sent: true });
  });

  test('a TLS handshake that never completes is a timeout that was not sent', async () => {
    // A TCP listener that accepts and stays silent: the TLS client hello is never answered.
    const open: Socket[] = [];
    const silent = createNetServer((s) => {
      open.push(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const port = (silent.address() as AddressInfo).port;
      const err = await rejection(httpPost(`https://127.0.0.1:${port}/x`, {}, '{}', 300));
      expect(err).toMatchObject({ code: 'timeout', sent: false });
    } finally {
      for (const s of open) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  test('a TLS handshake refused by the peer was not sent', async () => {
    const open: Socket[] = [];
    const closing = createNetServer((s) => {
      open.push(s);
      s.on('error', () => undefined);
      s.end('not tls\r\n\r\n');
    });
    await new Promise<void>((r) => closing.listen(0, '127.0.0.1', r));
    try {
      const port = (closing.address() as AddressInfo).port;
      const err = await rejection(httpPost(`https://127.0.0.1:${port}/x`, {}, '{}', 2000));
      expect(err).toMatchObject({ code: 'network', sent: false });
    } finally {
      for (const s of open) s.destroy();
      await new Promise<void>((r) => closing.close(() => r()));
    }
  });
});
