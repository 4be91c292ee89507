import { type AsyncHook, createHook } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';

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
 * Async-context CPU attribution: the JavaScript thread's time inside each callback goes to the span active in
 * that callback's async context and to every ancestor of it. Time is marked with the monotonic clock (not with
 * getrusage: ~0.05 µs against 2–40 µs); `CpuClock` turns busy milliseconds into process CPU.
 *
 * Marks: a callback's `before` (the loop was idle or between callbacks until now: not busy), its `after` (the
 * stretch since the last mark goes to whoever was running), and a resource's `init` when the active context
 * changed inside a callback (the lookup is skipped when the context object is the same as last time). Span
 * starts and ends mark too: from a span's start, the code that follows is the span's until the next mark, since
 * `context.with()` itself leaves no trace — instrumentations start a span and enter its context right away
 * (the http instrumentation's SERVER span, then Express's synchronous handler), and a span that is never made
 * active (`startSpan(); work(); span.end()`) is charged the synchronous work that follows its start.
 *
 * Needs a context manager (every OpenTelemetry SDK for Node installs one): without one no span is ever active,
 * and only the synchronous stretch after each start is charged; use `fair-share` there.
 */
export class AsyncContextLedger {
  private hook: AsyncHook | undefined;
  private current: ContextNode | undefined;
  private readonly outer: Array<ContextNode | undefined> = [];
  private depth = 0;
  /** False between a top-level callback's end and the next callback: the event loop's time, not JavaScript's. */
  private running = true;
  private lastMarkMs = performance.now();
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
    this.hook = createHook({
      before: () => {
        const now = performance.now();
        if (this.depth === 0 && !this.running) {
          this.running = true;
          this.lastMarkMs = now;
        } else {
          this.chargeUntil(now);
        }
        this.depth++;
        this.outer.push(this.current);
        this.current = this.activeNode();
      },
      init: () => {
        if (!this.running) return;
        const active = this.activeNode();
        if (active === this.current) return;
        this.chargeUntil(performance.now());
        this.current = active;
      },
      after: () => {
        this.chargeUntil(performance.now());
        this.current = this.outer.pop();
        // An `after` without its `before` (hooks enabled inside a callback) must not drive the depth below 0.
        if (this.depth > 0) this.depth--;
        if (this.depth === 0) this.running = false;
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
    return this.busyTotalMs + (this.running ? Math.max(0, nowMs - this.lastMarkMs) : 0);
  }

  start(parent: ContextNode | undefined, nowMs: number): ContextNode {
    // What ran up to a span start belongs to whoever was running; what follows, to the new span.
    this.chargeUntil(nowMs);
    const node: ContextNode = { parent, busyMs: 0 };
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

  private chargeUntil(nowMs: number): void {
    const stretch = nowMs - this.lastMarkMs;
    this.lastMarkMs = nowMs;
    if (!this.running || stretch <= 0) return;
    this.busyTotalMs += stretch;
    for (let node = this.current; node !== undefined; node = node.parent) node.busyMs += stretch;
  }
}
