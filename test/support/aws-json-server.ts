// Raw node:http servers standing in for an AWS JSON-protocol service, for what moto and dynalite cannot be made to
// do (throttle, fail with a 5xx, hang), and a check of a request's SigV4 signature by the AWS SDK's own signer.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

export interface RawServer {
  url: string;
  /** Every request, in order, with its headers and body. */
  seen: Array<{ headers: IncomingMessage['headers']; body: string }>;
  close(): Promise<void>;
}

/** A raw server: `answer` decides each request's reply (n counts from 1). */
export async function rawServer(answer: (req: IncomingMessage, body: string, n: number, res: ServerResponse) => void): Promise<RawServer> {
  const seen: RawServer['seen'] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ headers: req.headers, body });
      answer(req, body, seen.length, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    seen,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export const json = (res: ServerResponse, status: number, body: object, contentType = 'application/x-amz-json-1.0') =>
  res.writeHead(status, { 'content-type': contentType }).end(JSON.stringify(body));

/** Whether the request's Authorization header is what @smithy/signature-v4 computes for it (POST / on 127.0.0.1). */
export async function signedAsTheSdkWould(
  req: IncomingMessage,
  body: string,
  o: { service: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } },
): Promise<boolean> {
  const smithy = new SignatureV4({ service: o.service, region: o.region, credentials: o.credentials, sha256: Sha256, applyChecksum: false });
  const amz = String(req.headers['x-amz-date']);
  const signingDate = new Date(`${amz.slice(0, 4)}-${amz.slice(4, 6)}-${amz.slice(6, 8)}T${amz.slice(9, 11)}:${amz.slice(11, 13)}:${amz.slice(13, 15)}Z`);
  const headers: Record<string, string> = {};
  for (const h of ['content-type', 'host', 'x-amz-date', 'x-amz-security-token', 'x-amz-target']) if (req.headers[h] !== undefined) headers[h] = String(req.headers[h]);
  const expected = await smithy.sign({ method: 'POST', protocol: 'http:', hostname: '127.0.0.1', path: '/', headers, body } as never, { signingDate });
  return (expected as unknown as { headers: Record<string, string> }).headers.authorization === req.headers.authorization;
}
