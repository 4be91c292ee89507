export type { GpuMemoryReading, GpuMemorySource } from './gpu/gpu-memory-source.js';
export { GpuSampler, type GpuSamplerOptions } from './gpu/gpu-sampler.js';
export * as MetricNames from './metrics/metric-names.js';
export {
  type ResourceMetricsOptions,
  type ResourceMetricsRegistration,
  registerResourceMetrics,
} from './metrics/resource-metrics.js';
export {
  type PrometheusEndpoint,
  type PrometheusEndpointOptions,
  startPrometheusEndpoint,
} from './prometheus/prometheus-endpoint.js';
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
