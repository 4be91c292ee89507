import { type AsyncHook, createHook } from 'node:async_hooks';
import { type Context, context, type SpanContext } from '@opentelemetry/api';

/**
 * One measured span as the profiler knows it: its ids and name become the labels of every sample taken while it is
 * the innermost active one (built when a profile is written, not per span: see `spanLabels`).
 */
export interface ProfiledSpan {
  readonly spanId: string;
  readonly traceId: string;
  readonly name: string;
  /** The nearest measured ancestor: code that runs in this span's context after its end is the ancestor's. */
  readonly parent: ProfiledSpan | undefined;
  ended: boolean;
}

/** The pprof labels of a span's samples. */
export function spanLabels(span: ProfiledSpan): { span_id: string; span_name: string; trace_id: string } {
  return { span_id: span.spanId, span_name: span.name, trace_id: span.traceId };
}

/** Our field on the object the span processor hands over for a measured span (its per-span state). */
const PROFILED = Symbol('otel-resource-tracker.profiled-span');
interface WithProfiled {
  [PROFILED]?: ProfiledSpan;
}

/** The innermost span of `span`'s line that has not ended (a span's context outlives it in its callbacks). */
function liveSpan(span: ProfiledSpan | undefined): ProfiledSpan | undefined {
  let current = span;
  while (current?.ended === true) current = current.parent;
  return current;
}

/**
 * Label binding: keeps "which measured span is the running code's" and tells the sampler each time it changes.
 *
 * One async hook: `before` each callback looks up the span of the callback's context (skipped when the context
 * object is the one of the last look-up), `after` puts back the one of the code that called it. Span starts and
 * ends switch too, because `context.with()` leaves no trace in async hooks: instrumentations start a span and
 * enter its context right away, so from a start the code that follows is the span's, until the next change (the
 * same rule the async-context CPU attribution uses; see src/attribution/async-context-ledger.ts).
 */
export class LabelBinding {
  private hook: AsyncHook | undefined;
  private current: ProfiledSpan | undefined;
  private readonly callers: Array<ProfiledSpan | undefined> = [];
  private lastContext: Context | undefined;
  private lastSpan: ProfiledSpan | undefined;

  constructor(
    /** The processor's per-span object of the innermost measured span in a context (what `started` was given). */
    private readonly measuredHolderOf: (active: Context) => object | undefined,
    /** Called with the new innermost span (undefined: none) each time it changes. */
    private readonly onSwitch: (span: ProfiledSpan | undefined) => void,
  ) {}

  enable(): void {
    if (this.hook !== undefined) return;
    this.hook = createHook({
      before: () => {
        this.callers.push(this.current);
        this.switchTo(this.spanOfActiveContext());
      },
      after: () => {
        // An `after` whose `before` ran before the hook was enabled has no caller to go back to: none.
        this.switchTo(liveSpan(this.callers.pop()));
      },
    });
    this.hook.enable();
  }

  disable(): void {
    this.hook?.disable();
    this.hook = undefined;
    this.callers.length = 0;
    this.switchTo(undefined);
  }

  /** A measured span started: `holder` is what `measuredHolderOf` returns for contexts where it is active. */
  started(holder: object, parentHolder: object | undefined, sdkSpan: { readonly name: string }): void {
    // The SDK's span has spanContext(); the processor's own view of it (WritableSpan) does not say so.
    const ids = (sdkSpan as { spanContext?: () => SpanContext }).spanContext?.();
    if (ids === undefined) return;
    const span: ProfiledSpan = {
      spanId: ids.spanId,
      traceId: ids.traceId,
      name: sdkSpan.name,
      parent: (parentHolder as WithProfiled | undefined)?.[PROFILED],
      ended: false,
    };
    (holder as WithProfiled)[PROFILED] = span;
    this.switchTo(span);
  }

  /** A measured span ended: samples from now on go to the code's other span, or to the span's live ancestor. */
  ended(holder: object): void {
    const span = (holder as WithProfiled)[PROFILED];
    if (span === undefined) return;
    span.ended = true;
    this.lastContext = undefined;
    if (this.current === span) this.switchTo(liveSpan(span));
  }

  private spanOfActiveContext(): ProfiledSpan | undefined {
    const active = context.active();
    if (active !== this.lastContext) {
      this.lastContext = active;
      const holder = this.measuredHolderOf(active) as WithProfiled | undefined;
      this.lastSpan = holder?.[PROFILED];
    }
    return liveSpan(this.lastSpan);
  }

  private switchTo(span: ProfiledSpan | undefined): void {
    if (span === this.current) return;
    this.current = span;
    this.onSwitch(span);
  }
}
