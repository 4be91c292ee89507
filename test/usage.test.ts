import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  calculateResourceUsage,
  captureResourceSnapshot,
  type ResourceSnapshot,
  ResourceTracker,
  type ResourceUsage,
  resourceUsageToDict,
} from '../src/index.js';
import { memorySampler } from '../src/sampler/memory-sampler.js';
import {
  allocateTouched,
  burnCpu,
  collectGarbage,
  cpuSecondsSince,
  MiB,
  maxRssBytes,
  waitForRssBelow,
} from './helpers/workload.js';

describe('calculateResourceUsage', () => {
  it('reports the CPU burnt between the snapshots, as process.cpuUsage() measures it', () => {
    const outer = process.cpuUsage();
    const start = captureResourceSnapshot();
    const inner = process.cpuUsage();
    burnCpu(300);
    const innerSeconds = cpuSecondsSince(inner);
    const end = captureResourceSnapshot();
    const outerSeconds = cpuSecondsSince(outer);
    const usage = calculateResourceUsage(start, end);
    assert.ok(usage.cpuTimeSeconds >= innerSeconds, `${usage.cpuTimeSeconds} >= ${innerSeconds}`);
    assert.ok(usage.cpuTimeSeconds <= outerSeconds, `${usage.cpuTimeSeconds} <= ${outerSeconds}`);
    assert.ok(Math.abs(usage.cpuTimeSeconds - innerSeconds) <= 0.1 * innerSeconds);
    assert.equal(usage.cpuTimeSeconds, usage.cpuUserSeconds + usage.cpuSystemSeconds);
  });

  it('reports wall-clock seconds bracketed by performance.now()', async () => {
    const outerStart = performance.now();
    const start = captureResourceSnapshot();
    const innerStart = performance.now();
    await sleep(120);
    const innerEnd = performance.now();
    const end = captureResourceSnapshot();
    const outerEnd = performance.now();
    const usage = calculateResourceUsage(start, end);
    assert.ok(usage.wallClockSeconds * 1000 >= innerEnd - innerStart);
    assert.ok(usage.wallClockSeconds * 1000 <= outerEnd - outerStart);
    assert.ok(usage.cpuTimeSeconds < usage.wallClockSeconds, 'sleeping is not CPU');
  });

  it('sees a peak that was freed before the end, when it set a new high (maxRSS)', async () => {
    const baseline = process.memoryUsage.rss();
    // Big enough to lift the process above every earlier high, whatever ran before this test.
    const size = Math.max(0, maxRssBytes() - baseline) + 200 * MiB;
    const start = captureResourceSnapshot();
    let block: Buffer | undefined = allocateTouched(size);
    assert.equal(block.length, size);
    block = undefined;
    await waitForRssBelow(start.memoryRssBytes + 50 * MiB);
    const end = captureResourceSnapshot();
    const usage = calculateResourceUsage(start, end);
    assert.equal(usage.peakMemorySource, 'maxrss');
    assert.ok(
      usage.peakMemoryBytes >= start.memoryRssBytes + 0.95 * size,
      `peak ${usage.peakMemoryBytes / MiB}`,
    );
    assert.ok(end.memoryRssBytes < start.memoryRssBytes + 50 * MiB, 'the end does not see the freed block');
    assert.ok(usage.peakMemoryBytes > Math.max(start.memoryRssBytes, end.memoryRssBytes) + 0.9 * size);
  });

  it('sees a peak below an earlier high through the background sampler', async () => {
    // Make sure the process has been much bigger before, so that maxRSS cannot rise in the window.
    let earlier: Buffer | undefined = allocateTouched(400 * MiB);
    earlier = undefined;
    await waitForRssBelow(maxRssBytes() - 300 * MiB);
    collectGarbage();
    const size = 150 * MiB;
    const tracker = new ResourceTracker().start();
    const startRss = process.memoryUsage.rss();
    // Touched memory can land on pages the process freed earlier and still holds (RSS then barely moves: seen on
    // Node 26 after the span suites), so allocate until RSS really grew by `size` (two blocks at most: the earlier
    // high stays above).
    let blocks: Buffer[] = [];
    do blocks.push(allocateTouched(size));
    while (process.memoryUsage.rss() - startRss < size && blocks.length < 2);
    // Two sampler ticks while the blocks are resident (the sampler may be at its quiet 200 ms interval now).
    const resident = memorySampler.tick;
    for (let waited = 0; memorySampler.tick < resident + 2 && waited < 2000; waited += 10) await sleep(10);
    assert.equal(blocks[0]?.length, size);
    blocks = [];
    await waitForRssBelow(startRss + 30 * MiB);
    const usage = tracker.stop();
    assert.equal(earlier, undefined);
    assert.equal(usage.peakMemorySource, 'sampler');
    assert.ok(usage.peakMemoryBytes >= startRss + 0.95 * size, `peak ${usage.peakMemoryBytes / MiB} MiB`);
    assert.ok(usage.memoryEndBytes < startRss + 30 * MiB, 'the end does not see the freed block');
  });

  it('falls back to the endpoints, and says so, when nothing sampled the window', () => {
    let earlier: Buffer | undefined = allocateTouched(64 * MiB);
    earlier = undefined;
    const start = captureResourceSnapshot();
    // The end as a snapshot taken before any sampler tick and without a new maxRSS high: the case is forced, so
    // that the assertions below always run (left to chance, maxRSS or a running sampler usually decides).
    const end = {
      ...captureResourceSnapshot(),
      samplerTick: start.samplerTick,
      maxRssBytes: start.maxRssBytes,
    };
    const usage = calculateResourceUsage(start, end);
    assert.equal(earlier, undefined);
    assert.equal(usage.peakMemorySource, 'endpoints');
    assert.equal(usage.peakMemoryBytes, Math.max(start.memoryRssBytes, end.memoryRssBytes));
  });

  it('reports GPU memory as 0 without a GPU', () => {
    const usage = calculateResourceUsage(captureResourceSnapshot(), captureResourceSnapshot());
    assert.equal(usage.gpuVramUsedBytes, 0);
    assert.equal(resourceUsageToDict(usage).gpu_vram_used_mb, 0);
  });

  it('rejects snapshots that are not snapshots, naming the field', () => {
    const good = captureResourceSnapshot();
    assert.throws(
      () => calculateResourceUsage(null as unknown as ResourceSnapshot, good),
      /start must be a snapshot/,
    );
    const { cpuUserSeconds: _dropped, ...missing } = good;
    assert.throws(
      () => calculateResourceUsage(good, missing as unknown as ResourceSnapshot),
      /end\.cpuUserSeconds must be a finite number >= 0, got undefined/,
    );
    assert.throws(
      () => calculateResourceUsage({ ...good, wallClockTime: Number.NaN }, good),
      /start\.wallClockTime must be a finite number/,
    );
    assert.throws(
      () => calculateResourceUsage(good, { ...good, gpuVramUsedBytes: -1 }),
      /end\.gpuVramUsedBytes must be a finite number >= 0/,
    );
  });

  it('rejects an end snapshot taken before the start', async () => {
    const first = captureResourceSnapshot();
    await sleep(2);
    const second = captureResourceSnapshot();
    assert.throws(
      () => calculateResourceUsage(second, first),
      /end snapshot was taken before start snapshot/,
    );
  });
});

