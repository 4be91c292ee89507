import koffi, { type LibraryHandle } from 'koffi';
import { replaceUnprintable } from '../../internal/printable.js';
import { GpuError } from '../provider.js';

/** NVML return codes the package acts on (nvml.h). */
export const NVML_SUCCESS = 0;
export const NVML_ERROR_INSUFFICIENT_SIZE = 7;
export const NVML_ERROR_GPU_IS_LOST = 15;
/** nvmlMemory_v2: NVML_STRUCT_VERSION(Memory, 2); the struct is version u32, total, reserved, free, used (u64 from 8). */
export const MEMORY_V2 = 40 | (2 << 24);
export const MEMORY_V2_BYTES = 40;
/** nvmlProcessDetailList_v1: NVML_STRUCT_VERSION(ProcessDetailList, 1) = sizeof(struct) | 1 << 24. */
export const PROCESS_DETAIL_LIST_V1 = 24 | (1 << 24);
/** nvmlProcessDetailList_t: version u32 @0, mode u32 @4, numProcArrayEntries u32 @8, procArray pointer @16. */
export const PROCESS_DETAIL_LIST_BYTES = 24;

/** Names for codes, used in messages before (or without) nvmlErrorString. */
const CODE_NAMES: Record<number, string> = {
  1: 'NVML_ERROR_UNINITIALIZED',
  2: 'NVML_ERROR_INVALID_ARGUMENT',
  3: 'NVML_ERROR_NOT_SUPPORTED',
  4: 'NVML_ERROR_NO_PERMISSION',
  5: 'NVML_ERROR_ALREADY_INITIALIZED',
  6: 'NVML_ERROR_NOT_FOUND',
  7: 'NVML_ERROR_INSUFFICIENT_SIZE',
  8: 'NVML_ERROR_INSUFFICIENT_POWER',
  9: 'NVML_ERROR_DRIVER_NOT_LOADED',
  10: 'NVML_ERROR_TIMEOUT',
  11: 'NVML_ERROR_IRQ_ISSUE',
  12: 'NVML_ERROR_LIBRARY_NOT_FOUND',
  13: 'NVML_ERROR_FUNCTION_NOT_FOUND',
  14: 'NVML_ERROR_CORRUPTED_INFOROM',
  15: 'NVML_ERROR_GPU_IS_LOST',
  16: 'NVML_ERROR_RESET_REQUIRED',
  17: 'NVML_ERROR_OPERATING_SYSTEM',
  18: 'NVML_ERROR_LIB_RM_VERSION_MISMATCH',
  19: 'NVML_ERROR_IN_USE',
  20: 'NVML_ERROR_MEMORY',
  21: 'NVML_ERROR_NO_DATA',
  22: 'NVML_ERROR_VGPU_ECC_NOT_SUPPORTED',
  25: 'NVML_ERROR_ARGUMENT_VERSION_MISMATCH',
  999: 'NVML_ERROR_UNKNOWN',
};

/** An opaque nvmlDevice_t handle, as koffi hands it back. */
export type NvmlHandle = unknown;

type Status = number;

/** The NVML entry points the package uses; buffers are filled in place. */
export interface NvmlFunctions {
  init(): Status;
  shutdown(): Status;
  errorString(code: number): string;
  deviceCount(out: [number]): Status;
  handleByIndex(index: number, out: [NvmlHandle]): Status;
  name(handle: NvmlHandle, buffer: Buffer, length: number): Status;
  /** nvmlSystemGetDriverVersion; undefined: symbol missing. */
  driverVersion: ((buffer: Buffer, length: number) => Status) | undefined;
  uuid(handle: NvmlHandle, buffer: Buffer, length: number): Status;
  /** nvmlMemory_t: total, free, used (u64 each); "used" includes what the driver reserves for itself. */
  memoryInfo(handle: NvmlHandle, buffer: Buffer): Status;
  /** nvmlMemory_v2_t (drivers from R510 on): "used" without the reserved memory, as nvidia-smi shows it. */
  memoryInfoV2: ((handle: NvmlHandle, buffer: Buffer) => Status) | undefined;
  /** nvmlUtilization_t: gpu, memory (u32 percent each). */
  utilization(handle: NvmlHandle, buffer: Buffer): Status;
  /**
   * The newest nvmlDeviceGetComputeRunningProcesses the library has (see nvml-process-records.ts for the record
   * sizes each writes); undefined: none of them.
   */
  computeProcesses: ComputeProcessesCall | undefined;
  /** nvmlDeviceGetRunningProcessDetailList (drivers from R550 on); undefined: symbol missing. */
  processDetailList: ((handle: NvmlHandle, list: Buffer) => Status) | undefined;
  /** nvmlDeviceGetProcessesUtilizationInfo (R550 on): nvmlProcessesUtilizationInfo_t; undefined: symbol missing. */
  processesUtilizationInfo: ((handle: NvmlHandle, info: Buffer) => Status) | undefined;
  /** nvmlDeviceGetProcessUtilization (older drivers): samples, count in/out, lastSeenTimeStamp; undefined: missing. */
  processUtilization:
    | ((handle: NvmlHandle, samples: Buffer, count: [number], lastSeenTimeStamp: number) => Status)
    | undefined;
  /** nvmlDeviceGetMigMode (current, pending: 1 = enabled); undefined: symbol missing (drivers before R450). */
  migMode: ((handle: NvmlHandle, current: [number], pending: [number]) => Status) | undefined;
  maxMigDeviceCount: ((handle: NvmlHandle, count: [number]) => Status) | undefined;
  migDeviceHandleByIndex: ((handle: NvmlHandle, index: number, out: [NvmlHandle]) => Status) | undefined;
  /** The native address of a buffer's memory, for the pointer inside nvmlProcessDetailList_t. */
  addressOf(buffer: Buffer): bigint;
}

