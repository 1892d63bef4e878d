// HTTP plumbing of the simulator: early answers as exceptions, JSON writing, body reading with a limit.
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';

/** Thrown to answer at once (validation, auth, routing): caught by the request handler and written. */
export class HttpReply {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}

export function fastifyError(status: number, message: string, code?: string) {
  return { statusCode: status, ...(code ? { code } : {}), error: STATUS_CODES[status] ?? 'Error', message };
}

export function openaiError(_status: number, message: string, type: string) {
  return { error: { message, type, param: null, code: type } };
}

export const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function writeJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  if (res.headersSent || res.destroyed) return;
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

export function readBody(req: IncomingMessage, maxBody: number): Promise<{ raw: string; tooLarge: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // Past the limit the rest is drained and dropped, so the client reads the 413 instead of an EPIPE.
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= maxBody) chunks.push(c);
    });
    req.on('end', () => resolve({ raw: Buffer.concat(chunks).toString('utf8'), tooLarge: size > maxBody }));
    req.on('error', reject);
    req.on('close', () => (req.complete ? undefined : reject(new Error('client aborted the request body'))));
  });
}

/** Request headers with lower-cased names, repeated ones joined with ", ". */
export function headersOf(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
  return headers;
}
