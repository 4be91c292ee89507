import type { GpuDevice, GpuProvider, GpuSample } from './provider.js';

const EMPTY: GpuSample = { devices: [], failures: [] };

/** No GPU: nothing to enumerate, nothing to read. */
export class NoGpuProvider implements GpuProvider {
  readonly name = 'none';

  start(): Promise<readonly GpuDevice[]> {
    return Promise.resolve([]);
  }

  sample(): Promise<GpuSample> {
    return Promise.resolve(EMPTY);
  }

  shutdown(): void {}
}
