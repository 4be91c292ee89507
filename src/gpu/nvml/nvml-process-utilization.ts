import { diag } from '@opentelemetry/api';
import type { GpuDevice, GpuProcessBusy } from '../provider.js';
import {
  describeNvmlCode,
  NVML_ERROR_INSUFFICIENT_SIZE,
  NVML_SUCCESS,
  type NvmlFunctions,
  type NvmlHandle,
  readU64,
} from './nvml-library.js';

/**
 * nvmlProcessesUtilizationInfo_v1_t (R550 on): version u32 @0, processSamplesCount u32 @4, lastSeenTimeStamp u64
 * @8, procUtilArray pointer @16; NVML_STRUCT_VERSION(ProcessesUtilizationInfo, 1) = 0x01000018.
 */
export const PROCESSES_UTILIZATION_INFO_V1 = 24 | (1 << 24);
export const PROCESSES_UTILIZATION_INFO_BYTES = 24;
/** nvmlProcessUtilizationInfo_v1_t: timeStamp u64 @0, pid @8, smUtil @12, mem, enc, dec, jpg, ofa (u32): 40 bytes. */
export const PROCESS_UTILIZATION_INFO_BYTES = 40;
/** nvmlProcessUtilizationSample_t (before R550): pid u32 @0, timeStamp u64 @8, smUtil @16, mem, enc, dec: 32 bytes. */
export const PROCESS_UTILIZATION_SAMPLE_BYTES = 32;
/** NVML_ERROR_NOT_FOUND: no sample newer than lastSeenTimeStamp (an idle device). */
const NVML_ERROR_NOT_FOUND = 6;
/** Answers that mean "this call is not for this driver or device": the older call is tried, from then on. */
const REFUSALS = new Set([2, 3, 13, 25]);
/**
 * NVML samples a device every 1/6 s to 1 s, by product: one sample stands for at most one period (a process seen
 * again after a pause covers one period, not the pause). The period is read off the gaps between the driver's
 * distinct sample timestamps (the smallest seen, within these bounds); before any, the shortest documented one.
 */
const MAX_COVER_US = 1_000_000;
const MIN_PERIOD_US = 10_000;
const INITIAL_PERIOD_US = 166_667;
const INITIAL_CAPACITY = 64;

/** What the reader keeps per device between readings. */
interface DeviceCursor {
  /** The newest sample timestamp seen (µs, the driver's clock: Unix time): the next call's lastSeenTimeStamp. */
  lastSeenUs: number;
  /** The newest timestamp of a sample (0: none yet; `lastSeenUs` may be the clock at the first reading instead). */
  lastStampUs: number;
  /** Each process's previous sample timestamp. */
  readonly lastByPid: Map<number, number>;
  /** The driver's sample period: the smallest gap between two distinct sample timestamps seen (µs). */
  periodUs: number;
  /** false until the first call: its samples only set the cursor (they may reach back before sampling began). */
  primed: boolean;
}

interface RawSample {
  pid: number;
  timeUs: number;
  sm: number;
}

/**
 * Per-process SM utilization from NVML, turned into GPU seconds per process: `nvmlDeviceGetProcessesUtilizationInfo`
 * where the driver has it (R550 on), else `nvmlDeviceGetProcessUtilization`. Each sample is SM % over the driver's
 * last sample period, so it stands for sm / 100 × the time since that process's previous sample (at most one
 * period). The `lastSeenTimeStamp` each call needs is kept per device. A driver with neither call, a device that
 * refuses both (a GPU in MIG mode, a consumer board): undefined (busy time absent), with one diagnostic.
 */
export class NvmlProcessUtilization {
  private readonly cursors = new Map<number, DeviceCursor>();
  private readonly info = Buffer.alloc(PROCESSES_UTILIZATION_INFO_BYTES);
  private infoArray = Buffer.alloc(PROCESS_UTILIZATION_INFO_BYTES * INITIAL_CAPACITY);
  private samples = Buffer.alloc(PROCESS_UTILIZATION_SAMPLE_BYTES * INITIAL_CAPACITY);
  private readonly count: [number] = [0];
  private infoRefused = false;
  private readonly unsupported = new Set<number>();
  private readonly reported = new Set<string>();
  /** Which call answered last: 'info' (R550 on), 'samples' (older); for gpu-check. */
  lastCall: 'info' | 'samples' | undefined;

