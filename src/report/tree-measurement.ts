import { GpuTracking } from '../gpu/gpu-tracking.js';
import type { Libc } from '../probes/libc.js';
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

/**
 * A process tree measured over a run: the tree sampler and, at each of its samples, the GPU readings. Used by
 * `otel-resource-tracker run` (the command's tree) and by OTEL_RESOURCE_TRACKER_REPORT (this process's).
 */
export class TreeMeasurement {
  readonly gpu = new GpuTracking();
  private readonly sampler: ProcessTreeSampler;

  constructor(rootPid: number, libc: Libc | undefined, intervalMs: number) {
    this.sampler = new ProcessTreeSampler(rootPid, libc, intervalMs);
  }

  get samples(): readonly TreeSample[] {
    return this.sampler.samples;
  }

  get gpuSeries(): GpuSeries[] {
    return this.gpu.series();
  }

  start(onSample?: (sample: TreeSample) => void): void {
    this.sampler.start((sample) => {
      this.gpu.read(this.sampler.samples.length - 1);
      onSample?.(sample);
    });
  }

  /** One last sample, then the figures; sampling stops. */
  finish(): MeasuredFigures {
    this.sampler.tick();
    this.gpu.read(this.sampler.samples.length - 1);
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
}
