import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gpuProviderConfigFromEnv, startGpuProvider } from '../src/gpu/detect.js';
import { GpuSampler, gpuSamplingFromEnv } from '../src/gpu/gpu-sampler.js';
import { NvmlProvider } from '../src/gpu/nvml/nvml-provider.js';
import { captureDiag } from './helpers/diag-capture.js';
import {
  type FakeNvmlVariant,
  fakeNvmlLibrary,
  GiB,
  manualGpuSampler,
  scratchDir,
  writeNvmlControl,
} from './helpers/fake-gpu.js';

const UUID_A = 'GPU-aaaaaaaa-1111-2222-3333-444444444444';
const UUID_B = 'GPU-bbbbbbbb-1111-2222-3333-444444444444';

/** An NVML provider on a fresh copy of the fake library, scripted by `control`. */
function nvmlWith(control: string, variant: FakeNvmlVariant = 'full'): NvmlProvider {
  process.env.FAKE_NVML_CONTROL = control;
  return new NvmlProvider(fakeNvmlLibrary(variant));
}

function samplerOver(
  provider: NvmlProvider,
  options: { env?: Record<string, string>; pidNamespaceLink?: string } = {},
) {
  return manualGpuSampler(provider, {
    env: options.env ?? {},
    ...(options.pidNamespaceLink === undefined ? {} : { pidNamespaceLink: options.pidNamespaceLink }),
  });
}

