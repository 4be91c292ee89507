/** Device memory of one GPU, as last read by the background sampler. */
export interface GpuMemoryReading {
  /**
   * Device memory in use, all processes, and the device's total. undefined where the driver publishes none (an
   * Intel integrated GPU: see docs/gpu.md): absent, never 0; the process figure may still be known.
   */
  readonly usedBytes: number | undefined;
  readonly totalBytes: number | undefined;
  /** Device UUID (`GPU-…`) and model name, where the source knows them. */
  readonly uuid?: string;
  readonly name?: string;
  /** Memory held on this device by this process and its descendants, where the source can tell. */
  readonly processUsedBytes?: number;
  /** Number of the sample this reading came from, for `GpuMemorySource.maxUsedSince`. */
  readonly sampleNumber?: number;
  /** Running GPU-time and utilization figures as of this reading (one object per reading: nothing to allocate). */
  readonly busy?: GpuBusyMark;
}

/**
 * Cumulative figures of one device as of one reading: a span takes the difference between its end and its start.
 */
export interface GpuBusyMark {
  /**
   * GPU seconds this process tree used on the device since sampling began; undefined where the driver gives no
   * per-process utilization (or its PIDs are not ours to match).
   */
  readonly processBusySeconds: number | undefined;
  /** Readings so far whose per-process utilization was unknown: a span over one of them has no busy time. */
  readonly processBusyGaps: number;
  /** Sum and count of the device utilization readings (0–1) so far: the mean over a span from two marks. */
  readonly utilizationSum: number;
  readonly utilizationCount: number;
  /** The latest utilization reading (0–1), for a span with no reading inside it; undefined: none. */
  readonly utilization: number | undefined;
}

/**
 * Where snapshots get GPU memory from. Implementations answer from a cache filled in the background: `latest`
 * is called on the hot path and must not do I/O. `deviceIndex` is the index as CUDA in this process numbers the
 * devices. undefined means "no reading" (no GPU, or it failed): never a made-up number.
 */
export interface GpuMemorySource {
  readonly name: string;
  latest(deviceIndex: number): GpuMemoryReading | undefined;
  /**
   * Highest `usedBytes` sampled on the device after the reading numbered `afterSample` (see
   * `GpuMemoryReading.sampleNumber`) up to now; undefined when the source keeps no history.
   */
  maxUsedSince?(deviceIndex: number, afterSample: number): number | undefined;
  /**
   * GPU seconds this process tree used on the device between two moments (epoch ms), the readings that span either
   * moment counted in proportion; undefined when the source no longer holds readings that old.
   */
  processBusyBetween?(deviceIndex: number, fromMs: number, toMs: number): number | undefined;
  /** How many devices are visible (for "all devices"); undefined: the source cannot tell. */
  visibleDeviceCount?(): number;
}
