/**
 * Metric names, units and instruments: public API, and the one place they are written (the dashboard, the rules
 * and the tests are checked against these). Semconv names where semconv defines the same thing (hardware GPU
 * metrics: model/hardware/gpu-metrics.yaml; process metrics: model/process/metrics.yaml), our `resource_tracker.`
 * namespace for the rest. Prometheus names follow from name, unit and instrument (prometheus/metric-name.ts):
 * `hw.gpu.memory.usage` (By) → `hw_gpu_memory_usage_bytes`, `process.cpu.time` (s, counter) →
 * `process_cpu_time_seconds_total`. Table: docs/conventions.md.
 */

export type InstrumentKind = 'counter' | 'updowncounter' | 'gauge' | 'histogram';

export interface MetricDefinition {
  readonly name: string;
  /** UCUM, as semconv writes it; '' for none. */
  readonly unit: string;
  readonly instrument: InstrumentKind;
  readonly description: string;
}

export const METRIC_GPU_MEMORY_USAGE = 'hw.gpu.memory.usage';
export const METRIC_GPU_MEMORY_LIMIT = 'hw.gpu.memory.limit';
export const METRIC_GPU_MEMORY_UTILIZATION = 'hw.gpu.memory.utilization';
export const METRIC_GPU_UTILIZATION = 'hw.gpu.utilization';
export const METRIC_PROCESS_GPU_MEMORY_USAGE = 'resource_tracker.process.gpu.memory.usage';
/**
 * This process tree's share of each device over the last sampling interval: GPU seconds it used per wall second
 * (NVML per-process SM utilization, DRM engine time).
 */
export const METRIC_PROCESS_GPU_UTILIZATION = 'resource_tracker.process.gpu.utilization';
export const METRIC_PROCESS_CPU_TIME = 'process.cpu.time';
export const METRIC_PROCESS_MEMORY_USAGE = 'process.memory.usage';
export const METRIC_PROCESS_MEMORY_VIRTUAL = 'process.memory.virtual';
/**
 * The process's cgroup (its container's, under Docker or Kubernetes): semconv has no throttling or limit metric
 * (model/container/metrics.yaml defines container.cpu.time, container.cpu.usage, container.memory.usage and I/O only),
 * so they are ours. Linux only; no series where the cgroup cannot be read or the limit is unlimited.
 */
export const METRIC_CGROUP_CPU_THROTTLED_TIME = 'resource_tracker.cgroup.cpu.throttled_time';
export const METRIC_CGROUP_CPU_LIMIT = 'resource_tracker.cgroup.cpu.limit';
export const METRIC_CGROUP_MEMORY_LIMIT = 'resource_tracker.cgroup.memory.limit';
/** 1 while the GPU provider answers, 0 when it fails (attribute ATTR_GPU_PROVIDER). */
export const METRIC_GPU_UP = 'resource_tracker.gpu.up';
/** Unix time of the GPU provider's last successful reading: how stale the GPU figures are. */
export const METRIC_GPU_LAST_SUCCESS = 'resource_tracker.gpu.last_success_timestamp';
/** Span-derived histograms, per span name. */
export const METRIC_SPAN_CPU_TIME = 'resource_tracker.span.cpu.time';
export const METRIC_SPAN_MEMORY_PEAK = 'resource_tracker.span.memory.peak';
/** Off by default: a span's wall time is its duration, which the trace backend and span metrics already have. */
export const METRIC_SPAN_WALL_TIME = 'resource_tracker.span.wall_time';

/** Metric attributes (labels). Semconv's where they mean the same; ours otherwise. */
export const ATTR_HW_ID = 'hw.id';
export const ATTR_HW_TYPE = 'hw.type';
export const ATTR_HW_MODEL = 'hw.model';
export const ATTR_HW_VENDOR = 'hw.vendor';
export const ATTR_HW_DRIVER_VERSION = 'hw.driver_version';
export const ATTR_HW_GPU_TASK = 'hw.gpu.task';
export const ATTR_CPU_MODE = 'cpu.mode';
/** The device's CUDA index (what CUDA_VISIBLE_DEVICES and frameworks call it). */
export const ATTR_GPU_INDEX = 'resource_tracker.gpu.index';
/** Which provider read the GPUs: nvml, nvidia-smi. */
export const ATTR_GPU_PROVIDER = 'resource_tracker.gpu.provider';
/** The span name on span histograms: the label the Collector's spanmetrics connector uses too, so the two join. */
export const ATTR_SPAN_NAME = 'span.name';

