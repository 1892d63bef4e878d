// What every operator command shares: its flags parsed with node:util, and one error style: the cause on one
// line, the fix on the next, where --help is. Usage errors exit 2, configuration errors 2, anything else 1.
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { SettingsError } from '../../lambda/config/settings';
import { closest } from '../../lambda/config/suggest';

export class UsageError extends Error {
  /** `fix`: one line saying what to do instead (none: see --help). */
  constructor(
    message: string,
    readonly fix?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The command as the user typed it, for "see --help" lines: `npm start` or `npm run <script>`. */
export function commandOf(name: string): string {
  return name === 'demo' || name === 'start' ? 'npm start' : `npm run ${name}`;
}

/**
 * Flags npm took for itself: `npm run invoke events/x.json --dry-run` (no `--`) runs the script without the
 * flag and sets npm_config_dry_run instead. A flag the script knows found there means the user meant it for
 * the script; running on without it could send what was meant as a dry run.
 */
export function swallowedFlags(options: ParseArgsConfig['options'], args: readonly string[], env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.npm_lifecycle_event === undefined) return []; // not started by npm
  const found: string[] = [];
  for (const name of Object.keys(options ?? {})) {
    if (name === 'help') continue; // npm answers --help itself and never runs the script
    // Given after `--` too: the script has it (an .npmrc setting of the same name, e.g. json=true, is not a swallowed flag).
    if (args.some((a) => a === `--${name}` || a.startsWith(`--${name}=`))) continue;
    // npm reads --verbose as its own log level rather than a config of that name. A swallowed --no-X leaves no
    // trace in the environment (npm exports no config for it); the only such flag, --no-progress, is cosmetic.
    const verbose = name === 'verbose' && env.npm_config_loglevel === 'verbose';
    if (env[`npm_config_${name.replace(/-/g, '_')}`] !== undefined || verbose) found.push(`--${name}`);
  }
  return found;
}

/** -h / --help, which every command takes. */
export const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

/** True when --help was given, after writing `usage` to stdout: the command then ends with status 0. */
export function helpShown(values: { help?: boolean }, usage: string): boolean {
  if (values.help) process.stdout.write(`${usage}\n`);
  return values.help === true;
}

/** parseArgs, with npm's swallowed flags refused and its errors (unknown flag, missing value) as usage errors. */
export function parseFlags<T extends ParseArgsConfig>(config: T, env: NodeJS.ProcessEnv = process.env): ReturnType<typeof parseArgs<T>> {
  const argv = config.args ?? process.argv.slice(2);
  const swallowed = swallowedFlags(config.options, argv, env);
  if (swallowed.length) {
    const script = env.npm_lifecycle_event ?? 'the script';
    const cmd = script === 'start' ? 'npm start' : `npm run ${script}`;
    const options = config.options ?? {};
    const flags = swallowed.map((f) => {
      const value = env[`npm_config_${f.slice(2).replace(/-/g, '_')}`];
      if (options[f.slice(2)]?.type !== 'string') return f;
      return value && value !== 'true' ? `${f} ${value}` : `${f} VALUE`; // npm left the value among the arguments
    });
    const given = argv.join(' ');
    throw new UsageError(
      `npm kept ${swallowed.join(', ')} for itself (no "--" before the flags), so nothing was run`,
      `put -- before the script's flags: ${cmd} -- ${given ? `${given} ` : ''}${flags.join(' ')}`,
    );
  }
  try {
    return parseArgs(config);
  } catch (e) {
    throw flagError(e as Error & { code?: string }, Object.keys(config.options ?? {}));
  }
}

function flagError(e: Error & { code?: string }, known: string[]): UsageError {
  const flag = /'(-{1,2}[^' =]+)/.exec(e.message)?.[1];
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && flag) {
    const near = closest(flag.replace(/^-+/, ''), known);
    return new UsageError(`unknown flag ${flag}${near ? `: did you mean --${near}?` : ''}`);
  }
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && flag) {
    return new UsageError(/argument missing/.test(e.message) ? `${flag} needs a value` : `${flag} takes no value`);
  }
  if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    const arg = /'([^']*)'/.exec(e.message)?.[1];
    return new UsageError(`unexpected argument "${arg}": this command takes only flags`);
  }
  return new UsageError(e.message);
}

const ERRNO_WORDS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a directory, not a file',
  ENOTDIR: 'a part of the path is not a directory',
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  ETIMEDOUT: 'timed out',
};

/** An error's message in words: "no such file or directory" rather than a bare ENOENT. */
export function inWords(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code && ERRNO_WORDS[code]) return ERRNO_WORDS[code];
  return (e as Error)?.message ?? String(e);
}

/**
 * A file (or `-`: stdin) the user named, as text. A missing or unreadable file, or an empty one, is a usage
 * error that names the file and says what is wrong in words.
 */
export function readInput(path: string, what: string, fix?: string): string {
  let text: string;
  try {
    text = readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read ${what} ${path}: ${inWords(e)}`, code === 'ENOENT' ? (fix ?? 'check the path (it is relative to the directory you run the command in)') : fix);
  }
  if (text.trim() === '') throw new UsageError(`${what} ${path === '-' ? 'on stdin' : path} is empty`, fix);
  return text;
}

export interface CliOptions {
  /** The command's name, the prefix of every error line. */
  name: string;
  /** The callers' --help text; an error prints a pointer to --help, not this. */
  usage?: string;
  /** Expected error classes: the words before the message (none: the message alone), the fix, the exit status (default 2). */
  known?: ReadonlyArray<{ error: new (...args: never[]) => Error; words?: string; fix?: string; code?: 1 | 2 }>;
  /** Words for an unexpected error (exit status 1). */
  unexpected?: string;
}

/** The error lines: the cause, the fix (when there is one), where --help is. */
export function errorText(name: string, cause: string, fix?: string): string {
  const help = `${commandOf(name)} -- --help`;
  return `${name}: ${cause}\n${fix ? `fix: ${fix}\n` : ''}more: ${help}\n`;
}

/** Runs `main` and sets the exit status from its result or its error. */
export function runCli(main: () => Promise<number>, o: CliOptions): void {
  Promise.resolve()
    .then(main)
    .then(
      (code) => {
        process.exitCode = code;
      },
      (e: unknown) => {
        const err = e as Error;
        if (e instanceof UsageError) {
          process.stderr.write(errorText(o.name, err.message, e.fix));
          process.exitCode = 2;
          return;
        }
        const known = [
          { error: SettingsError, words: 'configuration error', fix: 'correct the settings or routes named above (npm run doctor checks a configuration)' },
          ...(o.known ?? []),
        ];
        for (const k of known) {
          if (e instanceof k.error) {
            process.stderr.write(errorText(o.name, `${k.words ? `${k.words}: ` : ''}${err.message}`, k.fix));
            process.exitCode = k.code ?? 2;
            return;
          }
        }
        // No stack trace: the cause in words. Unexpected errors are bugs or outages; the message names which.
        process.stderr.write(errorText(o.name, `${o.unexpected ? `${o.unexpected}: ` : ''}${inWords(e)}`));
        process.exitCode = 1;
      },
    );
}
