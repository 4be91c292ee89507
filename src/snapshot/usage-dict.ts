import { describe } from '../internal/validate.js';
import type { ResourceUsage } from './resource-usage.js';

/** The audit-record form of a usage: these four keys and roundings are a contract, keep them. */
export interface ResourceUsageDict {
  cpu_time_seconds: number;
  wall_clock_seconds: number;
  peak_memory_mb: number;
  gpu_vram_used_mb: number;
}

const BYTES_PER_MB = 1024 * 1024;

function round(value: number, decimals: number): number {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
}

function field(usage: Record<string, unknown>, key: keyof ResourceUsage): number {
  const value = usage[key];
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new TypeError(`usage.${key} must be a finite number, got ${describe(value)}`);
  }
  return value;
}

/** `{ cpu_time_seconds (3 dp), wall_clock_seconds (3 dp), peak_memory_mb (2 dp), gpu_vram_used_mb (2 dp) }`; MB = MiB. */
export function resourceUsageToDict(usage: ResourceUsage): ResourceUsageDict {
  if (usage === null || typeof usage !== 'object') {
    throw new TypeError(
      `usage must be a ResourceUsage from calculateResourceUsage(), got ${describe(usage)}`,
    );
  }
  const record = usage as unknown as Record<string, unknown>;
  return {
    cpu_time_seconds: round(field(record, 'cpuTimeSeconds'), 3),
    wall_clock_seconds: round(field(record, 'wallClockSeconds'), 3),
    peak_memory_mb: round(field(record, 'peakMemoryBytes') / BYTES_PER_MB, 2),
    gpu_vram_used_mb: round(field(record, 'gpuVramUsedBytes') / BYTES_PER_MB, 2),
  };
}
