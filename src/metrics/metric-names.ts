/**
 * Metric names: OTel hardware and process semantic conventions where they exist (the Prometheus exporter turns
 * dots into underscores and adds unit suffixes: hw.gpu.memory.usage → hw_gpu_memory_usage_bytes).
 */
export const METRIC_GPU_MEMORY_USAGE = 'hw.gpu.memory.usage';
export const METRIC_GPU_MEMORY_LIMIT = 'hw.gpu.memory.limit';
export const METRIC_GPU_MEMORY_UTILIZATION = 'hw.gpu.memory.utilization';
export const METRIC_GPU_UTILIZATION = 'hw.gpu.utilization';
export const METRIC_PROCESS_GPU_MEMORY_USAGE = 'process.gpu.memory.usage';
export const METRIC_PROCESS_CPU_TIME = 'process.cpu.time';
export const METRIC_PROCESS_MEMORY_USAGE = 'process.memory.usage';
export const METRIC_PROCESS_MEMORY_VIRTUAL = 'process.memory.virtual';
/** 1 while the GPU provider answers, 0 when it fails (attribute `provider`). */
export const METRIC_GPU_COLLECTOR_UP = 'otel_resource_tracker.gpu.up';
/** Unix time of the GPU provider's last successful reading: how stale the GPU figures are. */
export const METRIC_GPU_LAST_SUCCESS = 'otel_resource_tracker.gpu.last_success';
/** Span-derived histograms, per span name. */
export const METRIC_SPAN_CPU_TIME = 'otel_resource_tracker.span.cpu.time';
export const METRIC_SPAN_WALL_TIME = 'otel_resource_tracker.span.wall_time';
export const METRIC_SPAN_MEMORY_PEAK = 'otel_resource_tracker.span.memory.peak';
