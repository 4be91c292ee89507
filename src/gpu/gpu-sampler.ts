import { diag } from '@opentelemetry/api';
import {
  ENV_GPU_ACTIVE_SAMPLE_INTERVAL_MS,
  ENV_GPU_SAMPLE_INTERVAL_MS,
  ENV_NVML_LIBRARY,
  type Environment,
  readInteger,
  readString,
} from '../config/env.js';
import { LeasedTimer } from '../sampler/leased-timer.js';
import { SampleHistory } from '../sampler/sample-history.js';
import { cudaVisibleDevices } from './cuda-visible-devices.js';
import { gpuProviderConfigFromEnv, type StartedProvider, startGpuProvider } from './detect.js';
import { GpuBusyTimeline } from './gpu-busy-timeline.js';
import type { GpuBusyMark, GpuMemoryReading, GpuMemorySource } from './gpu-memory-reading.js';
import { ProcessTree, seesHostPids } from './process-tree.js';
import type { GpuDevice, GpuDeviceSample, GpuProvider, GpuProviderName, GpuSample } from './provider.js';
import { noticeVisibly } from './visible-notice.js';

export const DEFAULT_GPU_IDLE_INTERVAL_MS = 1000;
export const DEFAULT_GPU_ACTIVE_INTERVAL_MS = 100;

/** The sampling intervals from OTEL_RESOURCE_TRACKER_GPU_(ACTIVE_)SAMPLE_INTERVAL_MS; a bad value is a ConfigError. */
export function gpuSamplingFromEnv(env: Environment): { idleIntervalMs: number; activeIntervalMs: number } {
  return {
    idleIntervalMs: readInteger(env, ENV_GPU_SAMPLE_INTERVAL_MS, 10, 3_600_000, DEFAULT_GPU_IDLE_INTERVAL_MS),
    activeIntervalMs: readInteger(
      env,
      ENV_GPU_ACTIVE_SAMPLE_INTERVAL_MS,
      10,
      3_600_000,
      DEFAULT_GPU_ACTIVE_INTERVAL_MS,
    ),
  };
}

/** What the sampler knows of one visible GPU. */
export interface GpuDeviceState {
  readonly device: GpuDevice;
  /** The index CUDA in this process gives the device (after CUDA_VISIBLE_DEVICES). */
  readonly cudaIndex: number;
  /** Latest successful reading; undefined before the first one and once the device is lost. */
  latest: GpuDeviceSample | undefined;
  /** When `latest` was read (Date.now()). */
  latestAt: number;
  /** Memory held on the device by this process and its descendants; undefined when it cannot be known. */
  processUsedBytes: number | undefined;
  /** Highest used memory since sampling began. */
  peakUsedBytes: number;
  lost: boolean;
  readonly history: SampleHistory;
  /** This process tree's GPU time on the device over wall-clock time (see gpu-busy-timeline.ts). */
  readonly busyTimeline: GpuBusyTimeline;
  /** Cumulative figures as of the latest reading, handed to spans as they are. */
  busyMark: GpuBusyMark;
  /**
   * This process tree's share of the device over the last sampling interval (GPU seconds / wall seconds);
   * undefined where per-process utilization is unknown, and before the second reading.
   */
  processBusyFraction: number | undefined;
}

const NO_BUSY_MARK: GpuBusyMark = {
  processBusySeconds: undefined,
  processBusyGaps: 0,
  utilizationSum: 0,
  utilizationCount: 0,
  utilization: undefined,
};

export interface GpuHealth {
  /** The provider in use (or the one forced by the environment that failed to start); undefined before detection. */
  readonly provider: GpuProviderName | undefined;
  /** true while the last sample succeeded (for at least one device); false after a failure. */
  readonly up: boolean;
  /** Date.now() of the last successful sample. */
  readonly lastSuccessAt: number | undefined;
  readonly lastError: string | undefined;
}

export interface GpuSamplerOptions {
  /** Sampling interval while nothing measures GPU (for gauges). Default 1000 ms (env ..._GPU_SAMPLE_INTERVAL_MS). */
  idleIntervalMs?: number;
  /** Interval while spans or trackers that measure GPU are open. Default 100 ms. */
  activeIntervalMs?: number;
  /** A reading older than this is not served (treated as no reading). Default 3 × idle interval + 2 s. */
  staleAfterMs?: number;
  /** Where to read the OTEL_RESOURCE_TRACKER_GPU_* variables. Default process.env. */
  env?: Environment;
  /** @internal How to find a provider; default: detection from the environment. For tests. */
  startProvider?: () => Promise<StartedProvider>;
  /** @internal For tests: where /proc and the PID-namespace link are. */
  procRoot?: string;
  pidNamespaceLink?: string;
}

