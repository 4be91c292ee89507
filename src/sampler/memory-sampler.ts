import { performance } from 'node:perf_hooks';
import { type ProcessMemoryProbe, processMemoryProbe } from '../probes/process-memory.js';
import { LeasedTimer } from './leased-timer.js';
import { SampleHistory, type WindowMax } from './sample-history.js';

export const DEFAULT_SAMPLE_INTERVAL_MS = 10;
/** The longest interval the sampler backs off to while RSS holds still. */
export const QUIET_SAMPLE_INTERVAL_MS = 200;
/** RSS moving by less than this between two samples counts as holding still. */
const QUIET_RSS_STEP_BYTES = 1024 * 1024;

/**
 * Samples the process RSS in the background while anything holds a lease on it, and remembers the samples, so
 * that the highest RSS between two moments can be asked for after the fact. The timer is unref'd (it never keeps
 * the process alive) and exists only while a lease is held: an idle sampler costs nothing.
 *
 * Samples are taken when the event loop turns: synchronous work that blocks the loop is not sampled while it runs
 * (getrusage's maxRSS covers that case whenever it sets a new high for the process).
 *
 * The interval is 10 ms while RSS moves and doubles, up to 200 ms, for every sample that finds it within 1 MiB of
 * the last: a timer wake-up costs far more than the read (~100–250 µs of process CPU per wake-up on a VM, most of
 * it the kernel's), and 100 of them a second were 2–3 % of a core for a service that allocates nothing.
 */
export class MemorySampler {
  readonly rss = new SampleHistory();
  private readonly timer: LeasedTimer;
  private latest = 0;
  private latestAtMs = Number.NEGATIVE_INFINITY;
  private currentIntervalMs: number;
  private readonly tickListeners = new Set<() => void>();

  constructor(
    private readonly probe: ProcessMemoryProbe = processMemoryProbe,
    private readonly intervalMs = DEFAULT_SAMPLE_INTERVAL_MS,
    private readonly quietIntervalMs = Math.max(intervalMs, QUIET_SAMPLE_INTERVAL_MS),
  ) {
    this.currentIntervalMs = intervalMs;
    this.timer = new LeasedTimer(() => this.onTick(), intervalMs, undefined);
  }

  /** The interval the sampler ticks at now (between 10 and 200 ms, see the class comment). */
  get interval(): number {
    return this.currentIntervalMs;
  }

  /**
   * Calls `listener` at every background tick (not at on-demand reads), after the RSS sample: work that must
   * happen at the sampler's pace rides on its timer instead of arming another. Returns the unsubscribe.
   */
  addTickListener(listener: () => void): () => void {
    this.tickListeners.add(listener);
    return () => this.tickListeners.delete(listener);
  }

  /** The number of the newest sample: a snapshot records it to know which samples fall after it. */
  get tick(): number {
    return this.rss.count;
  }

  /**
   * The RSS now, in bytes, never older than the fast interval (10 ms), however far the ticks have backed off: the
   * newest sample when it is that recent, else a fresh read (one `pread`), which also becomes a sample. Without
   * that, the first reading of a process would be 0, and a reading after the sampler went idle (or slow, or the
   * loop was blocked) would be whatever it saw last.
   */
  currentRssBytes(nowMs = performance.now()): number {
    if (nowMs - this.latestAtMs > this.intervalMs) this.sample();
    return this.latest;
  }

  get leaseCount(): number {
    return this.timer.leaseCount;
  }

  acquire(): void {
    this.startFast();
    this.timer.acquire();
  }

  /** A lease held for as long as `stillNeeded()` answers true when asked, once per tick. */
  acquireWhile(stillNeeded: () => boolean): void {
    this.startFast();
    this.timer.acquireWhile(stillNeeded);
  }

  /** A sampler that starts again starts at the fast interval: nothing is known about what memory does now. */
  private startFast(): void {
    if (this.timer.leaseCount > 0 || this.currentIntervalMs === this.intervalMs) return;
    this.currentIntervalMs = this.intervalMs;
    this.timer.setIntervals(this.intervalMs, undefined);
  }

  release(): void {
    this.timer.release();
  }

  /** Highest RSS sampled after sample number `afterTick` up to sample number `untilTick`. */
  maxRssBetween(afterTick: number, untilTick: number): WindowMax | undefined {
    return this.rss.max(afterTick + 1, untilTick);
  }

  private onTick(): void {
    const before = this.latest;
    this.sample();
    const next =
      Math.abs(this.latest - before) < QUIET_RSS_STEP_BYTES
        ? Math.min(this.quietIntervalMs, this.currentIntervalMs * 2)
        : this.intervalMs;
    if (next !== this.currentIntervalMs) {
      this.currentIntervalMs = next;
      this.timer.setIntervals(next, undefined);
    }
    for (const listener of this.tickListeners) {
      try {
        listener();
      } catch {
        // A listener's failure is its own to report; the sampler keeps ticking.
      }
    }
  }

  private sample(): void {
    try {
      this.latest = this.probe.read().rssBytes;
      this.latestAtMs = performance.now();
      this.rss.push(this.latest);
    } catch {
      // A failed read leaves a gap, not a wrong value; the next tick tries again.
    }
  }
}

/** The sampler shared by every tracker and span processor of this thread. */
export const memorySampler = new MemorySampler();
