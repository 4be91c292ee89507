import type { Attributes, BatchObservableResult, Meter, MeterProvider, Observable } from '@opentelemetry/api';
import { getGpuMemorySource } from '../gpu/gpu-memory-source.js';
import { type GpuDeviceState, GpuSampler } from '../gpu/gpu-sampler.js';
import { assertPlainOptions, booleanOption, describe } from '../internal/validate.js';
import { processMemoryProbe } from '../probes/process-memory.js';
import { sharedContentionSampler } from '../sampler/contention-sampler.js';
import { METER_NAME, METER_VERSION } from './meter-scope.js';
import * as names from './metric-names.js';

export interface ResourceMetricsOptions {
  /** GPU gauges (per device, this process's GPU memory, collector health). Default true. */
  gpu?: boolean;
  /** Process CPU time and memory. Default true. */
  process?: boolean;
  /** The GPU sampler to read (default: the process-wide one). */
  gpuSampler?: GpuSampler;
}

export interface ResourceMetricsRegistration {
  /**
   * Stops observing. The instruments stay registered with the meter, and the SDK goes on exporting their last
   * observed values (cumulative temporality) until the meter provider shuts down.
   */
  unregister(): void;
}

function isMeterProvider(value: unknown): value is MeterProvider {
  return typeof (value as MeterProvider | undefined)?.getMeter === 'function';
}

function isMeter(value: unknown): value is Meter {
  return typeof (value as Meter | undefined)?.createObservableGauge === 'function';
}

/** The observable instrument of one of our metrics, of the kind, unit and description its one definition gives. */
function observable(meter: Meter, name: string): Observable {
  const { unit, description, instrument } = names.metricDefinition(name);
  switch (instrument) {
    case 'counter':
      return meter.createObservableCounter(name, { unit, description });
    case 'updowncounter':
      return meter.createObservableUpDownCounter(name, { unit, description });
    default:
      return meter.createObservableGauge(name, { unit, description });
  }
}

/** The hardware conventions' GPU attributes (model/hardware/registry.yaml, gpu-metrics.yaml), plus the CUDA index. */
function deviceAttributes(state: GpuDeviceState): Attributes {
  const attributes: Attributes = {
    [names.ATTR_HW_ID]: state.device.uuid,
    [names.ATTR_HW_TYPE]: 'gpu',
    [names.ATTR_HW_MODEL]: state.device.name,
    [names.ATTR_HW_VENDOR]: state.device.vendor ?? 'NVIDIA',
    [names.ATTR_GPU_INDEX]: state.cudaIndex,
  };
  if (state.device.driverVersion !== undefined)
    attributes[names.ATTR_HW_DRIVER_VERSION] = state.device.driverVersion;
  return attributes;
}

/**
 * Observable instruments for live GPU memory and process CPU/memory. Every callback answers from caches — the GPU
 * sampler's readings, one getrusage, one `pread` of /proc/self/statm — so that a scrape never forks a process and
 * never waits on a device. A GPU reading older than the sampler's staleness limit is left out (no series), and
 * `resource_tracker.gpu.last_success_timestamp` says how old the last good one is.
 *
 * Memory usage and limit are observable up-down counters, as the semantic conventions define them (their sum across
 * devices means something); utilization and health are gauges. Both reach Prometheus as gauges.
 */