describe('resourceUsageToDict', () => {
  const usage: ResourceUsage = {
    cpuTimeSeconds: 1.23456,
    cpuUserSeconds: 1,
    cpuSystemSeconds: 0.23456,
    wallClockSeconds: 2.4996,
    peakMemoryBytes: 812.444 * MiB,
    peakMemorySource: 'maxrss',
    memoryStartBytes: 0,
    memoryEndBytes: 0,
    gpuVramUsedBytes: 1.005 * MiB + 100,
  };

  it('has exactly the audit-record keys, rounded as the contract says', () => {
    const dict = resourceUsageToDict(usage);
    assert.deepEqual(Object.keys(dict), [
      'cpu_time_seconds',
      'wall_clock_seconds',
      'peak_memory_mb',
      'gpu_vram_used_mb',
    ]);
    assert.deepEqual(dict, {
      cpu_time_seconds: 1.235,
      wall_clock_seconds: 2.5,
      peak_memory_mb: 812.44,
      gpu_vram_used_mb: 1.01,
    });
  });

  it('rejects what is not a usage, naming the field', () => {
    assert.throws(
      () => resourceUsageToDict(undefined as unknown as ResourceUsage),
      /usage must be a ResourceUsage/,
    );
    assert.throws(
      () => resourceUsageToDict({ ...usage, peakMemoryBytes: Number.POSITIVE_INFINITY }),
      /usage\.peakMemoryBytes must be a finite number/,
    );
  });
});
