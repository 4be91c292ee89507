import type { GpuProcessMemory } from '../provider.js';
import { readU64 } from './nvml-library.js';

/**
 * Decoding the per-process records NVML writes, whose size has changed under one function name.
 *
 * `nvmlDeviceGetComputeRunningProcesses_v3` writes `nvmlProcessInfo_t` records whose size depends on the driver,
 * not on the `_v3` in the name: 24 bytes (`nvmlProcessInfo_v2_t`: pid, usedGpuMemory, gpuInstanceId,
 * computeInstanceId) on R510–R530 and again on recent drivers, 32 bytes on R535 (usedGpuCcProtectedMemory
 * appended), and 16-byte records (`nvmlProcessInfo_v1_t`: pid, usedGpuMemory) have been reported. Reading them at
 * the wrong stride gives garbage PIDs and sizes. So the buffer is filled with a sentinel byte before the call and
 * the stride is read off what the driver actually wrote: the last record always ends in a byte that is 0x00 or
 * 0xFF (the top byte of a little-endian size or instance id), never the sentinel, so the written length is
 * count × stride exactly, and the three candidate lengths (16, 24, 32 × count) never coincide. Every record is
 * then checked for sanity (PID in the kernel's range, size no larger than the device) before it is believed.
 *
 * `nvmlDeviceGetRunningProcessDetailList` (versioned struct, 32-byte `nvmlProcessDetail_v1_t` records) has no
 * such ambiguity and is preferred where the driver has it.
 */

/** Sizes a driver may write for one `nvmlProcessInfo_t`, in the order they are tried. */
export const PROCESS_RECORD_STRIDES = [24, 32, 16] as const;
export type ProcessRecordStride = (typeof PROCESS_RECORD_STRIDES)[number];
/** The largest record: buffers are sized for it, so that no driver writes past their end. */
export const MAX_PROCESS_RECORD_BYTES = 32;
/** `nvmlProcessDetail_v1_t`: pid u32 @0, usedGpuMemory u64 @8, gpuInstanceId @16, computeInstanceId @20, cc u64 @24. */
export const PROCESS_DETAIL_BYTES = 32;

/** Filled into the buffer before the call: 0xA5 is neither a zero nor an all-ones byte. */
export const SENTINEL_BYTE = 0xa5;
/** ULLONG_MAX: NVML's "not available" (e.g. under MIG without permission). */
const NOT_AVAILABLE = 2 ** 64 - 1;
/** PID_MAX_LIMIT on 64-bit Linux: no PID is larger. */
const PID_LIMIT = 4_194_304;

/** The record size each call writes where it is fixed: the v1 and _v2 calls (R470 on) never changed theirs. */
export const FIXED_RECORD_STRIDES = { v1: 16, v2: 24 } as const;

/** How many bytes the driver wrote into a sentinel-filled buffer for `count` records. */
function writtenLength(buffer: Buffer, count: number): number {
  let written = Math.min(buffer.length, count * MAX_PROCESS_RECORD_BYTES);
  while (written > 0 && buffer[written - 1] === SENTINEL_BYTE) written--;
  return written;
}

/** What was written for `count` records, or undefined when it fits no known record size. */
export function detectStride(buffer: Buffer, count: number): ProcessRecordStride | undefined {
  if (count === 0) return PROCESS_RECORD_STRIDES[0];
  const written = writtenLength(buffer, count);
  return PROCESS_RECORD_STRIDES.find((stride) => written === count * stride);
}

/** `stride` when what was written is exactly `count` records of it (a call whose record size is fixed), else undefined. */
export function confirmStride(buffer: Buffer, count: number, stride: number): number | undefined {
  return count === 0 || writtenLength(buffer, count) === count * stride ? stride : undefined;
}

/**
 * The records as process memory, or undefined when any of them is not believable (a PID out of range, a size
 * larger than the device): an unknown figure, never a garbage one.
 */
export function decodeProcessRecords(
  buffer: Buffer,
  count: number,
  stride: number,
  deviceTotalBytes: number,
): GpuProcessMemory[] | undefined {
  const processes: GpuProcessMemory[] = [];
  for (let entry = 0; entry < count; entry++) {
    const offset = entry * stride;
    const pid = buffer.readUInt32LE(offset);
    const used = readU64(buffer, offset + 8);
    const available = used < NOT_AVAILABLE;
    if (pid === 0 || pid > PID_LIMIT || (available && used > deviceTotalBytes)) return undefined;
    processes.push({ pid, usedBytes: available ? used : undefined });
  }
  return processes;
}
