/**
 * On a real NVIDIA machine: what each GPU provider reads, and whether NVML (both ways of listing processes) and
 * nvidia-smi agree, device memory and per-process memory alike. Where python3 has PyTorch, a child process holds
 * 1 GiB on GPU 0 while the providers read, so that there is a process of ours to find.
 * On an AMD or Intel machine: what the DRM provider reads from sysfs and fdinfo (devices, device memory, busy, this
 * process tree's clients), under OTEL_RESOURCE_TRACKER_PROCFS_ROOT / _SYSFS_ROOT where they are set.
 * Run with `npm run gpu-check`. Exit code 0 when everything agrees (or there is nothing to compare), 1 when not.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { DrmProvider } from '../src/gpu/drm/drm-provider.js';
import { GpuSampler } from '../src/gpu/gpu-sampler.js';
import { NvidiaSmiProvider } from '../src/gpu/nvidia-smi/nvidia-smi-provider.js';
import { DEFAULT_NVML_LIBRARY } from '../src/gpu/nvml/nvml-library.js';
import { checkNvmlLibrary } from '../src/gpu/nvml/nvml-library-check.js';
import { NvmlProvider } from '../src/gpu/nvml/nvml-provider.js';
import type { GpuProvider, GpuSample } from '../src/gpu/provider.js';

const MiB = 1024 * 1024;
/** nvidia-smi prints MiB; the two reads are also a few ms apart on a busy GPU. */
const TOLERANCE_BYTES = 64 * MiB;
/** Per-process memory only changes when the process allocates; nvidia-smi rounds to MiB. */
const PROCESS_TOLERANCE_BYTES = 2 * MiB;
const HOLD_BYTES = 1024 * MiB;

/** Whole MiB, or n/a for a figure the provider does not have (an Intel integrated GPU's device memory). */
function mebibytes(bytes: number | undefined): string {
  return bytes === undefined ? 'n/a' : (bytes / MiB).toFixed(0);
}

const HOLDER_SCRIPT = [
  'import sys, torch',
  `x = torch.ones(${HOLD_BYTES}, dtype=torch.uint8, device="cuda:0")`,
  'torch.cuda.synchronize()',
  'print("ready", flush=True)',
  'sys.stdin.read()',
].join('\n');

/** A python3 child holding 1 GiB on GPU 0, or undefined where python3 or PyTorch or CUDA is missing. */
async function startHolder(): Promise<ChildProcess | undefined> {
  const child = spawn('python3', ['-c', HOLDER_SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'] });
  const ready = new Promise<boolean>((resolve) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve(true);
    });
    child.once('error', () => resolve(false));
    child.once('exit', () => resolve(false));
    setTimeout(() => resolve(false), 120_000).unref();
  });
  if (await ready) return child;
  child.kill();
  return undefined;
}

/**
 * GPU seconds per process over one more second (NVML per-process utilization, DRM engine time): what
 * resource_tracker.gpu.process.busy_time sums for a span's process tree. The first reading only set the baseline.
 */
async function printProcessBusy(provider: GpuProvider): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const later = await provider.sample();
  for (const device of later.devices) {
    const perPid = new Map<number, number>();
    for (const entry of device.processBusy ?? [])
      perPid.set(entry.pid, (perPid.get(entry.pid) ?? 0) + entry.busySeconds);
    const listed = [...perPid].map(([pid, seconds]) => `${pid}: ${seconds.toFixed(3)} s`).join(', ');
    console.log(
      `  #${device.device.index} GPU time per process over the last second: ` +
        (device.processBusy === undefined ? 'n/a (no per-process utilization)' : listed || 'none'),
    );
  }
  if (provider instanceof NvmlProvider)
    console.log(`  per-process utilization read with: ${provider.processUtilization.lastCall ?? 'n/a'}`);
}

