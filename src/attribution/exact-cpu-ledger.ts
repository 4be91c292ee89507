import { type AsyncHook, createHook } from 'node:async_hooks';

/** One span's CPU in exact mode, in microseconds. */
export interface ExactNode {
  readonly parent: ExactNode | undefined;
  /** CPU used while this span was the active one. */
  self: number;
  /** CPU of its ended descendants, added when each ends. */
  descendants: number;
  ended: boolean;
}

/**
 * Exact CPU attribution: CPU used while a callback runs is charged to the span active in that callback's async
 * context. Async hooks mark every callback's `before` and `after` and every resource's `init`; at each mark (and
 * at every span start and end) the CPU used since the previous mark goes to the span that was active in between. A span's figure is its own
 * CPU plus its descendants', so a span that waits on I/O next to busy ones is charged only what its code used.
 *
 * Cost: a CPU read at each `before` and `after`, a context look-up at each `init` (and a CPU read when the
 * context changed) for the whole process while enabled (measured in `npm run bench`).
 * A span that is never made active (`startSpan` without `context.with`) is charged nothing of its own.
 */
export class ExactCpuLedger {
  private hook: AsyncHook | undefined;
  private current: ExactNode | undefined;
  private readonly outer: Array<ExactNode | undefined> = [];
  private lastCpu: number;

  constructor(
    /** The node of the span active in the current async context, if it is tracked. */
    private readonly activeNode: () => ExactNode | undefined,
    /** Process (or thread) CPU in microseconds. */
    private readonly readCpu: () => number,
  ) {
    this.lastCpu = readCpu();
  }

  enable(): void {
    if (this.hook !== undefined) return;
    this.lastCpu = this.readCpu();
    this.hook = createHook({
      // A callback is about to run: what ran since the last mark belonged to whoever was running then.
      before: () => {
        this.charge(this.readCpu());
        this.outer.push(this.current);
        this.current = this.activeNode();
      },
      // Code creates an async resource (a promise, a timer, a socket write) in the context it runs in now: the
      // one place to see `context.with()` scopes open and close inside a callback. When the context changed,
      // the stretch so far ran (mostly) in the old one; when it did not, nothing needs charging yet, and the CPU
      // read is saved.
      init: () => {
        const active = this.activeNode();
        if (active === this.current) return;
        this.charge(this.readCpu());
        this.current = active;
      },
      // The callback is done: the stretch since the last mark goes to whoever the marks saw running last (the
      // context at this point has already left any `context.with()` the callback opened).
      after: () => {
        this.charge(this.readCpu());
        this.current = this.outer.pop();
      },
    });
    this.hook.enable();
  }

  disable(): void {
    this.hook?.disable();
    this.hook = undefined;
  }

  start(parent: ExactNode | undefined, cpuMicros: number): ExactNode {
    // What ran up to a span start belongs to whoever the marks saw running (the new span is not active yet).
    this.charge(cpuMicros);
    this.current = this.activeNode();
    return { parent, self: 0, descendants: 0, ended: false };
  }

  /** Closes the node and returns its CPU (own + descendants'), in microseconds. */
  end(node: ExactNode, cpuMicros: number): number {
    // A span is usually ended from its own context (startActiveSpan): what ran up to here is most likely its own,
    // even when no mark saw that context open (a synchronous span creates no async resource).
    this.current = this.activeNode();
    this.charge(cpuMicros);
    node.ended = true;
    const total = node.self + node.descendants;
    let ancestor = node.parent;
    while (ancestor?.ended) ancestor = ancestor.parent;
    if (ancestor !== undefined) ancestor.descendants += total;
    return total;
  }

  private charge(cpuMicros: number): void {
    const node = this.current;
    if (node !== undefined && !node.ended) node.self += cpuMicros - this.lastCpu;
    this.lastCpu = cpuMicros;
  }
}
