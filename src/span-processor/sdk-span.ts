import type { Attributes, Context, SpanContext, SpanKind } from '@opentelemetry/api';

/*
 * The few shapes of the OpenTelemetry SDK that the processor touches, declared here instead of imported: the
 * library then needs no SDK package to install or to type-check, and fits the application's own SDK, whichever
 * line it is on (`@opentelemetry/sdk-trace-base` 2.x, `@opentelemetry/sdk-trace` 2.12+ and 3.x). Both lines' span
 * and processor types are assignable to and from these.
 */

/** A span as a SpanProcessor sees it while it is still writable (onStart, onEnding). */
export interface WritableSpan {
  readonly name: string;
  readonly kind: SpanKind;
  readonly attributes: Attributes;
  /** Absent (or remote) on a local root span. */
  readonly parentSpanContext?: SpanContext | undefined;
  /** The tracer that made the span (`@opentelemetry/instrumentation-http`, or the application's own name). */
  readonly instrumentationScope?: { readonly name: string } | undefined;
  setAttributes(attributes: Attributes): unknown;
}

/** The SDK's SpanProcessor interface; `onEnding` (the last moment a span is writable) exists from SDK 2.1 on. */
export interface SdkSpanProcessor {
  onStart(span: WritableSpan, parentContext: Context): void;
  onEnding?(span: WritableSpan): void;
  onEnd(span: object): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}
