import type { Attributes, Context } from '@opentelemetry/api';
import type { SpanSelector } from './options.js';

/*
 * The few shapes of the OpenTelemetry SDK that the processor touches, declared here instead of imported: the
 * library then needs no SDK package to install or to type-check, and fits the application's own SDK, whichever
 * line it is on (`@opentelemetry/sdk-trace-base` 2.x, `@opentelemetry/sdk-trace` 2.12+ and 3.x). Both lines' span
 * and processor types are assignable to and from these.
 */

/**
 * A span as a SpanProcessor sees it while it is still writable (onStart, onEnding): what a span filter sees of it
 * (the processor hands the span itself to the filters), and the setter.
 */
export interface WritableSpan extends SpanSelector {
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