  /** This reading's GPU time per process on `device`, or undefined where the driver gives none. */
  read(nvml: NvmlFunctions, handle: NvmlHandle, device: GpuDevice): GpuProcessBusy[] | undefined {
    if (this.unsupported.has(device.index)) return undefined;
    if ((device.migUuids?.length ?? 0) > 0) {
      this.refuse(device, 'nvml-process-utilization-mig', 'the device is in MIG mode, where NVML gives none');
      return undefined;
    }
    let cursor = this.cursors.get(device.index);
    if (cursor === undefined) {
      cursor = {
        lastSeenUs: 0,
        lastStampUs: 0,
        lastByPid: new Map(),
        periodUs: INITIAL_PERIOD_US,
        primed: false,
      };
      this.cursors.set(device.index, cursor);
    }
    const raw = this.readRaw(nvml, handle, device, cursor.lastSeenUs);
    if (raw === undefined) return undefined;
    return this.toBusy(raw, cursor);
  }

  private readRaw(
    nvml: NvmlFunctions,
    handle: NvmlHandle,
    device: GpuDevice,
    lastSeenUs: number,
  ): RawSample[] | undefined {
    if (nvml.processesUtilizationInfo !== undefined && !this.infoRefused) {
      const status = this.callInfo(nvml, handle, lastSeenUs);
      if (status === NVML_SUCCESS || status === NVML_ERROR_NOT_FOUND) {
        this.lastCall = 'info';
        return status === NVML_SUCCESS ? this.decodeInfo(this.info.readUInt32LE(4)) : [];
      }
      if (!REFUSALS.has(status)) return this.failed(nvml, device, status);
      this.infoRefused = true;
    }
    if (nvml.processUtilization === undefined) {
      this.refuse(
        device,
        'nvml-process-utilization-missing',
        'the NVML library has neither nvmlDeviceGetProcessesUtilizationInfo nor nvmlDeviceGetProcessUtilization',
      );
      return undefined;
    }
    const status = this.callSamples(nvml, handle, lastSeenUs);
    if (status === NVML_SUCCESS || status === NVML_ERROR_NOT_FOUND) {
      this.lastCall = 'samples';
      return status === NVML_SUCCESS ? this.decodeSamples(this.count[0]) : [];
    }
    if (REFUSALS.has(status) || status === 4) {
      this.refuse(
        device,
        'nvml-process-utilization-refused',
        `the driver answers ${describeNvmlCode(nvml, status)}`,
      );
      return undefined;
    }
    return this.failed(nvml, device, status);
  }

  /** A failure of this reading only (the next one tries again): unknown, so the span's figure is absent. */
  private failed(nvml: NvmlFunctions, device: GpuDevice, status: number): undefined {
    this.report(
      `nvml-process-utilization-${status}`,
      `reading per-process utilization of GPU ${device.index} failed: ${describeNvmlCode(nvml, status)}; ` +
        'resource_tracker.gpu.process.busy_time is absent on spans over that reading',
    );
    return undefined;
  }

  private callInfo(nvml: NvmlFunctions, handle: NvmlHandle, lastSeenUs: number): number {
    const call = nvml.processesUtilizationInfo as NonNullable<NvmlFunctions['processesUtilizationInfo']>;
    const prepare = () => {
      this.info.writeUInt32LE(PROCESSES_UTILIZATION_INFO_V1, 0);
      this.info.writeUInt32LE(this.infoArray.length / PROCESS_UTILIZATION_INFO_BYTES, 4);
      this.info.writeBigUInt64LE(BigInt(lastSeenUs), 8);
      this.info.writeBigUInt64LE(nvml.addressOf(this.infoArray), 16);
    };
    prepare();
    let status = call(handle, this.info);
    if (status === NVML_ERROR_INSUFFICIENT_SIZE) {
      this.infoArray = Buffer.alloc(PROCESS_UTILIZATION_INFO_BYTES * (this.info.readUInt32LE(4) + 16));
      prepare();
      status = call(handle, this.info);
    }
    return status;
  }

