import { type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';

/** GC pauses kept: at a few hundred minor collections a second under heavy allocation, several seconds of them. */
const DEFAULT_CAPACITY = 4096;

/** Pause time and number of collections inside a window. */
export interface GcInWindow {
  /** ms of pauses overlapping the window, a pause that straddles an edge counted in proportion. */
  readonly pauseMs: number;
  /** Collections overlapping the window, each counted whole (a count of collections, not a share). */
  readonly count: number;
  /** false when the window starts before the oldest pause kept: the figures may be short. */
  readonly complete: boolean;
}

/**
 * One `gc` PerformanceObserver for the thread, whose entries go into a fixed ring of (start, duration): a span asks
 * for the pauses overlapping its window, newest first, in arithmetic. The observer keeps nothing itself (it is read
 * in its callback and never buffered: an observer left buffering grows without bound, opentelemetry-js-contrib
 * #3648), and it exists only while a GC key is chosen. Node delivers `gc` entries at the next turn of the event
 * loop, so a pause is seen by spans that end after that turn: a span that never yields misses its own pauses.
 */
export class GcPauses {
  private readonly startMs: Float64Array;
  private readonly durationMs: Float64Array;
  private count = 0;
  private observer: PerformanceObserver | undefined;
  private users = 0;

  constructor(private readonly capacity = DEFAULT_CAPACITY) {
    this.startMs = new Float64Array(capacity);
    this.durationMs = new Float64Array(capacity);
  }

  get observing(): boolean {
    return this.observer !== undefined;
  }

  /** Processors that chose a GC key and have not shut down. */
  get userCount(): number {
    return this.users;
  }

  /** Starts observing (the first user) and returns the stop for this user. */
  use(): () => void {
    this.users++;
    if (this.observer === undefined) {
      this.observer = new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) this.add(entry);
      });
      this.observer.observe({ entryTypes: ['gc'] });
    }
    let stopped = false;
    return () => {
      if (stopped) return;
      stopped = true;
      this.users--;
      if (this.users === 0) {
        this.observer?.disconnect();
        this.observer = undefined;
      }
    };
  }

  add(entry: Pick<PerformanceEntry, 'startTime' | 'duration'>): void {
    const slot = this.count % this.capacity;
    this.startMs[slot] = entry.startTime;
    this.durationMs[slot] = entry.duration;
    this.count++;
  }

  /** The pauses overlapping [fromMs, toMs] (performance.now() times). */
  inWindow(fromMs: number, toMs: number): GcInWindow {
    let pauseMs = 0;
    let count = 0;
    const oldest = Math.max(0, this.count - this.capacity);
    let index = this.count - 1;
    for (; index >= oldest; index--) {
      const slot = index % this.capacity;
      const start = this.startMs[slot] as number;
      const duration = this.durationMs[slot] as number;
      const end = start + duration;
      // Entries arrive in the order collections end; one that ended before the window closes the search.
      if (end <= fromMs) break;
      const overlap = Math.min(end, toMs) - Math.max(start, fromMs);
      if (overlap <= 0) continue;
      pauseMs += overlap;
      count++;
    }
    return { pauseMs, count, complete: index >= oldest || oldest === 0 };
  }
}

/** The GC pause ring of this thread. */
export const gcPauses = new GcPauses();
