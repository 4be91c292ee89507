import type { Attributes } from '@opentelemetry/api';
import {
  type GpuMemoryReading,
  type GpuMemorySource,
  getGpuMemorySource,
  readGpuMemory,
} from '../gpu/gpu-memory-source.js';
import * as keys from './attribute-keys.js';

/** The tracked devices and their cached readings at span start. */
export interface GpuAtStart {
  readonly devices: readonly number[];
  readonly readings: ReadonlyArray<GpuMemoryReading | undefined>;
  /** When the span started (epoch ms), for the GPU time inside its window. */
  readonly atMs: number;
}

/**
 * Readings of the tracked devices at span start; undefined when no tracked device is visible. Runs at every measured
 * span start: with no GPU (the common case) it allocates nothing.
 */
export function readTrackedGpus(selection: readonly number[] | 'all'): GpuAtStart | undefined {
  const devices =
    selection === 'all'
      ? Array.from({ length: getGpuMemorySource().visibleDeviceCount?.() ?? 1 }, (_, index) => index)
      : selection;
  let readings: Array<GpuMemoryReading | undefined> | undefined;
  for (let index = 0; index < devices.length; index++) {
    const reading = readGpuMemory(devices[index] as number);
    if (reading === undefined) continue;
    readings ??= devices.map(() => undefined);
    readings[index] = reading;
  }
  return readings === undefined ? undefined : { devices, readings, atMs: Date.now() };
}

/**
 * GPU attributes (those of `chosen`) from the readings at start and end, summed over the devices seen at both ends
 * (only those: a device that vanished mid-span would make a sum of different things).
 */
export function addGpuAttributes(
  attributes: Attributes,
  atStart: GpuAtStart,
  chosen: ReadonlySet<string>,
): void {
  const { devices, readings } = atStart;
  const source = getGpuMemorySource();
  const wantBusy = chosen.has(keys.ATTR_GPU_PROCESS_BUSY_TIME);
  const wantUtilization = chosen.has(keys.ATTR_GPU_UTILIZATION);
  const endMs = wantBusy ? Date.now() : 0;
  let busyTime = 0;
  let busyKnown = true;
  let utilizationSum = 0;
  let utilizationDevices = 0;
  let start = 0;
  let end = 0;
  let limit = 0;
  let peak = 0;
  let peakKnown = true;
  let processMemory = 0;
  let processKnown = true;
  let seen = 0;
  /** Device memory of every device seen at both ends (an Intel integrated GPU publishes none: absent, not 0). */
  let memoryKnown = true;
  const ids: string[] = [];
  const names = new Set<string>();
  devices.forEach((device, index) => {
    const first = readings[index];
    const last = readGpuMemory(device);
    if (first === undefined || last === undefined) return;
    seen++;
    if (first.usedBytes === undefined || last.usedBytes === undefined || last.totalBytes === undefined) {
      memoryKnown = false;
    } else {
      start += first.usedBytes;
      end += last.usedBytes;
      limit += last.totalBytes;
      const sampled =
        first.sampleNumber === undefined ? undefined : source.maxUsedSince?.(device, first.sampleNumber);
      if (sampled === undefined) peakKnown = false;
      else peak += Math.max(sampled, first.usedBytes, last.usedBytes);
    }
    if (last.processUsedBytes === undefined) processKnown = false;
    else processMemory += last.processUsedBytes;
    if (last.uuid !== undefined) ids.push(last.uuid);
    if (last.name !== undefined) names.add(last.name);
    if (wantBusy) {
      const busy = processBusyTime(source, device, first, last, atStart.atMs, endMs);
      if (busy === undefined) busyKnown = false;
      else busyTime += busy;
    }
    const utilization = wantUtilization ? meanUtilization(first, last) : undefined;
    if (utilization !== undefined) {
      utilizationSum += utilization;
      utilizationDevices++;
    }
  });
  if (seen === 0 || (memoryKnown && limit === 0)) return;
  // Written straight onto the span's attributes, each chosen key by name: no intermediate object per span.
  if (memoryKnown) {
    if (chosen.has(keys.ATTR_GPU_MEMORY_START)) attributes[keys.ATTR_GPU_MEMORY_START] = start;
    if (chosen.has(keys.ATTR_GPU_MEMORY_END)) attributes[keys.ATTR_GPU_MEMORY_END] = end;
    if (chosen.has(keys.ATTR_GPU_MEMORY_DELTA)) attributes[keys.ATTR_GPU_MEMORY_DELTA] = end - start;
    if (peakKnown && chosen.has(keys.ATTR_GPU_MEMORY_PEAK)) attributes[keys.ATTR_GPU_MEMORY_PEAK] = peak;
    if (chosen.has(keys.ATTR_GPU_MEMORY_LIMIT)) attributes[keys.ATTR_GPU_MEMORY_LIMIT] = limit;
  }
  if (processKnown && chosen.has(keys.ATTR_GPU_PROCESS_MEMORY))
    attributes[keys.ATTR_GPU_PROCESS_MEMORY] = processMemory;
  if (wantBusy && busyKnown) attributes[keys.ATTR_GPU_PROCESS_BUSY_TIME] = busyTime;
  // Several devices: the mean of their means (each device's fraction of its own time), of those that say.
  if (utilizationDevices > 0) attributes[keys.ATTR_GPU_UTILIZATION] = utilizationSum / utilizationDevices;
  if (devices.length === 1 && ids.length === 1) {
    if (chosen.has(keys.ATTR_HW_ID)) attributes[keys.ATTR_HW_ID] = ids[0];
  } else if (ids.length > 0 && chosen.has(keys.ATTR_GPU_IDS)) attributes[keys.ATTR_GPU_IDS] = ids;
  if (names.size > 0 && chosen.has(keys.ATTR_HW_MODEL))
    attributes[keys.ATTR_HW_MODEL] = [...names].join(', ');
}

/**
 * GPU seconds of this process tree on one device inside [startMs, endMs]: from the sampler's timeline, the
 * readings across either edge counted in proportion; where the timeline no longer reaches back to the start, the
 * running total read at the start instead. undefined where either end has no per-process utilization, or a
 * reading in between had none (a figure over a gap would be too small, not known).
 */
function processBusyTime(
  source: GpuMemorySource,
  device: number,
  first: GpuMemoryReading,
  last: GpuMemoryReading,
  startMs: number,
  endMs: number,
): number | undefined {
  const begin = first.busy;
  const end = last.busy;
  if (begin === undefined || end === undefined) return undefined;
  if (begin.processBusySeconds === undefined || end.processBusySeconds === undefined) return undefined;
  if (begin.processBusyGaps !== end.processBusyGaps) return undefined;
  // No reading with GPU time since the start (most short spans): every record lies before the span, so 0.
  if (end.processBusySeconds === begin.processBusySeconds) return 0;
  return (
    source.processBusyBetween?.(device, startMs, endMs) ??
    Math.max(0, end.processBusySeconds - begin.processBusySeconds)
  );
}

/** The device's mean utilization over the readings inside the span; none inside: the one in effect at the end. */
function meanUtilization(first: GpuMemoryReading, last: GpuMemoryReading): number | undefined {
  const begin = first.busy;
  const end = last.busy;
  if (begin === undefined || end === undefined) return undefined;
  const count = end.utilizationCount - begin.utilizationCount;
  if (count > 0) return (end.utilizationSum - begin.utilizationSum) / count;
  return end.utilization;
}
