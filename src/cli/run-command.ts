import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, writeSync } from 'node:fs';
import { constants } from 'node:os';
import { basename } from 'node:path';
import { ENV_SPAN_LOG } from '../config/env.js';
import { defaultGpuSampler } from '../gpu/gpu-memory-source.js';
import { escapeUnprintable } from '../internal/printable.js';
import { Libc } from '../probes/libc.js';
import { openOutputFile } from '../report/output-file.js';
import { type RunFigures, spanAttributes } from '../report/run-figures.js';
import { PrivateSpanLog, type SpanLogContents, spansLeftOut } from '../report/span-log.js';
import { ending, formatSummary, jsonFigures } from '../report/summary.js';
import { TreeMeasurement } from '../report/tree-measurement.js';
import { writeReport } from '../report/write-report.js';
import { unrunnableFormat } from './executable-format.js';
import { ProgressLine } from './progress-line.js';
import type { RunOptions } from './run-options.js';
import { startRunSpan } from './run-span.js';

/**
 * Signals passed on to the command's process group: those a terminal or a supervisor sends to end, reload or
 * resize a job. The command runs in its own group, so each reaches it once, from the wrapper.
 */
const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGWINCH', 'SIGCONT'];
/** Signals Node does not let end the process when raised on itself: the inspector (SIGUSR1), reports (SIGUSR2). */
const NOT_RAISED = new Set<NodeJS.Signals>(['SIGUSR1', 'SIGUSR2', 'SIGPIPE']);
const PREFIX = 'otel-resource-tracker';

/** One line on stderr; what came from outside (names, paths, error messages) is shown escaped. */
function say(message: string): void {
  process.stderr.write(`${PREFIX}: ${escapeUnprintable(message)}\n`);
}

/** How the wrapper ends: the command's exit code, or the signal that killed it (raised again on ourselves). */
export type RunOutcome = { readonly exitCode: number } | { readonly signal: NodeJS.Signals };

/** Exit code for a command that could not be started, as shells give it: 127 not found, 126 not executable. */
function startFailure(error: NodeJS.ErrnoException, command: string): RunOutcome {
  if (error.code === 'ENOENT') {
    say(`cannot run "${escapeUnprintable(command)}": command not found`);
    return { exitCode: 127 };
  }
  if (error.code === 'EACCES' || error.code === 'EISDIR' || error.code === 'ENOEXEC') {
    say(`cannot run "${escapeUnprintable(command)}": not executable (${error.code})`);
    return { exitCode: 126 };
  }
  say(`cannot run "${escapeUnprintable(command)}": ${escapeUnprintable(error.message)}`);
  return { exitCode: 126 };
}

/** Writes a file the user named (never through a FIFO or a dangling link), or says why not. */
function writeNamedFile(file: string, write: (file: string) => void): void {
  try {
    write(file);
  } catch (error) {
    say(`cannot write ${escapeUnprintable(file)}: ${escapeUnprintable((error as Error).message)}`);
  }
}

/**
 * `otel-resource-tracker run -- <command>`: runs the command in its own session and process group with stdio
 * passed through, forwards the job-control signals to that group, samples its whole process tree in the
 * background, and at its end exports one span, prints the summary, and writes the JSON and the report when asked.
 * Resolves with how the wrapper must end.
 */
export async function runCommand(
  options: RunOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunOutcome> {
  if (!existsSync('/proc/self/stat')) {
    say('the process-tree figures need /proc (Linux); here only the wall time and exit code are known');
  }
  const name = options.name ?? basename(options.command);
  const unrunnable = unrunnableFormat(options.command, env.PATH);
  if (unrunnable !== undefined) {
    say(`cannot run "${escapeUnprintable(options.command)}": ${unrunnable}`);
    return { exitCode: 126 };
  }
  const span = startRunSpan(name, name, Date.now(), env, say);
  const libc = Libc.load();
  libc?.becomeSubreaper();

  // From here on every signal that would end the wrapper is caught: the span log is removed however the run ends.
  let child: ChildProcess | undefined;
  const early: NodeJS.Signals[] = [];
  const forward = (signal: NodeJS.Signals) => {
    if (child?.pid === undefined) early.push(signal);
    else signalGroup(child.pid, signal);
  };
  // Ctrl-Z: the terminal stops the wrapper's group; the command's group is stopped with it, and SIGCONT (fg)
  // resumes both.
  const suspend = () => {
    if (child?.pid !== undefined) signalGroup(child.pid, 'SIGSTOP');
    process.kill(process.pid, 'SIGSTOP');
  };
  for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
  process.on('SIGTSTP', suspend);
  const spanLog = options.reportFile === undefined ? undefined : privateSpanLog();
  const removeSpanLog = () => spanLog?.remove();
  process.once('exit', removeSpanLog);
  try {
    return await runMeasured(options, env, name, span, libc, spanLog, (started) => {
      child = started;
      for (const signal of early.splice(0)) forward(signal);
    });
  } finally {
    removeSpanLog();
    process.removeListener('exit', removeSpanLog);
    for (const signal of FORWARDED_SIGNALS) process.removeListener(signal, forward);
    process.removeListener('SIGTSTP', suspend);
  }
}

/** The run's span log for the report's timeline, or undefined (said why) when no private file can be made. */
function privateSpanLog(): PrivateSpanLog | undefined {
  try {
    return new PrivateSpanLog();
  } catch (error) {
    say(`the report has no spans of the command: ${escapeUnprintable((error as Error).message)}`);
    return undefined;
  }
}

/** Sends `signal` to the command's process group (the command, and every descendant that stayed in it). */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group has ended
  }
}