export const DEFAULT_NVML_LIBRARY = 'libnvidia-ml.so.1';

/** Which nvmlDeviceGetComputeRunningProcesses a library has: the record layout follows from it. */
export type ComputeProcessesVersion = 'v3' | 'v2' | 'v1';

export interface ComputeProcessesCall {
  readonly version: ComputeProcessesVersion;
  readonly call: (handle: NvmlHandle, count: [number], buffer: Buffer | null) => Status;
}

/**
 * Newest first. R470-era drivers (still in long-lived clusters) have no _v3: their _v2 writes 24-byte
 * nvmlProcessInfo_v2_t records, and the unversioned v1 16-byte nvmlProcessInfo_v1_t (pid u32, pad, usedGpuMemory
 * u64), as nvml.h declares them.
 */
const COMPUTE_PROCESSES_SYMBOLS: ReadonlyArray<readonly [ComputeProcessesVersion, string]> = [
  ['v3', 'nvmlDeviceGetComputeRunningProcesses_v3'],
  ['v2', 'nvmlDeviceGetComputeRunningProcesses_v2'],
  ['v1', 'nvmlDeviceGetComputeRunningProcesses'],
];

function findComputeProcesses(library: LibraryHandle): ComputeProcessesCall | undefined {
  for (const [version, symbol] of COMPUTE_PROCESSES_SYMBOLS) {
    const call = optional<ComputeProcessesCall['call']>(
      library,
      `int ${symbol}(void *device, _Inout_ unsigned int *count, void *infos)`,
    );
    if (call !== undefined) return { version, call };
  }
  return undefined;
}

function bind<T>(library: LibraryHandle, signature: string, symbol: string): T {
  try {
    return library.func(signature) as T;
  } catch (error) {
    throw new GpuError(
      `NVML library has no ${symbol} (NVML_ERROR_FUNCTION_NOT_FOUND): ${(error as Error).message}`,
      'nvml-symbol-missing',
    );
  }
}

/**
 * Loads NVML through koffi (a prebuilt FFI: nothing to compile at install). Throws a GpuError when it cannot.
 * `path` is the absolute path checkNvmlLibrary returned: never a bare name the loader would search for itself.
 */
