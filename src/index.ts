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
export * as SpanAttributes from './span-processor/attribute-keys.js';
export type {
  AttributeGroup,
  CpuAttribution,
  ResourceSpanProcessorOptions,
  SpanSelector,
} from './span-processor/options.js';
export { ResourceSpanProcessor } from './span-processor/resource-span-processor.js';
export { ResourceTracker, type ResourceTrackerOptions } from './tracker/resource-tracker.js';
