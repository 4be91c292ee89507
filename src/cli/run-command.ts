import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { ENV_SPAN_LOG } from '../config/env.js';
import { defaultGpuSampler } from '../gpu/gpu-memory-source.js';
import { Libc } from '../probes/libc.js';
import { type RunFigures, spanAttributes } from '../report/run-figures.js';
import { readSpanLog } from '../report/span-log.js';
import { ending, formatSummary, jsonFigures } from '../report/summary.js';
import { TreeMeasurement } from '../report/tree-measurement.js';
import { writeReport } from '../report/write-report.js';
import { ProgressLine } from './progress-line.js';
import type { RunOptions } from './run-options.js';
import { startRunSpan } from './run-span.js';

const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const PREFIX = 'otel-resource-tracker';

function say(message: string): void {
  process.stderr.write(`${PREFIX}: ${message}\n`);
}

/** How the wrapper ends: the command's exit code, or the signal that killed it (raised again on ourselves). */
export type RunOutcome = { readonly exitCode: number } | { readonly signal: NodeJS.Signals };

/** Exit code for a command that could not be started, as shells give it: 127 not found, 126 not executable. */
function startFailure(error: NodeJS.ErrnoException, command: string): RunOutcome {
  if (error.code === 'ENOENT') {
    say(`cannot run "${command}": command not found`);
    return { exitCode: 127 };
  }
  if (error.code === 'EACCES' || error.code === 'EISDIR' || error.code === 'ENOEXEC') {
    say(`cannot run "${command}": not executable (${error.code})`);
    return { exitCode: 126 };
  }
  say(`cannot run "${command}": ${error.message}`);
  return { exitCode: 126 };
}

/**
 * `otel-resource-tracker run -- <command>`: runs the command with stdio passed through and SIGINT/SIGTERM/SIGHUP
 * forwarded, samples its whole process tree in the background, and at its end exports one span, prints the
 * summary, and writes the JSON and the report when asked. Resolves with how the wrapper must end.
 */
export async function runCommand(
  options: RunOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunOutcome> {
  if (!existsSync('/proc/self/stat')) {
    say('the process-tree figures need /proc (Linux); here only the wall time and exit code are known');
  }
  const name = options.name ?? basename(options.command);
  const span = startRunSpan(name, name, Date.now(), env, say);
  const libc = Libc.load();
  libc?.becomeSubreaper();
  const spanLog =
    options.reportFile === undefined
      ? undefined
      : join(tmpdir(), `otel-resource-tracker-spans-${process.pid}-${Date.now()}.jsonl`);
  const childEnv: NodeJS.ProcessEnv = {
    ...env,
    ...(span === undefined ? {} : { TRACEPARENT: span.traceparent }),
    ...(spanLog === undefined ? {} : { [ENV_SPAN_LOG]: spanLog }),
  };
  // The command's wall time starts here, not before the SDK and GPU modules were loaded.
  const startEpochMs = Date.now();
  const startedAt = performance.now();
  const child: ChildProcess = spawn(options.command, [...options.args], { stdio: 'inherit', env: childEnv });
  const started = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (error: NodeJS.ErrnoException) => resolve(error));
  });
  if (started !== undefined) return startFailure(started, options.command);
  const pid = child.pid as number;
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);

  defaultGpuSampler.acquire();
  const measurement = new TreeMeasurement(pid, libc, options.intervalMs);
  const progress = options.progress && process.stderr.isTTY ? new ProgressLine(process.stderr) : undefined;
  measurement.start((sample) => progress?.update(sample, measurement.samples, measurement.gpu.latest()));
  const [exitCode, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once('exit', (code, killedBy) => resolve([code, killedBy])),
  );
  const wallSeconds = (performance.now() - startedAt) / 1000;
  const measured = measurement.finish();
  progress?.clear();
  defaultGpuSampler.release();
  for (const forwarded of FORWARDED_SIGNALS) process.removeListener(forwarded, forward);

  const figures: RunFigures = {
    ...measured,
    command: options.command,
    pid,
    exitCode: exitCode ?? undefined,
    signal: signal ?? undefined,
    wallSeconds,
  };
  const failed = signal !== null || exitCode !== 0 ? ending(figures) : undefined;
  const exporting = span?.end(spanAttributes(figures, options.recordArgs ? options.args : undefined), failed);
  process.stderr.write(formatSummary(figures));
  if (options.jsonFile !== undefined) {
    try {
      const own = process.cpuUsage();
      writeFileSync(
        options.jsonFile,
        `${JSON.stringify(jsonFigures(figures, (own.user + own.system) / 1e6), null, 2)}\n`,
      );
    } catch (error) {
      say(`cannot write ${options.jsonFile}: ${(error as Error).message}`);
    }
  }
  if (options.reportFile !== undefined) {
    try {
      writeReport(options.reportFile, {
        title: name,
        figures,
        samples: measurement.samples,
        gpus: measurement.gpuSeries,
        spans: spanLog === undefined ? [] : readSpanLog(spanLog, startEpochMs),
      });
    } catch (error) {
      say(`cannot write ${options.reportFile}: ${(error as Error).message}`);
    }
  }
  await exporting;
  if (signal !== null) return { signal };
  return { exitCode: exitCode ?? 1 };
}

/** Ends the wrapper as the command ended: the same exit code, or the same signal raised on ourselves. */
export function endAs(outcome: RunOutcome): void {
  // process.exit, not exitCode: an exporter still retrying a dead receiver must not keep the wrapper alive (the
  // wait for it is bounded in run-span.ts); stderr is written synchronously before this.
  if ('exitCode' in outcome) process.exit(outcome.exitCode);
  process.removeAllListeners(outcome.signal);
  try {
    process.kill(process.pid, outcome.signal);
  } catch {
    // cannot raise it: end as shells report a death by signal
  }
  // A signal whose default action does not end the process (rare for a killer): end as shells report it.
  setTimeout(() => process.exit(128 + (constants.signals[outcome.signal] ?? 0)), 100);
}
