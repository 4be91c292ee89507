import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseGpuQuery } from '../src/gpu/nvidia-smi/nvidia-smi-output.js';
import { findOnPath, NvidiaSmiProvider } from '../src/gpu/nvidia-smi/nvidia-smi-provider.js';
import { fakeNvidiaSmi, scratchDir } from './helpers/fake-gpu.js';

const MiB = 1024 * 1024;
const GPUS = [
  '0, GPU-aaaaaaaa-1111, NVIDIA H100 80GB HBM3, 81559, 1024, 80535, 37, 550.54.15',
  '1, GPU-bbbbbbbb-2222, NVIDIA H100 80GB HBM3, 81559, 2048, 79511, 0, 550.54.15',
  '',
].join('\n');
const APPS = `GPU-aaaaaaaa-1111, 4242, 512\nGPU-aaaaaaaa-1111, 4343, [N/A]\n`;

function callsOf(calls: string): string[] {
  try {
    return readFileSync(calls, 'utf8').trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

describe('GPU: nvidia-smi fallback, against a fake nvidia-smi', () => {
  it('is found on PATH without spawning anything', () => {
    const dir = scratchDir();
    const { binary } = fakeNvidiaSmi(dir, { gpus: GPUS });
    assert.equal(findOnPath('nvidia-smi', `/nonexistent:${dir}`), binary);
    assert.equal(findOnPath('nvidia-smi', '/nonexistent'), undefined);
  });

  it('reads devices, memory, utilization and processes', async () => {
    const dir = scratchDir();
    const smi = fakeNvidiaSmi(dir, { gpus: GPUS, apps: APPS });
    const provider = new NvidiaSmiProvider(2000, smi.binary);
    const devices = await provider.start();
    assert.deepEqual(
      devices.map((device) => [
        device.index,
        device.uuid,
        device.name,
        device.memoryTotalBytes,
        device.driverVersion,
      ]),
      [
        [0, 'GPU-aaaaaaaa-1111', 'NVIDIA H100 80GB HBM3', 81559 * MiB, '550.54.15'],
        [1, 'GPU-bbbbbbbb-2222', 'NVIDIA H100 80GB HBM3', 81559 * MiB, '550.54.15'],
      ],
    );
    const sample = await provider.sample();
    assert.equal(sample.devices[0]?.usedBytes, 1024 * MiB);
    assert.equal(sample.devices[0]?.freeBytes, 80535 * MiB);
    assert.equal(sample.devices[0]?.utilization, 0.37);
    assert.deepEqual(sample.devices[0]?.processes, [
      { pid: 4242, usedBytes: 512 * MiB },
      { pid: 4343, usedBytes: undefined },
    ]);
    assert.deepEqual(sample.devices[1]?.processes, []);
  });

  it('reads N/A and [Not Supported] as unknown: the device is skipped with a reason, never given a made-up number', () => {
    const { rows, skipped } = parseGpuQuery(
      [
        '0, GPU-a, Tesla T4, 15360, N/A, N/A, [Not Supported], [N/A]',
        '',
        '1, GPU-b, Tesla T4, 15360, 100, 15260, [Not Supported], 535.104.05',
        '   ',
      ].join('\n'),
    );
    assert.deepEqual(skipped, [{ index: 0, uuid: 'GPU-a', reason: 'memory.used is "N/A"' }]);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.usedBytes, 100 * MiB);
    assert.equal(rows[0]?.utilization, undefined);
    assert.equal(rows[0]?.driverVersion, '535.104.05');
  });

  it('rejects output in an unexpected format with a clear message', async () => {
    assert.throws(
      () => parseGpuQuery('NVIDIA-SMI has failed because it could not communicate with the driver'),
      /printed 1 fields on line 1 where 8 .* were asked: unexpected output format/,
    );
    assert.throws(
      () => parseGpuQuery('0, GPU-a, T4, lots, 1, 2, 3, 550.54.15'),
      /printed "lots" for memory.total on line 1, not a number of MiB/,
    );
    const dir = scratchDir();
    const smi = fakeNvidiaSmi(dir, { gpus: 'garbage, everywhere\n' });
    await assert.rejects(new NvidiaSmiProvider(2000, smi.binary).start(), /unexpected output format/);
  });

  it('reports a non-zero exit with what nvidia-smi said', async () => {
    const dir = scratchDir();
    const smi = fakeNvidiaSmi(dir, {
      exitCode: 9,
      stderr: 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver',
    });
    await assert.rejects(
      new NvidiaSmiProvider(2000, smi.binary).start(),
      /nvidia-smi --query-gpu=.* failed \(9\): NVIDIA-SMI has failed/,
    );
  });

  it('kills a hung nvidia-smi at the timeout without ever blocking the event loop', async () => {
    const dir = scratchDir();
    const smi = fakeNvidiaSmi(dir, { hangSeconds: 30 });
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const started = Date.now();
    await assert.rejects(
      new NvidiaSmiProvider(300, smi.binary).start(),
      /did not answer within 300 ms and was killed/,
    );
    delay.disable();
    const elapsed = Date.now() - started;
    // Killed at the timeout, not after the 30 s the fake would hang for.
    assert.ok(elapsed >= 290 && elapsed < 30_000 / 2, `timed out after ${elapsed} ms`);
    const maxBlockedMs = delay.max / 1e6;
    // A blocking run would stall the loop for the whole 300 ms; a quarter of that leaves room for GC and a busy CI.
    assert.ok(maxBlockedMs < 75, `the event loop was blocked for ${maxBlockedMs.toFixed(1)} ms`);
  });

  it('never runs twice at once, and backs off after a failure', async () => {
    const dir = scratchDir();
    const good = fakeNvidiaSmi(dir, { gpus: GPUS, apps: APPS });
    const provider = new NvidiaSmiProvider(2000, good.binary);
    await provider.start();
    const before = callsOf(good.calls).length;
    const [first, second] = [provider.sample(), provider.sample()];
    assert.equal(first, second, 'the second request shares the run in flight');
    await first;
    assert.equal(callsOf(good.calls).length - before, 2, 'one --query-gpu and one --query-compute-apps');

    const failing = fakeNvidiaSmi(scratchDir(), { exitCode: 3 });
    const broken = new NvidiaSmiProvider(2000, failing.binary);
    await assert.rejects(broken.sample(), /failed \(3\)/);
    const runs = callsOf(failing.calls).length;
    await assert.rejects(broken.sample(), /failed \(3\)/);
    await assert.rejects(broken.sample(), /failed \(3\)/);
    assert.equal(callsOf(failing.calls).length, runs, 'no new run while backing off');
  });
});
