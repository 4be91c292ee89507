import { getGpuMemorySource } from '../gpu/gpu-memory-source.js';
import { GpuSampler } from '../gpu/gpu-sampler.js';
import { describe } from '../internal/validate.js';
import { memorySampler } from '../sampler/memory-sampler.js';
import {
  type ResourceSnapshot,
  resolveGpuIndex,
  type SnapshotOptions,
  takeSnapshot,
} from '../snapshot/resource-snapshot.js';
import { calculateResourceUsage, type ResourceUsage } from '../snapshot/resource-usage.js';
import { type ResourceUsageDict, resourceUsageToDict } from '../snapshot/usage-dict.js';

export type ResourceTrackerOptions = SnapshotOptions;

type TrackerState = 'new' | 'running' | 'stopped';

/** Usage of work that threw, keyed by the thrown object (see `ResourceTracker.usageOf`). */
const usageOfFailures = new WeakMap<object, ResourceUsage>();

/** A tracker that is dropped while running gives its sampler leases back when it is collected. */
const abandonedTrackers = new FinalizationRegistry<GpuSampler | undefined>((gpuSampler) => {
  memorySampler.release();
  gpuSampler?.release();
});

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function assertWork(fn: unknown): asserts fn is () => unknown {
  if (typeof fn !== 'function') {
    throw new TypeError(`ResourceTracker: the work to track must be a function, got ${describe(fn)}`);
  }
}

/**
 * Measures one window of work: `start()`, the work, `stop()`. While it runs it holds a lease on the background
 * memory sampler, so that a peak below the process's earlier high is still seen.
 *
 * ```ts
 * using tracked = new ResourceTracker().start();   // stopped when the block exits
 * ```
 */
export class ResourceTracker implements Disposable, AsyncDisposable {
  private readonly gpuIndex: number;
  private state: TrackerState = 'new';
  private startSnapshot: ResourceSnapshot | undefined;
  private usage: ResourceUsage | undefined;
  private readonly leaseToken = {};
  private gpuSampler: GpuSampler | undefined;

  constructor(options?: ResourceTrackerOptions) {
    this.gpuIndex = resolveGpuIndex(options, 'ResourceTracker options');
  }

  /**
   * Measures `fn` (sync or async) and returns what it used. If `fn` throws or rejects, the same error is rethrown
   * and its usage can be read with `ResourceTracker.usageOf(error)`.
   */
  static track(fn: () => PromiseLike<unknown>): Promise<ResourceUsage>;
  static track(fn: () => unknown): ResourceUsage;
  static track(fn: () => unknown): ResourceUsage | Promise<ResourceUsage> {
    assertWork(fn);
    const tracker = new ResourceTracker();
    const recordFailure = (error: unknown): never => {
      if (typeof error === 'object' && error !== null) usageOfFailures.set(error, tracker.getUsage());
      throw error;
    };
    let result: unknown;
    try {
      result = tracker.run(fn);
    } catch (error) {
      return recordFailure(error);
    }
    if (isThenable(result)) {
      return Promise.resolve(result).then(() => tracker.getUsage(), recordFailure);
    }
    return tracker.getUsage();
  }

  /** The usage of work that `ResourceTracker.track` measured and that threw this error (objects only). */
  static usageOf(error: unknown): ResourceUsage | undefined {
    return typeof error === 'object' && error !== null ? usageOfFailures.get(error) : undefined;
  }

  get running(): boolean {
    return this.state === 'running';
  }

  start(): this {
    if (this.state !== 'new') {
      throw new Error(
        this.state === 'running'
          ? 'ResourceTracker.start(): already started; stop() it first'
          : 'ResourceTracker.start(): this tracker has already measured a window; create a new ResourceTracker',
      );
    }
    memorySampler.acquire();
    // GPU readings tick fast (100 ms) while a tracker runs, so that the start and end readings are fresh.
    const gpu = getGpuMemorySource();
    this.gpuSampler = gpu instanceof GpuSampler ? gpu : undefined;
    this.gpuSampler?.acquire();
    abandonedTrackers.register(this, this.gpuSampler, this.leaseToken);
    this.state = 'running';
    this.startSnapshot = takeSnapshot(this.gpuIndex);
    return this;
  }

  stop(): ResourceUsage {
    if (this.state !== 'running' || this.startSnapshot === undefined) {
      throw new Error(
        this.state === 'new'
          ? 'ResourceTracker.stop(): the tracker was never started; call start() first'
          : 'ResourceTracker.stop(): already stopped',
      );
    }
    const end = takeSnapshot(this.gpuIndex);
    this.state = 'stopped';
    abandonedTrackers.unregister(this.leaseToken);
    try {
      this.usage = calculateResourceUsage(this.startSnapshot, end);
    } finally {
      memorySampler.release();
      this.gpuSampler?.release();
    }
    return this.usage;
  }

  /**
   * Starts, runs `fn`, stops when it returns, throws, resolves or rejects, and passes its result or error
   * through. The usage stays readable with `getUsage()` in every case.
   */
  run<T>(fn: () => T): T {
    assertWork(fn);
    this.start();
    let result: T;
    try {
      result = fn();
    } catch (error) {
      this.stop();
      throw error;
    }
    if (!isThenable(result)) {
      this.stop();
      return result;
    }
    const stopAfter = Promise.resolve(result).then(
      (value) => {
        this.stop();
        return value;
      },
      (error: unknown) => {
        this.stop();
        throw error;
      },
    );
    return stopAfter as T;
  }

  getUsage(): ResourceUsage {
    if (this.usage === undefined) {
      throw new Error(
        `ResourceTracker.getUsage(): no usage yet, the tracker is ${this.state === 'new' ? 'not started' : 'still running'}; call stop() first`,
      );
    }
    return this.usage;
  }

  getUsageDict(): ResourceUsageDict {
    return resourceUsageToDict(this.getUsage());
  }

  /** Stops a running tracker; does nothing otherwise, so that `using` never throws on exit. */
  [Symbol.dispose](): void {
    if (this.state === 'running') this.stop();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this[Symbol.dispose]();
  }
}
