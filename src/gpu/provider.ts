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
}

/** A process holding memory on a GPU. `usedBytes` undefined: the driver does not say (e.g. under MIG). */
export interface GpuProcessMemory {
  readonly pid: number;
  readonly usedBytes: number | undefined;
}

export interface GpuDeviceSample {
  readonly device: GpuDevice;
  readonly usedBytes: number;
  readonly freeBytes: number;
  readonly totalBytes: number;
  /** GPU busy fraction over the driver's last sample period, 0–1; undefined where not supported. */
  readonly utilization: number | undefined;
  /** Compute processes on the device; undefined when the list cannot be read (no permission, not supported). */
  readonly processes: readonly GpuProcessMemory[] | undefined;
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

export type GpuProviderName = 'nvml' | 'nvidia-smi' | 'none';

/**
 * One way of reading GPUs. `start` enumerates the devices (rejecting with a GpuError when this provider cannot
 * work here); `sample` reads memory, utilization and processes of every device that is still readable. Both are
 * called from the background sampler only, never from the span path.
 */
export interface GpuProvider {
  readonly name: GpuProviderName;
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
