import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { noGpuMemorySource, setGpuMemorySource } from '../src/gpu/gpu-memory-source.js';
import type { GpuSampler } from '../src/gpu/gpu-sampler.js';
import { NvmlProvider } from '../src/gpu/nvml/nvml-provider.js';
import { captureResourceSnapshot, SpanAttributes as keys, ResourceTracker } from '../src/index.js';
import { fakeNvmlLibrary, GiB, manualGpuSampler, scratchDir, writeNvmlControl } from './helpers/fake-gpu.js';
import { createTracing } from './helpers/tracing.js';

const MiB = 1024 * 1024;
const UUID_A = 'GPU-aaaaaaaa-0000-0000-0000-000000000001';
const UUID_B = 'GPU-bbbbbbbb-0000-0000-0000-000000000002';

describe('GPU figures in snapshots, trackers and spans (fake NVML through the real sampler)', () => {
  let control: string;
  let sampler: GpuSampler;

  /** Rewrites the fake's script; the fake re-reads it when its modification time changes. */
  async function script(usedA: number[], usedB: number[]): Promise<void> {
    await sleep(5);
    writeNvmlControl(control, {
      devices: [
        {
          name: 'Fake H100',
          uuid: UUID_A,
          totalBytes: 80 * GiB,
          used: usedA,
          processes: [{ pid: process.pid, bytes: GiB }],
        },
        { name: 'Fake H100', uuid: UUID_B, totalBytes: 80 * GiB, used: usedB, processes: [] },
      ],
    });
  }

  beforeEach(async () => {
    control = join(scratchDir(), 'control');
    await script([10 * GiB], [20 * GiB]);
    process.env.FAKE_NVML_CONTROL = control;
    const provider = new NvmlProvider(fakeNvmlLibrary());
    sampler = manualGpuSampler(provider);
    await sampler.start();
    setGpuMemorySource(sampler);
  });

  afterEach(() => {
    setGpuMemorySource(noGpuMemorySource);
    sampler.shutdown();
  });

  it('puts the cached device reading in snapshots, per gpuIndex', () => {
    const first = captureResourceSnapshot();
    assert.equal(first.gpuVramUsedBytes, 10 * GiB);
    assert.equal(first.gpuVramTotalBytes, 80 * GiB);
    assert.equal(captureResourceSnapshot({ gpuIndex: 1 }).gpuVramUsedBytes, 20 * GiB);
    assert.equal(captureResourceSnapshot({ gpuIndex: 2 }).gpuVramUsedBytes, undefined);
  });

  it('reports GPU memory in the tracker usage and the audit dict', async () => {
    const tracker = new ResourceTracker().start();
    await script([12 * GiB], [20 * GiB]);
    await sampler.tick();
    tracker.stop();
    assert.equal(tracker.getUsage().gpuVramUsedBytes, 12 * GiB);
    assert.equal(tracker.getUsageDict().gpu_vram_used_mb, (12 * GiB) / MiB);
  });

  it("sets start, end, delta, peak, limit, id, name and this process's memory on a span", async () => {
    const tracing = createTracing({ attributes: 'full' });
    const span = tracing.tracer.startSpan('inference');
    await script([30 * GiB, 50 * GiB, 15 * GiB], [20 * GiB]);
    for (let i = 0; i < 3; i++) await sampler.tick();
    span.end();
    const attributes = tracing.attributesOf('inference');
    assert.deepEqual(
      Object.fromEntries(
        Object.entries(attributes).filter(
          ([key]) => key.startsWith('resource_tracker.gpu.') || key.startsWith('hw.'),
        ),
      ),
      {
        [keys.ATTR_GPU_MEMORY_START]: 10 * GiB,
        [keys.ATTR_GPU_MEMORY_END]: 15 * GiB,
        [keys.ATTR_GPU_MEMORY_DELTA]: 5 * GiB,
        [keys.ATTR_GPU_MEMORY_PEAK]: 50 * GiB,
        [keys.ATTR_GPU_MEMORY_LIMIT]: 80 * GiB,
        [keys.ATTR_GPU_PROCESS_MEMORY]: GiB,
        // The fake driver gives per-process utilization, and nothing of ours ran: 0, not absent.
        [keys.ATTR_GPU_PROCESS_BUSY_TIME]: 0,
        [keys.ATTR_GPU_UTILIZATION]: 0,
        [keys.ATTR_HW_ID]: UUID_A,
        [keys.ATTR_HW_MODEL]: 'Fake H100',
      },
    );
    await tracing.shutdown();
  });

  it('sums several GPUs and lists their ids (gpuDevices: [0, 1] or "all")', async () => {
    for (const gpuDevices of [[0, 1], 'all'] as const) {
      const tracing = createTracing({ gpuDevices, attributes: 'full' });
      tracing.tracer.startSpan('multi').end();
      const attributes = tracing.attributesOf('multi');
      assert.equal(attributes[keys.ATTR_GPU_MEMORY_END], 30 * GiB);
      assert.equal(attributes[keys.ATTR_GPU_MEMORY_LIMIT], 160 * GiB);
      assert.equal(attributes[keys.ATTR_GPU_PROCESS_MEMORY], GiB);
      assert.deepEqual(attributes[keys.ATTR_GPU_IDS], [UUID_A, UUID_B]);
      assert.equal(attributes[keys.ATTR_HW_ID], undefined);
      await tracing.shutdown();
    }
  });

  it('sets no GPU keys with gpu: false', async () => {
    const tracing = createTracing({ gpu: false });
    tracing.tracer.startSpan('cpu-only').end();
    assert.deepEqual(
      Object.keys(tracing.attributesOf('cpu-only')).filter(
        (key) => key.startsWith('resource_tracker.gpu.') || key.startsWith('hw.'),
      ),
      [],
    );
    await tracing.shutdown();
  });
});