async function read(provider: GpuProvider, label: string): Promise<GpuSample | undefined> {
  try {
    const devices = await provider.start();
    console.log(`\n[${label}] ${devices.length} device(s)`);
    for (const device of devices)
      if (device.migUuids !== undefined)
        console.log(`  #${device.index} MIG instances: ${device.migUuids.join(', ')}`);
    const sample = await provider.sample();
    for (const device of sample.devices) {
      console.log(
        `  #${device.device.index} ${device.device.name} ${device.device.uuid}: used ${mebibytes(device.usedBytes)} MiB` +
          ` / total ${mebibytes(device.totalBytes)} MiB, free ${mebibytes(device.freeBytes)} MiB, ` +
          `utilization ${device.utilization === undefined ? 'n/a' : `${(device.utilization * 100).toFixed(0)} %`}, ` +
          `processes ${device.processes === undefined ? 'n/a' : JSON.stringify(device.processes.map((entry) => [entry.pid, entry.usedBytes === undefined ? null : entry.usedBytes / MiB]))} (pid, MiB)`,
      );
    }
    if (provider instanceof NvmlProvider)
      console.log(`  process records read as: ${provider.processRecordLayout ?? 'n/a'}`);
    if (provider instanceof DrmProvider) {
      for (const client of provider.lastClients ?? []) {
        const regions = [...client.regions].map(
          ([region, bytes]) => `${region} ${(bytes / MiB).toFixed(1)} MiB`,
        );
        console.log(
          `  client of pid ${client.pid} on ${client.pdev ?? 'an unnamed device'} (${client.driver}): ` +
            `${regions.join(', ') || 'no memory keys'}; counted ${mebibytes(client.bytes)} MiB`,
        );
      }
    }
    for (const failure of sample.failures)
      console.log(`  failure on #${failure.device.index}: ${failure.error.message}`);
    await printProcessBusy(provider);
    return sample;
  } catch (error) {
    console.log(`\n[${label}] unavailable: ${(error as Error).message}`);
    return undefined;
  } finally {
    provider.shutdown();
  }
}

/** Device memory and every process's memory of `sample` against nvidia-smi's; prints and returns agreement. */
function compare(label: string, sample: GpuSample, smi: GpuSample): boolean {
  let agree = true;
  console.log(`\n${label} vs nvidia-smi:`);
  for (const device of sample.devices) {
    const other = smi.devices.find((candidate) => candidate.device.uuid === device.device.uuid);
    if (other === undefined) {
      console.log(`  ${device.device.uuid}: missing from nvidia-smi`);
      agree = false;
      continue;
    }
    // A figure missing on either side is a disagreement (NaN is never within the tolerance).
    const usedDiff = Math.abs((device.usedBytes ?? Number.NaN) - (other.usedBytes ?? Number.NaN));
    const totalDiff = Math.abs((device.totalBytes ?? Number.NaN) - (other.totalBytes ?? Number.NaN));
    const ok = usedDiff <= TOLERANCE_BYTES && totalDiff <= TOLERANCE_BYTES;
    agree &&= ok;
    console.log(
      `  ${device.device.uuid}: used differs by ${(usedDiff / MiB).toFixed(1)} MiB, total by ${(totalDiff / MiB).toFixed(1)} MiB: ${ok ? 'agree' : 'DIFFER'}`,
    );
    const mine = device.processes ?? [];
    const theirs = other.processes ?? [];
    if (device.processes === undefined || other.processes === undefined) {
      console.log(
        `  per-process: ${label} ${device.processes === undefined ? 'n/a' : 'read'}, nvidia-smi ${other.processes === undefined ? 'n/a' : 'read'}`,
      );
      agree &&= device.processes === undefined && other.processes === undefined;
      continue;
    }
    const pids = new Set([...mine, ...theirs].map((entry) => entry.pid));
    for (const pid of pids) {
      const a = mine.find((entry) => entry.pid === pid)?.usedBytes;
      const b = theirs.find((entry) => entry.pid === pid)?.usedBytes;
      const ok = a !== undefined && b !== undefined && Math.abs(a - b) <= PROCESS_TOLERANCE_BYTES;
      agree &&= ok;
      console.log(
        `  pid ${pid}: ${label} ${a === undefined ? 'n/a' : `${(a / MiB).toFixed(1)} MiB`}, nvidia-smi ${b === undefined ? 'n/a' : `${(b / MiB).toFixed(1)} MiB`}: ${ok ? 'agree' : 'DIFFER'}`,
      );
    }
    if (pids.size === 0) console.log('  per-process: no compute process on this device');
  }
  return agree;
}

