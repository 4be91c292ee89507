import type { Attributes } from '@opentelemetry/api';
import type { GpuDeviceFigures } from '../gpu/gpu-tracking.js';
import * as keys from '../span-processor/attribute-keys.js';

/** GPU figures of one device over the run (computed by the GPU layer, which owns the shape). */
export type DeviceFigures = GpuDeviceFigures;

/** What a run cost: the summary, the JSON file, the span and the report all say this. */
export interface RunFigures {
  readonly command: string;
  readonly pid: number;
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  readonly wallSeconds: number;
  readonly cpuUserSeconds: number;
  readonly cpuSystemSeconds: number;
  readonly peakTreeRssBytes: number;
  readonly peakTreeRssAtSeconds: number;
  readonly largestProcessPeakBytes: number;
  readonly processesSeen: number;
  readonly gpus: readonly DeviceFigures[];
}

export function cpuSeconds(figures: RunFigures): number {
  return figures.cpuUserSeconds + figures.cpuSystemSeconds;
}

/** The GPU memory the tree held at its peak, summed over devices (0 without a GPU, as the seed API reports it). */
export function gpuTreePeakBytes(figures: RunFigures): number {
  return figures.gpus.reduce((sum, gpu) => sum + (gpu.treePeakBytes ?? 0), 0);
}

/** The run span's attributes: the span processor's keys where they mean the same, the tree's own otherwise. */
export function spanAttributes(figures: RunFigures, args: readonly string[] | undefined): Attributes {
  const attributes: Attributes = {
    [keys.ATTR_PROCESS_COMMAND]: figures.command,
    [keys.ATTR_PROCESS_PID]: figures.pid,
    [keys.ATTR_CPU_TIME]: cpuSeconds(figures),
    [keys.ATTR_CPU_USER_TIME]: figures.cpuUserSeconds,
    [keys.ATTR_CPU_SYSTEM_TIME]: figures.cpuSystemSeconds,
    [keys.ATTR_WALL_TIME]: figures.wallSeconds,
    [keys.ATTR_CPU_AVERAGE_CORES]: figures.wallSeconds > 0 ? cpuSeconds(figures) / figures.wallSeconds : 0,
    [keys.ATTR_TREE_MEMORY_PEAK]: figures.peakTreeRssBytes,
    [keys.ATTR_TREE_LARGEST_PROCESS_PEAK]: figures.largestProcessPeakBytes,
    [keys.ATTR_TREE_PROCESS_COUNT]: figures.processesSeen,
  };
  if (args !== undefined) attributes[keys.ATTR_PROCESS_COMMAND_ARGS] = [figures.command, ...args];
  if (figures.exitCode !== undefined) attributes[keys.ATTR_PROCESS_EXIT_CODE] = figures.exitCode;
  if (figures.signal !== undefined) attributes[keys.ATTR_EXIT_SIGNAL] = figures.signal;
  if (figures.gpus.length > 0) {
    const known = figures.gpus.filter((gpu) => gpu.treePeakBytes !== undefined);
    if (known.length === figures.gpus.length) {
      attributes[keys.ATTR_GPU_PROCESS_MEMORY_PEAK] = gpuTreePeakBytes(figures);
      attributes[keys.ATTR_GPU_PROCESS_MEMORY] = known.reduce((sum, gpu) => sum + (gpu.treeEndBytes ?? 0), 0);
    }
    // A sum over devices is only said where every device has the figure: a missing one is not a 0.
    if (figures.gpus.every((gpu) => gpu.treeBusySeconds !== undefined))
      attributes[keys.ATTR_GPU_PROCESS_BUSY_TIME] = figures.gpus.reduce(
        (sum, gpu) => sum + (gpu.treeBusySeconds ?? 0),
        0,
      );
    if (figures.gpus.every((gpu) => gpu.usedPeakBytes !== undefined))
      attributes[keys.ATTR_GPU_MEMORY_PEAK] = figures.gpus.reduce(
        (sum, gpu) => sum + (gpu.usedPeakBytes ?? 0),
        0,
      );
    if (figures.gpus.every((gpu) => gpu.totalBytes !== undefined))
      attributes[keys.ATTR_GPU_MEMORY_LIMIT] = figures.gpus.reduce(
        (sum, gpu) => sum + (gpu.totalBytes ?? 0),
        0,
      );
    const uuids = figures.gpus.map((gpu) => gpu.uuid).filter((uuid): uuid is string => uuid !== undefined);
    if (uuids.length === 1) attributes[keys.ATTR_HW_ID] = uuids[0];
    else if (uuids.length > 1) attributes[keys.ATTR_GPU_IDS] = uuids;
    const models = [...new Set(figures.gpus.map((gpu) => gpu.model).filter((model) => model !== undefined))];
    if (models.length > 0) attributes[keys.ATTR_HW_MODEL] = models.join(', ');
  }
  return attributes;
}

/** The run's cgroup (the command's is the wrapper's) read at the span's start and end. */
export interface CgroupReading {
  readonly throttledSeconds: number | undefined;
  readonly cpuLimitCores: number | undefined;
  readonly memoryLimitBytes: number | undefined;
}

/**
 * The cgroup keys of the run span: the throttled time between the two readings (absent unless both were read), and
 * the limits at the end (absent when unlimited or unread). GC and the event loop are not the command's: not set.
 */
export function cgroupSpanAttributes(atStart: CgroupReading, atEnd: CgroupReading): Attributes {
  const attributes: Attributes = {};
  if (atStart.throttledSeconds !== undefined && atEnd.throttledSeconds !== undefined)
    attributes[keys.ATTR_CPU_THROTTLED_TIME] = Math.max(0, atEnd.throttledSeconds - atStart.throttledSeconds);
  if (atEnd.cpuLimitCores !== undefined) attributes[keys.ATTR_CPU_LIMIT] = atEnd.cpuLimitCores;
  if (atEnd.memoryLimitBytes !== undefined) attributes[keys.ATTR_MEMORY_LIMIT] = atEnd.memoryLimitBytes;
  return attributes;
}
