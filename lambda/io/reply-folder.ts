// A reply edge for local runs without real destinations: one JSON file per reply, the same envelope the real
// destinations receive, named after the destination and the envelope id. Used by `npm start` and `npm run invoke`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describeDestination, type Destination } from '../reply/destination';
import type { ReplyEdge, ReplyEdges } from '../ports';

const safe = (s: string) => s.replace(/[^A-Za-z0-9._@#-]+/g, '_').slice(0, 150);

export function createFolderReplyEdge(dir: string): ReplyEdge & { readonly dir: string; readonly files: string[] } {
  const abs = resolve(dir);
  const files: string[] = [];
  return {
    dir: abs,
    files,
    maxBytes: 1024 * 1024,
    async write(dest: Destination, m, signal) {
      signal.throwIfAborted();
      mkdirSync(abs, { recursive: true });
      const file = join(abs, `${safe(describeDestination(dest).replace(/^.*[:/]/, ''))}_${safe(m.id)}.json`);
      writeFileSync(file, `${JSON.stringify(JSON.parse(m.body), null, 2)}\n`);
      files.push(file);
      return `${describeDestination(dest)} -> ${file}`;
    },
  };
}

/** The folder edge for every kind of destination. */
export function folderEdges(edge: ReplyEdge): ReplyEdges {
  return { kafka: edge, sqs: edge, sns: edge, eventbridge: edge };
}
