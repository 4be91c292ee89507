import { GpuTracking } from '../gpu/gpu-tracking.js';
import type { Libc } from '../probes/libc.js';
import { DownsampledSeries } from '../sampler/downsampled-series.js';
import { ProcessTreeSampler, type TreeSample } from '../sampler/process-tree-sampler.js';
import type { RunFigures } from './run-figures.js';
import type { GpuSeries } from './write-report.js';

/** The figures a measurement gives; the caller adds what only it knows (command, pid, ending, wall time). */
export type MeasuredFigures = Pick<
  RunFigures,
  | 'cpuUserSeconds'
  | 'cpuSystemSeconds'
  | 'peakTreeRssBytes'
  | 'peakTreeRssAtSeconds'
  | 'largestProcessPeakBytes'
  | 'processesSeen'
  | 'gpus'
>;

/** One point of the run's curves: a tree sample and the GPU memory the tree held then, per device index. */
interface CurvePoint extends TreeSample {
  readonly gpuBytes: readonly number[];
}

/**
 * Points kept for a run's curves, whatever its length: 4 096 at most (the report draws at most 4 000), so that an
 * 8-hour run at 100 ms keeps the resolution of one point per ~14 s and the memory of a few hundred KiB.
 */
export const CURVE_POINTS = 4096;

/** The higher of two readings that may be unknown (NaN): a merged point keeps the peak. */
function peak(a: number | undefined, b: number | undefined): number {
  const known = [a, b].filter((value): value is number => value !== undefined && Number.isFinite(value));
  return known.length === 0 ? Number.NaN : Math.max(...known);
}

/** Two neighbouring points as one: the later time and running CPU total, the peaks of RSS, processes and GPU. */
function mergePoints(earlier: CurvePoint, later: CurvePoint): CurvePoint {
  const devices = Math.max(earlier.gpuBytes.length, later.gpuBytes.length);
  const gpuBytes: number[] = [];
  for (let device = 0; device < devices; device++) {
    gpuBytes.push(peak(earlier.gpuBytes[device], later.gpuBytes[device]));
  }
  return {
    atMs: later.atMs,
    cpuSeconds: later.cpuSeconds,
    rssBytes: Math.max(earlier.rssBytes, later.rssBytes),
    processCount: Math.max(earlier.processCount, later.processCount),
    gpuBytes,
  };
}

/**
 * A process tree measured over a run: the tree sampler and, at each of its samples, the GPU readings, kept as a
 * bounded curve (see CURVE_POINTS). Used by `otel-resource-tracker run` (the command's tree) and by
 * OTEL_RESOURCE_TRACKER_REPORT (this process's).
 */
export class TreeMeasurement {
  readonly gpu = new GpuTracking();
  private readonly sampler: ProcessTreeSampler;
  private readonly curve = new DownsampledSeries<CurvePoint>(CURVE_POINTS, mergePoints);
  private readonly gpuDevices = new Set<number>();

  constructor(rootPid: number, libc: Libc | undefined, intervalMs: number, procRoot?: string) {
    this.sampler = new ProcessTreeSampler(rootPid, libc, intervalMs, procRoot);
  }

  /** The curve's points (tree samples; each the merge of `samplesPerPoint` of them on a long run). */
  get samples(): TreeSample[] {
    return this.curve.points();
  }

  /** Tree samples taken in all, and how many each point of `samples` stands for. */
  get samplesTaken(): number {
    return this.curve.readings;
  }

  get samplesPerPoint(): number {
    return this.curve.readingsPerPoint;
  }

  /** GPU memory of the tree per device, one value per point of `samples`. */
  get gpuSeries(): GpuSeries[] {
    const points = this.curve.points();
    return [...this.gpuDevices]
      .sort((a, b) => a - b)
      .map((device) => ({
        label: `GPU ${device} (tree)`,
        values: points.map((point) => point.gpuBytes[device] ?? Number.NaN),
      }));
  }

  /** Descriptors the tree sampler holds open now. */
  get openDescriptors(): number {
    return this.sampler.openDescriptors;
  }

  start(onSample?: (sample: TreeSample) => void): void {
    this.sampler.start((sample) => {
      this.record(sample);
      onSample?.(sample);
    });
  }

  /** One sample now, outside the timer (the end of a run; tests drive it directly). */
  tick(): TreeSample {
    const sample = this.sampler.tick();
    this.record(sample);
    return sample;
  }

  /** One last sample, then the figures; sampling stops. */
  finish(): MeasuredFigures {
    this.tick();
    this.sampler.stop();
    const { userSeconds, systemSeconds } = this.sampler.cpu;
    return {
      cpuUserSeconds: userSeconds,
      cpuSystemSeconds: systemSeconds,
      peakTreeRssBytes: this.sampler.peakTreeRssBytes,
      peakTreeRssAtSeconds: this.sampler.peakTreeRssAtMs / 1000,
      largestProcessPeakBytes: this.sampler.largestProcessPeakBytes,
      processesSeen: this.sampler.processesSeen,
      gpus: this.gpu.figures(),
    };
  }

  private record(sample: TreeSample): void {
    const gpuBytes: number[] = [];
    for (const [device, bytes] of this.gpu.read()) {
      this.gpuDevices.add(device);
      gpuBytes[device] = bytes;
    }
    this.curve.push({ ...sample, gpuBytes });
  }
}
