import { type AsyncHook, createHook } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';

/** Time the event loop has spent waiting in poll since it started, ms (libuv's idle-time metric). */
function loopIdleMs(): number {
  return performance.nodeTiming.idleTime;
}

/** One span's share of the JavaScript thread's time in async-context attribution. */
export interface ContextNode {
  readonly parent: ContextNode | undefined;
  /**
   * Busy milliseconds of the JavaScript thread spent in this span's context and in its descendants' contexts
   * (whether those descendants have ended or not), from the span's start up to now.
   */
  busyMs: number;
}

/**
 * Async-context CPU attribution: the JavaScript thread's time goes to the span active in the async context of
 * the code that runs, and to every ancestor of it. Time is marked with the monotonic clock (not with getrusage:
 * ~0.05 µs against 2–40 µs); `CpuClock` turns busy milliseconds into process CPU.
 *
 * One async hook, `before` each callback, looks up the callback's span (skipped when the context object is the
 * same as last time) and does nothing more unless the owner changed or is no span: a request's run of
 * continuations in its own context costs a look-up each, no clock read. When the owner changes, the stretch
 * since the last change goes to the previous owner, less the time the event loop waited in poll meanwhile
 * (libuv's idle-time metric): that is the JavaScript thread's time and the loop's own bookkeeping around it,
 * never its idle time. Span starts and
 * ends mark too: from a span's start, the code that follows is the span's until the next change, since
 * `context.with()` itself leaves no trace — instrumentations start a span and enter its context right away
 * (the http instrumentation's SERVER span, then Express's synchronous handler), and a span that is never made
 * active (`startSpan(); work(); span.end()`) is charged the synchronous work that follows its start.
 *
 * Without an `after` hook, a callback nested in another (rare: `runInAsyncScope`) leaves its owner in charge of
 * the rest of the outer callback, up to the next change.
 *
 * Needs a context manager (every OpenTelemetry SDK for Node installs one): without one no span is ever active,
 * and only the synchronous stretch after each start is charged; use `fair-share` there.
 */
export class AsyncContextLedger {
  private hook: AsyncHook | undefined;
  private current: ContextNode | undefined;
  private lastMarkMs = performance.now();
  /** The event loop's idle time (waiting in poll) at the last mark, ms. */
  private lastIdleMs = loopIdleMs();
  private busyTotalMs = 0;
  private lastContext: unknown;
  private lastNode: ContextNode | undefined;

  constructor(
    /** The active context object (compared by identity to skip look-ups). */
    private readonly activeContext: () => unknown,
    /** The node of the measured span in that context (or of its nearest measured ancestor), if any. */
    private readonly nodeOf: (context: unknown) => ContextNode | undefined,
  ) {}

  enable(): void {
    if (this.hook !== undefined) return;
    this.lastMarkMs = performance.now();
    this.lastIdleMs = loopIdleMs();
    this.hook = createHook({
      before: () => {
        const owner = this.activeNode();
        // Same owner, nothing to mark (a run of callbacks of no span included: their time is nobody's, and a
        // span that starts inside one takes only what follows its start).
        if (owner === this.current) return;
        this.chargeUntil(performance.now());
        this.current = owner;
      },
    });
    this.hook.enable();
  }

  disable(): void {
    this.hook?.disable();
    this.hook = undefined;
  }

  /** Busy milliseconds of the JavaScript thread since the ledger was made, up to `nowMs`. */
  busyMs(nowMs: number): number {
    return this.busyTotalMs + Math.max(0, nowMs - this.lastMarkMs - (loopIdleMs() - this.lastIdleMs));
  }

  start(parent: ContextNode | undefined, nowMs: number): ContextNode {
    const node: ContextNode = { parent, busyMs: 0 };
    // What ran up to a span start belongs to whoever was running (nobody, in a callback of no span); what
    // follows, to the new span. Never the work before the start: that is outside the span's window, and a share
    // holding it would be charged on top of the CPU the window's other spans are charged.
    this.chargeUntil(nowMs);
    this.current = node;
    return node;
  }

  /**
   * Marks a span's end and returns its busy milliseconds: what ran since the last mark goes to whoever was
   * running (the span itself, when it ended synchronously after its start); the code that follows, to the
   * context it runs in.
   */
  end(node: ContextNode, nowMs: number): number {
    this.chargeUntil(nowMs);
    this.current = this.activeNode();
    return node.busyMs;
  }

  private activeNode(): ContextNode | undefined {
    const active = this.activeContext();
    if (active !== this.lastContext) {
      this.lastContext = active;
      this.lastNode = this.nodeOf(active);
    }
    return this.lastNode;
  }

  /** Charges the stretch since the last mark, less the loop's idle time in it, to the current node. */
  private chargeUntil(nowMs: number): void {
    const idleMs = loopIdleMs();
    const stretch = nowMs - this.lastMarkMs - (idleMs - this.lastIdleMs);
    this.lastMarkMs = nowMs;
    this.lastIdleMs = idleMs;
    if (stretch <= 0) return;
    this.busyTotalMs += stretch;
    for (let node = this.current; node !== undefined; node = node.parent) node.busyMs += stretch;
  }
}
