import { accessSync, constants, mkdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { type Context, context, ROOT_CONTEXT } from '@opentelemetry/api';
import { InspectorBackend } from './inspector-backend.js';
import { PprofBackend } from './pprof-backend.js';
import { profileFileName, pruneProfileFiles, writeProfileFile } from './profile-files.js';
import type { ProfileSettings } from './profiler-settings.js';
import type { SamplingBackend } from './sampling-backend.js';
import { LabelBinding } from './span-labels.js';

/**
 * What the span processor tells the profiler: a measured span started, a measured span ended. `holder` is the
 * processor's own per-span state, the one `SpanStateSlots.measured` returns for a span active in a context.
 */
export interface SpanActivity {
  started(holder: object, parentHolder: object | undefined, span: { readonly name: string }): void;
  ended(holder: object): void;
  /** Writes the last profile and stops sampling (once). */
  shutdown(): void;
}

/** Which sampler runs, where the files go: for docs, tests and the report. */
export interface RunningProfiler extends SpanActivity {
  readonly backend: SamplingBackend['name'];
  readonly directory: string;
}

function startBackend(
  settings: ProfileSettings,
  say: (kind: string, message: string) => void,
): SamplingBackend {
  const overflow = () =>
    say(
      'overflow',
      'more span switches in one profile period than the timeline keeps; later samples are unlabelled',
    );
  if (settings.backend !== 'inspector') {
    try {
      return PprofBackend.start(settings.sampleIntervalMicros, settings.periodMs);
    } catch (error) {
      if (settings.backend === 'pprof') {
        throw new Error(`@datadog/pprof cannot be used (${(error as Error).message})`);
      }
      // auto: the optional native module is absent or has no binary for this Node; the inspector needs neither.
    }
  }
  return InspectorBackend.start(settings.sampleIntervalMicros, overflow);
}

/** One profiler per process: the sampler is the thread's, and two would write the same samples twice. */
let running = false;
let lastStarted: RunningProfiler | undefined;

/** The profiler the last processor asked for (undefined when it could not start): for tests and tools. */
export function lastStartedProfiler(): RunningProfiler | undefined {
  return lastStarted;
}

/**
 * Synchronous from end to end (the processor loads this module with require, the sampler's modules are loaded
 * the same way), so that the first span of a process, one a preload's application starts at once, is sampled.
 */
export function startSpanProfiler(
  settings: ProfileSettings,
  measuredHolderOf: (active: Context) => object | undefined,
  report: (message: string) => void,
): RunningProfiler | undefined {
  lastStarted = startProfiler(settings, measuredHolderOf, report);
  return lastStarted;
}

/**
 * Starts the CPU profiler: creates the directory, starts the sampler, binds labels, writes one gzip-compressed
 * pprof file per period and a last one at shutdown or exit. Undefined (after one diagnostic naming the path or
 * the cause) when it cannot start; the spans go on either way.
 */
function startProfiler(
  settings: ProfileSettings,
  measuredHolderOf: (active: Context) => object | undefined,
  report: (message: string) => void,
): RunningProfiler | undefined {
  const said = new Set<string>();
  const say = (kind: string, message: string) => {
    if (said.has(kind)) return;
    said.add(kind);
    report(`profiler: ${message}`);
  };
  const { directory } = settings;
  if (running) {
    say('twice', 'a profiler already runs in this process (another processor started it); this one is off');
    return undefined;
  }
  running = true;
  try {
    mkdirSync(directory, { recursive: true });
    accessSync(directory, constants.W_OK | constants.X_OK);
  } catch (error) {
    say(
      'directory',
      `cannot write profiles to ${directory} (${(error as Error).message}); the profiler is off`,
    );
    running = false;
    return undefined;
  }
  let backend: SamplingBackend;
  try {
    backend = startBackend(settings, say);
  } catch (error) {
    say('backend', `${(error as Error).message}; the profiler is off`);
    running = false;
    return undefined;
  }
  const binding = new LabelBinding(measuredHolderOf, (span) => backend.switchTo(span));
  binding.enable();
  let periodStartMs = Date.now();
  let stopped = false;

  const writePeriod = (restart: boolean) => {
    const startMs = periodStartMs;
    periodStartMs = Date.now();
    try {
      const profile = backend.collect(restart);
      const path = writeProfileFile(
        directory,
        profileFileName(process.pid, startMs),
        gzipSync(profile.encode()),
      );
      pruneProfileFiles(directory, settings.maxFiles, settings.maxBytes, path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      say(
        code ?? 'write',
        `cannot write a profile to ${directory} (${(error as Error).message}); this period's profile is lost, ` +
          'the profiler tries again next period',
      );
    }
  };
  // Made in the root context: the timer's ticks are nobody's span.
  const timer = context.with(ROOT_CONTEXT, () => setInterval(() => writePeriod(true), settings.periodMs));
  timer.unref();
  const stop = () => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    process.removeListener('exit', stop);
    binding.disable();
    writePeriod(false);
    running = false;
  };
  // Before @datadog/pprof's own 'exit' listener, which stops its profiler and drops what it holds.
  process.prependListener('exit', stop);
  return {
    backend: backend.name,
    directory,
    started: (holder, parentHolder, span) => binding.started(holder, parentHolder, span),
    ended: (holder) => binding.ended(holder),
    shutdown: stop,
  };
}
