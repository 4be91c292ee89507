import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGpuProvider } from '../src/gpu/detect.js';
import { getGpuMemorySource, noGpuMemorySource, setGpuMemorySource } from '../src/gpu/gpu-memory-source.js';
import { GpuSampler } from '../src/gpu/gpu-sampler.js';
import { ResourceTracker, type ResourceUsage } from '../src/index.js';
import { memorySampler } from '../src/sampler/memory-sampler.js';
import { captureDiag } from './helpers/diag-capture.js';
import { burnCpu, cpuSecondsSince } from './helpers/workload.js';

function assertCpuClose(usage: ResourceUsage, measured: number): void {
  assert.ok(
    Math.abs(usage.cpuTimeSeconds - measured) <= 0.1 * measured,
    `tracked ${usage.cpuTimeSeconds} s vs cpuUsage ${measured} s`,
  );
}

describe('ResourceTracker', () => {
  let leasesBefore = 0;
  before(async () => {
    // Span processors of earlier tests give their sampler lease back a second after their last span.
    for (let waited = 0; memorySampler.leaseCount > 0 && waited < 3000; waited += 20) await sleep(20);
  });
  beforeEach(() => {
    leasesBefore = memorySampler.leaseCount;
  });
  afterEach(() =>
    assert.equal(memorySampler.leaseCount, leasesBefore, 'every tracker gave its sampler lease back'),
  );

  it('tracks a synchronous function and returns the usage directly', () => {
    const before = process.cpuUsage();
    const usage = ResourceTracker.track(() => burnCpu(150));
    const measured = cpuSecondsSince(before);
    assert.ok(!(usage instanceof Promise));
    assertCpuClose(usage, measured);
  });

  it('tracks an async function: CPU across awaits, wall clock across sleeps', async () => {
    const before = process.cpuUsage();
    const wallBefore = performance.now();
    const usage = await ResourceTracker.track(async () => {
      for (let i = 0; i < 3; i++) {
        burnCpu(50);
        await sleep(30);
      }
    });
    const measured = cpuSecondsSince(before);
    const wall = (performance.now() - wallBefore) / 1000;
    assertCpuClose(usage, measured);
    assert.ok(usage.wallClockSeconds >= 0.09 && usage.wallClockSeconds <= wall);
  });

  it('works with using: the block end stops it', () => {
    const tracker = new ResourceTracker();
    {
      using _tracked = tracker.start();
      burnCpu(30);
      assert.equal(tracker.running, true);
    }
    assert.equal(tracker.running, false);
    assert.ok(tracker.getUsage().cpuTimeSeconds >= 0.03 * 0.9);
  });

  it('works with await using', async () => {
    const tracker = new ResourceTracker();
    {
      await using _tracked = tracker.start();
      await sleep(20);
    }
    assert.ok(tracker.getUsage().wallClockSeconds >= 0.019);
    assert.deepEqual(Object.keys(tracker.getUsageDict()), [
      'cpu_time_seconds',
      'wall_clock_seconds',
      'peak_memory_mb',
      'gpu_vram_used_mb',
    ]);
  });

  it('rethrows what the work throws and still records its usage', async () => {
    const syncError = new Error('sync failure');
    assert.throws(
      () =>
        ResourceTracker.track(() => {
          burnCpu(40);
          throw syncError;
        }),
      (error) => error === syncError,
    );
    assert.ok((ResourceTracker.usageOf(syncError)?.cpuTimeSeconds ?? 0) >= 0.036);

    const asyncError = new Error('async failure');
    await assert.rejects(
      ResourceTracker.track(async () => {
        await sleep(25);
        throw asyncError;
      }),
      (error) => error === asyncError,
    );
    assert.ok((ResourceTracker.usageOf(asyncError)?.wallClockSeconds ?? 0) >= 0.024);

    const tracker = new ResourceTracker();
    const outerStart = performance.now();
    assert.throws(() =>
      tracker.run(() => {
        burnCpu(20);
        throw 'not an object';
      }),
    );
    const outer = (performance.now() - outerStart) / 1000;
    assert.ok(tracker.getUsage().cpuTimeSeconds >= 0.019, 'the 20 ms it burned before throwing');
    assert.ok(tracker.getUsage().wallClockSeconds <= outer);
    assert.equal(ResourceTracker.usageOf('not an object'), undefined);
  });

  it('passes the result of run() through', async () => {
    assert.equal(
      new ResourceTracker().run(() => 42),
      42,
    );
    assert.equal(await new ResourceTracker().run(async () => 'done'), 'done');
  });

  it('throws clear errors when used out of order', () => {
    const tracker = new ResourceTracker();
    assert.throws(() => tracker.getUsage(), /no usage yet, the tracker is not started/);
    assert.throws(() => tracker.stop(), /never started/);
    tracker.start();
    assert.throws(() => tracker.start(), /already started/);
    assert.throws(() => tracker.getUsageDict(), /still running; call stop\(\) first/);
    tracker.stop();
    assert.throws(() => tracker.stop(), /already stopped/);
    assert.throws(() => tracker.start(), /create a new ResourceTracker/);
    tracker[Symbol.dispose](); // harmless after stop
  });

  it('rejects bad arguments, naming them', () => {
    assert.throws(
      () => ResourceTracker.track(42 as unknown as () => void),
      /must be a function, got number 42/,
    );
    assert.throws(() => new ResourceTracker({ gpuIndex: -2 }), /ResourceTracker options\.gpuIndex/);
    assert.throws(
      () => new ResourceTracker({ device: 1 } as unknown as { gpuIndex: number }),
      /unknown option "device"/,
    );
  });

  describe('without a working GPU', () => {
    afterEach(() => setGpuMemorySource(noGpuMemorySource));

    it('reports GPU memory as 0 and throws nothing when detection finds no GPU', async () => {
      // Auto detection on a machine without NVML or nvidia-smi: the sampler settles on "none".
      const sampler = new GpuSampler({
        env: {},
        startProvider: () =>
          startGpuProvider({
            provider: 'auto',
            nvmlLibrary: '/nonexistent/libnvidia-ml.so.1',
            nvidiaSmiTimeoutMs: 500,
          }),
      });
      const savedPath = process.env.PATH;
      process.env.PATH = '/nonexistent';
      try {
        await sampler.start();
      } finally {
        process.env.PATH = savedPath;
      }
      assert.equal(sampler.currentHealth.provider, 'none');
      setGpuMemorySource(sampler);
      const tracker = new ResourceTracker();
      tracker.run(() => burnCpu(5));
      assert.equal(tracker.getUsage().gpuVramUsedBytes, 0);
      assert.equal(tracker.getUsageDict().gpu_vram_used_mb, 0);
      assert.equal(getGpuMemorySource(), sampler);
      sampler.shutdown();
    });

    it('reports 0 with one debug line when the GPU source breaks', () => {
      const diag = captureDiag();
      try {
        setGpuMemorySource({
          name: 'broken',
          latest: () => {
            throw new Error('GPU is lost');
          },
        });
        for (let i = 0; i < 5; i++) {
          const usage = ResourceTracker.track(() => undefined);
          assert.equal(usage.gpuVramUsedBytes, 0);
        }
        const gpuLines = diag.lines.filter((line) => line.message.includes('GPU'));
        assert.equal(gpuLines.length, 1);
        assert.equal(gpuLines[0]?.level, 'debug');
      } finally {
        diag.restore();
      }
    });

    it('reports the cached reading of a working source (the seam the GPU layer plugs into)', () => {
      setGpuMemorySource({
        name: 'scripted',
        latest: (index) => (index === 1 ? { usedBytes: 3 * 2 ** 30, totalBytes: 16 * 2 ** 30 } : undefined),
      });
      const onDevice1 = new ResourceTracker({ gpuIndex: 1 });
      onDevice1.run(() => undefined);
      assert.equal(onDevice1.getUsageDict().gpu_vram_used_mb, 3072);
      assert.equal(ResourceTracker.track(() => undefined).gpuVramUsedBytes, 0, 'device 0 has no reading');
    });
  });
});
