import type { Context, HrTime, SpanContext } from '@opentelemetry/api';
import type { SdkSpanProcessor, WritableSpan } from '../span-processor/sdk-span.js';
import { type LoggedSpanEntry, logSpan } from './span-log.js';

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

/**
 * Hands every ended span to `sink`, for a report's timeline: the run's span log file (OTEL_RESOURCE_TRACKER_SPAN_LOG,
 * set by `otel-resource-tracker run --report` for the command: one small synchronous append per span), or the
 * process's own report (OTEL_RESOURCE_TRACKER_REPORT: kept in memory). Only in a process that asked for a report.
 */
export class SpanLogProcessor implements SdkSpanProcessor {
  private failed = false;
  private readonly sink: (entry: LoggedSpanEntry) => void;

  /** `onShutdown`: called when the SDK shuts down (every flush path of the zero-code entry ends there). */
  constructor(
    sink: string | ((entry: LoggedSpanEntry) => void),
    private readonly onShutdown: () => void = () => undefined,
  ) {
    this.sink = typeof sink === 'string' ? (entry) => logSpan(sink, entry) : sink;
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
    } catch {
      // The report loses its timeline, the application nothing.
      this.failed = true;
    }
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    this.onShutdown();
    return Promise.resolve();
  }
}
