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
  /** How many devices are visible (for "all devices"); undefined: the source cannot tell. */
  visibleDeviceCount?(): number;
}