  private callSamples(nvml: NvmlFunctions, handle: NvmlHandle, lastSeenUs: number): number {
    const call = nvml.processUtilization as NonNullable<NvmlFunctions['processUtilization']>;
    this.count[0] = this.samples.length / PROCESS_UTILIZATION_SAMPLE_BYTES;
    let status = call(handle, this.samples, this.count, lastSeenUs);
    if (status === NVML_ERROR_INSUFFICIENT_SIZE) {
      this.samples = Buffer.alloc(PROCESS_UTILIZATION_SAMPLE_BYTES * (this.count[0] + 16));
      this.count[0] = this.samples.length / PROCESS_UTILIZATION_SAMPLE_BYTES;
      status = call(handle, this.samples, this.count, lastSeenUs);
    }
    return status;
  }

  private decodeInfo(count: number): RawSample[] {
    const raw: RawSample[] = [];
    const entries = Math.min(count, this.infoArray.length / PROCESS_UTILIZATION_INFO_BYTES);
    for (let entry = 0; entry < entries; entry++) {
      const offset = entry * PROCESS_UTILIZATION_INFO_BYTES;
      raw.push({
        timeUs: readU64(this.infoArray, offset),
        pid: this.infoArray.readUInt32LE(offset + 8),
        sm: this.infoArray.readUInt32LE(offset + 12),
      });
    }
    return raw;
  }

  private decodeSamples(count: number): RawSample[] {
    const raw: RawSample[] = [];
    const entries = Math.min(count, this.samples.length / PROCESS_UTILIZATION_SAMPLE_BYTES);
    for (let entry = 0; entry < entries; entry++) {
      const offset = entry * PROCESS_UTILIZATION_SAMPLE_BYTES;
      raw.push({
        pid: this.samples.readUInt32LE(offset),
        timeUs: readU64(this.samples, offset + 8),
        sm: this.samples.readUInt32LE(offset + 16),
      });
    }
    return raw;
  }

  /** Samples as GPU seconds, each over the time since that process's previous sample (at most one period). */
  private toBusy(raw: RawSample[], cursor: DeviceCursor): GpuProcessBusy[] {
    raw.sort((a, b) => a.timeUs - b.timeUs);
    const seenBefore = cursor.lastSeenUs;
    // The period first, from every gap between distinct timestamps (this reading's and the previous newest one).
    let previousStamp = cursor.lastStampUs;
    for (const { timeUs } of raw) {
      const gap = timeUs - previousStamp;
      if (previousStamp > 0 && gap >= MIN_PERIOD_US && gap < cursor.periodUs) cursor.periodUs = gap;
      if (timeUs > previousStamp) previousStamp = timeUs;
    }
    cursor.lastStampUs = previousStamp;
    const busy: GpuProcessBusy[] = [];
    for (const { pid, timeUs, sm } of raw) {
      // Out of range (a sample the driver repeats, or a percentage that is not one) is not believed.
      if (timeUs <= seenBefore || sm > 100) continue;
      const previous = cursor.lastByPid.get(pid);
      cursor.lastByPid.set(pid, timeUs);
      if (timeUs > cursor.lastSeenUs) cursor.lastSeenUs = timeUs;
      if (!cursor.primed) continue;
      const since = Math.max(previous ?? 0, seenBefore);
      const coverUs = Math.min(timeUs - since, cursor.periodUs);
      if (coverUs <= 0 || sm === 0) continue;
      busy.push({
        pid,
        busySeconds: (sm / 100) * (coverUs / 1e6),
        fromMs: (timeUs - coverUs) / 1000,
        toMs: timeUs / 1000,
      });
    }
    // A first reading with no sample at all: from now on, not from whatever the driver's buffer still holds.
    if (!cursor.primed && cursor.lastSeenUs === 0) cursor.lastSeenUs = Date.now() * 1000;
    cursor.primed = true;
    // Processes gone quiet are forgotten after a while: the map stays as small as the set of active processes.
    if (cursor.lastByPid.size > 256) {
      for (const [pid, at] of cursor.lastByPid)
        if (cursor.lastSeenUs - at > 10 * MAX_COVER_US) cursor.lastByPid.delete(pid);
    }
    return busy;
  }

  private refuse(device: GpuDevice, kind: string, why: string): void {
    this.unsupported.add(device.index);
    this.report(
      kind,
      `${why}: per-process GPU utilization of GPU ${device.index} is unavailable, so ` +
        'resource_tracker.gpu.process.busy_time is absent there',
    );
  }

  private report(kind: string, message: string): void {
    if (this.reported.has(kind)) return;
    this.reported.add(kind);
    diag.warn(`otel-resource-tracker: ${message}`);
  }
}
