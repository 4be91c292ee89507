import { type ProcessMemoryProbe, processMemoryProbe } from '../probes/process-memory.js';
import { SampleHistory, type WindowMax } from './sample-history.js';

export const DEFAULT_SAMPLE_INTERVAL_MS = 10;

/**
 * Samples the process RSS in the background while anything holds a lease on it, and remembers the samples, so
 * that the highest RSS between two moments can be asked for after the fact. The timer is unref'd (it never keeps
 * the process alive) and exists only while a lease is held: an idle sampler costs nothing.
 *
 * Samples are taken when the event loop turns: synchronous work that blocks the loop is not sampled while it runs
 * (getrusage's maxRSS covers that case whenever it sets a new high for the process).
 */
export class MemorySampler {
  readonly rss = new SampleHistory();
  private leases = 0;
  private timer: NodeJS.Timeout | undefined;
  private latest = 0;
  private conditionalLeases: Array<() => boolean> = [];

  constructor(
    private readonly probe: ProcessMemoryProbe = processMemoryProbe,
    private intervalMs = DEFAULT_SAMPLE_INTERVAL_MS,
  ) {}

  /** The number of the newest sample: a snapshot records it to know which samples fall after it. */
  get tick(): number {
    return this.rss.count;
  }

  /** The newest sampled RSS in bytes (0 before the first sample). */
  get latestRssBytes(): number {
    return this.latest;
  }

  get active(): boolean {
    return this.leases > 0;
  }

  get leaseCount(): number {
    return this.leases;
  }

  get sampleIntervalMs(): number {
    return this.intervalMs;
  }

  acquire(): void {
    this.leases++;
    if (this.leases === 1) {
      this.sample();
      this.startTimer();
    }
  }

  /**
   * Holds a lease for as long as `stillNeeded()` answers true when asked, once per tick: for holders that come
   * and go too often to acquire and release each time (a span processor between spans).
   */
  acquireWhile(stillNeeded: () => boolean): void {
    this.acquire();
    this.conditionalLeases.push(stillNeeded);
  }

  release(): void {
    if (this.leases === 0) return;
    this.leases--;
    if (this.leases === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  setSampleInterval(intervalMs: number): void {
    if (!Number.isFinite(intervalMs) || intervalMs < 1 || intervalMs > 60_000) {
      throw new RangeError(
        `sampleIntervalMs must be a number of milliseconds in [1, 60000], got ${intervalMs}`,
      );
    }
    this.intervalMs = intervalMs;
    if (this.timer !== undefined) {
      clearInterval(this.timer);
      this.startTimer();
    }
  }

  /** Highest RSS sampled after sample number `afterTick` up to sample number `untilTick`. */
  maxRssBetween(afterTick: number, untilTick: number): WindowMax | undefined {
    return this.rss.max(afterTick + 1, untilTick);
  }

  private dropUnneededLeases(): void {
    const kept = this.conditionalLeases.filter((stillNeeded) => {
      try {
        return stillNeeded();
      } catch {
        return false;
      }
    });
    const dropped = this.conditionalLeases.length - kept.length;
    this.conditionalLeases = kept;
    for (let i = 0; i < dropped; i++) this.release();
  }

  private startTimer(): void {
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  private sample(): void {
    if (this.conditionalLeases.length > 0) this.dropUnneededLeases();
    try {
      this.latest = this.probe.read().rssBytes;
      this.rss.push(this.latest);
    } catch {
      // A failed read leaves a gap, not a wrong value; the next tick tries again.
    }
  }
}

/** The sampler shared by every tracker and span processor of this thread. */
export const memorySampler = new MemorySampler();
