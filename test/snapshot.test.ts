import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { noGpuMemorySource, setGpuMemorySource } from '../src/gpu/gpu-memory-source.js';
import { captureResourceSnapshot } from '../src/index.js';
import { burnCpu, MiB } from './helpers/workload.js';

function vmSizeFromStatus(): number {
  const match = /^VmSize:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  assert.ok(match?.[1], 'VmSize in /proc/self/status');
  return Number(match[1]) * 1024;
}

describe('captureResourceSnapshot', () => {
  it('has CPU time between process.cpuUsage() read just before and just after', () => {
    burnCpu(20);
    const before = process.cpuUsage();
    const snapshot = captureResourceSnapshot();
    const after = process.cpuUsage();
    // getrusage has microsecond resolution, as does cpuUsage: the snapshot sits between the two reads.
    const userMicros = Math.round(snapshot.cpuUserSeconds * 1e6);
    const systemMicros = Math.round(snapshot.cpuSystemSeconds * 1e6);
    assert.ok(userMicros >= before.user && userMicros <= after.user, `user ${userMicros}`);
    assert.ok(systemMicros >= before.system && systemMicros <= after.system, `system ${systemMicros}`);
    assert.ok(snapshot.cpuUserSeconds > 0);
  });

  it('has RSS and VMS matching independent reads of the kernel figures', () => {
    const rssBefore = process.memoryUsage.rss();
    const vmsBefore = vmSizeFromStatus();
    const snapshot = captureResourceSnapshot();
    const rssAfter = process.memoryUsage.rss();
    const vmsAfter = vmSizeFromStatus();
    const slack = 2 * MiB; // reading /proc/self/status itself allocates a little
    assert.ok(
      snapshot.memoryRssBytes >= Math.min(rssBefore, rssAfter) - slack,
      `rss ${snapshot.memoryRssBytes}`,
    );
    assert.ok(
      snapshot.memoryRssBytes <= Math.max(rssBefore, rssAfter) + slack,
      `rss ${snapshot.memoryRssBytes}`,
    );
    assert.ok(snapshot.memoryVmsBytes !== undefined);
    assert.ok(
      snapshot.memoryVmsBytes >= Math.min(vmsBefore, vmsAfter) - slack,
      `vms ${snapshot.memoryVmsBytes}`,
    );
    assert.ok(
      snapshot.memoryVmsBytes <= Math.max(vmsBefore, vmsAfter) + slack,
      `vms ${snapshot.memoryVmsBytes}`,
    );
    assert.ok(snapshot.maxRssBytes >= snapshot.memoryRssBytes - slack);
  });

  it('has a monotonic wall clock in seconds, matching performance.now()', async () => {
    const before = performance.now();
    const first = captureResourceSnapshot();
    const middle = performance.now();
    await sleep(20);
    const second = captureResourceSnapshot();
    const after = performance.now();
    assert.ok(first.wallClockTime * 1000 >= before && first.wallClockTime * 1000 <= middle);
    assert.ok(second.wallClockTime * 1000 <= after);
    assert.ok(second.wallClockTime > first.wallClockTime);
  });

  it('has no GPU fields when no GPU is visible', () => {
    setGpuMemorySource(noGpuMemorySource);
    const snapshot = captureResourceSnapshot({ gpuIndex: 0 });
    assert.equal(snapshot.gpuVramUsedBytes, undefined);
    assert.equal(snapshot.gpuVramTotalBytes, undefined);
  });

  it('rejects bad options, naming them', () => {
    assert.throws(() => captureResourceSnapshot({ gpuIndex: -1 }), /gpuIndex must be a non-negative integer/);
    assert.throws(() => captureResourceSnapshot({ gpuIndex: 1.5 }), /gpuIndex.*number 1\.5/);
    assert.throws(
      () => captureResourceSnapshot({ gpuIndex: '0' } as unknown as { gpuIndex: number }),
      /gpuIndex.*the string "0"/,
    );
    assert.throws(
      () => captureResourceSnapshot({ gpuindex: 0 } as unknown as { gpuIndex: number }),
      /unknown option "gpuindex"/,
    );
    assert.throws(
      () => captureResourceSnapshot('fast' as unknown as { gpuIndex: number }),
      /must be an object/,
    );
  });
});
