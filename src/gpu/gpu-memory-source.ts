import { diag } from '@opentelemetry/api';
import type { GpuMemoryReading, GpuMemorySource } from './gpu-memory-reading.js';
import { GpuSampler } from './gpu-sampler.js';

// The interfaces live in their own file, which the sampler implements without importing this one (no cycle);
// they are re-exported here, where the rest of the package has always found them.
export type { GpuMemoryReading, GpuMemorySource } from './gpu-memory-reading.js';

/** No GPU: every reading is absent. */
export const noGpuMemorySource: GpuMemorySource = {
  name: 'none',
  latest: () => undefined,
};

/** The process-wide GPU sampler: started on first use, by whatever first asks for a GPU figure. */
export const defaultGpuSampler = new GpuSampler();

let activeSource: GpuMemorySource = defaultGpuSampler;
let reportedFailure = false;

export function setGpuMemorySource(source: GpuMemorySource): void {
  activeSource = source;
  reportedFailure = false;
}

export function getGpuMemorySource(): GpuMemorySource {
  return activeSource;
}

/** The cached reading for a device, or undefined; a source that throws is reported once at debug level. */
export function readGpuMemory(deviceIndex: number): GpuMemoryReading | undefined {
  try {
    return activeSource.latest(deviceIndex);
  } catch (error) {
    if (!reportedFailure) {
      reportedFailure = true;
      diag.debug(`otel-resource-tracker: GPU source "${activeSource.name}" failed, GPU figures are 0`, error);
    }
    return undefined;
  }
}
