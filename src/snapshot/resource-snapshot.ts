import { performance } from 'node:perf_hooks';
import { readGpuMemory } from '../gpu/gpu-memory-source.js';
import { assertNonNegativeInteger, assertPlainOptions, orDefault } from '../internal/validate.js';
import { processMemoryProbe } from '../probes/process-memory.js';
import { memorySampler } from '../sampler/memory-sampler.js';

/** The state of this process at one moment. Compare two with `calculateResourceUsage`. */
export interface ResourceSnapshot {
  /** User-mode CPU seconds the process has used since it started. */
  readonly cpuUserSeconds: number;
  /** Kernel-mode CPU seconds the process has used since it started. */
  readonly cpuSystemSeconds: number;
  /** Resident set size, bytes. */
  readonly memoryRssBytes: number;
  /** Virtual memory size, bytes; undefined off Linux. */
  readonly memoryVmsBytes: number | undefined;
  /** Highest RSS the process has ever had (getrusage maxRSS), bytes. */
  readonly maxRssBytes: number;
  /** Seconds on the monotonic clock (`performance.now() / 1000`): only differences are meaningful. */
  readonly wallClockTime: number;
  /** Device memory in use on the GPU (all processes), bytes, from the sampler's cache; absent without a GPU. */
  readonly gpuVramUsedBytes?: number;
  /** Device memory of the GPU, bytes; absent without a GPU. */
  readonly gpuVramTotalBytes?: number;
  /** Number of the newest memory sample when the snapshot was taken (links it to the sampler's history). */
  readonly samplerTick: number;
}

export interface SnapshotOptions {
  /** Which GPU, as CUDA in this process numbers them (after CUDA_VISIBLE_DEVICES). Default 0. */
  gpuIndex?: number;
}

const SNAPSHOT_OPTION_KEYS = ['gpuIndex'] as const;
/** NVML addresses at most a few dozen devices per machine; anything far beyond is a mistake, not a GPU. */
const MAX_GPU_INDEX = 1023;

export function resolveGpuIndex(options: SnapshotOptions | undefined, what: string): number {
  assertPlainOptions(options, what, SNAPSHOT_OPTION_KEYS);
  const gpuIndex = orDefault(options?.gpuIndex, 0);
  assertNonNegativeInteger(gpuIndex, `${what}.gpuIndex`);
  if (gpuIndex > MAX_GPU_INDEX) {
    throw new TypeError(
      `${what}.gpuIndex must be a GPU index from 0 to ${MAX_GPU_INDEX}, got number ${gpuIndex}`,
    );
  }
  return gpuIndex;
}

/**
 * Takes a snapshot: one getrusage, one read of /proc/self/statm, one clock read, and the GPU sampler's cached
 * reading (no GPU call).
 */
export function captureResourceSnapshot(options?: SnapshotOptions): ResourceSnapshot {
  return takeSnapshot(resolveGpuIndex(options, 'captureResourceSnapshot options'));
}

/** captureResourceSnapshot with options already checked (for callers that check them once). */
export function takeSnapshot(gpuIndex: number): ResourceSnapshot {
  const usage = process.resourceUsage();
  const memory = processMemoryProbe.read();
  const wallClockTime = performance.now() / 1000;
  const gpu = readGpuMemory(gpuIndex);
  const snapshot: ResourceSnapshot = {
    cpuUserSeconds: usage.userCPUTime / 1e6,
    cpuSystemSeconds: usage.systemCPUTime / 1e6,
    memoryRssBytes: memory.rssBytes,
    memoryVmsBytes: memory.vmsBytes,
    maxRssBytes: usage.maxRSS * 1024,
    wallClockTime,
    samplerTick: memorySampler.tick,
  };
  if (gpu === undefined) return snapshot;
  // A device whose driver publishes no device memory (an Intel integrated GPU) leaves the fields absent, not 0.
  if (gpu.usedBytes !== undefined && gpu.totalBytes !== undefined)
    return { ...snapshot, gpuVramUsedBytes: gpu.usedBytes, gpuVramTotalBytes: gpu.totalBytes };
  if (gpu.usedBytes !== undefined) return { ...snapshot, gpuVramUsedBytes: gpu.usedBytes };
  if (gpu.totalBytes !== undefined) return { ...snapshot, gpuVramTotalBytes: gpu.totalBytes };
  return snapshot;
}
