import { ConcurrencyPeak } from './concurrency-peak.js';

/** Trees started within one slice of time: they stop counting together once older than the bound. */
interface Generation {
  readonly startedAt: number;
  /** Its trees counted among the open ones now. */
  counted: number;
  expired: boolean;
}

/** Whether a tree is counted among the open ones; shared with the finalizer, which must not hold the tree. */
interface Presence {
  counted: boolean;
  readonly generation: Generation;
}

/** The measured spans of one request or job: a top-level span and everything measured under it. */
export interface SpanTree {
  /** Its spans that are open now. */
  open: number;
  readonly presence: Presence;
  /** Whether the finalizer watches it. */
  watched: boolean;
}

/** Trees opened since the last settle are held at most this many before they are settled anyway. */
const MAX_PENDING = 1024;

/**
 * Counts the span trees (top-level measured spans with their measured descendants) that are open, for
 * `resource_tracker.concurrent_spans`: "how many other requests or jobs ran beside this span". A tree is open while any
 * of its spans is, so a child that outlives its parent (Express's handler span after the http SERVER span)
 * keeps its request counted, and a request's own children never count as concurrency.
 *
 * Trees whose spans are never ended stop counting once they are garbage: a FinalizationRegistry entry notices,
 * since every span of the tree holds the tree. An entry costs ~1.3 µs, more than the rest of a span's
 * accounting, so only trees still open at the next `settle()` (the sampler's next tick, or after 1024 new
 * trees) get one: a request that is over within a tick costs none. Trees still referenced stop counting
 * `maxOpenMs` after they started, a generation (an eighth of that bound) at a time, so that nothing here holds
 * a tree for longer than until the next settle.
 */
export class SpanTrees {
  private openTrees = 0;
  private readonly peak = new ConcurrencyPeak();
  private readonly generations: Generation[] = [];
  private readonly generationMs: number;
  private readonly finalizer = new FinalizationRegistry<Presence>((presence) => this.uncount(presence));
  private pending: SpanTree[] = [];

  constructor(private readonly maxOpenMs: number) {
    this.generationMs = Number.isFinite(maxOpenMs) ? Math.max(1, maxOpenMs / 8) : Number.POSITIVE_INFINITY;
  }

  /** Opens a span in `parent`'s tree, or in a new tree when it is top-level. */
  open(parent: SpanTree | undefined, nowMs: number): SpanTree {
    this.expire(nowMs);
    const tree = parent ?? this.newTree(nowMs);
    if (tree.open++ === 0 && !tree.presence.generation.expired) {
      tree.presence.counted = true;
      tree.presence.generation.counted++;
      this.change(1);
      if (!tree.watched) this.hold(tree);
    }
    return tree;
  }

  /** Trees counted as open now: garbage and over-age ones (never ended) no longer are once they are noticed. */
  get openCount(): number {
    return this.openTrees;
  }

  /**
   * Has the finalizer watch the trees opened since the last settle that are still open, and lets go of the rest;
   * stops counting the trees that outlived the bound even when no span opens (a lease on the samplers depends on
   * the count).
   */
  settle(nowMs: number): void {
    this.expire(nowMs);
    this.watchPending();
  }

  private watchPending(): void {
    const trees = this.pending;
    this.pending = [];
    for (const tree of trees) {
      if (tree.open === 0 || tree.watched) continue;
      tree.watched = true;
      this.finalizer.register(tree, tree.presence);
    }
  }

  close(tree: SpanTree): void {
    if (tree.open === 0) return;
    if (--tree.open === 0) this.uncount(tree.presence);
  }

  /** A moment to measure from (the span's start). */
  now(): number {
    return this.peak.record(this.openTrees);
  }

  /** The most trees open at once since `moment`, less the asking span's own. */
  othersSince(moment: number): number {
    return Math.max(0, this.peak.maxSince(moment) - 1);
  }

  private newTree(nowMs: number): SpanTree {
    let generation = this.generations[this.generations.length - 1];
    if (generation === undefined || nowMs - generation.startedAt >= this.generationMs) {
      generation = { startedAt: nowMs, counted: 0, expired: false };
      this.generations.push(generation);
    }
    return { open: 0, presence: { counted: false, generation }, watched: false };
  }

  private hold(tree: SpanTree): void {
    this.pending.push(tree);
    if (this.pending.length >= MAX_PENDING) this.watchPending();
  }

  private uncount(presence: Presence): void {
    if (!presence.counted) return;
    presence.counted = false;
    if (presence.generation.expired) return;
    presence.generation.counted--;
    this.change(-1);
  }

  private expire(nowMs: number): void {
    for (;;) {
      const oldest = this.generations[0];
      if (oldest === undefined || nowMs - oldest.startedAt < this.maxOpenMs) return;
      this.generations.shift();
      oldest.expired = true;
      if (oldest.counted > 0) this.change(-oldest.counted);
      oldest.counted = 0;
    }
  }

  private change(by: number): void {
    this.openTrees += by;
    this.peak.record(this.openTrees);
  }
}