export function loadNvml(path: string): NvmlFunctions {
  let library: LibraryHandle;
  try {
    library = koffi.load(path);
  } catch (error) {
    throw new GpuError(
      `cannot load the NVML library ${path} (NVML_ERROR_LIBRARY_NOT_FOUND): ${(error as Error).message}`,
      'nvml-library-missing',
    );
  }
  // Either may be missing (older drivers have no detail list; very old ones neither): per-process memory is then
  // read the other way, or reported as unavailable, and the rest works.
  const computeProcesses = findComputeProcesses(library);
  const memoryInfoV2 = optional<NvmlFunctions['memoryInfoV2']>(
    library,
    'int nvmlDeviceGetMemoryInfo_v2(void *device, void *memory)',
  );
  const processDetailList = optional<NvmlFunctions['processDetailList']>(
    library,
    'int nvmlDeviceGetRunningProcessDetailList(void *device, void *list)',
  );
  const driverVersion = optional<NvmlFunctions['driverVersion']>(
    library,
    'int nvmlSystemGetDriverVersion(void *version, unsigned int length)',
  );
  // Per-process utilization (GPU busy time per span): the versioned call from R550, the older one before.
  const processesUtilizationInfo = optional<NvmlFunctions['processesUtilizationInfo']>(
    library,
    'int nvmlDeviceGetProcessesUtilizationInfo(void *device, void *info)',
  );
  const processUtilization = optional<NvmlFunctions['processUtilization']>(
    library,
    'int nvmlDeviceGetProcessUtilization(void *device, void *samples, _Inout_ unsigned int *count, unsigned long long lastSeen)',
  );
  // MIG (A100 and later, drivers from R450): per-process memory is read per instance on a device in MIG mode.
  const migMode = optional<NvmlFunctions['migMode']>(
    library,
    'int nvmlDeviceGetMigMode(void *device, _Out_ unsigned int *current, _Out_ unsigned int *pending)',
  );
  const maxMigDeviceCount = optional<NvmlFunctions['maxMigDeviceCount']>(
    library,
    'int nvmlDeviceGetMaxMigDeviceCount(void *device, _Out_ unsigned int *count)',
  );
  const migDeviceHandleByIndex = optional<NvmlFunctions['migDeviceHandleByIndex']>(
    library,
    'int nvmlDeviceGetMigDeviceHandleByIndex(void *device, unsigned int index, _Out_ void **mig)',
  );
  return {
    init: bind(library, 'int nvmlInit_v2()', 'nvmlInit_v2'),
    shutdown: bind(library, 'int nvmlShutdown()', 'nvmlShutdown'),
    errorString: bind(library, 'const char *nvmlErrorString(int result)', 'nvmlErrorString'),
    deviceCount: bind(
      library,
      'int nvmlDeviceGetCount_v2(_Out_ unsigned int *count)',
      'nvmlDeviceGetCount_v2',
    ),
    handleByIndex: bind(
      library,
      'int nvmlDeviceGetHandleByIndex_v2(unsigned int index, _Out_ void **device)',
      'nvmlDeviceGetHandleByIndex_v2',
    ),
    name: bind(
      library,
      'int nvmlDeviceGetName(void *device, void *name, unsigned int length)',
      'nvmlDeviceGetName',
    ),
    uuid: bind(
      library,
      'int nvmlDeviceGetUUID(void *device, void *uuid, unsigned int length)',
      'nvmlDeviceGetUUID',
    ),
    memoryInfo: bind(
      library,
      'int nvmlDeviceGetMemoryInfo(void *device, void *memory)',
      'nvmlDeviceGetMemoryInfo',
    ),
    utilization: bind(
      library,
      'int nvmlDeviceGetUtilizationRates(void *device, void *utilization)',
      'nvmlDeviceGetUtilizationRates',
    ),
    memoryInfoV2,
    driverVersion,
    computeProcesses,
    processDetailList,
    processesUtilizationInfo,
    processUtilization,
    migMode,
    maxMigDeviceCount,
    migDeviceHandleByIndex,
    addressOf: (buffer) => koffi.address(buffer),
  };
}

function optional<T>(library: LibraryHandle, signature: string): T | undefined {
  try {
    return library.func(signature) as T;
  } catch {
    return undefined;
  }
}

/** "NVML_ERROR_GPU_IS_LOST (15): GPU is lost", from nvmlErrorString where the library answers. */
export function describeNvmlCode(nvml: NvmlFunctions | undefined, code: number): string {
  const name = CODE_NAMES[code] ?? 'NVML_ERROR';
  let text: string | undefined;
  try {
    text = nvml?.errorString(code);
  } catch {
    text = undefined;
  }
  return `${name} (${code})${text ? `: ${replaceUnprintable(text)}` : ''}`;
}

/** A u64 at `offset` as a number (exact below 2^53 bytes = 8 PiB). */
export function readU64(buffer: Buffer, offset: number): number {
  return buffer.readUInt32LE(offset) + buffer.readUInt32LE(offset + 4) * 2 ** 32;
}

/**
 * A NUL-terminated C string in `buffer`, with control characters made harmless: names, UUIDs and the driver
 * version come from a library this package does not control, and are printed to terminals and exported.
 */
export function readCString(buffer: Buffer): string {
  const end = buffer.indexOf(0);
  return replaceUnprintable(buffer.toString('utf8', 0, end < 0 ? buffer.length : end));
}
