import type { GpuBusyMark } from './gpu-memory-reading.js';
import { getGpuMemorySource, readGpuMemory } from './gpu-memory-source.js';

/** GPU figures of one device over a run (the report's DeviceFigures). */
export interface GpuDeviceFigures {
  readonly index: number;
  readonly uuid: string | undefined;
  readonly model: string | undefined;
  /** Memory the process tree held on the device: its highest sampled value and the last one. */
  readonly treePeakBytes: number | undefined;
  readonly treeEndBytes: number | undefined;
  /** Memory used on the device by every process, highest sampled, and the device's size; undefined where the
   * driver publishes no device memory (an Intel integrated GPU). */
  readonly usedPeakBytes: number | undefined;
  readonly totalBytes: number | undefined;
  /**
   * GPU seconds the process tree used on the device from the first reading to the last (NVML per-process
   * utilization, DRM engine time); undefined where the driver gives no per-process utilization or a reading in
   * between had none.
   */
  readonly treeBusySeconds?: number | undefined;
}

interface DeviceState {
  uuid: string | undefined;
  model: string | undefined;
  treePeak: number;
  treeEnd: number;
  treeKnown: boolean;
  usedPeak: number | undefined;
  total: number | undefined;
  /** The cumulative busy marks of the first and the latest reading. */
  busyFirst: GpuBusyMark | undefined;
  busyLast: GpuBusyMark | undefined;
}

/**
 * GPU memory over a run, from the GPU sampler's cache at each tree sample: per device, what the process tree holds
 * (the sampler's per-process figure covers this process and its descendants, which the subreaper keeps the whole
 * tree) and what the device has in use, with their peaks. No device, no figures.
 */
export class GpuTracking {
  private readonly devices = new Map<number, DeviceState>();

  /**
   * Reads every visible device: this reading's tree figure per device (NaN where it is not known), for the
   * caller's history of the run; only the running figures are kept here.
   */
  read(): Map<number, number> {
    const tree = new Map<number, number>();
    const count = getGpuMemorySource().visibleDeviceCount?.() ?? 0;
    for (let device = 0; device < count; device++) {
      const reading = readGpuMemory(device);
      let state = this.devices.get(device);
      if (reading === undefined) {
        if (state !== undefined) tree.set(device, Number.NaN);
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
          busyFirst: reading.busy,
          busyLast: reading.busy,
        };
        this.devices.set(device, state);
      }
      state.uuid = reading.uuid;
      state.model = reading.name;
      if (reading.totalBytes !== undefined) state.total = reading.totalBytes;
      state.busyLast = reading.busy;
      if (reading.usedBytes !== undefined) state.usedPeak = Math.max(state.usedPeak ?? 0, reading.usedBytes);
      if (reading.processUsedBytes === undefined) state.treeKnown = false;
      else {
        state.treePeak = Math.max(state.treePeak, reading.processUsedBytes);
        state.treeEnd = reading.processUsedBytes;
      }
      tree.set(device, reading.processUsedBytes ?? Number.NaN);
    }
    return tree;
  }

  /** The latest tree figure per device (for the progress line). */
  latest(): Map<number, number> {
    const latest = new Map<number, number>();
    for (const [device, state] of this.devices) {
      if (state.treeKnown) latest.set(device, state.treeEnd);
    }
    return latest;
  }

  figures(): GpuDeviceFigures[] {
    return [...this.devices].map(([index, state]) => ({
      index,
      uuid: state.uuid,
      model: state.model,
      treePeakBytes: state.treeKnown ? state.treePeak : undefined,
      treeEndBytes: state.treeKnown ? state.treeEnd : undefined,
      usedPeakBytes: state.usedPeak,
      totalBytes: state.total,
      treeBusySeconds: busyBetween(state.busyFirst, state.busyLast),
    }));
  }
}

/** The tree's GPU seconds between two marks; undefined where either has none or a reading between had none. */
function busyBetween(first: GpuBusyMark | undefined, last: GpuBusyMark | undefined): number | undefined {
  if (first?.processBusySeconds === undefined || last?.processBusySeconds === undefined) return undefined;
  if (first.processBusyGaps !== last.processBusyGaps) return undefined;
  return Math.max(0, last.processBusySeconds - first.processBusySeconds);
}
