/**
 * Fair-share CPU accounting across concurrently open spans, O(depth) per start and end (no walk over open spans).
 *
 * CPU the process uses is split equally among the open top-level spans; a span's share includes its descendants'
 * (it is not split between a span and its own children), and concurrent siblings split their parent's share.
 * Every node keeps one running "share per open child" total; a child's share is how much that total grew while
 * the child was open. Totals are brought up to date lazily, from the root down the child's ancestor chain, only
 * when a child starts or ends — the only moments the split changes.
 *
 * A span that ends while its children are still open stays in the tree (as a "ghost") until they end, so that
 * they keep receiving the share they had. Spans that are never ended are dropped from the split once their
 * top-level span is older than `maxOpenMs` (see `FairShareLedger.expire`), so that a leak cannot skew everybody's
 * share forever.
 */
export interface ShareNode {
  readonly parent: ShareNode | undefined;
  readonly generation: Generation;
  /** The parent's per-child total when this node started. */
  readonly startTotal: number;
  /** Running share per open child, in CPU microseconds. */
  perChild: number;
  /** This node's own cumulative share the last time `perChild` was brought up to date. */
  lastShare: number;
  openChildren: number;
  ended: boolean;
}

/** Top-level spans started within one slice of time: they expire together. */
interface Generation {
  readonly startedAt: number;
  /** Open top-level spans of this generation (each counted in the root's open children). */
  openTopLevel: number;
  /** Open spans of this generation at any depth (for the concurrency count). */
  openAll: number;
  expired: boolean;
}

export class FairShareLedger {
  private rootPerChild = 0;
  private rootOpenChildren = 0;
  private rootLastCpu = 0;
  private readonly generations: Generation[] = [];
  private current: Generation | undefined;
  private readonly generationMs: number;
  /** Tracked spans open right now, at any depth (ghosts excluded). */
  open = 0;

  constructor(readonly maxOpenMs: number) {
    this.generationMs = Number.isFinite(maxOpenMs) ? Math.max(1, maxOpenMs / 8) : Number.POSITIVE_INFINITY;
  }

  /** Opens a node under `parent` (undefined: top level). `cpuMicros` is the process CPU now. */
  start(parent: ShareNode | undefined, cpuMicros: number, nowMs: number): ShareNode {
    const usableParent = parent !== undefined && !parent.generation.expired ? parent : undefined;
    const generation = usableParent?.generation ?? this.generationFor(nowMs);
    const startTotal = this.perChildNow(usableParent, cpuMicros);
    if (usableParent === undefined) {
      this.rootOpenChildren++;
      generation.openTopLevel++;
    } else {
      usableParent.openChildren++;
    }
    generation.openAll++;
    this.open++;
    return {
      parent: usableParent,
      generation,
      startTotal,
      perChild: 0,
      lastShare: 0,
      openChildren: 0,
      ended: false,
    };
  }

  /**
   * Closes a node and returns its share in CPU microseconds, or undefined when its span outlived `maxOpenMs`
   * (its share stopped being tracked then).
   */
  end(node: ShareNode, cpuMicros: number): number | undefined {
    if (node.ended) return undefined;
    node.ended = true;
    if (node.generation.expired) return undefined;
    const share = this.perChildNow(node.parent, cpuMicros) - node.startTotal;
    node.generation.openAll--;
    this.open--;
    if (node.openChildren === 0) this.detach(node, cpuMicros);
    return share;
  }

  /** Drops generations whose top-level spans started more than `maxOpenMs` ago; cheap to call often. */
  expire(nowMs: number, cpuMicros: number): void {
    const oldest = this.generations[0];
    if (oldest === undefined || nowMs - oldest.startedAt < this.maxOpenMs) return;
    this.perChildNow(undefined, cpuMicros);
    while (this.generations.length > 0) {
      const generation = this.generations[0] as Generation;
      if (nowMs - generation.startedAt < this.maxOpenMs) break;
      this.generations.shift();
      generation.expired = true;
      this.rootOpenChildren -= generation.openTopLevel;
      this.open -= generation.openAll;
      if (generation === this.current) this.current = undefined;
    }
  }

  /** Removes an ended node with no open children from its parent, and ghosts that were waiting on it. */
  private detach(node: ShareNode, cpuMicros: number): void {
    let child = node;
    for (;;) {
      const parent = child.parent;
      this.perChildNow(parent, cpuMicros);
      if (parent === undefined) {
        this.rootOpenChildren--;
        child.generation.openTopLevel--;
        return;
      }
      parent.openChildren--;
      if (!parent.ended || parent.openChildren > 0) return;
      child = parent;
    }
  }

  /** The per-child running total of `node` (root when undefined), brought up to now. */
  private perChildNow(node: ShareNode | undefined, cpuMicros: number): number {
    if (node === undefined) {
      if (this.rootOpenChildren > 0)
        this.rootPerChild += (cpuMicros - this.rootLastCpu) / this.rootOpenChildren;
      this.rootLastCpu = cpuMicros;
      return this.rootPerChild;
    }
    const share = this.perChildNow(node.parent, cpuMicros) - node.startTotal;
    if (node.openChildren > 0) node.perChild += (share - node.lastShare) / node.openChildren;
    node.lastShare = share;
    return node.perChild;
  }

  private generationFor(nowMs: number): Generation {
    if (this.current === undefined || nowMs - this.current.startedAt >= this.generationMs) {
      this.current = { startedAt: nowMs, openTopLevel: 0, openAll: 0, expired: false };
      this.generations.push(this.current);
    }
    return this.current;
  }
}
