/**
 * On a real NVIDIA machine: what each GPU provider reads, and whether NVML and nvidia-smi agree.
 * Run with `npm run gpu-check`. Exit code 0 when they agree (or there is nothing to compare), 1 when they differ.
 */

import { GpuSampler } from '../src/gpu/gpu-sampler.js';
import { NvidiaSmiProvider } from '../src/gpu/nvidia-smi/nvidia-smi-provider.js';
import { DEFAULT_NVML_LIBRARY } from '../src/gpu/nvml/nvml-library.js';
import { NvmlProvider } from '../src/gpu/nvml/nvml-provider.js';
import type { GpuProvider, GpuSample } from '../src/gpu/provider.js';

const MiB = 1024 * 1024;
/** nvidia-smi prints MiB; the two reads are also a few ms apart on a busy GPU. */
const TOLERANCE_BYTES = 64 * MiB;

async function read(provider: GpuProvider): Promise<GpuSample | undefined> {
  try {
    const devices = await provider.start();
    console.log(`\n[${provider.name}] ${devices.length} device(s)`);
    const sample = await provider.sample();
    for (const device of sample.devices) {
      console.log(
        `  #${device.device.index} ${device.device.name} ${device.device.uuid}: used ${(device.usedBytes / MiB).toFixed(0)} MiB` +
          ` / total ${(device.totalBytes / MiB).toFixed(0)} MiB, free ${(device.freeBytes / MiB).toFixed(0)} MiB, ` +
          `utilization ${device.utilization === undefined ? 'n/a' : `${(device.utilization * 100).toFixed(0)} %`}, ` +
          `processes ${device.processes === undefined ? 'n/a' : JSON.stringify(device.processes.map((entry) => [entry.pid, entry.usedBytes === undefined ? null : Math.round(entry.usedBytes / MiB)]))}`,
      );
    }
    for (const failure of sample.failures)
      console.log(`  failure on #${failure.device.index}: ${failure.error.message}`);
    return sample;
  } catch (error) {
    console.log(`\n[${provider.name}] unavailable: ${(error as Error).message}`);
    return undefined;
  } finally {
    provider.shutdown();
  }
}

const nvml = await read(
  new NvmlProvider(process.env.OTEL_RESOURCE_TRACKER_NVML_LIBRARY ?? DEFAULT_NVML_LIBRARY),
);
const smi = await read(new NvidiaSmiProvider());

const sampler = new GpuSampler();
await sampler.start().catch(() => undefined);
console.log(
  `\n[sampler] provider ${sampler.currentHealth.provider ?? 'none'}, up ${sampler.currentHealth.up}, ` +
    `CUDA-visible devices ${sampler.devices.length}`,
);
for (const state of sampler.devices) {
  const reading = sampler.latest(state.cudaIndex);
  console.log(
    `  cuda:${state.cudaIndex} = #${state.device.index} used ${reading ? (reading.usedBytes / MiB).toFixed(0) : 'n/a'} MiB, ` +
      `this process tree ${reading?.processUsedBytes === undefined ? 'n/a' : `${(reading.processUsedBytes / MiB).toFixed(0)} MiB`}`,
  );
}
sampler.shutdown();

let agree = true;
if (nvml !== undefined && smi !== undefined) {
  console.log('\nNVML vs nvidia-smi:');
  for (const device of nvml.devices) {
    const other = smi.devices.find((candidate) => candidate.device.uuid === device.device.uuid);
    if (other === undefined) {
      console.log(`  ${device.device.uuid}: missing from nvidia-smi`);
      agree = false;
      continue;
    }
    const usedDiff = Math.abs(device.usedBytes - other.usedBytes);
    const totalDiff = Math.abs(device.totalBytes - other.totalBytes);
    const ok = usedDiff <= TOLERANCE_BYTES && totalDiff <= TOLERANCE_BYTES;
    agree &&= ok;
    console.log(
      `  ${device.device.uuid}: used differs by ${(usedDiff / MiB).toFixed(1)} MiB, total by ${(totalDiff / MiB).toFixed(1)} MiB: ${ok ? 'agree' : 'DIFFER'}`,
    );
  }
} else {
  console.log('\nNothing to compare: at least one provider is unavailable here.');
}
process.exitCode = agree ? 0 : 1;