describe('GPU: NVML provider through koffi, against a fake libnvidia-ml.so.1', () => {
  let dir: string;
  let control: string;
  beforeEach(() => {
    dir = scratchDir();
    control = join(dir, 'control');
  });

  it('enumerates devices and reads memory, utilization and processes as scripted', async () => {
    writeNvmlControl(control, {
      devices: [
        {
          name: 'NVIDIA H100 80GB HBM3',
          uuid: UUID_A,
          totalBytes: 80 * GiB,
          used: [1 * GiB, 5 * GiB],
          utilizationPercent: 37,
          processes: [{ pid: 4242, bytes: 3 * GiB }],
        },
        { name: 'NVIDIA A10', uuid: UUID_B, totalBytes: 24 * GiB, used: [2 * GiB] },
      ],
    });
    const provider = nvmlWith(control);
    const devices = await provider.start();
    assert.deepEqual(devices, [
      {
        index: 0,
        uuid: UUID_A,
        name: 'NVIDIA H100 80GB HBM3',
        memoryTotalBytes: 80 * GiB,
        driverVersion: '550.54.15',
      },
      { index: 1, uuid: UUID_B, name: 'NVIDIA A10', memoryTotalBytes: 24 * GiB, driverVersion: '550.54.15' },
    ]);
    // start() read memory once per device (for the totals): the curve of device 0 is at its second value now.
    const sample = await provider.sample();
    assert.equal(sample.failures.length, 0);
    assert.equal(sample.devices[0]?.usedBytes, 5 * GiB);
    assert.equal(sample.devices[0]?.freeBytes, 75 * GiB);
    assert.equal(sample.devices[0]?.utilization, 0.37);
    assert.deepEqual(sample.devices[0]?.processes, [{ pid: 4242, usedBytes: 3 * GiB }]);
    assert.equal(sample.devices[1]?.usedBytes, 2 * GiB);
    assert.deepEqual(sample.devices[1]?.processes, []);
    provider.shutdown();
  });

  it('follows a scripted memory curve in the sampler: latest, windowed peak, running peak', async () => {
    writeNvmlControl(control, {
      devices: [
        { uuid: UUID_A, totalBytes: 16 * GiB, used: [1 * GiB, 1 * GiB, 2 * GiB, 9 * GiB, 3 * GiB, 3 * GiB] },
      ],
    });
    const sampler = samplerOver(nvmlWith(control));
    await sampler.start(); // reads 1 (totals) and 2 (first sample)
    const atStart = sampler.latest(0);
    assert.equal(atStart?.usedBytes, 1 * GiB);
    for (let i = 0; i < 3; i++) await sampler.tick(); // 2, 9, 3 GiB
    const atEnd = sampler.latest(0);
    assert.equal(atEnd?.usedBytes, 3 * GiB);
    assert.equal(sampler.maxUsedSince(0, atStart?.sampleNumber ?? 0), 9 * GiB);
    assert.equal(sampler.devices[0]?.peakUsedBytes, 9 * GiB);
    assert.equal(atEnd?.totalBytes, 16 * GiB);
    assert.equal(atEnd?.uuid, UUID_A);
    sampler.shutdown();
  });

  it("counts this process's and its children's GPU memory, not other processes'", async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)'], { stdio: 'ignore' });
    try {
      writeNvmlControl(control, {
        devices: [
          {
            uuid: UUID_A,
            totalBytes: 16 * GiB,
            used: [8 * GiB],
            processes: [
              { pid: process.pid, bytes: 1 * GiB },
              { pid: child.pid ?? 0, bytes: 2 * GiB },
              { pid: 1, bytes: 4 * GiB },
              { pid: 999_999, bytes: 1 * GiB },
            ],
          },
        ],
      });
      const sampler = samplerOver(nvmlWith(control));
      await sampler.start();
      assert.equal(sampler.latest(0)?.processUsedBytes, 3 * GiB);
      sampler.shutdown();
    } finally {
      child.kill();
    }
  });

  it('says per-process memory is unavailable inside a foreign PID namespace, instead of reporting 0', async () => {
    const link = join(dir, 'pid-ns');
    symlinkSync('pid:[4026532999]', link);
    writeNvmlControl(control, {
      devices: [
        { uuid: UUID_A, totalBytes: 16 * GiB, used: [8 * GiB], processes: [{ pid: 77, bytes: GiB }] },
      ],
    });
    const diag = captureDiag();
    try {
      const sampler = samplerOver(nvmlWith(control), { pidNamespaceLink: link });
      await sampler.start();
      await sampler.tick();
      assert.equal(sampler.latest(0)?.processUsedBytes, undefined);
      assert.equal(sampler.latest(0)?.usedBytes, 8 * GiB, 'device figures still work');
      assert.equal(diag.lines.filter((line) => /own PID namespace/.test(line.message)).length, 1);
      sampler.shutdown();
    } finally {
      diag.restore();
    }
  });

  it('maps CUDA_VISIBLE_DEVICES (indices and GPU- UUIDs) so that device 0 is what CUDA calls device 0', async () => {
    writeNvmlControl(control, {
      devices: [
        { uuid: UUID_A, totalBytes: 10 * GiB, used: [1 * GiB] },
        { uuid: UUID_B, totalBytes: 20 * GiB, used: [2 * GiB] },
        { uuid: 'GPU-cccccccc-0000', totalBytes: 30 * GiB, used: [3 * GiB] },
      ],
    });
    for (const [value, expected] of [
      ['2,0', [30, 10]],
      ['GPU-bbbb', [20]],
      ['1,7,0', [20]],
      ['', []],
    ] as const) {
      const sampler = samplerOver(nvmlWith(control), { env: { CUDA_VISIBLE_DEVICES: value } });
      await sampler.start();
      assert.deepEqual(
        sampler.devices.map((state) => state.device.memoryTotalBytes / GiB),
        expected,
        `CUDA_VISIBLE_DEVICES=${value}`,
      );
      assert.equal(sampler.latest(0)?.totalBytes, expected[0] === undefined ? undefined : expected[0] * GiB);
      sampler.shutdown();
    }
  });

  describe('faults', () => {
    it("init failing: a clear error with NVML's own words", async () => {
      writeNvmlControl(control, { devices: [], fail: { init: 9 } });
      await assert.rejects(
        nvmlWith(control).start(),
        /nvmlInit_v2 failed: NVML_ERROR_DRIVER_NOT_LOADED \(9\): Driver Not Loaded/,
      );
    });

    it('library missing: a clear error naming the path', async () => {
      await assert.rejects(
        new NvmlProvider(join(dir, 'nowhere', 'libnvidia-ml.so.1')).start(),
        /cannot load the NVML library .*nowhere\/libnvidia-ml\.so\.1/,
      );
    });

    it('a missing symbol (no per-process call): processes unavailable, memory still read', async () => {
      writeNvmlControl(control, { devices: [{ uuid: UUID_A, totalBytes: 8 * GiB, used: [GiB] }] });
      const provider = nvmlWith(control, 'no-processes');
      await provider.start();
      const sample = await provider.sample();
      assert.equal(sample.devices[0]?.usedBytes, GiB);
      assert.equal(sample.devices[0]?.processes, undefined);
      provider.shutdown();
    });

    it('device memory "used" leaves out what the driver reserves (nvmlDeviceGetMemoryInfo_v2), as nvidia-smi does', async () => {
      const MiB = 2 ** 20;
      const device = { uuid: UUID_A, totalBytes: 80 * GiB, used: [3 * GiB], reservedBytes: 614 * MiB };
      const read = async (variant: FakeNvmlVariant, memoryV2?: number) => {
        writeNvmlControl(control, {
          devices: [device],
          ...(memoryV2 === undefined ? {} : { memoryV2 }),
        });
        const provider = nvmlWith(control, variant);
        await provider.start();
        const sample = (await provider.sample()).devices[0];
        provider.shutdown();
        return sample;
      };
      const v2 = await read('full');
      assert.equal(v2?.usedBytes, 3 * GiB);
      assert.equal(v2?.freeBytes, 80 * GiB - 3 * GiB - 614 * MiB);
      assert.equal(v2?.totalBytes, 80 * GiB);
      // A driver without the _v2 call, or one that refuses its version: the v1 figure, reserved memory included.
      for (const [variant, code] of [
        ['no-memory-v2', undefined],
        ['full', 25],
        ['full', 3],
      ] as const) {
        const v1 = await read(variant, code);
        assert.equal(v1?.usedBytes, 3 * GiB + 614 * MiB, `${variant} ${code}`);
        assert.equal(v1?.freeBytes, 80 * GiB - 3 * GiB - 614 * MiB);
      }
    });

    describe('process records: the size the driver really writes', () => {
      const MiB = 2 ** 20;
      // Odd sizes and PIDs, so that a record read at the wrong stride cannot look right by accident.
      const PROCESSES = [
        { pid: 4242, bytes: 1234 * MiB },
        { pid: 777, bytes: -1 },
        { pid: 31337, bytes: 77 * MiB },
      ];
      const EXPECTED = [
        { pid: 4242, usedBytes: 1234 * MiB },
        { pid: 777, usedBytes: undefined },
        { pid: 31337, usedBytes: 77 * MiB },
      ];

      async function readWith(variant: FakeNvmlVariant, recordBytes: number, count = PROCESSES.length) {
        writeNvmlControl(control, {
          devices: [
            { uuid: UUID_A, totalBytes: 80 * GiB, used: [GiB], processes: PROCESSES.slice(0, count) },
          ],
          recordBytes,
        });
        const provider = nvmlWith(control, variant);
        await provider.start();
        const processes = (await provider.sample()).devices[0]?.processes;
        const layout = provider.processRecordLayout;
        provider.shutdown();
        return { processes, layout };
      }

      for (const recordBytes of [16, 24, 32]) {
        for (const count of [1, 3]) {
          it(`_v3 writing ${recordBytes}-byte records (${count} process(es)): read at that stride`, async () => {
            const { processes, layout } = await readWith('no-detail-list', recordBytes, count);
            assert.deepEqual(processes, EXPECTED.slice(0, count));
            assert.equal(layout, `v3/${recordBytes}`);
          });
        }
      }

      it('a record size no driver has: per-process memory unavailable (never garbage), one warning', async () => {
        const captured = captureDiag();
        try {
          const first = await readWith('no-detail-list', 20);
          const second = await readWith('no-detail-list', 40);
          assert.equal(first.processes, undefined);
          assert.equal(second.processes, undefined);
          assert.equal(first.layout, 'v3/unknown');
          const warnings = captured.lines.filter((line) =>
            line.message.includes('layout this package does not know'),
          );
          assert.equal(warnings.length, 2, 'one per provider');
        } finally {
          captured.restore();
        }
      });

      it('prefers nvmlDeviceGetRunningProcessDetailList where the driver has it, whatever _v3 would write', async () => {
        const { processes, layout } = await readWith('full', 20);
        assert.deepEqual(processes, EXPECTED);
        assert.equal(layout, 'detail-list');
      });

      it('a detail list the driver refuses (version mismatch, not supported): the _v3 call instead, for good', async () => {
        for (const code of [25, 3]) {
          writeNvmlControl(control, {
            devices: [{ uuid: UUID_A, totalBytes: 80 * GiB, used: [GiB], processes: PROCESSES }],
            recordBytes: 32,
            detailList: code,
          });
          const provider = nvmlWith(control, 'full');
          await provider.start();
          assert.deepEqual((await provider.sample()).devices[0]?.processes, EXPECTED);
          assert.equal(provider.processRecordLayout, 'v3/32');
          provider.shutdown();
        }
      });

      it('more processes than the first buffer holds: the list is read whole, both ways', async () => {
        const many = Array.from({ length: 40 }, (_, index) => ({
          pid: 1000 + index,
          bytes: (index + 1) * MiB,
        }));
        for (const variant of ['full', 'no-detail-list'] as const) {
          writeNvmlControl(control, {
            devices: [{ uuid: UUID_A, totalBytes: 80 * GiB, used: [GiB], processes: many }],
            recordBytes: 32,
          });
          const provider = nvmlWith(control, variant);
          await provider.start();
          const processes = (await provider.sample()).devices[0]?.processes;
          assert.deepEqual(
            processes,
            many.map((entry) => ({ pid: entry.pid, usedBytes: entry.bytes })),
            variant,
          );
          provider.shutdown();
        }
      });
    });

    it('no permission to list processes: per-process memory unavailable, not 0', async () => {
      writeNvmlControl(control, {
        devices: [
          { uuid: UUID_A, totalBytes: 8 * GiB, used: [GiB], processes: [{ pid: process.pid, bytes: GiB }] },
        ],
        fail: { processes: 4 },
      });
      const sampler = samplerOver(nvmlWith(control));
      await sampler.start();
      assert.equal(sampler.latest(0)?.usedBytes, GiB);
      assert.equal(sampler.latest(0)?.processUsedBytes, undefined);
      sampler.shutdown();
    });

    it('GPU lost mid-run: that device is dropped and no longer polled, the other goes on, one diagnostic', async () => {
      writeNvmlControl(control, {
        devices: [
          { uuid: UUID_A, totalBytes: 8 * GiB, used: [GiB], lostAfterReads: 3 },
          { uuid: UUID_B, totalBytes: 8 * GiB, used: [2 * GiB] },
        ],
      });
      const diag = captureDiag();
      try {
        const sampler = samplerOver(nvmlWith(control));
        await sampler.start();
        assert.equal(sampler.latest(0)?.usedBytes, GiB);
        for (let i = 0; i < 5; i++) await sampler.tick();
        assert.equal(sampler.latest(0), undefined, 'no stale value served for the lost GPU');
        assert.equal(sampler.devices[0]?.lost, true);
        assert.equal(sampler.latest(1)?.usedBytes, 2 * GiB);
        assert.equal(sampler.currentHealth.up, true, 'the remaining GPU answers');
        const lost = diag.lines.filter((line) => /GPU_IS_LOST \(15\): GPU is lost/.test(line.message));
        assert.equal(lost.length, 1, JSON.stringify(diag.lines));
        sampler.shutdown();
      } finally {
        diag.restore();
      }
    });

    it('every call failing: health drops to 0, readings go, one diagnostic; recovery brings them back', async () => {
      writeNvmlControl(control, { devices: [{ uuid: UUID_A, totalBytes: 8 * GiB, used: [GiB] }] });
      const diag = captureDiag();
      try {
        const sampler = samplerOver(nvmlWith(control));
        await sampler.start();
        assert.equal(sampler.currentHealth.up, true);
        await sleep(5); // the fake re-reads its control file when its modification time changes
        writeNvmlControl(control, {
          devices: [{ uuid: UUID_A, totalBytes: 8 * GiB, used: [GiB] }],
          fail: { memory: 999 },
        });
        for (let i = 0; i < 3; i++) await sampler.tick();
        assert.equal(sampler.currentHealth.up, false);
        assert.match(sampler.currentHealth.lastError ?? '', /NVML_ERROR_UNKNOWN \(999\)/);
        assert.equal(diag.lines.filter((line) => /NVML_ERROR_UNKNOWN/.test(line.message)).length, 1);
        await sleep(5);
        writeNvmlControl(control, { devices: [{ uuid: UUID_A, totalBytes: 8 * GiB, used: [4 * GiB] }] });
        await sampler.tick();
        assert.equal(sampler.currentHealth.up, true);
        assert.equal(sampler.latest(0)?.usedBytes, 4 * GiB);
        sampler.shutdown();
      } finally {
        diag.restore();
      }
    });
  });

  describe('detection', () => {
    it('auto: NVML when it loads, else nvidia-smi, else DRM, else none', async () => {
      writeNvmlControl(control, { devices: [{ uuid: UUID_A, totalBytes: 8 * GiB, used: [GiB] }] });
      process.env.FAKE_NVML_CONTROL = control;
      const withNvml = await startGpuProvider({
        provider: 'auto',
        nvmlLibrary: fakeNvmlLibrary(),
        nvidiaSmiTimeoutMs: 500,
      });
      assert.equal(withNvml.provider.name, 'nvml');
      withNvml.provider.shutdown();
      const savedPath = process.env.PATH;
      process.env.PATH = dir; // no nvidia-smi there
      try {
        const without = await startGpuProvider({
          provider: 'auto',
          nvmlLibrary: join(dir, 'none.so'),
          nvidiaSmiTimeoutMs: 500,
          sysfsRoot: dir, // no AMD or Intel GPU there
        });
        assert.equal(without.provider.name, 'none');
        assert.deepEqual(
          without.passedOver.map((error) => error.kind),
          ['nvml-library-missing', 'nvidia-smi-missing', 'drm-no-device'],
        );
      } finally {
        process.env.PATH = savedPath;
      }
    });

    it('a forced provider that cannot start is a clear error, not a silent fallback', async () => {
      await assert.rejects(
        startGpuProvider({ provider: 'nvml', nvmlLibrary: join(dir, 'none.so'), nvidiaSmiTimeoutMs: 500 }),
        /OTEL_RESOURCE_TRACKER_GPU_PROVIDER=nvml, but that provider cannot start: cannot load the NVML library/,
      );
    });

    it('a forced provider that cannot start leaves GPU figures absent and says so once, throwing into nobody', async () => {
      const diag = captureDiag();
      try {
        const sampler = new GpuSampler({
          env: {
            OTEL_RESOURCE_TRACKER_GPU_PROVIDER: 'nvml',
            OTEL_RESOURCE_TRACKER_NVML_LIBRARY: join(dir, 'none.so'),
          },
        });
        assert.equal(sampler.latest(0), undefined); // starts detection in the background
        assert.equal(sampler.latest(0), undefined);
        await sampler.start().catch(() => undefined);
        assert.equal(sampler.latest(0), undefined);
        assert.equal(sampler.currentHealth.up, false);
        assert.match(
          sampler.currentHealth.lastError ?? '',
          /GPU_PROVIDER=nvml, but that provider cannot start/,
        );
        assert.equal(diag.lines.filter((line) => line.level === 'error').length, 1);
      } finally {
        diag.restore();
      }
    });

    it('bad GPU environment variables are errors naming the variable', () => {
      assert.throws(
        () => gpuProviderConfigFromEnv({ OTEL_RESOURCE_TRACKER_GPU_PROVIDER: 'cuda' }),
        /OTEL_RESOURCE_TRACKER_GPU_PROVIDER must be one of auto, nvml, nvidia-smi, drm, none; got the string "cuda"/,
      );
      assert.throws(
        () => gpuProviderConfigFromEnv({ OTEL_RESOURCE_TRACKER_NVIDIA_SMI_TIMEOUT_MS: '-5' }),
        /OTEL_RESOURCE_TRACKER_NVIDIA_SMI_TIMEOUT_MS must be a number from 100 to 60000/,
      );
      assert.throws(
        () => gpuSamplingFromEnv({ OTEL_RESOURCE_TRACKER_GPU_SAMPLE_INTERVAL_MS: 'fast' }),
        /OTEL_RESOURCE_TRACKER_GPU_SAMPLE_INTERVAL_MS must be a number from 10 to 3600000; got the string "fast"/,
      );
    });
  });

  it('shuts NVML down on shutdown and at process exit', async () => {
    writeNvmlControl(control, { devices: [{ uuid: UUID_A, totalBytes: 8 * GiB, used: [GiB] }] });
    const marker = join(dir, 'shutdown-marker');
    const library = fakeNvmlLibrary();
    const script = `
      import { GpuSampler } from ${JSON.stringify(new URL('../src/gpu/gpu-sampler.js', import.meta.url).href)};
      const sampler = new GpuSampler({ env: { OTEL_RESOURCE_TRACKER_GPU_PROVIDER: 'nvml', OTEL_RESOURCE_TRACKER_NVML_LIBRARY: ${JSON.stringify(library)} } });
      await sampler.start();
      console.log(sampler.latest(0)?.usedBytes);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, FAKE_NVML_CONTROL: control, FAKE_NVML_SHUTDOWN_MARKER: marker },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const code = await new Promise((resolve) => child.on('exit', resolve));
    assert.equal(code, 0, "the unref'd sampler did not keep the process alive");
    assert.equal(output.trim(), String(GiB));
    assert.ok(existsSync(marker), 'nvmlShutdown ran at exit');
    assert.equal(readFileSync(marker, 'utf8'), 'shutdown\n');
  });
});
