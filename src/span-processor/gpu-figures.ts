import type { Attributes } from '@opentelemetry/api';
import { type GpuMemoryReading, getGpuMemorySource, readGpuMemory } from '../gpu/gpu-memory-source.js';
import * as keys from './attribute-keys.js';

/** The span keys this file sets. */
export const GPU_ATTRIBUTES: readonly string[] = [
  keys.ATTR_GPU_MEMORY_START,
  keys.ATTR_GPU_MEMORY_END,
  keys.ATTR_GPU_MEMORY_DELTA,
  keys.ATTR_GPU_MEMORY_PEAK,
  keys.ATTR_GPU_MEMORY_LIMIT,
  keys.ATTR_GPU_PROCESS_MEMORY,
  keys.ATTR_HW_ID,
  keys.ATTR_GPU_IDS,
  keys.ATTR_HW_MODEL,
];

/** The tracked devices and their cached readings at span start. */
export interface GpuAtStart {
  readonly devices: readonly number[];
  readonly readings: ReadonlyArray<GpuMemoryReading | undefined>;
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
  return readings === undefined ? undefined : { devices, readings };
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
  let start = 0;
  let end = 0;
  let limit = 0;
  let peak = 0;
  let peakKnown = true;
  let processMemory = 0;
  let processKnown = true;
  const ids: string[] = [];
  const names = new Set<string>();
  devices.forEach((device, index) => {
    const first = readings[index];
    const last = readGpuMemory(device);
    if (first === undefined || last === undefined) return;
    start += first.usedBytes;
    end += last.usedBytes;
    limit += last.totalBytes;
    const sampled =
      first.sampleNumber === undefined ? undefined : source.maxUsedSince?.(device, first.sampleNumber);
    if (sampled === undefined) peakKnown = false;
    else peak += Math.max(sampled, first.usedBytes, last.usedBytes);
    if (last.processUsedBytes === undefined) processKnown = false;
    else processMemory += last.processUsedBytes;
    if (last.uuid !== undefined) ids.push(last.uuid);
    if (last.name !== undefined) names.add(last.name);
  });
  if (limit === 0) return;
  const figures: Attributes = {
    [keys.ATTR_GPU_MEMORY_START]: start,
    [keys.ATTR_GPU_MEMORY_END]: end,
    [keys.ATTR_GPU_MEMORY_DELTA]: end - start,
    [keys.ATTR_GPU_MEMORY_LIMIT]: limit,
  };
  if (peakKnown) figures[keys.ATTR_GPU_MEMORY_PEAK] = peak;
  if (processKnown) figures[keys.ATTR_GPU_PROCESS_MEMORY] = processMemory;
  if (devices.length === 1 && ids.length === 1) figures[keys.ATTR_HW_ID] = ids[0];
  else if (ids.length > 0) figures[keys.ATTR_GPU_IDS] = ids;
  if (names.size > 0) figures[keys.ATTR_HW_MODEL] = [...names].join(', ');
  for (const key of GPU_ATTRIBUTES) {
    const value = figures[key];
    if (value !== undefined && chosen.has(key)) attributes[key] = value;
  }
}