/**
 * Reads the GPUs in the background — every second, every 100 ms while something measures GPU — and keeps, per
 * device, the latest reading, the running peak and a history for windowed peaks, plus this process tree's GPU
 * memory. Snapshots, spans and gauges read this cache: no GPU call happens on their path. The timer is unref'd;
 * the provider is started on first use, off the caller's stack.
 */
export class GpuSampler implements GpuMemorySource {
  readonly name = 'gpu-sampler';
  private readonly timer: LeasedTimer;
  private idleIntervalMs: number;
  private activeIntervalMs: number;
  private starting: Promise<void> | undefined;
  private provider: GpuProvider | undefined;
  private states: GpuDeviceState[] = [];
  private tickInFlight = false;
  private health: GpuHealth = {
    provider: undefined,
    up: false,
    lastSuccessAt: undefined,
    lastError: undefined,
  };
  private readonly reported = new Set<string>();
  private hostPids: boolean | undefined;
  private processTree: ProcessTree;
  private shutDown = false;
  private scheduled = false;

  constructor(private readonly options: GpuSamplerOptions = {}) {
    // The environment is read when sampling starts, not here: a bad variable must not make importing the
    // package throw (the process-wide sampler is created at import).
    this.idleIntervalMs = options.idleIntervalMs ?? DEFAULT_GPU_IDLE_INTERVAL_MS;
    this.activeIntervalMs = options.activeIntervalMs ?? DEFAULT_GPU_ACTIVE_INTERVAL_MS;
    this.processTree = new ProcessTree(process.pid, options.procRoot);
    this.timer = new LeasedTimer(() => void this.tick(), this.activeIntervalMs, this.idleIntervalMs);
  }

  /** A reading older than this is not served: 3 × the idle interval + 2 s unless given. */
  private get staleAfterMs(): number {
    return this.options.staleAfterMs ?? 3 * this.idleIntervalMs + 2000;
  }

  /** Detects and starts the provider (once), takes a first reading, and begins background sampling. */
  start(): Promise<void> {
    this.starting ??= this.open();
    return this.starting;
  }

  /** `start()` for callers that cannot wait (on the next turn of the loop): failures become one diagnostic. */
  ensureStarted(): void {
    if (this.starting !== undefined || this.scheduled || this.shutDown) return;
    // Loading and initialising NVML (or running nvidia-smi) can take a while on a real machine: never on the
    // stack of the span or snapshot that happened to ask first.
    this.scheduled = true;
    setImmediate(() => {
      if (!this.shutDown) this.start().catch(() => undefined);
    }).unref();
  }

  get currentHealth(): GpuHealth {
    return this.health;
  }

  /** The visible devices, in CUDA's order. */
  get devices(): readonly GpuDeviceState[] {
    return this.states;
  }

  acquire(): void {
    this.ensureStarted();
    this.timer.acquire();
  }

  acquireWhile(stillNeeded: () => boolean): void {
    this.ensureStarted();
    this.timer.acquireWhile(stillNeeded);
  }

  release(): void {
    this.timer.release();
  }

  latest(deviceIndex: number): GpuMemoryReading | undefined {
    this.ensureStarted();
    const state = this.states[deviceIndex];
    const sample = state?.latest;
    if (state === undefined || sample === undefined || Date.now() - state.latestAt > this.staleAfterMs) {
      return undefined;
    }
    return {
      usedBytes: sample.usedBytes,
      totalBytes: sample.totalBytes,
      uuid: state.device.uuid,
      name: state.device.name,
      ...(state.processUsedBytes === undefined ? {} : { processUsedBytes: state.processUsedBytes }),
      sampleNumber: state.history.count,
      busy: state.busyMark,
    };
  }

  processBusyBetween(deviceIndex: number, fromMs: number, toMs: number): number | undefined {
    return this.states[deviceIndex]?.busyTimeline.between(fromMs, toMs);
  }

  maxUsedSince(deviceIndex: number, afterSample: number): number | undefined {
    const history = this.states[deviceIndex]?.history;
    return history?.max(afterSample + 1, history.count)?.value;
  }

  visibleDeviceCount(): number {
    this.ensureStarted();
    return this.states.length;
  }

