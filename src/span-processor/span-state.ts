import type { ContextStart } from '../attribution/async-context-attribution.js';
import type { ShareNode } from '../attribution/fair-share-ledger.js';
import type { SpanTree } from '../attribution/span-trees.js';
import type { GpuAtStart } from './gpu-figures.js';

/** What the processor remembers of a span between its start and its end (and, for its context, after). */
export interface SpanState {
  /** The processor that measures the span: several processors (several providers) share the field. */
  readonly owner: object;
  /** Process CPU at start: the kernel's in fair-share mode, the CPU clock's estimate otherwise. */
  readonly cpuUserMicros: number;
  readonly cpuSystemMicros: number;
  readonly maxRssKb: number;
  readonly wallMs: number;
  readonly rssBytes: number;
  readonly samplerTick: number;
  readonly tree: SpanTree;
  readonly concurrencyMoment: number;
  readonly share: ShareNode | undefined;
  readonly context: ContextStart | undefined;
  readonly gpu: GpuAtStart | undefined;
  readonly childrenCpuSeconds: number | undefined;
  /**
   * Set at the span's end. The state stays on the span: code that still runs in the span's context afterwards
   * (callbacks it left behind) is charged to its ancestors through it.
   */
  ended: boolean;
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

/** The span's own state, else (for an unmeasured span) its nearest measured ancestor's, if `owner` made it. */
export function measuredStateOf(span: unknown, owner: object): SpanState | undefined {
  const withState = span as WithSpanState | undefined;
  const state = withState?.[SPAN_STATE] ?? withState?.[MEASURED_ANCESTOR];
  return state?.owner === owner ? state : undefined;
}
