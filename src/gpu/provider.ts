/** A GPU as the provider enumerates it (NVML order: PCI bus order). */
export interface GpuDevice {
  /** The provider's index (NVML / nvidia-smi numbering, not CUDA's: see cuda-visible-devices.ts). */
  readonly index: number;
  readonly uuid: string;
  readonly name: string;
  readonly memoryTotalBytes: number;
  /** The driver's version (the same for every device of a host); undefined where the provider cannot say. */
  readonly driverVersion?: string | undefined;
  /**
   * UUIDs (`MIG-…`) of the MIG instances on the device, where it is in MIG mode and the provider enumerates them:
   * a `MIG-` entry of CUDA_VISIBLE_DEVICES selects this device.
   */
  readonly migUuids?: readonly string[] | undefined;
  /** The maker, for `hw.vendor` (`AMD`, `Intel`); absent: NVIDIA (the NVML and nvidia-smi providers). */
  readonly vendor?: string;
}

/** A process holding memory on a GPU. `usedBytes` undefined: the driver does not say (e.g. under MIG). */
export interface GpuProcessMemory {
  readonly pid: number;
  readonly usedBytes: number | undefined;
  /** The provider has already said why `usedBytes` is unknown (the sampler then adds no guess of its own). */
  readonly unknownExplained?: boolean;
}

export interface GpuDeviceSample {
  readonly device: GpuDevice;
  /**
   * Device memory. undefined where the driver publishes none (an Intel integrated GPU keeps everything in system
   * memory; the DRM provider on a file it could not read): absent, never 0.
   */
  readonly usedBytes: number | undefined;
  readonly freeBytes: number | undefined;
  readonly totalBytes: number | undefined;
  /** GPU busy fraction over the driver's last sample period, 0–1; undefined where not supported. */
  readonly utilization: number | undefined;
  /** Compute processes on the device; undefined when the list cannot be read (no permission, not supported). */
  readonly processes: readonly GpuProcessMemory[] | undefined;
  /**
   * GPU time per process since the provider's previous reading (NVML process samples, DRM fdinfo engine time);
   * undefined where the driver gives no per-process utilization (then busy time is absent, never 0). An empty
   * list: the driver says, and no process used the device.
   */
  readonly processBusy?: readonly GpuProcessBusy[] | undefined;
}

/**
 * GPU time one process used on a device within a window of wall-clock time (epoch ms): `busySeconds` of device
 * time spread over [fromMs, toMs]. NVML: one process sample (SM % × the time it covers); DRM: one client's engine
 * time between two readings.
 */
export interface GpuProcessBusy {
  readonly pid: number;
  readonly busySeconds: number;
  readonly fromMs: number;
  readonly toMs: number;
}

/** A device the provider could not read this time, and why. */
export interface GpuDeviceFailure {
  readonly device: GpuDevice;
  readonly error: GpuError;
}

export interface GpuSample {
  readonly devices: readonly GpuDeviceSample[];
  readonly failures: readonly GpuDeviceFailure[];
}

export type GpuProviderName = 'nvml' | 'nvidia-smi' | 'drm' | 'none';

/**
 * Where the PIDs of a provider's process lists live, for a provider that reads them from a procfs rather than from
 * the driver (DRM): the sampler walks the process tree there, from `selfPid`, instead of checking for host PIDs.
 */
export interface GpuProcessView {
  readonly procRoot: string;
  /** This process as that procfs numbers it (`<procRoot>/self`). */
  readonly selfPid: number;
}

/**
 * One way of reading GPUs. `start` enumerates the devices (rejecting with a GpuError when this provider cannot
 * work here); `sample` reads memory, utilization and processes of every device that is still readable. Both are
 * called from the background sampler only, never from the span path.
 */
export interface GpuProvider {
  readonly name: GpuProviderName;
  /** Set by providers whose PIDs come from a procfs (see GpuProcessView); absent: the driver's host PIDs. */
  readonly processView?: GpuProcessView;
  start(): Promise<readonly GpuDevice[]>;
  sample(): Promise<GpuSample>;
  shutdown(): void;
}

/**
 * A GPU failure with a stable `kind` (for "one diagnostic per kind of failure") and a message that says what
 * happened in words (NVML's own error string where there is one).
 */
export class GpuError extends Error {
  constructor(
    message: string,
    readonly kind: string,
  ) {
    super(message);
    this.name = 'GpuError';
  }
}
