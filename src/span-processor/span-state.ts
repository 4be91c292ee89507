import type { ExactNode } from '../attribution/exact-cpu-ledger.js';
import type { ShareNode } from '../attribution/fair-share-ledger.js';
import type { GpuAtStart } from './gpu-figures.js';

/** What the processor remembers of a span between its start and its end. */
export interface SpanState {
  readonly cpuUserMicros: number;
  readonly cpuSystemMicros: number;
  readonly maxRssKb: number;
  readonly wallMs: number;
  readonly rssBytes: number;
  readonly samplerTick: number;
  readonly concurrencyMoment: number;
  readonly share: ShareNode;
  readonly exact: ExactNode | undefined;
  readonly gpu: GpuAtStart | undefined;
  readonly childrenCpuSeconds: number | undefined;
}

/**
 * The state lives in a symbol-keyed field of the span object itself: it is collected with the span (a span that
 * is never ended leaks nothing), and it costs far less than a WeakMap entry or a FinalizationRegistry per span.
 * It is our own field, not an SDK internal; attributes are published only through `setAttributes`.
 */
export const SPAN_STATE = Symbol('otel-resource-tracker.span-state');

/**
 * On a span that is not measured (filtered out by name or kind), the state of its nearest measured ancestor: the
 * CPU that runs in the unmeasured span's context belongs to that ancestor, and a measured descendant nests under
 * it, as if the unmeasured spans in between were not there.
 */
export const MEASURED_ANCESTOR = Symbol('otel-resource-tracker.measured-ancestor');

export interface WithSpanState {
  [SPAN_STATE]?: SpanState | undefined;
  [MEASURED_ANCESTOR]?: SpanState | undefined;
}

/** The span's own state, else (for an unmeasured span) its nearest measured ancestor's. */
export function measuredStateOf(span: unknown): SpanState | undefined {
  const withState = span as WithSpanState | undefined;
  return withState?.[SPAN_STATE] ?? withState?.[MEASURED_ANCESTOR];
}
