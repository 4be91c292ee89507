import { performance } from 'node:perf_hooks';
import { diag } from '@opentelemetry/api';
import { ENV_PROCFS_ROOT, ENV_SYSFS_ROOT, type Environment, readString } from '../config/env.js';
import {
  type CgroupDirectories,
  type CgroupLimit,
  type CgroupProblem,
  type CgroupRoots,
  findCgroupDirectories,
  readCpuLimitCores,
  readMemoryLimitBytes,
  readThrottledSeconds,
} from '../probes/cgroup-limits.js';
import { SchedstatProbe } from '../probes/schedstat.js';
import { CounterSeries } from './counter-series.js';
import { DEFAULT_SAMPLE_INTERVAL_MS, type MemorySampler } from './memory-sampler.js';

/** Limits change rarely (a `docker update`, a pod resize): re-read at most this often. */
const LIMITS_REFRESH_MS = 10_000;

/** What to read: the throttled counter and limits (cgroup), the run-queue wait (schedstat). */
export interface ContentionChoice {
  readonly cgroup: boolean;
  readonly runQueue: boolean;
}

/**
 * Counters of CPU contention read in the background, at the memory sampler's ticks: the CPU cgroup's throttled time
 * and this thread's run-queue wait, each into a CounterSeries, and the cgroup's CPU and memory limits. A span asks
 * for a counter's value at its start and its end; those are arithmetic on the series. The one exception: a reading
 * older than the sampler's fast interval (10 ms: the loop was blocked, or the sampler idle) is refreshed first — at
 * most one read per counter per 10 ms however many spans end, the rule the RSS reading follows — so that a span
 * whose work blocked the loop still gets its figure.
 */
export class ContentionSampler {
  readonly throttled = new CounterSeries();
  readonly runQueueWait = new CounterSeries();
  private directories: CgroupDirectories | undefined;
  private schedstat: SchedstatProbe | undefined;
  /** The cgroup counter is readable; false after a failure, until the next limits refresh tries again. */
  private throttledReadable = false;
  /** Whether schedstats are on: a wait that reads 0 means the kernel does not count it. */
  private waitCounted = false;
  private cpuLimit: CgroupLimit;
  private memoryLimit: CgroupLimit;
  private limitsAtMs = Number.NEGATIVE_INFINITY;
  private stopListening: (() => void) | undefined;
  private readonly choice = { cgroup: false, runQueue: false };
  private users = 0;
  /** Whether the cgroup directories have been looked for (once: a process does not change cgroups by itself). */
  private searched = false;

  constructor(
    private readonly roots: CgroupRoots,
    private readonly problem: CgroupProblem,
  ) {}

  /** Starts reading what `choice` asks for (added to what earlier callers asked), at `sampler`'s ticks. */
  use(choice: ContentionChoice, sampler: MemorySampler): () => void {
    if (choice.cgroup && !this.choice.cgroup) {
      this.choice.cgroup = true;
      if (!this.searched) this.findDirectories();
    }
    if (choice.runQueue && !this.choice.runQueue) {
      this.choice.runQueue = true;
      this.schedstat = SchedstatProbe.forThisThread(this.roots.procfsRoot);
    }
    if (this.stopListening === undefined) this.stopListening = sampler.addTickListener(() => this.read());
    this.users++;
    this.read();
    let stopped = false;
    return () => {
      if (stopped) return;
      stopped = true;
      this.users--;
      if (this.users === 0) this.stop();
    };
  }

  /** Stops the tick reads once the last user has gone; a later user starts them again. */
  private stop(): void {
    this.stopListening?.();
    this.stopListening = undefined;
  }

  /** Seconds throttled up to `atMs`; undefined where there is no readable CPU cgroup. */
  throttledSecondsAt(atMs: number): number | undefined {
    if (!this.choice.cgroup) return undefined;
    this.refreshIfStale(atMs);
    return this.throttledReadable ? this.throttled.valueAt(atMs) : undefined;
  }

  /** Seconds this thread waited for a CPU up to `atMs`; undefined where schedstats are off or unreadable. */
  runQueueSecondsAt(atMs: number): number | undefined {
    if (!this.choice.runQueue) return undefined;
    this.refreshIfStale(atMs);
    return this.waitCounted ? this.runQueueWait.valueAt(atMs) : undefined;
  }

  /** The CPU cgroup's quota in cores; undefined when unlimited or unknown. */
  get cpuLimitCores(): number | undefined {
    return typeof this.cpuLimit === 'number' ? this.cpuLimit : undefined;
  }

  /** The memory cgroup's limit in bytes; undefined when unlimited or unknown. */
  get memoryLimitBytes(): number | undefined {
    return typeof this.memoryLimit === 'number' ? this.memoryLimit : undefined;
  }

