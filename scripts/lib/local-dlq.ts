// A dead-letter sink for local runs: one JSON file per dead letter, holding exactly the body the SQS
// sink would send (the full record, base64 key and value, why it failed), so an operator can inspect or
// replay it. Used by `npm run invoke` and `npm start` when DLQ_URL is not set.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DeadLetter, DeadLetterSink } from '../../lambda/dead-letter';

export interface LocalDeadLetterSink extends DeadLetterSink {
  readonly dir: string;
  /** Files written so far, in order. */
  readonly files: string[];
}

const safe = (s: string) => s.replace(/[^A-Za-z0-9._@-]+/g, '_').slice(0, 150);

export function createLocalDeadLetterSink(dir: string): LocalDeadLetterSink {
  const abs = resolve(dir);
  const files: string[] = [];
  return {
    dir: abs,
    files,
    async send(letters: readonly DeadLetter[]) {
      const failed = new Set<string>();
      if (letters.length === 0) return failed;
      try {
        mkdirSync(abs, { recursive: true });
      } catch {
        for (const l of letters) failed.add(l.id);
        return failed;
      }
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      for (const letter of letters) {
        const file = join(abs, `${stamp}_${safe(letter.id)}.json`);
        try {
          writeFileSync(file, `${JSON.stringify(letter.body, null, 2)}\n`, { flag: 'wx' });
          files.push(file);
        } catch {
          failed.add(letter.id); // reported to Lambda instead, exactly as a failed SQS write
        }
      }
      return failed;
    },
  };
}
