export type { GpuMemoryReading, GpuMemorySource } from './gpu/gpu-memory-source.js';
export {
  captureResourceSnapshot,
  type ResourceSnapshot,
  type SnapshotOptions,
} from './snapshot/resource-snapshot.js';
export {
  calculateResourceUsage,
  type PeakMemorySource,
  type ResourceUsage,
} from './snapshot/resource-usage.js';
export { type ResourceUsageDict, resourceUsageToDict } from './snapshot/usage-dict.js';
export { ResourceTracker, type ResourceTrackerOptions } from './tracker/resource-tracker.js';
