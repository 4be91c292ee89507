import { diag } from '@opentelemetry/api';
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
  MEMORY_V2,
  MEMORY_V2_BYTES,
  NVML_ERROR_GPU_IS_LOST,
  NVML_ERROR_INSUFFICIENT_SIZE,
  NVML_SUCCESS,
  type NvmlFunctions,
  type NvmlHandle,
  PROCESS_DETAIL_LIST_BYTES,
  PROCESS_DETAIL_LIST_V1,
  readCString,
  readU64,
} from './nvml-library.js';
import { checkNvmlLibrary, DEFAULT_NVML_PROBE_TIMEOUT_MS } from './nvml-library-check.js';
import {
  confirmStride,
  decodeProcessRecords,
  detectStride,
  FIXED_RECORD_STRIDES,
  MAX_PROCESS_RECORD_BYTES,
  PROCESS_DETAIL_BYTES,
  SENTINEL_BYTE,
} from './nvml-process-records.js';
import { NvmlProcessUtilization } from './nvml-process-utilization.js';

const STRING_BUFFER_BYTES = 96;
/** Answers of a versioned call that mean "not on this driver" (invalid argument, not supported, function not found,
 * version mismatch): use the older call instead, from then on. */
const VERSIONED_CALL_REFUSALS = new Set([2, 3, 13, 25]);
const COMPUTE_MODE = 0;

interface TrackedDevice {
  readonly device: GpuDevice;
  readonly handle: NvmlHandle;
  /** The MIG instances' handles where the device is in MIG mode: per-process memory is read from each. */
  readonly migHandles: readonly NvmlHandle[];
  lost: boolean;
}