  /** Takes one reading now (the timer does this by itself; for callers that want a fresh one). */
  async tick(): Promise<void> {
    const provider = this.provider;
    if (provider === undefined || this.tickInFlight || this.states.length === 0) return;
    this.tickInFlight = true;
    try {
      this.record(await provider.sample());
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // A reading the provider can no longer confirm is not served as if it were current.
      for (const state of this.states) state.latest = undefined;
      this.health = { ...this.health, up: false, lastError: message };
      this.reportOnce((error as { kind?: string }).kind ?? 'sample', `GPU sampling failed: ${message}`);
    } finally {
      this.tickInFlight = false;
    }
  }

  shutdown(): void {
    this.shutDown = true;
    this.states = [];
    this.timer.stop();
    this.provider?.shutdown();
    this.provider = undefined;
  }

  private async open(): Promise<void> {
    let started: StartedProvider;
    let requested: GpuProviderName | undefined;
    try {
      const fromEnv = gpuSamplingFromEnv(this.options.env ?? process.env);
      this.idleIntervalMs = this.options.idleIntervalMs ?? fromEnv.idleIntervalMs;
      this.activeIntervalMs = this.options.activeIntervalMs ?? fromEnv.activeIntervalMs;
      this.timer.setIntervals(this.activeIntervalMs, this.idleIntervalMs);
      const startProvider =
        this.options.startProvider ??
        (() => {
          const config = gpuProviderConfigFromEnv(this.options.env);
          requested = config.provider === 'auto' ? undefined : config.provider;
          return startGpuProvider(config);
        });
      started = await startProvider();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.health = { provider: requested, up: false, lastSuccessAt: undefined, lastError: message };
      // The user forced this provider (the README calls its failure an error): seen without OTEL_LOG_LEVEL too.
      noticeVisibly('error', `${message}; GPU figures are unavailable`, this.options.env);
      throw error;
    }
    if (this.shutDown) {
      started.provider.shutdown();
      return;
    }
    this.provider = started.provider;
    this.health = { ...this.health, provider: started.provider.name };
    const visible = cudaVisibleDevices(
      started.devices,
      (this.options.env ?? process.env).CUDA_VISIBLE_DEVICES,
    );
    this.states = visible.map((device, cudaIndex) => ({
      device,
      cudaIndex,
      latest: undefined,
      latestAt: 0,
      processUsedBytes: undefined,
      peakUsedBytes: 0,
      lost: false,
      history: new SampleHistory({ fineCapacity: 4096, blockSize: 64, coarseCapacity: 4096 }),
      busyTimeline: new GpuBusyTimeline(),
      busyMark: NO_BUSY_MARK,
      processBusyFraction: undefined,
    }));
    this.noticeIgnoredLibrary(started);
    const passedOver = started.passedOver.map((reason) => reason.message).join('; ');
    if (this.states.length === 0) {
      // One debug line, no more, for the common case of a machine without a GPU.
      const reasons = passedOver === '' ? '' : `; ${passedOver}`;
      diag.debug(
        `otel-resource-tracker: no GPU visible (provider ${started.provider.name}${reasons}); GPU figures are 0 / absent`,
      );
      return;
    }
    if (passedOver !== '')
      diag.debug(`otel-resource-tracker: GPU provider ${started.provider.name}, after: ${passedOver}`);
    const view = started.provider.processView;
    if (view === undefined) this.hostPids = seesHostPids(this.options.pidNamespaceLink);
    else {
      // The provider's PIDs come from a procfs (DRM fdinfo), numbered as that procfs numbers this process: the
      // tree is walked there, and there is no host-PID question.
      this.processTree = new ProcessTree(view.selfPid, view.procRoot);
      this.hostPids = true;
    }
    await this.tick();
    this.timer.start();
  }

  /**
   * A library named in OTEL_RESOURCE_TRACKER_NVML_LIBRARY that auto detection could not use: the user asked for
   * it, so one visible line says why it was passed over (the usual machine without NVIDIA's library, which names
   * none, stays quiet).
   */
  private noticeIgnoredLibrary(started: StartedProvider): void {
    const env = this.options.env ?? process.env;
    if (readString(env, ENV_NVML_LIBRARY) === undefined) return;
    const nvml = started.passedOver.find((reason) => reason.kind.startsWith('nvml'));
    if (nvml === undefined) return;
    noticeVisibly(
      'warn',
      `${ENV_NVML_LIBRARY} is not used: ${nvml.message}; GPU provider ${started.provider.name} instead`,
      env,
    );
  }