const holder = await startHolder();
console.log(
  holder === undefined
    ? 'no holder process (python3 with PyTorch and a GPU is needed for one): per-process memory may be empty'
    : `holder process ${holder.pid} holds ${HOLD_BYTES / MiB} MiB on cuda:0`,
);

const library = process.env.OTEL_RESOURCE_TRACKER_NVML_LIBRARY ?? DEFAULT_NVML_LIBRARY;
// What the NVML provider's safety costs at start: resolving and checking the library, then a probe process that
// loads it and calls nvmlInit_v2 before the application does (a real driver's nvmlInit is part of that time).
for (let attempt = 1; attempt <= 3; attempt++) {
  const started = performance.now();
  try {
    const path = await checkNvmlLibrary(library);
    console.log(`[nvml probe ${attempt}] ${path}: ${(performance.now() - started).toFixed(0)} ms`);
  } catch (error) {
    console.log(`[nvml probe ${attempt}] ${(error as Error).message}`);
    break;
  }
}
const nvml = await read(new NvmlProvider(library), 'nvml');
const nvmlV3 = await read(new NvmlProvider(library, false), 'nvml, _v3 call with its record size probed');
const smi = await read(new NvidiaSmiProvider(), 'nvidia-smi');
// AMD and Intel: nothing to compare against, so it only reports what the kernel publishes (absent figures as n/a).
await read(
  new DrmProvider(
    process.env.OTEL_RESOURCE_TRACKER_PROCFS_ROOT || undefined,
    process.env.OTEL_RESOURCE_TRACKER_SYSFS_ROOT || undefined,
  ),
  'drm (sysfs, fdinfo of this process tree)',
);

const sampler = new GpuSampler();
await sampler.start().catch(() => undefined);
console.log(
  `\n[sampler] provider ${sampler.currentHealth.provider ?? 'none'}, up ${sampler.currentHealth.up}, ` +
    `CUDA-visible devices ${sampler.devices.length}`,
);
for (const state of sampler.devices) {
  const reading = sampler.latest(state.cudaIndex);
  console.log(
    `  cuda:${state.cudaIndex} = #${state.device.index} used ${mebibytes(reading?.usedBytes)} MiB, ` +
      `this process tree ${reading?.processUsedBytes === undefined ? 'n/a' : `${(reading.processUsedBytes / MiB).toFixed(0)} MiB`}` +
      (holder === undefined || state.cudaIndex !== 0
        ? ''
        : ` (the holder child holds ${HOLD_BYTES / MiB} MiB of it, plus its CUDA context)`),
  );
}
sampler.shutdown();

let agree = true;
if (smi === undefined || (nvml === undefined && nvmlV3 === undefined)) {
  console.log('\nNothing to compare: at least one provider is unavailable here.');
} else {
  if (nvml !== undefined) agree = compare('NVML', nvml, smi) && agree;
  if (nvmlV3 !== undefined) agree = compare('NVML _v3', nvmlV3, smi) && agree;
}
if (holder !== undefined) {
  holder.stdin?.end();
  await once(holder, 'exit');
}
console.log(`\ngpu-check: ${agree ? 'everything agrees' : 'DISAGREEMENT (see above)'}`);
process.exitCode = agree ? 0 : 1;
