// Why lambda/io/dynamo-client.ts signs with node:crypto itself: bundle size and CPU per signature of its signer
// against @smithy/signature-v4 (with @aws-crypto/sha256-js, the SDK's browser-safe hash, and with node:crypto's
// hash behind the same interface), on one ~300-byte PutItem body. `npx tsx bench/sigv4-choice.ts`.
import { createHash, createHmac } from 'node:crypto';
import path from 'node:path';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { build } from 'esbuild';
import { signDynamoPost } from '../lambda/io/dynamo-client';

const ROOT = path.resolve(__dirname, '..');
const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'token' };
const body = JSON.stringify({ TableName: 'idem', Item: { id: { S: 'orders-0-123#orders' }, status: { S: 'IN_PROGRESS' }, owner: { S: 'c0ffee00-0000-4000-8000-000000000000' }, expiresAt: { N: '1767225600' } }, ConditionExpression: 'attribute_not_exists(id) OR expiresAt < :now', ExpressionAttributeValues: { ':now': { N: '1767225000' } } });

/** node:crypto behind the Checksum interface @smithy/signature-v4 expects. */
class NodeSha256 {
  private h;
  constructor(secret?: string | Uint8Array) {
    this.h = secret ? createHmac('sha256', secret) : createHash('sha256');
  }
  update(d: string | Uint8Array) {
    this.h.update(d);
  }
  async digest() {
    return new Uint8Array(this.h.digest());
  }
  reset() {}
}

async function sizeOf(contents: string): Promise<number> {
  const r = await build({ stdin: { contents, resolveDir: ROOT, loader: 'ts' }, bundle: true, minify: true, platform: 'node', target: 'node20', write: false, logLevel: 'silent' });
  return r.outputFiles[0].contents.length;
}

async function cpuPerCall(n: number, fn: () => unknown): Promise<number> {
  for (let i = 0; i < 2000; i++) await fn();
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) await fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / n;
}

async function main() {
  const request = () => ({ method: 'POST', protocol: 'https:', hostname: 'dynamodb.us-east-1.amazonaws.com', path: '/', headers: { 'content-type': 'application/x-amz-json-1.0', host: 'dynamodb.us-east-1.amazonaws.com', 'x-amz-target': 'DynamoDB_20120810.PutItem' }, body });
  const smithyJs = new SignatureV4({ service: 'dynamodb', region: 'us-east-1', credentials, sha256: Sha256, applyChecksum: false });
  const smithyNode = new SignatureV4({ service: 'dynamodb', region: 'us-east-1', credentials, sha256: NodeSha256 as never, applyChecksum: false });
  const keys = new Map<string, Buffer>();
  const own = () => signDynamoPost({ host: 'dynamodb.us-east-1.amazonaws.com', region: 'us-east-1', target: 'DynamoDB_20120810.PutItem', body, credentials, date: new Date(), keys });
  const sizes = {
    own: await sizeOf(`export { createDynamoClient } from './lambda/io/dynamo-client';`),
    smithyJs: await sizeOf(`export { SignatureV4 } from '@smithy/signature-v4'; export { Sha256 } from '@aws-crypto/sha256-js';`),
  };
  const n = 20_000;
  const cpu = { own: await cpuPerCall(n, own), smithyNode: await cpuPerCall(n, () => smithyNode.sign(request() as never)), smithyJs: await cpuPerCall(n, () => smithyJs.sign(request() as never)) };
  console.log(JSON.stringify({ bundleBytes: sizes, cpuUsPerSignature: cpu }, null, 1));
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
