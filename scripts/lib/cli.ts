// What every operator command shares: its flags parsed with node:util, usage errors with exit status 2,
// configuration errors with 2, anything else with 1 and its stack.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { SettingsError } from '../../lambda/config/settings';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** parseArgs, with its errors (unknown flag, missing value) as usage errors. */
export function parseFlags<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export interface CliOptions {
  /** The command's name, the prefix of every error line. */
  name: string;
  usage: string;
  /** Expected error classes: the words before the message (none: the message alone) and the exit status (default 2). */
  known?: Array<{ error: new (...args: never[]) => Error; words?: string; code?: 1 | 2 }>;
  /** Words for an unexpected error (exit status 1). */
  unexpected?: string;
}

/** Runs `main` and sets the exit status from its result or its error. */
export function runCli(main: () => Promise<number>, o: CliOptions): void {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      const err = e as Error;
      if (e instanceof UsageError) {
        process.stderr.write(`${o.name}: ${err.message}\n\n${o.usage}\n`);
        process.exitCode = 2;
        return;
      }
      for (const k of [{ error: SettingsError, words: 'configuration error' }, ...(o.known ?? [])]) {
        if (e instanceof k.error) {
          process.stderr.write(`${o.name}: ${k.words ? `${k.words}: ` : ''}${err.message}\n`);
          process.exitCode = k.code ?? 2;
          return;
        }
      }
      process.stderr.write(`${o.name}: ${o.unexpected ? `${o.unexpected}: ` : ''}${err.stack ?? String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
