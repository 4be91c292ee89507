import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { GpuSampler } from '../src/gpu/gpu-sampler.js';
import { NvidiaSmiProvider } from '../src/gpu/nvidia-smi/nvidia-smi-provider.js';
import { NvmlProvider } from '../src/gpu/nvml/nvml-provider.js';
import type { GpuProvider } from '../src/gpu/provider.js';
import {
  fakeNvidiaSmi,
  fakeNvmlLibrary,
  GiB,
  manualGpuSampler,
  scratchDir,
  writeNvmlControl,
} from '../test/helpers/fake-gpu.js';
import { measure } from './harness.js';

async function samplerOver(provider: GpuProvider): Promise<GpuSampler> {
  const sampler = manualGpuSampler(provider);
  await sampler.start();
  return sampler;
}

async function meanTickMicros(sampler: GpuSampler, ticks: number): Promise<number> {
  for (let i = 0; i < 100; i++) await sampler.tick();
  const start = performance.now();
  for (let i = 0; i < ticks; i++) await sampler.tick();
  return ((performance.now() - start) * 1000) / ticks;
}

/** One sampler tick with NVML (fake library, 1 and 8 devices) and with the nvidia-smi fallback. */
export async function benchGpu(): Promise<void> {
  const baseline = measure('process.resourceUsage()', () => process.resourceUsage());
  const dir = scratchDir();
  const control = join(dir, 'control');
  process.env.FAKE_NVML_CONTROL = control;
  const results: Array<[string, number]> = [];
  for (const count of [1, 8]) {
    writeNvmlControl(control, {
      devices: Array.from({ length: count }, (_, index) => ({
        uuid: `GPU-${index}`,
        totalBytes: 80 * GiB,
        used: [index * GiB],
        utilizationPercent: 50,
        processes: [{ pid: 999_999, bytes: GiB }],
      })),
    });
    const sampler = await samplerOver(new NvmlProvider(fakeNvmlLibrary()));
    results.push([`NVML sampler tick, ${count} GPU(s)`, await meanTickMicros(sampler, 5000)]);
    sampler.shutdown();
  }
  console.log(
    '\nGPU sampler tick (fake libnvidia-ml.so.1 through koffi; ratios against one process.resourceUsage())',
  );
  console.log(`process.resourceUsage() [baseline]: ${(baseline.nsPerOp / 1000).toFixed(2)} µs`);
  for (const [name, micros] of results) {
    console.log(
      `${name.padEnd(34)} ${micros.toFixed(1).padStart(8)} µs  ${((micros * 1000) / baseline.nsPerOp).toFixed(1)}x  (goal for 8 GPUs: < 50 µs)`,
    );
  }

  const smiDir = scratchDir();
  const gpus = Array.from(
    { length: 8 },
    (_, index) => `${index}, GPU-${index}, Fake, 81920, 1024, 80896, 5, 550.54.15`,
  ).join('\n');
  const smi = fakeNvidiaSmi(smiDir, { gpus: `${gpus}\n`, apps: '' });
  const sampler = await samplerOver(new NvidiaSmiProvider(2000, smi.binary));
  const idle = monitorEventLoopDelay({ resolution: 1 });
  idle.enable();
  await sleep(500);
  idle.disable();
  const busy = monitorEventLoopDelay({ resolution: 1 });
  busy.enable();
  const start = performance.now();
  const ticks = 20;
  for (let i = 0; i < ticks; i++) await sampler.tick();
  const tickMs = (performance.now() - start) / ticks;
  busy.disable();
  sampler.shutdown();
  console.log(
    '\nnvidia-smi fallback (fake nvidia-smi, 8 GPUs): event-loop delay while it runs vs while idle',
  );
  console.log(`tick latency ${tickMs.toFixed(1)} ms (two runs in parallel: GPUs and processes)`);
  console.log(
    `event-loop delay max: idle ${(idle.max / 1e6).toFixed(2)} ms, during ${ticks} ticks ${(busy.max / 1e6).toFixed(2)} ms ` +
      `(${(busy.max / idle.max).toFixed(2)}x); p99 idle ${(idle.percentile(99) / 1e6).toFixed(2)} ms, ` +
      `during ${(busy.percentile(99) / 1e6).toFixed(2)} ms`,
  );
}
