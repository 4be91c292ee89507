import { getGpuMemorySource, readGpuMemory } from '../gpu/gpu-memory-source.js';
import type { DeviceFigures } from '../report/run-figures.js';
import type { GpuSeries } from '../report/write-report.js';

interface DeviceState {
  uuid: string | undefined;
  model: string | undefined;
  treePeak: number;
  treeEnd: number;
  treeKnown: boolean;
  usedPeak: number | undefined;
  total: number | undefined;
  readonly series: number[];
}

/**
 * GPU memory over a run, from the GPU sampler's cache at each tree sample: per device, what the process tree holds
 * (the sampler's per-process figure covers this process and its descendants, which the subreaper keeps the whole
 * tree) and what the device has in use, with their peaks. No device, no figures.
 */
export class GpuTracking {
  private readonly devices = new Map<number, DeviceState>();

  /** Reads every visible device for sample number `sampleIndex`. */
  read(sampleIndex: number): void {
    const count = getGpuMemorySource().visibleDeviceCount?.() ?? 0;
    for (let device = 0; device < count; device++) {
      const reading = readGpuMemory(device);
      let state = this.devices.get(device);
      if (reading === undefined) {
        if (state !== undefined) state.series[sampleIndex] = Number.NaN;
        continue;
      }
      if (state === undefined) {
        state = {
          uuid: undefined,
          model: undefined,
          treePeak: 0,
          treeEnd: 0,
          treeKnown: true,
          usedPeak: undefined,
          total: undefined,
          series: [],
        };
        this.devices.set(device, state);
      }
      state.uuid = reading.uuid;
      state.model = reading.name;
      if (reading.totalBytes !== undefined) state.total = reading.totalBytes;
      if (reading.usedBytes !== undefined) state.usedPeak = Math.max(state.usedPeak ?? 0, reading.usedBytes);
      if (reading.processUsedBytes === undefined) state.treeKnown = false;
      else {
        state.treePeak = Math.max(state.treePeak, reading.processUsedBytes);
        state.treeEnd = reading.processUsedBytes;
      }
      state.series[sampleIndex] = reading.processUsedBytes ?? Number.NaN;
    }
  }

  /** The latest tree figure per device (for the progress line). */
  latest(): Map<number, number> {
    const latest = new Map<number, number>();
    for (const [device, state] of this.devices) {
      if (state.treeKnown) latest.set(device, state.treeEnd);
    }
    return latest;
  }

  figures(): DeviceFigures[] {
    return [...this.devices].map(([index, state]) => ({
      index,
      uuid: state.uuid,
      model: state.model,
      treePeakBytes: state.treeKnown ? state.treePeak : undefined,
      treeEndBytes: state.treeKnown ? state.treeEnd : undefined,
      usedPeakBytes: state.usedPeak,
      totalBytes: state.total,
    }));
  }

  series(): GpuSeries[] {
    return [...this.devices].map(([device, state]) => ({
      label: `GPU ${device} (tree)`,
      values: state.series,
    }));
  }
}
