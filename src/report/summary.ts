import { escapeUnprintable } from '../internal/printable.js';
import { cpuSeconds, gpuTreePeakBytes, type RunFigures } from './run-figures.js';

const MiB = 1024 * 1024;

function mebibytes(bytes: number | undefined): string {
  return bytes === undefined ? 'unknown' : `${(bytes / MiB).toFixed(1)} MiB`;
}

function seconds(value: number): string {
  return `${value.toFixed(3)} s`;
}

/** How the command ended, in words. */
export function ending(figures: RunFigures): string {
  if (figures.signal !== undefined) return `killed by ${figures.signal}`;
  return `exit code ${figures.exitCode ?? 'unknown'}`;
}

/** The short table printed on stderr at the end of a run (the command's name escaped: it goes to a terminal). */
export function formatSummary(figures: RunFigures, notes: readonly string[] = []): string {
  const command = escapeUnprintable(figures.command);
  const rows: Array<[string, string]> = [
    ['command', `${command} (${ending(figures)})`],
    ['wall', seconds(figures.wallSeconds)],
    [
      'CPU',
      `${seconds(cpuSeconds(figures))} (user ${seconds(figures.cpuUserSeconds)}, system ${seconds(figures.cpuSystemSeconds)})`,
    ],
    ['peak tree RSS', `${mebibytes(figures.peakTreeRssBytes)} (${figures.processesSeen} processes seen)`],
    ['largest process', `${mebibytes(figures.largestProcessPeakBytes)} (its own peak RSS)`],
  ];
  for (const gpu of figures.gpus) {
    rows.push([
      `GPU ${gpu.index}`,
      `tree peak ${mebibytes(gpu.treePeakBytes)}, device used peak ${mebibytes(gpu.usedPeakBytes)} of ${mebibytes(gpu.totalBytes)}${gpu.model ? ` (${escapeUnprintable(gpu.model)})` : ''}`,
    ]);
  }
  for (const note of notes) rows.push(['note', note]);
  const width = Math.max(...rows.map(([label]) => label.length));
  return `otel-resource-tracker: ${command}\n${rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`).join('\n')}\n`;
}

/** The machine-readable figures: the seed API's four keys (same rounding) first, then everything else. */
export function jsonFigures(figures: RunFigures, wrapperCpuSeconds?: number): Record<string, unknown> {
  return {
    cpu_time_seconds: Number(cpuSeconds(figures).toFixed(3)),
    wall_clock_seconds: Number(figures.wallSeconds.toFixed(3)),
    peak_memory_mb: Number((figures.peakTreeRssBytes / MiB).toFixed(2)),
    gpu_vram_used_mb: Number((gpuTreePeakBytes(figures) / MiB).toFixed(2)),
    command: figures.command,
    pid: figures.pid,
    exit_code: figures.exitCode ?? null,
    signal: figures.signal ?? null,
    cpu_user_seconds: figures.cpuUserSeconds,
    cpu_system_seconds: figures.cpuSystemSeconds,
    peak_tree_rss_bytes: figures.peakTreeRssBytes,
    peak_tree_rss_at_seconds: figures.peakTreeRssAtSeconds,
    largest_process_peak_rss_bytes: figures.largestProcessPeakBytes,
    processes_seen: figures.processesSeen,
    ...(wrapperCpuSeconds === undefined ? {} : { wrapper_cpu_seconds: wrapperCpuSeconds }),
    gpus: figures.gpus.map((gpu) => ({
      index: gpu.index,
      uuid: gpu.uuid ?? null,
      model: gpu.model ?? null,
      tree_peak_bytes: gpu.treePeakBytes ?? null,
      tree_end_bytes: gpu.treeEndBytes ?? null,
      used_peak_bytes: gpu.usedPeakBytes,
      total_bytes: gpu.totalBytes,
    })),
  };
}