async function runMeasured(
  options: RunOptions,
  env: NodeJS.ProcessEnv,
  name: string,
  span: ReturnType<typeof startRunSpan>,
  libc: Libc | undefined,
  spanLog: PrivateSpanLog | undefined,
  onStarted: (child: ChildProcess) => void,
): Promise<RunOutcome> {
  const childEnv: NodeJS.ProcessEnv = {
    ...env,
    ...(span === undefined ? {} : { TRACEPARENT: span.traceparent }),
    ...(spanLog === undefined ? {} : { [ENV_SPAN_LOG]: spanLog.file }),
  };
  // The command's wall time starts here, not before the SDK and GPU modules were loaded.
  const startEpochMs = Date.now();
  const startedAt = performance.now();
  // Its own session and process group: a Ctrl-C (or any signal) sent to the wrapper's group reaches the command
  // once, forwarded, instead of twice. Its stdio is still the terminal.
  const child: ChildProcess = spawn(options.command, [...options.args], {
    stdio: 'inherit',
    env: childEnv,
    detached: true,
  });
  const started = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (error: NodeJS.ErrnoException) => resolve(error));
  });
  if (started !== undefined) return startFailure(started, options.command);
  const pid = child.pid as number;
  onStarted(child);

  defaultGpuSampler.acquire();
  const measurement = new TreeMeasurement(pid, libc, options.intervalMs);
  const progress = options.progress && process.stderr.isTTY ? new ProgressLine(process.stderr) : undefined;
  measurement.start((sample) => progress?.update(sample, measurement.gpu.latest()));
  const [exitCode, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once('exit', (code, killedBy) => resolve([code, killedBy])),
  );
  const wallSeconds = (performance.now() - startedAt) / 1000;
  const measured = measurement.finish();
  progress?.clear();
  defaultGpuSampler.release();

  const figures: RunFigures = {
    ...measured,
    command: options.command,
    pid,
    exitCode: exitCode ?? undefined,
    signal: signal ?? undefined,
    wallSeconds,
  };
  const logged: SpanLogContents | undefined = spanLog?.read(startEpochMs);
  const leftOut = logged === undefined ? undefined : spansLeftOut(logged);
  const notes = leftOut === undefined ? [] : [leftOut];
  const failed = signal !== null || exitCode !== 0 ? ending(figures) : undefined;
  const exporting = span?.end(spanAttributes(figures, options.recordArgs ? options.args : undefined), failed);
  process.stderr.write(formatSummary(figures, notes));
  if (options.jsonFile !== undefined) {
    writeNamedFile(options.jsonFile, (file) => {
      const own = process.cpuUsage();
      const fd = openOutputFile(file, 'truncate');
      try {
        writeSync(fd, `${JSON.stringify(jsonFigures(figures, (own.user + own.system) / 1e6), null, 2)}\n`);
      } finally {
        closeSync(fd);
      }
    });
  }
  if (options.reportFile !== undefined) {
    writeNamedFile(options.reportFile, (file) =>
      writeReport(file, {
        title: name,
        figures,
        samples: measurement.samples,
        gpus: measurement.gpuSeries,
        spans: logged?.spans ?? [],
        samplesTaken: measurement.samplesTaken,
        notes,
      }),
    );
  }
  await exporting;
  if (signal !== null) return { signal };
  return { exitCode: exitCode ?? 1 };
}

/**
 * Ends the wrapper as the command ended: the same exit code, or the same signal raised on ourselves; 128 + n for
 * the signals Node would not die of (SIGUSR1 would open the inspector instead).
 */
export function endAs(outcome: RunOutcome): void {
  // process.exit, not exitCode: an exporter still retrying a dead receiver must not keep the wrapper alive (the
  // wait for it is bounded in run-span.ts); stderr is written synchronously before this.
  if ('exitCode' in outcome) process.exit(outcome.exitCode);
  const asShellsReport = 128 + (constants.signals[outcome.signal] ?? 0);
  if (NOT_RAISED.has(outcome.signal)) process.exit(asShellsReport);
  process.removeAllListeners(outcome.signal);
  try {
    process.kill(process.pid, outcome.signal);
  } catch {
    // cannot raise it: end as shells report a death by signal
  }
  // A signal whose default action does not end the process (rare for a killer): end as shells report it.
  setTimeout(() => process.exit(asShellsReport), 100);
}
