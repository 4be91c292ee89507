import { basename } from 'node:path';
import type { SdkSpanProcessor } from '../span-processor/sdk-span.js';
import type { RunFigures } from './run-figures.js';
import { type SpanFlame, spanFlames } from './span-flames.js';
import { type LoggedSpan, relativeSpan, spansLeftOut, TIMELINE_SPANS } from './span-log.js';
import { SpanLogProcessor } from './span-log-processor.js';
import { TreeMeasurement } from './tree-measurement.js';
import { writeReport } from './write-report.js';

/**
 * OTEL_RESOURCE_TRACKER_REPORT=FILE.html with the zero-code entry: the same report as `otel-resource-tracker run
 * --report`, for this Node process and its children, written synchronously when the process exits. Samples every
 * 100 ms on an unref'd timer; keeps the first 5 000 spans (and counts the others) (name, ids, times) in memory for the timeline. Returns the
 * span processor that collects them.
 */
export function startProcessReport(
  file: string,
  say: (message: string) => void,
  /** With the profiler on: its directory, whose files of this process give the report a flame graph per span. */
  profileDirectory?: string,
): SdkSpanProcessor {
  const startEpochMs = Date.now();
  // No libc: this process must not become a subreaper, nor reap the application's children.
  const measurement = new TreeMeasurement(process.pid, undefined, 100);
  const spans: LoggedSpan[] = [];
  let spansEnded = 0;
  measurement.start();
  let written = false;
  // Registered before the zero-code exit hooks, so it is known at the SDK's shutdown whether the process is ending
  // by itself (exit code 0 unless set) or by a signal (the code is not known then).
  let endingByItself = false;
  process.once('beforeExit', () => {
    endingByItself = true;
  });
  // At the SDK's shutdown (the end of the event loop, SIGTERM / SIGINT, a crash), or at 'exit' for a process that
  // calls process.exit() itself: whichever comes first.
  const write = (code: number | undefined) => {
    if (written) return;
    written = true;
    try {
      const measured = measurement.finish();
      const last = measurement.samples[measurement.samples.length - 1];
      const command = basename(process.argv[1] ?? process.argv0);
      const figures: RunFigures = {
        ...measured,
        command,
        pid: process.pid,
        exitCode:
          code ?? (typeof process.exitCode === 'number' ? process.exitCode : endingByItself ? 0 : undefined),
        signal: undefined,
        wallSeconds: (last?.atMs ?? 0) / 1000,
        // This process is the tree's root: its own maxRSS is not among its waited-for children's.
        largestProcessPeakBytes: Math.max(
          process.resourceUsage().maxRSS * 1024,
          measured.largestProcessPeakBytes,
        ),
      };
      let flames: SpanFlame[] = [];
      if (profileDirectory !== undefined) {
        try {
          flames = spanFlames(profileDirectory, process.pid, startEpochMs);
        } catch (error) {
          say(
            `the report has no flame graphs: reading ${profileDirectory} failed: ${(error as Error).message}`,
          );
        }
      }
      writeReport(file, {
        title: command,
        figures,
        samples: measurement.samples,
        gpus: measurement.gpuSeries,
        spans,
        samplesTaken: measurement.samplesTaken,
        notes: [spansLeftOut({ spans, logged: spansEnded, notLogged: 0, reachedBound: false }) ?? []].flat(),
        flames,
      });
    } catch (error) {
      say(`cannot write the report ${file}: ${(error as Error).message}`);
    }
  };
  process.once('exit', (code) => write(code));
  return new SpanLogProcessor(
    (entry) => {
      spansEnded++;
      if (spans.length < TIMELINE_SPANS) spans.push(relativeSpan(entry, startEpochMs));
    },
    () => write(undefined),
  );
}
