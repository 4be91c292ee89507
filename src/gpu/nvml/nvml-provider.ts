import {
  type GpuDevice,
  type GpuDeviceFailure,
  type GpuDeviceSample,
  GpuError,
  type GpuProcessMemory,
  type GpuProvider,
  type GpuSample,
} from '../provider.js';
import {
  describeNvmlCode,
  loadNvml,
  NVML_ERROR_GPU_IS_LOST,
  NVML_ERROR_INSUFFICIENT_SIZE,
  NVML_SUCCESS,
  type NvmlFunctions,
  type NvmlHandle,
  readCString,
  readU64,
} from './nvml-library.js';

const STRING_BUFFER_BYTES = 96;
const PROCESS_INFO_BYTES = 24;
const NOT_AVAILABLE = 2 ** 64 - 1;

interface TrackedDevice {
  readonly device: GpuDevice;
  readonly handle: NvmlHandle;
  lost: boolean;
}

/**
 * GPUs through NVML, loaded lazily with koffi: the library is opened and initialised once, on `start`, device
 * handles are cached, every call is a few hundred nanoseconds, and buffers are reused across samples. A device
 * that reports "GPU is lost" is dropped from sampling; the others go on. NVML is shut down on `shutdown` and at
 * process exit.
 */
export class NvmlProvider implements GpuProvider {
  readonly name = 'nvml';
  private nvml: NvmlFunctions | undefined;
  private tracked: TrackedDevice[] = [];
  private readonly memory = Buffer.alloc(24);
  private readonly utilization = Buffer.alloc(8);
  private processes = Buffer.alloc(PROCESS_INFO_BYTES * 16);
  private readonly count: [number] = [0];
  private readonly exitHook = () => this.shutdown();

  constructor(private readonly libraryPath: string) {}

  start(): Promise<readonly GpuDevice[]> {
    try {
      return Promise.resolve(this.open());
    } catch (error) {
      this.shutdown();
      return Promise.reject(error);
    }
  }

  sample(): Promise<GpuSample> {
    const nvml = this.nvml;
    if (nvml === undefined)
      return Promise.reject(new GpuError('NVML is not initialised', 'nvml-uninitialized'));
    const devices: GpuDeviceSample[] = [];
    const failures: GpuDeviceFailure[] = [];
    for (const tracked of this.tracked) {
      if (tracked.lost) continue;
      const status = nvml.memoryInfo(tracked.handle, this.memory);
      if (status !== NVML_SUCCESS) {
        if (status === NVML_ERROR_GPU_IS_LOST) tracked.lost = true;
        failures.push({
          device: tracked.device,
          error: this.error(`reading memory of GPU ${tracked.device.index}`, status),
        });
        continue;
      }
      devices.push({
        device: tracked.device,
        totalBytes: readU64(this.memory, 0),
        freeBytes: readU64(this.memory, 8),
        usedBytes: readU64(this.memory, 16),
        utilization: this.readUtilization(nvml, tracked.handle),
        processes: this.readProcesses(nvml, tracked.handle),
      });
    }
    return Promise.resolve({ devices, failures });
  }

  shutdown(): void {
    process.removeListener('exit', this.exitHook);
    const nvml = this.nvml;
    this.nvml = undefined;
    this.tracked = [];
    try {
      nvml?.shutdown();
    } catch {
      // Shutting down is best effort: the process is usually exiting.
    }
  }

  private open(): GpuDevice[] {
    const nvml = loadNvml(this.libraryPath);
    const initStatus = nvml.init();
    if (initStatus !== NVML_SUCCESS) throw this.error('nvmlInit_v2', initStatus, nvml, 'nvml-init');
    this.nvml = nvml;
    process.once('exit', this.exitHook);
    this.check(nvml.deviceCount(this.count), 'nvmlDeviceGetCount_v2');
    const names = Buffer.alloc(STRING_BUFFER_BYTES);
    for (let index = 0; index < this.count[0]; index++) {
      const handle: [NvmlHandle] = [null];
      this.check(nvml.handleByIndex(index, handle), `nvmlDeviceGetHandleByIndex_v2(${index})`);
      this.check(nvml.name(handle[0], names.fill(0), STRING_BUFFER_BYTES), `nvmlDeviceGetName(${index})`);
      const name = readCString(names);
      this.check(nvml.uuid(handle[0], names.fill(0), STRING_BUFFER_BYTES), `nvmlDeviceGetUUID(${index})`);
      const uuid = readCString(names);
      this.check(nvml.memoryInfo(handle[0], this.memory), `nvmlDeviceGetMemoryInfo(${index})`);
      this.tracked.push({
        device: { index, uuid, name, memoryTotalBytes: readU64(this.memory, 0) },
        handle: handle[0],
        lost: false,
      });
    }
    return this.tracked.map((tracked) => tracked.device);
  }

  private readUtilization(nvml: NvmlFunctions, handle: NvmlHandle): number | undefined {
    return nvml.utilization(handle, this.utilization) === NVML_SUCCESS
      ? this.utilization.readUInt32LE(0) / 100
      : undefined;
  }

  /** Two calls: the first with count 0 asks how many entries there are (NVML_ERROR_INSUFFICIENT_SIZE). */
  private readProcesses(nvml: NvmlFunctions, handle: NvmlHandle): GpuProcessMemory[] | undefined {
    if (nvml.computeProcesses === undefined) return undefined;
    this.count[0] = this.processes.length / PROCESS_INFO_BYTES;
    let status = nvml.computeProcesses(handle, this.count, this.processes);
    if (status === NVML_ERROR_INSUFFICIENT_SIZE) {
      this.processes = Buffer.alloc(PROCESS_INFO_BYTES * (this.count[0] + 8));
      this.count[0] = this.processes.length / PROCESS_INFO_BYTES;
      status = nvml.computeProcesses(handle, this.count, this.processes);
    }
    // Not supported, no permission, or any other failure: per-process memory is unknown, not zero.
    if (status !== NVML_SUCCESS) return undefined;
    const processes: GpuProcessMemory[] = [];
    for (let entry = 0; entry < this.count[0]; entry++) {
      const offset = entry * PROCESS_INFO_BYTES;
      const used = readU64(this.processes, offset + 8);
      processes.push({
        pid: this.processes.readUInt32LE(offset),
        usedBytes: used >= NOT_AVAILABLE ? undefined : used,
      });
    }
    return processes;
  }

  private check(status: number, call: string): void {
    if (status !== NVML_SUCCESS) throw this.error(call, status);
  }

  private error(call: string, status: number, nvml = this.nvml, kind?: string): GpuError {
    return new GpuError(`NVML ${call} failed: ${describeNvmlCode(nvml, status)}`, kind ?? `nvml-${status}`);
  }
}
