import { replaceUnprintable } from '../../internal/printable.js';
import { GpuError, type GpuProcessMemory } from '../provider.js';

export const GPU_QUERY_FIELDS = [
  'index',
  'uuid',
  'name',
  'memory.total',
  'memory.used',
  'memory.free',
  'utilization.gpu',
  'driver_version',
] as const;
export const APPS_QUERY_FIELDS = ['gpu_uuid', 'pid', 'used_memory'] as const;

/** The two fixed command lines run (no shell, nothing interpolated from outside). */
export const GPU_QUERY_ARGS = [`--query-gpu=${GPU_QUERY_FIELDS.join(',')}`, '--format=csv,noheader,nounits'];
export const APPS_QUERY_ARGS = [
  `--query-compute-apps=${APPS_QUERY_FIELDS.join(',')}`,
  '--format=csv,noheader,nounits',
];

const MIB = 1024 * 1024;

export interface GpuRow {
  index: number;
  uuid: string;
  name: string;
  totalBytes: number;
  usedBytes: number;
  freeBytes: number;
  utilization: number | undefined;
  driverVersion: string | undefined;
}

/** A GPU whose memory figures nvidia-smi does not know this time. */
export interface SkippedRow {
  index: number;
  uuid: string;
  reason: string;
}

/** "N/A", "[N/A]", "[Not Supported]", "[Unknown Error]"…: the value is not known. */
function isUnknown(value: string): boolean {
  return value === '' || value === 'N/A' || /^\[.*\]$/.test(value);
}

/** The output's lines as fields, each with control characters (escape sequences) made harmless: names and
 * UUIDs are printed to terminals and exported as labels. */
function lines(output: string): string[][] {
  return output
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line) => line.split(',').map((field) => replaceUnprintable(field.trim())));
}

function mebibytes(value: string, field: string, line: number): number | undefined {
  if (isUnknown(value)) return undefined;
  const number = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(number)) {
    throw new GpuError(
      `nvidia-smi printed "${value}" for ${field} on line ${line}, not a number of MiB: unexpected output format`,
      'nvidia-smi-format',
    );
  }
  return number * MIB;
}

/**
 * Rows of `--query-gpu=index,uuid,name,memory.total,memory.used,memory.free,utilization.gpu,driver_version
 * --format=csv,noheader,nounits`. A row without a known memory total or used figure is left out (and said in
 * `skipped`), never filled with a made-up number; a line of the wrong shape is an unexpected format: an error.
 */
export function parseGpuQuery(output: string): { rows: GpuRow[]; skipped: SkippedRow[] } {
  const rows: GpuRow[] = [];
  const skipped: SkippedRow[] = [];
  lines(output).forEach((fields, lineIndex) => {
    const line = lineIndex + 1;
    if (fields.length !== GPU_QUERY_FIELDS.length) {
      throw new GpuError(
        `nvidia-smi printed ${fields.length} fields on line ${line} where ${GPU_QUERY_FIELDS.length} ` +
          `(${GPU_QUERY_FIELDS.join(',')}) were asked: unexpected output format`,
        'nvidia-smi-format',
      );
    }
    const [index, uuid, name, total, used, free, utilization, driverVersion] = fields as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    if (!/^\d+$/.test(index)) {
      throw new GpuError(
        `nvidia-smi printed "${index}" as a GPU index on line ${line}: unexpected output format`,
        'nvidia-smi-format',
      );
    }
    const totalBytes = mebibytes(total, 'memory.total', line);
    const usedBytes = mebibytes(used, 'memory.used', line);
    if (totalBytes === undefined || usedBytes === undefined) {
      const field = totalBytes === undefined ? 'memory.total' : 'memory.used';
      skipped.push({
        index: Number(index),
        uuid,
        reason: `${field} is "${totalBytes === undefined ? total : used}"`,
      });
      return;
    }
    const utilizationPercent = isUnknown(utilization) ? undefined : Number(utilization);
    rows.push({
      index: Number(index),
      uuid,
      name,
      totalBytes,
      usedBytes,
      freeBytes: mebibytes(free, 'memory.free', line) ?? Math.max(0, totalBytes - usedBytes),
      utilization:
        utilizationPercent === undefined || !Number.isFinite(utilizationPercent)
          ? undefined
          : utilizationPercent / 100,
      driverVersion: isUnknown(driverVersion) ? undefined : driverVersion,
    });
  });
  return { rows, skipped };
}

/** `--query-compute-apps=gpu_uuid,pid,used_memory`, grouped by GPU UUID. */
export function parseAppsQuery(output: string): Map<string, GpuProcessMemory[]> {
  const byGpu = new Map<string, GpuProcessMemory[]>();
  lines(output).forEach((fields, lineIndex) => {
    const line = lineIndex + 1;
    if (fields.length !== APPS_QUERY_FIELDS.length || !/^\d+$/.test(fields[1] ?? '')) {
      throw new GpuError(
        `nvidia-smi printed "${fields.join(',')}" on line ${line} of the process list: unexpected output format`,
        'nvidia-smi-format',
      );
    }
    const [uuid, pid, used] = fields as [string, string, string];
    const list = byGpu.get(uuid) ?? [];
    list.push({ pid: Number(pid), usedBytes: mebibytes(used, 'used_memory', line) });
    byGpu.set(uuid, list);
  });
  return byGpu;
}
