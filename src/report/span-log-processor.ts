import type { Context, HrTime, SpanContext } from '@opentelemetry/api';
import type { SdkSpanProcessor, WritableSpan } from '../span-processor/sdk-span.js';
import { type LoggedSpanEntry, SpanLogWriter } from './span-log.js';

/** What the processor reads of an ended span (ReadableSpan of either SDK line). */
interface EndedSpan {
  readonly name: string;
  readonly startTime: HrTime;
  readonly endTime: HrTime;
  spanContext(): SpanContext;
  /** 2.x and 3.x: the parent's span context; older releases had parentSpanId. */
  readonly parentSpanContext?: SpanContext | undefined;
  readonly parentSpanId?: string | undefined;
}

function epochMs(time: HrTime): number {
  return time[0] * 1000 + time[1] / 1e6;
}

/** One line on stderr, as the zero-code entry says things. */
function sayOnStderr(message: string): void {
  process.stderr.write(`otel-resource-tracker: ${message}\n`);
}

/**
 * Hands every ended span to `sink`, for a report's timeline: the run's span log file (OTEL_RESOURCE_TRACKER_SPAN_LOG,
 * set by `otel-resource-tracker run --report` for the command: one fstat and one write per span, bounded, see
 * SpanLogWriter), or the process's own report (OTEL_RESOURCE_TRACKER_REPORT: kept in memory). Only in a process
 * that asked for a report. A log that cannot be written is said once (naming the file), then given up.
 */
export class SpanLogProcessor implements SdkSpanProcessor {
  private failed = false;
  private readonly sink: (entry: LoggedSpanEntry) => void;
  private readonly writer: SpanLogWriter | undefined;

  /** `onShutdown`: called when the SDK shuts down (every flush path of the zero-code entry ends there). */
  constructor(
    sink: string | ((entry: LoggedSpanEntry) => void),
    private readonly onShutdown: () => void = () => undefined,
    private readonly say: (message: string) => void = sayOnStderr,
  ) {
    if (typeof sink === 'string') {
      const writer = new SpanLogWriter(sink);
      this.writer = writer;
      this.sink = (entry) => writer.write(entry);
    } else {
      this.sink = sink;
    }
  }

  onStart(_span: WritableSpan, _parentContext: Context): void {}

  onEnd(span: object): void {
    if (this.failed) return;
    const ended = span as EndedSpan;
    try {
      this.sink({
        name: ended.name,
        spanId: ended.spanContext().spanId,
        parentSpanId: ended.parentSpanContext?.spanId ?? ended.parentSpanId,
        startEpochMs: epochMs(ended.startTime),
        endEpochMs: epochMs(ended.endTime),
        pid: process.pid,
      });
    } catch (error) {
      // The report loses its timeline, the application nothing.
      this.failed = true;
      this.say(`the span log is not written: ${(error as Error).message}`);
    }
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    this.writer?.close();
    this.onShutdown();
    return Promise.resolve();
  }
}
