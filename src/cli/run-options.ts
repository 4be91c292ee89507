/** What `otel-resource-tracker run [options] -- <command> [args…]` was asked. */
export interface RunOptions {
  readonly command: string;
  readonly args: readonly string[];
  /** Span name; default the command's basename. */
  readonly name: string | undefined;
  /** Tree sampling interval. */
  readonly intervalMs: number;
  /** Put the arguments on the span (`process.command_args`): off by default, they may hold secrets. */
  readonly recordArgs: boolean;
  readonly jsonFile: string | undefined;
  readonly reportFile: string | undefined;
  /** A live status line on stderr, when stderr is a terminal. */
  readonly progress: boolean;
}

/** A command line we cannot run: the message says what is wrong; exit code 2, as for any usage error. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const USAGE = `Usage: otel-resource-tracker run [options] -- <command> [args…]

Runs the command, measures its whole process tree (CPU, wall time, peak memory, GPU memory), exports one span
for it (OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_*: as the zero-code entry) and prints a summary on stderr.

Options:
  --name NAME          span name (default: the command's basename)
  --interval MS        sampling interval in milliseconds, 10 to 60000 (default 100)
  --record-args        put the arguments on the span (process.command_args); off by default: they may hold secrets
  --json FILE          write the figures as JSON
  --report FILE.html   write a self-contained HTML report (curves, peaks, summary, the command's own spans)
  --progress           a live status line on stderr while it runs (only when stderr is a terminal)
  --help               this text
`;

const VALUE_OPTIONS = new Set(['--name', '--interval', '--json', '--report']);
const FLAG_OPTIONS = new Set(['--record-args', '--progress', '--help']);

/** Parses the arguments after `run`. Options come first; the command starts after `--` (or at the first non-option). */
export function parseRunArguments(argv: readonly string[]): RunOptions | 'help' {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  let index = 0;
  for (; index < argv.length; index++) {
    const token = argv[index] as string;
    if (token === '--') {
      index++;
      break;
    }
    if (!token.startsWith('-')) break;
    const [name, inline] = token.includes('=')
      ? [token.slice(0, token.indexOf('=')), token.slice(token.indexOf('=') + 1)]
      : [token, undefined];
    if (FLAG_OPTIONS.has(name)) {
      if (inline !== undefined) throw new UsageError(`${name} takes no value, got "${inline}"`);
      flags.add(name);
    } else if (VALUE_OPTIONS.has(name)) {
      const value = inline ?? argv[++index];
      if (value === undefined || value === '') throw new UsageError(`${name} needs a value`);
      values.set(name, value);
    } else {
      throw new UsageError(
        `unknown option "${name}"; the options are ${[...VALUE_OPTIONS, ...FLAG_OPTIONS].join(', ')} (the command goes after --)`,
      );
    }
  }
  if (flags.has('--help')) return 'help';
  const [command, ...args] = argv.slice(index);
  if (command === undefined || command === '')
    throw new UsageError('no command given: run [options] -- <command> [args…]');
  const interval = values.get('--interval') ?? '100';
  const intervalMs = Number(interval);
  if (!/^\d+$/.test(interval) || intervalMs < 10 || intervalMs > 60_000) {
    throw new UsageError(
      `--interval must be a whole number of milliseconds from 10 to 60000, got "${interval}"`,
    );
  }
  const report = values.get('--report');
  if (report !== undefined && !/\.html?$/i.test(report)) {
    throw new UsageError(`--report must name an .html file, got "${report}"`);
  }
  return {
    command,
    args,
    name: values.get('--name'),
    intervalMs,
    recordArgs: flags.has('--record-args'),
    jsonFile: values.get('--json'),
    reportFile: report,
    progress: flags.has('--progress'),
  };
}
