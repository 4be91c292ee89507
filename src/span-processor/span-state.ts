import type { ContextStart } from '../attribution/async-context-attribution.js';
import type { ShareNode } from '../attribution/fair-share-ledger.js';
import type { SpanTree } from '../attribution/span-trees.js';
import type { GpuAtStart } from './gpu-figures.js';
import type { SlowAtStart } from './slow-figures.js';

/** What the processor remembers of a span between its start and its end (and, for its context, after). */
export interface SpanState {
  /** Process CPU at start: the kernel's for a span read by fair share, the CPU clock's estimate otherwise. */
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
  /** GC, event loop, throttling and run-queue readings at start, when any of those keys is chosen. */
  readonly slow: SlowAtStart | undefined;
  /**
   * Set at the span's end. The state stays on the span: code that still runs in the span's context afterwards
   * (callbacks it left behind) is charged to its ancestors through it.
   */
  ended: boolean;
}

/**
 * Where one processor keeps its state on a span: in symbol-keyed fields of the span object itself. The state is
 * collected with the span (a span that is never ended leaks nothing), and it costs far less than a WeakMap entry
 * or a FinalizationRegistry per span. Each processor has its own symbols: two processors in one provider (one
 * with span histograms, one plain; the zero-code entry and the application's own) each keep their own state
 * on the same span, and neither can read or overwrite the other's. These are our own fields, not SDK internals;
 * attributes are published only through `setAttributes`.
 */
export class SpanStateSlots {
  /** The span's own state, when the processor measures it. */
  private readonly state = Symbol('otel-resource-tracker.span-state');
  /**
   * On a span that is not measured (filtered out by name or kind), the state of its nearest measured ancestor:
   * the CPU that runs in the unmeasured span's context belongs to that ancestor, and a measured descendant nests
   * under it, as if the unmeasured spans in between were not there.
   */
  private readonly ancestor = Symbol('otel-resource-tracker.measured-ancestor');

  /** The span's own state, if this processor measures it. */
  own(span: unknown): SpanState | undefined {
    return (span as Record<symbol, SpanState | undefined> | undefined)?.[this.state];
  }

  /** The span's own state, else (for an unmeasured span) its nearest measured ancestor's. */
  measured(span: unknown): SpanState | undefined {
    const fields = span as Record<symbol, SpanState | undefined> | undefined;
    return fields?.[this.state] ?? fields?.[this.ancestor];
  }

  setOwn(span: object, state: SpanState): void {
    (span as Record<symbol, SpanState>)[this.state] = state;
  }

  setAncestor(span: object, state: SpanState): void {
    (span as Record<symbol, SpanState>)[this.ancestor] = state;
  }
}
