import { assertNonNegativeInteger, assertNonNegativeNumber, describe } from '../internal/validate.js';
import { memorySampler } from '../sampler/memory-sampler.js';
import type { ResourceSnapshot } from './resource-snapshot.js';

/**
 * How `peakMemoryBytes` was found:
 * - `maxrss`: the kernel's high-water mark rose inside the window, so the peak is exact (KiB precision).
 * - `sampler`: the process had been bigger before; the peak is the highest background sample in the window
 *   (misses spikes shorter than the sampling interval, and anything while a synchronous task blocked the loop).
 * - `sampler-partial`: as `sampler`, but the window outlived the sample-by-sample history, so its oldest part
 *   was counted only in whole coarse blocks.
 * - `endpoints`: no sample fell in the window (no tracker was running); max of the RSS at start and end.
 */
export type PeakMemorySource = 'maxrss' | 'sampler' | 'sampler-partial' | 'endpoints';

/** What the work between two snapshots cost. */
export interface ResourceUsage {
  /** User + system CPU seconds the process used in the window. */
  readonly cpuTimeSeconds: number;
  readonly cpuUserSeconds: number;
  readonly cpuSystemSeconds: number;
  /** Seconds elapsed, on the monotonic clock. */
  readonly wallClockSeconds: number;
  /** Highest RSS of the process inside the window, bytes. */
  readonly peakMemoryBytes: number;
  readonly peakMemorySource: PeakMemorySource;
  readonly memoryStartBytes: number;
  readonly memoryEndBytes: number;
  /** Device memory in use on the GPU at the higher of start and end, bytes; 0 without a GPU. */
  readonly gpuVramUsedBytes: number;
}

const NUMERIC_FIELDS = [
  'cpuUserSeconds',
  'cpuSystemSeconds',
  'memoryRssBytes',
  'maxRssBytes',
  'wallClockTime',
] as const;

function assertSnapshot(value: unknown, name: string): asserts value is ResourceSnapshot {
  if (value === null || typeof value !== 'object') {
    throw new TypeError(`${name} must be a snapshot from captureResourceSnapshot(), got ${describe(value)}`);
  }
  const record = value as Record<string, unknown>;
  for (const field of NUMERIC_FIELDS) {
    assertNonNegativeNumber(record[field], `${name}.${field}`);
  }
  assertNonNegativeInteger(record.samplerTick, `${name}.samplerTick`);
  for (const field of ['gpuVramUsedBytes', 'gpuVramTotalBytes'] as const) {
    if (record[field] !== undefined) assertNonNegativeNumber(record[field], `${name}.${field}`);
  }
}

function assertOrdered(start: ResourceSnapshot, end: ResourceSnapshot): void {
  const later = (field: 'wallClockTime' | 'cpuUserSeconds' | 'cpuSystemSeconds' | 'samplerTick') => {
    if (end[field] < start[field]) {
      throw new RangeError(
        `end snapshot was taken before start snapshot (end.${field} ${end[field]} < start.${field} ${start[field]}); ` +
          'pass them as calculateResourceUsage(start, end), both from this process',
      );
    }
  };
  later('wallClockTime');
  later('cpuUserSeconds');
  later('cpuSystemSeconds');
  later('samplerTick');
}

/** What the process used between `start` and `end` (two snapshots from this process, in that order). */
export function calculateResourceUsage(start: ResourceSnapshot, end: ResourceSnapshot): ResourceUsage {
  assertSnapshot(start, 'start');
  assertSnapshot(end, 'end');
  assertOrdered(start, end);
  const cpuUserSeconds = end.cpuUserSeconds - start.cpuUserSeconds;
  const cpuSystemSeconds = end.cpuSystemSeconds - start.cpuSystemSeconds;
  const { peakMemoryBytes, peakMemorySource } = peakMemory(start, end);
  return {
    cpuTimeSeconds: cpuUserSeconds + cpuSystemSeconds,
    cpuUserSeconds,
    cpuSystemSeconds,
    wallClockSeconds: end.wallClockTime - start.wallClockTime,
    peakMemoryBytes,
    peakMemorySource,
    memoryStartBytes: start.memoryRssBytes,
    memoryEndBytes: end.memoryRssBytes,
    gpuVramUsedBytes: Math.max(start.gpuVramUsedBytes ?? 0, end.gpuVramUsedBytes ?? 0),
  };
}

function peakMemory(
  start: ResourceSnapshot,
  end: ResourceSnapshot,
): { peakMemoryBytes: number; peakMemorySource: PeakMemorySource } {
  const endpoints = Math.max(start.memoryRssBytes, end.memoryRssBytes);
  if (end.maxRssBytes > start.maxRssBytes) {
    // The process set a new high inside the window, so that high is the window's peak.
    return { peakMemoryBytes: Math.max(end.maxRssBytes, endpoints), peakMemorySource: 'maxrss' };
  }
  const sampled = memorySampler.maxRssBetween(start.samplerTick, end.samplerTick);
  if (sampled === undefined) return { peakMemoryBytes: endpoints, peakMemorySource: 'endpoints' };
  return {
    peakMemoryBytes: Math.max(sampled.value, endpoints),
    peakMemorySource: sampled.complete ? 'sampler' : 'sampler-partial',
  };
}
