#!/usr/bin/env node
import { escapeUnprintable } from '../internal/printable.js';
import { endAs, runCommand } from './run-command.js';
import { parseRunArguments, USAGE, UsageError } from './run-options.js';

/** `otel-resource-tracker <subcommand> …`: the package's command-line tool (bin). */
async function main(argv: readonly string[]): Promise<void> {
  const [subcommand, ...rest] = argv;
  if (subcommand === undefined || subcommand === '--help' || subcommand === '-h' || subcommand === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  if (subcommand !== 'run') {
    process.stderr.write(
      `otel-resource-tracker: unknown command "${escapeUnprintable(subcommand)}"; the command is "run"\n\n${USAGE}`,
    );
    process.exitCode = 2;
    return;
  }
  let options: ReturnType<typeof parseRunArguments>;
  try {
    options = parseRunArguments(rest);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`otel-resource-tracker run: ${escapeUnprintable(error.message)}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (options === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  endAs(await runCommand(options));
}

await main(process.argv.slice(2));