const definitions: MetricDefinition[] = [
  {
    name: METRIC_GPU_MEMORY_USAGE,
    unit: 'By',
    instrument: 'updowncounter',
    description: 'GPU memory used (all processes)',
  },
  {
    name: METRIC_GPU_MEMORY_LIMIT,
    unit: 'By',
    instrument: 'updowncounter',
    description: 'Size of the GPU memory',
  },
  {
    name: METRIC_GPU_MEMORY_UTILIZATION,
    unit: '1',
    instrument: 'gauge',
    description: 'Fraction of GPU memory used',
  },
  {
    name: METRIC_GPU_UTILIZATION,
    unit: '1',
    instrument: 'gauge',
    description: 'Fraction of time the GPU was busy over the driver sample period',
  },
  {
    name: METRIC_PROCESS_GPU_MEMORY_USAGE,
    unit: 'By',
    instrument: 'updowncounter',
    description: 'GPU memory held by this process and its descendants',
  },
  {
    name: METRIC_PROCESS_GPU_UTILIZATION,
    unit: '1',
    instrument: 'gauge',
    description: 'Share of the GPU this process and its descendants used over the last sampling interval',
  },
  {
    name: METRIC_PROCESS_CPU_TIME,
    unit: 's',
    instrument: 'counter',
    description: 'CPU time used by this process',
  },
  {
    name: METRIC_PROCESS_MEMORY_USAGE,
    unit: 'By',
    instrument: 'updowncounter',
    description: 'Resident memory (RSS) of this process',
  },
  {
    name: METRIC_PROCESS_MEMORY_VIRTUAL,
    unit: 'By',
    instrument: 'updowncounter',
    description: 'Virtual memory of this process',
  },
  {
    name: METRIC_CGROUP_CPU_THROTTLED_TIME,
    unit: 's',
    instrument: 'counter',
    description: "Time the process's CPU cgroup was throttled by its CPU quota",
  },
  {
    name: METRIC_CGROUP_CPU_LIMIT,
    unit: '{cpu}',
    instrument: 'gauge',
    description: "CPU quota of the process's cgroup, in cores",
  },
  {
    name: METRIC_CGROUP_MEMORY_LIMIT,
    unit: 'By',
    instrument: 'updowncounter',
    description: "Memory limit of the process's cgroup",
  },
  {
    name: METRIC_GPU_UP,
    unit: '',
    instrument: 'gauge',
    description: '1 while the GPU provider answers, 0 when it fails',
  },
  {
    name: METRIC_GPU_LAST_SUCCESS,
    unit: 's',
    instrument: 'gauge',
    description: 'Unix time of the last successful GPU reading',
  },
  {
    name: METRIC_SPAN_CPU_TIME,
    unit: 's',
    instrument: 'histogram',
    description: 'CPU attributed to spans (resource_tracker.cpu.attributed_time), per span name',
  },
  {
    name: METRIC_SPAN_MEMORY_PEAK,
    unit: 'By',
    instrument: 'histogram',
    description: 'Peak RSS of the process during spans, per span name',
  },
  {
    name: METRIC_SPAN_WALL_TIME,
    unit: 's',
    instrument: 'histogram',
    description: 'Wall-clock time of spans, per span name',
  },
];

/** Every metric the package can create, by name. */
export const METRICS: ReadonlyMap<string, MetricDefinition> = new Map(definitions.map((d) => [d.name, d]));

/** The definition of one of our metrics (unit and description as instruments are created with them). */
export function metricDefinition(name: string): MetricDefinition {
  const definition = METRICS.get(name);
  if (definition === undefined) throw new Error(`no metric definition for ${name}`);
  return definition;
}
