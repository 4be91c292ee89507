import type { Context, HrTime, SpanContext } from '@opentelemetry/api';
import type { SdkSpanProcessor, WritableSpan } from '../span-processor/sdk-span.js';
import { logSpan } from './span-log.js';

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
 * Appends every ended span to the run's span log (OTEL_RESOURCE_TRACKER_SPAN_LOG, set by `otel-resource-tracker run
 * --report` for the command), for the report's timeline: one small synchronous append per span, only in a process
 * started under `run --report`.
 */
export class SpanLogProcessor implements SdkSpanProcessor {
  private failed = false;

  constructor(private readonly file: string) {}

  onStart(_span: WritableSpan, _parentContext: Context): void {}

  onEnd(span: object): void {
    if (this.failed) return;
    const ended = span as EndedSpan;
    try {
      logSpan(this.file, {
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
    return Promise.resolve();
  }
}