export function registerResourceMetrics(
  meterOrProvider: Meter | MeterProvider,
  options?: ResourceMetricsOptions,
): ResourceMetricsRegistration {
  assertPlainOptions(options, 'registerResourceMetrics options', ['gpu', 'process', 'gpuSampler']);
  const meter = isMeterProvider(meterOrProvider)
    ? meterOrProvider.getMeter(METER_NAME, METER_VERSION)
    : isMeter(meterOrProvider)
      ? meterOrProvider
      : undefined;
  if (meter === undefined) {
    throw new TypeError(
      `registerResourceMetrics needs a Meter or a MeterProvider, got ${describe(meterOrProvider)}`,
    );
  }
  const gpu = booleanOption(options?.gpu, 'registerResourceMetrics options.gpu', true);
  const processMetrics = booleanOption(options?.process, 'registerResourceMetrics options.process', true);
  const source = getGpuMemorySource();
  if (options?.gpuSampler !== undefined && !(options.gpuSampler instanceof GpuSampler)) {
    throw new TypeError(
      `registerResourceMetrics options.gpuSampler must be a GpuSampler, got ${describe(options.gpuSampler)}`,
    );
  }
  const sampler = options?.gpuSampler ?? (source instanceof GpuSampler ? source : undefined);
  const unregisters: Array<() => void> = [];

  if (gpu && sampler !== undefined) {
    sampler.ensureStarted();
    const usage = observable(meter, names.METRIC_GPU_MEMORY_USAGE);
    const limit = observable(meter, names.METRIC_GPU_MEMORY_LIMIT);
    const memoryUtilization = observable(meter, names.METRIC_GPU_MEMORY_UTILIZATION);
    const utilization = observable(meter, names.METRIC_GPU_UTILIZATION);
    const processUsage = observable(meter, names.METRIC_PROCESS_GPU_MEMORY_USAGE);
    const processUtilization = observable(meter, names.METRIC_PROCESS_GPU_UTILIZATION);
    const up = observable(meter, names.METRIC_GPU_UP);
    const lastSuccess = observable(meter, names.METRIC_GPU_LAST_SUCCESS);
    const observables: Observable[] = [
      usage,
      limit,
      memoryUtilization,
      utilization,
      processUsage,
      processUtilization,
      up,
      lastSuccess,
    ];
    const callback = (result: BatchObservableResult) => {
      const health = sampler.currentHealth;
      // No series at all on a machine where detection found no GPU: "collector down" alerts stay quiet there.
      if (health.provider !== undefined && health.provider !== 'none') {
        result.observe(up, health.up ? 1 : 0, { [names.ATTR_GPU_PROVIDER]: health.provider });
        if (health.lastSuccessAt !== undefined) {
          result.observe(lastSuccess, health.lastSuccessAt / 1000, {
            [names.ATTR_GPU_PROVIDER]: health.provider,
          });
        }
      }
      for (const state of sampler.devices) {
        const reading = sampler.latest(state.cudaIndex);
        if (reading === undefined) continue;
        const attributes = deviceAttributes(state);
        // No series for a figure the driver does not publish (an Intel integrated GPU's device memory): not a 0.
        if (reading.usedBytes !== undefined) result.observe(usage, reading.usedBytes, attributes);
        if (reading.totalBytes !== undefined) result.observe(limit, reading.totalBytes, attributes);
        if (reading.usedBytes !== undefined && reading.totalBytes !== undefined && reading.totalBytes > 0)
          result.observe(memoryUtilization, reading.usedBytes / reading.totalBytes, attributes);
        const busy = state.latest?.utilization;
        if (busy !== undefined)
          result.observe(utilization, busy, { ...attributes, [names.ATTR_HW_GPU_TASK]: 'general' });
        if (reading.processUsedBytes !== undefined)
          result.observe(processUsage, reading.processUsedBytes, attributes);
        // No series where the driver gives no per-process utilization (absent, not 0).
        if (state.processBusyFraction !== undefined)
          result.observe(processUtilization, state.processBusyFraction, attributes);
      }
    };
    meter.addBatchObservableCallback(callback, observables);
    unregisters.push(() => meter.removeBatchObservableCallback(callback, observables));
  }

  if (processMetrics) {
    const cpu = observable(meter, names.METRIC_PROCESS_CPU_TIME);
    const memory = observable(meter, names.METRIC_PROCESS_MEMORY_USAGE);
    const virtual = observable(meter, names.METRIC_PROCESS_MEMORY_VIRTUAL);
    const observables: Observable[] = [cpu, memory, virtual];
    // The cgroup's throttling and limits: Linux only (elsewhere there is no cgroup, and nothing to warn about).
    const cgroup = process.platform === 'linux' ? sharedContentionSampler() : undefined;
    const throttled = observable(meter, names.METRIC_CGROUP_CPU_THROTTLED_TIME);
    const cpuLimit = observable(meter, names.METRIC_CGROUP_CPU_LIMIT);
    const memoryLimit = observable(meter, names.METRIC_CGROUP_MEMORY_LIMIT);
    if (cgroup !== undefined) observables.push(throttled, cpuLimit, memoryLimit);
    const callback = (result: BatchObservableResult) => {
      if (cgroup !== undefined) {
        const figures = cgroup.cgroupNow();
        if (figures.throttledSeconds !== undefined) result.observe(throttled, figures.throttledSeconds);
        if (figures.cpuLimitCores !== undefined) result.observe(cpuLimit, figures.cpuLimitCores);
        if (figures.memoryLimitBytes !== undefined) result.observe(memoryLimit, figures.memoryLimitBytes);
      }
      const usage = process.resourceUsage();
      result.observe(cpu, usage.userCPUTime / 1e6, { [names.ATTR_CPU_MODE]: 'user' });
      result.observe(cpu, usage.systemCPUTime / 1e6, { [names.ATTR_CPU_MODE]: 'system' });
      const reading = processMemoryProbe.read();
      result.observe(memory, reading.rssBytes);
      if (reading.vmsBytes !== undefined) result.observe(virtual, reading.vmsBytes);
    };
    meter.addBatchObservableCallback(callback, observables);
    unregisters.push(() => meter.removeBatchObservableCallback(callback, observables));
  }

  return {
    unregister: () => {
      for (const unregister of unregisters) unregister();
    },
  };
}
