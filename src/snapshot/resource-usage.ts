import { assertNonNegativeInteger, assertNonNegativeNumber, describe } from '../internal/validate.js';
import { type PeakMemorySource, peakRssInWindow } from '../sampler/window-peak.js';
import type { ResourceSnapshot } from './resource-snapshot.js';

export type { PeakMemorySource } from '../sampler/window-peak.js';

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
  const peak = peakRssInWindow(
    start.memoryRssBytes,
    end.memoryRssBytes,
    start.maxRssBytes,
    end.maxRssBytes,
    start.samplerTick,
    end.samplerTick,
  );
  return {
    cpuTimeSeconds: cpuUserSeconds + cpuSystemSeconds,
    cpuUserSeconds,
    cpuSystemSeconds,
    wallClockSeconds: end.wallClockTime - start.wallClockTime,
    peakMemoryBytes: peak.bytes,
    peakMemorySource: peak.source,
    memoryStartBytes: start.memoryRssBytes,
    memoryEndBytes: end.memoryRssBytes,
    gpuVramUsedBytes: Math.max(start.gpuVramUsedBytes ?? 0, end.gpuVramUsedBytes ?? 0),
  };
}
