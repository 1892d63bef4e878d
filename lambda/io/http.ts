// The HTTP edge: one JSON POST with a hard timeout and a capped body. Node's fetch (undici) keeps
// connections alive and reuses them across requests and warm invocations, so no agent setup is needed.

export interface HttpReply {
  status: number;
  text: string;
  retryAfter: string | null;
}

export type HttpPost = (url: string, headers: Record<string, string>, body: string, timeoutMs: number) => Promise<HttpReply>;

export class HttpError extends Error {
  constructor(
    readonly code: 'timeout' | 'network' | 'reply_too_large',
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** A reply larger than this is not an agent answer we can log or use; refuse it rather than buffer it. */
const MAX_REPLY_BYTES = 8 * 1024 * 1024;

export const fetchPost: HttpPost = async (url, headers, body, timeoutMs) => {
  const signal = AbortSignal.timeout(Math.max(1, Math.floor(timeoutMs)));
  try {
    const res = await fetch(url, { method: 'POST', headers, body, signal, redirect: 'error' });
    const declared = Number(res.headers.get('content-length') ?? 0);
    if (declared > MAX_REPLY_BYTES) {
      await res.body?.cancel();
      throw new HttpError('reply_too_large', `reply of ${declared} bytes exceeds ${MAX_REPLY_BYTES}`);
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    if (res.body) {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        size += chunk.byteLength;
        if (size > MAX_REPLY_BYTES) throw new HttpError('reply_too_large', `reply exceeds ${MAX_REPLY_BYTES} bytes`);
        chunks.push(chunk);
      }
    }
    return { status: res.status, text: Buffer.concat(chunks).toString('utf8'), retryAfter: res.headers.get('retry-after') };
  } catch (err) {
    if (err instanceof HttpError) throw err;
    if (signal.aborted) throw new HttpError('timeout', `no complete reply within ${Math.round(timeoutMs)} ms`);
    const e = err as Error & { cause?: { code?: string; message?: string } };
    // undici hides the socket error in `cause`; its code (ECONNRESET, ECONNREFUSED...) is what an operator needs.
    const detail = e.cause?.code ?? e.cause?.message ?? e.message;
    throw new HttpError('network', `${e.message}${detail && detail !== e.message ? ` (${detail})` : ''}`);
  }
};