/** NVML_ERROR_NOT_FOUND: an empty MIG slot. */
const NVML_ERROR_NOT_FOUND = 6;

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
  private readonly memory = Buffer.alloc(MEMORY_V2_BYTES);
  private memoryV2Refused = false;
  private readonly reading = { totalBytes: 0, freeBytes: 0, usedBytes: 0 };
  private readonly utilization = Buffer.alloc(8);
  private processes = Buffer.alloc(MAX_PROCESS_RECORD_BYTES * 16);
  private readonly detailList = Buffer.alloc(PROCESS_DETAIL_LIST_BYTES);
  private details = Buffer.alloc(PROCESS_DETAIL_BYTES * 16);
  private detailListRefused = false;
  private layoutWarned = false;
  /** Per-process utilization (GPU seconds per process per reading); public for gpu-check. */
  readonly processUtilization = new NvmlProcessUtilization();
  /** How per-process memory was last read: 'detail-list', 'v3/24' (record size), 'v3/unknown'. For gpu-check. */
  processRecordLayout: string | undefined;
  private readonly count: [number] = [0];
  private readonly exitHook = () => this.shutdown();

  /**
   * `useDetailList: false` reads processes through the _v3 call even where the detail list exists: `npm run
   * gpu-check` uses it to check the record-size probe on a real driver.
   */
  constructor(
    private readonly libraryPath: string,
    private readonly useDetailList = true,
    /** How long the probe process that loads the library first may take (see nvml-library-check.ts). */
    private readonly probeTimeoutMs = DEFAULT_NVML_PROBE_TIMEOUT_MS,
  ) {}

  async start(): Promise<readonly GpuDevice[]> {
    const path = await checkNvmlLibrary(this.libraryPath, this.probeTimeoutMs);
    try {
      return this.open(path);
    } catch (error) {
      this.shutdown();
      throw error;
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
      const status = this.readMemory(nvml, tracked.handle);
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
        ...this.reading,
        utilization: this.readUtilization(nvml, tracked.handle),
        processes: this.readProcesses(nvml, tracked),
        processBusy: this.processUtilization.read(nvml, tracked.handle, tracked.device),
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

  private open(path: string): GpuDevice[] {
    const nvml = loadNvml(path);
    const initStatus = nvml.init();
    if (initStatus !== NVML_SUCCESS) throw this.error('nvmlInit_v2', initStatus, nvml, 'nvml-init');
    this.nvml = nvml;
    process.once('exit', this.exitHook);
    this.check(nvml.deviceCount(this.count), 'nvmlDeviceGetCount_v2');
    const names = Buffer.alloc(STRING_BUFFER_BYTES);
    const driverVersion = this.readDriverVersion(nvml, names);
    const refused: GpuError[] = [];
    for (let index = 0; index < this.count[0]; index++) {
      try {
        this.tracked.push(this.openDevice(nvml, index, names, driverVersion));
      } catch (error) {
        refused.push(error as GpuError);
      }
    }
    // A device this process may not read (a cgroup that hides it answers NVML_ERROR_NO_PERMISSION) is left out
    // with one line saying so; the devices it may read are tracked. Only when none can be read does NVML fail.
    if (this.tracked.length === 0 && refused.length > 0) throw refused[0];
    for (const error of refused)
      diag.warn(`otel-resource-tracker: ${error.message}; that GPU is not tracked`);
    return this.tracked.map((tracked) => tracked.device);
  }

  private openDevice(
    nvml: NvmlFunctions,
    index: number,
    names: Buffer,
    driverVersion: string | undefined,
  ): TrackedDevice {
    const handle: [NvmlHandle] = [null];
    this.check(nvml.handleByIndex(index, handle), `nvmlDeviceGetHandleByIndex_v2(${index})`);
    this.check(nvml.name(handle[0], names.fill(0), STRING_BUFFER_BYTES), `nvmlDeviceGetName(${index})`);
    const name = readCString(names);
    this.check(nvml.uuid(handle[0], names.fill(0), STRING_BUFFER_BYTES), `nvmlDeviceGetUUID(${index})`);
    const uuid = readCString(names);
    this.check(this.readMemory(nvml, handle[0]), `nvmlDeviceGetMemoryInfo(${index})`);
    const memoryTotalBytes = this.reading.totalBytes;
    const mig = this.openMigInstances(nvml, handle[0], names);
    return {
      device: {
        index,
        uuid,
        name,
        memoryTotalBytes,
        driverVersion,
        ...(mig.uuids.length === 0 ? {} : { migUuids: mig.uuids }),
      },
      handle: handle[0],
      migHandles: mig.handles,
      lost: false,
    };
  }

  /**
   * The MIG instances of a device in MIG mode. On such a device NVML lists the processes of the whole GPU only to
   * a privileged caller (others get them without sizes); each instance's own handle lists its processes with their
   * memory. No MIG, or no way to ask: none, and the device's own list is read as before.
   */
  private openMigInstances(
    nvml: NvmlFunctions,
    handle: NvmlHandle,
    names: Buffer,
  ): { handles: NvmlHandle[]; uuids: string[] } {
    const none = { handles: [], uuids: [] };
    const current: [number] = [0];
    const pending: [number] = [0];
    if (nvml.migMode?.(handle, current, pending) !== NVML_SUCCESS || current[0] !== 1) return none;
    const slots: [number] = [0];
    if (nvml.maxMigDeviceCount?.(handle, slots) !== NVML_SUCCESS || nvml.migDeviceHandleByIndex === undefined)
      return none;
    const handles: NvmlHandle[] = [];
    const uuids: string[] = [];
    for (let slot = 0; slot < slots[0]; slot++) {
      const mig: [NvmlHandle] = [null];
      const status = nvml.migDeviceHandleByIndex(handle, slot, mig);
      if (status === NVML_ERROR_NOT_FOUND) continue;
      if (status !== NVML_SUCCESS) return none;
      handles.push(mig[0]);
      if (nvml.uuid(mig[0], names.fill(0), STRING_BUFFER_BYTES) === NVML_SUCCESS)
        uuids.push(readCString(names));
    }
    return { handles, uuids };
  }

  /** The driver version (for hw.driver_version); undefined where the call is missing or fails: it is only a label. */
  private readDriverVersion(nvml: NvmlFunctions, buffer: Buffer): string | undefined {
    if (nvml.driverVersion?.(buffer.fill(0), STRING_BUFFER_BYTES) !== NVML_SUCCESS) return undefined;
    return readCString(buffer) || undefined;
  }

  /**
   * Device memory into `this.reading`. nvmlDeviceGetMemoryInfo_v2 where the driver has it: its "used" leaves out
   * the memory the driver reserves for itself (614 MiB on an H200 with driver 580), as nvidia-smi does; the v1
   * call counts it as used, so an idle GPU would look busy and NVML and nvidia-smi would disagree.
   */
  private readMemory(nvml: NvmlFunctions, handle: NvmlHandle): number {
    if (nvml.memoryInfoV2 !== undefined && !this.memoryV2Refused) {
      this.memory.writeUInt32LE(MEMORY_V2, 0);
      const status = nvml.memoryInfoV2(handle, this.memory);
      if (status === NVML_SUCCESS) {
        this.takeReading(8, 24, 32); // version, pad, total, reserved, free, used
        return status;
      }
      if (!VERSIONED_CALL_REFUSALS.has(status)) return status;
      this.memoryV2Refused = true;
    }
    const status = nvml.memoryInfo(handle, this.memory);
    if (status === NVML_SUCCESS) this.takeReading(0, 8, 16); // total, free, used
    return status;
  }

  private takeReading(totalAt: number, freeAt: number, usedAt: number): void {
    this.reading.totalBytes = readU64(this.memory, totalAt);
    this.reading.freeBytes = readU64(this.memory, freeAt);
    this.reading.usedBytes = readU64(this.memory, usedAt);
  }

  private readUtilization(nvml: NvmlFunctions, handle: NvmlHandle): number | undefined {
    return nvml.utilization(handle, this.utilization) === NVML_SUCCESS
      ? this.utilization.readUInt32LE(0) / 100
      : undefined;
  }

  /** Per-process memory: the detail list where the driver has it, else the _v3 call with its record size probed. */
  private readProcesses(nvml: NvmlFunctions, tracked: TrackedDevice): GpuProcessMemory[] | undefined {
    if (tracked.migHandles.length === 0) return this.readProcessesOf(nvml, tracked.handle, tracked.device);
    // MIG: every instance's list, together; one that cannot be read makes the whole figure unknown, not smaller.
    const processes: GpuProcessMemory[] = [];
    for (const handle of tracked.migHandles) {
      const listed = this.readProcessesOf(nvml, handle, tracked.device);
      if (listed === undefined) return undefined;
      processes.push(...listed);
    }
    return processes;
  }

  private readProcessesOf(
    nvml: NvmlFunctions,
    handle: NvmlHandle,
    device: GpuDevice,
  ): GpuProcessMemory[] | undefined {
    const total = device.memoryTotalBytes;
    if (nvml.processDetailList !== undefined && this.useDetailList && !this.detailListRefused) {
      const status = this.callDetailList(nvml, handle);
      if (status === NVML_SUCCESS) {
        this.processRecordLayout = 'detail-list';
        return decodeProcessRecords(
          this.details,
          this.detailList.readUInt32LE(8),
          PROCESS_DETAIL_BYTES,
          total,
        );
      }
      if (!VERSIONED_CALL_REFUSALS.has(status)) return undefined;
      this.detailListRefused = true;
    }
    return this.readComputeProcesses(nvml, handle, total);
  }

  /** One call, and a second with a larger array when the first says how many entries there are. */
  private callDetailList(nvml: NvmlFunctions, handle: NvmlHandle): number {
    const call = nvml.processDetailList as NonNullable<NvmlFunctions['processDetailList']>;
    const list = this.detailList;
    const prepare = () => {
      list.writeUInt32LE(PROCESS_DETAIL_LIST_V1, 0);
      list.writeUInt32LE(COMPUTE_MODE, 4);
      list.writeUInt32LE(this.details.length / PROCESS_DETAIL_BYTES, 8);
      list.writeUInt32LE(0, 12);
      list.writeBigUInt64LE(nvml.addressOf(this.details), 16);
    };
    prepare();
    let status = call(handle, list);
    if (status === NVML_ERROR_INSUFFICIENT_SIZE) {
      this.details = Buffer.alloc(PROCESS_DETAIL_BYTES * (list.readUInt32LE(8) + 8));
      prepare();
      status = call(handle, list);
    }
    return status;
  }

  /**
   * nvmlDeviceGetComputeRunningProcesses (the newest version the library has) into a sentinel-filled buffer sized
   * for the largest record: _v3's record size is read off what it wrote, v1's and _v2's is fixed and checked.
   */
  private readComputeProcesses(
    nvml: NvmlFunctions,
    handle: NvmlHandle,
    total: number,
  ): GpuProcessMemory[] | undefined {
    const computeProcesses = nvml.computeProcesses;
    if (computeProcesses === undefined) return undefined;
    this.count[0] = this.processes.length / MAX_PROCESS_RECORD_BYTES;
    let status = computeProcesses.call(handle, this.count, this.processes.fill(SENTINEL_BYTE));
    if (status === NVML_ERROR_INSUFFICIENT_SIZE) {
      this.processes = Buffer.alloc(MAX_PROCESS_RECORD_BYTES * (this.count[0] + 8));
      this.count[0] = this.processes.length / MAX_PROCESS_RECORD_BYTES;
      status = computeProcesses.call(handle, this.count, this.processes.fill(SENTINEL_BYTE));
    }
    // Not supported, no permission, or any other failure: per-process memory is unknown, not zero.
    if (status !== NVML_SUCCESS) return undefined;
    const count = this.count[0];
    const version = computeProcesses.version;
    const stride =
      version === 'v3'
        ? detectStride(this.processes, count)
        : confirmStride(this.processes, count, FIXED_RECORD_STRIDES[version]);
    const processes =
      stride === undefined ? undefined : decodeProcessRecords(this.processes, count, stride, total);
    this.processRecordLayout = `${version}/${processes === undefined ? 'unknown' : stride}`;
    if (processes === undefined && !this.layoutWarned) {
      this.layoutWarned = true;
      diag.warn(
        `otel-resource-tracker: NVML wrote ${count} process record(s) in a layout this package does not know ` +
          '(not 16, 24 or 32 bytes each, or implausible PIDs or sizes); per-process GPU memory is reported as unavailable',
      );
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