  private refreshIfStale(atMs: number): void {
    const newest = Math.min(
      this.choice.cgroup && this.throttledReadable ? this.throttled.newestAtMs : Number.POSITIVE_INFINITY,
      this.choice.runQueue && this.waitCounted ? this.runQueueWait.newestAtMs : Number.POSITIVE_INFINITY,
    );
    // Stamped with the span's moment: the fresh reading is the counter at that moment, not a few µs after it.
    if (newest !== Number.POSITIVE_INFINITY && atMs - newest > DEFAULT_SAMPLE_INTERVAL_MS) this.read(atMs);
  }

  /**
   * The cgroup's throttled counter and limits read now, for a metrics scrape (not a span: spans use the series).
   * A figure is undefined where it cannot be read or (limits) is unlimited.
   */
  cgroupNow(): {
    throttledSeconds: number | undefined;
    cpuLimitCores: number | undefined;
    memoryLimitBytes: number | undefined;
  } {
    if (!this.searched) this.findDirectories();
    const cpu = this.directories?.cpu;
    const memory = this.directories?.memory;
    const cpuLimit = cpu === undefined ? undefined : readCpuLimitCores(cpu, this.problem);
    const memoryLimit = memory === undefined ? undefined : readMemoryLimitBytes(memory, this.problem);
    return {
      throttledSeconds: cpu === undefined ? undefined : readThrottledSeconds(cpu, this.problem),
      cpuLimitCores: typeof cpuLimit === 'number' ? cpuLimit : undefined,
      memoryLimitBytes: typeof memoryLimit === 'number' ? memoryLimit : undefined,
    };
  }

  private findDirectories(): void {
    this.searched = true;
    try {
      this.directories = findCgroupDirectories(this.roots);
      if (this.directories.cpu === undefined) {
        this.problem('cgroup', 'no CPU cgroup found in /proc/self/cgroup and /proc/self/mountinfo');
      }
    } catch (error) {
      this.directories = undefined;
      this.problem('cgroup', `the cgroup of this process cannot be found: ${(error as Error).message}`);
    }
  }

  /** One reading of each chosen counter, and of the limits when they are due. */
  read(nowMs = performance.now()): void {
    if (this.choice.cgroup) this.readCgroup(nowMs);
    if (this.choice.runQueue && this.schedstat !== undefined) {
      try {
        const seconds = this.schedstat.readWaitSeconds();
        if (seconds > 0) this.waitCounted = true;
        this.runQueueWait.push(nowMs, seconds);
      } catch (error) {
        this.waitCounted = false;
        this.problem('schedstat', `the run-queue wait cannot be read: ${(error as Error).message}`);
      }
    }
  }

  private readCgroup(nowMs: number): void {
    const cpu = this.directories?.cpu;
    if (nowMs - this.limitsAtMs >= LIMITS_REFRESH_MS) {
      this.limitsAtMs = nowMs;
      this.cpuLimit = cpu === undefined ? undefined : readCpuLimitCores(cpu, this.problem);
      const memory = this.directories?.memory;
      this.memoryLimit = memory === undefined ? undefined : readMemoryLimitBytes(memory, this.problem);
      // A counter that failed is tried again at the limits' pace, not at every tick.
      if (cpu !== undefined) this.throttledReadable = true;
    }
    if (cpu === undefined || !this.throttledReadable) return;
    const seconds = readThrottledSeconds(cpu, this.problem);
    if (seconds === undefined) this.throttledReadable = false;
    else this.throttled.push(nowMs, seconds);
  }
}

/** One sampler per pair of roots (tests point processors at fake trees; an application has one pair). */
const shared = new Map<string, ContentionSampler>();

/**
 * The contention sampler of this thread over the roots in OTEL_RESOURCE_TRACKER_PROCFS_ROOT / _SYSFS_ROOT (default
 * /proc and /sys), as set when it is asked for. Its problems go to the OpenTelemetry diag logger, once per kind.
 */
export function sharedContentionSampler(env: Environment = process.env): ContentionSampler {
  const roots: CgroupRoots = {
    procfsRoot: readString(env, ENV_PROCFS_ROOT) ?? '/proc',
    sysfsRoot: readString(env, ENV_SYSFS_ROOT) ?? '/sys',
  };
  const key = `${roots.procfsRoot}\0${roots.sysfsRoot}`;
  let sampler = shared.get(key);
  if (sampler === undefined) {
    const reported = new Set<string>();
    sampler = new ContentionSampler(roots, (kind, message) => {
      if (reported.has(kind)) return;
      reported.add(kind);
      diag.warn(`otel-resource-tracker: ${message}; its figure is left out`);
    });
    shared.set(key, sampler);
  }
  return sampler;
}
