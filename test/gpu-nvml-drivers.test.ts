import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ConfigError } from '../src/config/env.js';
import { GpuSampler } from '../src/gpu/gpu-sampler.js';
import { NvidiaSmiProvider } from '../src/gpu/nvidia-smi/nvidia-smi-provider.js';
import { NvmlProvider } from '../src/gpu/nvml/nvml-provider.js';
import { readZeroCodeConfig } from '../src/zero-code/zero-code-config.js';
import { captureDiag } from './helpers/diag-capture.js';
import { fakeNvidiaSmi, fakeNvmlLibrary, GiB, scratchDir, writeNvmlControl } from './helpers/fake-gpu.js';

const UUID_A = 'GPU-aaaaaaaa-1111-2222-3333-444444444444';
const UUID_B = 'GPU-bbbbbbbb-1111-2222-3333-444444444444';
const MiB = 2 ** 20;

/**
 * Drivers and machines as users have them: a cgroup that hides one of two GPUs, an R470 library without the _v3
 * process list. The fake library is loaded the way the real one is: through detection from the environment.
 */
describe('GPU: NVML on the drivers and machines users have (fake libnvidia-ml.so.1)', () => {
  let control: string;
  beforeEach(() => {
    control = join(scratchDir(), 'control');
    process.env.FAKE_NVML_CONTROL = control;
  });

  /** The real sampler, detecting its provider from the environment as the zero-code entry does. */
  function samplerFor(library: string, env: Record<string, string> = {}): GpuSampler {
    return new GpuSampler({
      env: {
        OTEL_RESOURCE_TRACKER_NVML_LIBRARY: library,
        OTEL_RESOURCE_TRACKER_GPU_PROVIDER: 'nvml',
        ...env,
      },
      idleIntervalMs: 3_600_000,
      activeIntervalMs: 3_600_000,
    });
  }

  for (const call of ['handle', 'name', 'uuid', 'memory'] as const) {
    it(`one GPU denied (NO_PERMISSION from its ${call} call): the other is tracked, one line names the denied one`, async () => {
      writeNvmlControl(control, {
        devices: [
          { uuid: UUID_A, totalBytes: 80 * GiB, used: [GiB] },
          {
            uuid: UUID_B,
            totalBytes: 24 * GiB,
            used: [3 * GiB],
            processes: [{ pid: process.pid, bytes: GiB }],
          },
        ],
        deny: [{ device: 0, call, code: 4 }],
      });
      const captured = captureDiag();
      const sampler = samplerFor(fakeNvmlLibrary());
      try {
        await sampler.start();
        // As CUDA in that cgroup numbers it: the one readable GPU is device 0.
        assert.equal(sampler.visibleDeviceCount(), 1);
        const reading = sampler.latest(0);
        assert.equal(reading?.uuid, UUID_B);
        assert.equal(reading?.usedBytes, 3 * GiB);
        assert.equal(reading?.processUsedBytes, GiB);
        assert.equal(sampler.currentHealth.up, true);
        const denied = captured.lines.filter((line) => line.message.includes('NVML_ERROR_NO_PERMISSION'));
        assert.equal(denied.length, 1, JSON.stringify(captured.lines));
        assert.equal(denied[0]?.level, 'warn');
        assert.match(denied[0]?.message ?? '', /\(0\).*not tracked/);
      } finally {
        sampler.shutdown();
        captured.restore();
      }
    });
  }

  it('every GPU denied: NVML fails to start with the reason, nothing is tracked', async () => {
    writeNvmlControl(control, {
      devices: [{ uuid: UUID_A, totalBytes: 80 * GiB, used: [GiB] }],
      deny: [{ device: 0, call: 'handle', code: 4 }],
    });
    const provider = new NvmlProvider(fakeNvmlLibrary());
    await assert.rejects(provider.start(), /nvmlDeviceGetHandleByIndex_v2\(0\).*NVML_ERROR_NO_PERMISSION/);
  });

  describe('R470-era library (no _v3 process list, no detail list)', () => {
    const PROCESSES = [
      { pid: process.pid, bytes: 1234 * MiB },
      { pid: 777, bytes: -1 },
      { pid: 31337, bytes: 77 * MiB },
    ];

    for (const [variant, layout] of [
      ['r470', 'v2/24'],
      ['v1-only', 'v1/16'],
    ] as const) {
      it(`reads this process's GPU memory through ${layout.replace('/', ' (')}-byte records), ${variant}`, async () => {
        writeNvmlControl(control, {
          devices: [{ uuid: UUID_A, totalBytes: 80 * GiB, used: [5 * GiB], processes: PROCESSES }],
        });
        const provider = new NvmlProvider(fakeNvmlLibrary(variant));
        try {
          await provider.start();
          const processes = (await provider.sample()).devices[0]?.processes;
          assert.deepEqual(processes, [
            { pid: process.pid, usedBytes: 1234 * MiB },
            { pid: 777, usedBytes: undefined },
            { pid: 31337, usedBytes: 77 * MiB },
          ]);
          assert.equal(provider.processRecordLayout, layout);
        } finally {
          provider.shutdown();
        }
      });
    }

    it('through the sampler: the per-process figure is there', async () => {
      writeNvmlControl(control, {
        devices: [{ uuid: UUID_A, totalBytes: 80 * GiB, used: [5 * GiB], processes: PROCESSES }],
      });
      const sampler = samplerFor(fakeNvmlLibrary('r470'));
      try {
        await sampler.start();
        assert.equal(sampler.latest(0)?.processUsedBytes, 1234 * MiB);
      } finally {
        sampler.shutdown();
      }
    });
  });

  describe('MIG: a GPU split into instances', () => {
    const UUID_MIG = 'GPU-cccccccc-1111-2222-3333-444444444444';
    const migDevice = () => ({
      uuid: UUID_MIG,
      totalBytes: 80 * GiB,
      used: [20 * GiB],
      migInstances: 3,
      migProcesses: [
        { slot: 0, pid: 4242, bytes: GiB },
        { slot: 1, pid: process.pid, bytes: 3 * GiB },
      ],
    });

    it("this process's memory is read from the instances (the device's own list has no sizes)", async () => {
      writeNvmlControl(control, { devices: [migDevice()] });
      const sampler = samplerFor(fakeNvmlLibrary());
      try {
        await sampler.start();
        assert.equal(sampler.latest(0)?.usedBytes, 20 * GiB);
        assert.equal(sampler.latest(0)?.processUsedBytes, 3 * GiB);
      } finally {
        sampler.shutdown();
      }
    });

    it('CUDA_VISIBLE_DEVICES=MIG-…: device 0 is the GPU holding that instance, with this process memory', async () => {
      writeNvmlControl(control, {
        devices: [{ uuid: UUID_A, totalBytes: 80 * GiB, used: [GiB] }, migDevice()],
      });
      const sampler = samplerFor(fakeNvmlLibrary(), { CUDA_VISIBLE_DEVICES: 'MIG-1-cccccccc' });
      try {
        await sampler.start();
        assert.equal(sampler.visibleDeviceCount(), 1);
        assert.equal(sampler.latest(0)?.uuid, UUID_MIG);
        assert.equal(sampler.latest(0)?.processUsedBytes, 3 * GiB);
      } finally {
        sampler.shutdown();
      }
    });

    it('a driver that lists this process without its memory: no figure, one line saying why', async () => {
      writeNvmlControl(control, {
        devices: [
          { uuid: UUID_A, totalBytes: 80 * GiB, used: [GiB], processes: [{ pid: process.pid, bytes: -1 }] },
        ],
      });
      const captured = captureDiag();
      const sampler = samplerFor(fakeNvmlLibrary());
      try {
        await sampler.start();
        for (let tick = 0; tick < 3; tick++) await sampler.tick();
        assert.equal(sampler.latest(0)?.processUsedBytes, undefined);
        const lines = captured.lines.filter((line) => line.message.includes('without its memory'));
        assert.equal(lines.length, 1, JSON.stringify(captured.lines));
      } finally {
        sampler.shutdown();
        captured.restore();
      }
    });
  });

  describe('what reaches terminals and labels', () => {
    const ESCAPES = '\u001b]0;pwned\u0007\u001b[2J\u001b[31mH100\u009b1m';
    // biome-ignore lint/suspicious/noControlCharactersInRegex: no control character may come through
    const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

    it('NVML: escape sequences in a GPU name or UUID are replaced, never passed on', async () => {
      writeNvmlControl(control, {
        devices: [{ name: `NVIDIA ${ESCAPES}`, uuid: `GPU-${ESCAPES}`, totalBytes: 8 * GiB, used: [GiB] }],
      });
      const sampler = samplerFor(fakeNvmlLibrary());
      try {
        await sampler.start();
        const reading = sampler.latest(0);
        assert.match(reading?.name ?? '', /^NVIDIA \ufffd.*H100/);
        assert.doesNotMatch(reading?.name ?? '', CONTROL);
        assert.doesNotMatch(reading?.uuid ?? '', CONTROL);
      } finally {
        sampler.shutdown();
      }
    });

    it('nvidia-smi: the same for names and driver versions it prints', async () => {
      const smi = fakeNvidiaSmi(scratchDir(), {
        gpus: `0, GPU-aaaa, NVIDIA ${ESCAPES}, 81559, 1024, 80535, 37, 550\u001b[8m.54\n`,
      });
      const provider = new NvidiaSmiProvider(5000, smi.binary);
      try {
        const [device] = await provider.start();
        assert.doesNotMatch(device?.name ?? '', CONTROL);
        assert.doesNotMatch(device?.driverVersion ?? '', CONTROL);
        assert.match(device?.name ?? '', /H100/);
      } finally {
        provider.shutdown();
      }
    });

    it('OTEL_RESOURCE_TRACKER_GPU_DEVICES: 10^22 or an index past 1023 is an error naming the variable and value', () => {
      for (const value of ['10000000000000000000000', '1024', '0,99999']) {
        assert.throws(
          () => readZeroCodeConfig({ OTEL_RESOURCE_TRACKER_GPU_DEVICES: value }),
          (error: unknown) =>
            error instanceof ConfigError &&
            /OTEL_RESOURCE_TRACKER_GPU_DEVICES must be "all" or device indices from 0 to 1023/.test(
              error.message,
            ) &&
            error.message.includes(value),
          value,
        );
      }
      assert.deepEqual(
        readZeroCodeConfig({ OTEL_RESOURCE_TRACKER_GPU_DEVICES: '0,1023' }).processor.gpuDevices,
        [0, 1023],
      );
    });
  });
});