  private record(sample: GpuSample): void {
    const now = Date.now();
    let anyRead = false;
    for (const reading of sample.devices) {
      const state = this.states.find((candidate) => candidate.device.uuid === reading.device.uuid);
      if (state === undefined) continue;
      anyRead = true;
      this.recordBusy(state, reading, now);
      state.latest = reading;
      state.latestAt = now;
      if (reading.usedBytes !== undefined) {
        state.history.push(reading.usedBytes);
        if (reading.usedBytes > state.peakUsedBytes) state.peakUsedBytes = reading.usedBytes;
      }
      state.processUsedBytes = this.processMemory(reading);
    }
    for (const failure of sample.failures) {
      const state = this.states.find((candidate) => candidate.device.uuid === failure.device.uuid);
      if (state !== undefined) {
        state.latest = undefined;
        if (failure.error.kind === 'nvml-15') state.lost = true;
      }
      this.reportOnce(failure.error.kind, failure.error.message);
    }
    this.health = {
      ...this.health,
      up: anyRead,
      lastSuccessAt: anyRead ? now : this.health.lastSuccessAt,
      lastError: sample.failures[0]?.error.message ?? (anyRead ? undefined : this.health.lastError),
    };
  }

  /**
   * Adds this reading's GPU time of our process tree (processes the tree owns, summed) to the device's timeline,
   * and the device utilization to its running sum: the span path then only subtracts.
   */
  private recordBusy(state: GpuDeviceState, reading: GpuDeviceSample, now: number): void {
    const mark = state.busyMark;
    const utilization = reading.utilization;
    const utilizationSum = mark.utilizationSum + (utilization ?? 0);
    const utilizationCount = mark.utilizationCount + (utilization === undefined ? 0 : 1);
    const entries = reading.processBusy;
    if (entries === undefined || this.hostPids === false) {
      state.processBusyFraction = undefined;
      state.busyMark = {
        processBusySeconds: undefined,
        processBusyGaps: mark.processBusyGaps + 1,
        utilizationSum,
        utilizationCount,
        utilization,
      };
      return;
    }
    let busy = 0;
    let fromMs = Number.POSITIVE_INFINITY;
    let toMs = Number.NEGATIVE_INFINITY;
    for (const entry of entries) {
      if (!this.processTree.owns(entry.pid)) continue;
      busy += entry.busySeconds;
      if (entry.fromMs < fromMs) fromMs = entry.fromMs;
      if (entry.toMs > toMs) toMs = entry.toMs;
    }
    state.busyTimeline.add(fromMs, toMs, busy);
    // The share over the interval since the previous reading (the gauge): GPU seconds per wall second.
    state.processBusyFraction =
      state.latestAt > 0 ? busy / Math.max((now - state.latestAt) / 1000, 1e-3) : undefined;
    state.busyMark = {
      processBusySeconds: state.busyTimeline.total,
      processBusyGaps: mark.processBusyGaps,
      utilizationSum,
      utilizationCount,
      utilization,
    };
  }

  /** This process tree's memory on the device, or undefined when the provider's PIDs cannot be matched to ours. */
  private processMemory(reading: GpuDeviceSample): number | undefined {
    if (reading.processes === undefined) return undefined;
    if (this.hostPids === false) {
      this.reportOnce(
        'pid-namespace',
        'this process runs in its own PID namespace (a container without --pid=host): the GPU driver reports host ' +
          'PIDs, so GPU memory and GPU time per process (resource_tracker.gpu.process.memory, .busy_time) are unavailable',
      );
      return undefined;
    }
    let total = 0;
    for (const entry of reading.processes) {
      if (!this.processTree.owns(entry.pid)) continue;
      if (entry.usedBytes === undefined) {
        if (entry.unknownExplained === true) return undefined;
        this.reportOnce(
          'process-memory-unavailable',
          `the GPU driver lists this process tree on GPU ${reading.device.index} without its memory (NVIDIA: a GPU ` +
            'in MIG mode whose instances cannot be read one by one, or no permission; DRM: a client that names no ' +
            'device while there are several): resource_tracker.gpu.process.memory is unavailable there',
        );
        return undefined;
      }
      total += entry.usedBytes;
    }
    return total;
  }

  private reportOnce(kind: string, message: string): void {
    if (this.reported.has(kind)) return;
    this.reported.add(kind);
    diag.warn(`otel-resource-tracker: ${message}`);
  }
}
