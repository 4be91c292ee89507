import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GpuSampler, type GpuSamplerOptions } from '../../src/gpu/gpu-sampler.js';
import type { GpuProvider } from '../../src/gpu/provider.js';

const source = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'test',
  'fixtures',
  'fake-nvml.c',
);
const buildDir = mkdtempSync(join(tmpdir(), 'fake-nvml-'));
let copies = 0;

export const GiB = 1024 ** 3;

export type FakeNvmlVariant =
  | 'full'
  | 'no-processes'
  | 'no-detail-list'
  | 'no-memory-v2'
  | 'r470'
  | 'v1-only'
  | 'no-utilization-info'
  | 'no-process-utilization';

const VARIANT_DEFINES: Record<FakeNvmlVariant, string[]> = {
  full: [],
  'no-processes': ['-DOMIT_PROCESSES'],
  'no-detail-list': ['-DOMIT_DETAIL_LIST'],
  'no-memory-v2': ['-DOMIT_MEMORY_V2'],
  r470: ['-DR470'],
  'v1-only': ['-DV1_ONLY'],
  'no-utilization-info': ['-DOMIT_UTILIZATION_INFO'],
  'no-process-utilization': ['-DOMIT_PROCESS_UTILIZATION'],
};

/**
 * Builds the fake libnvidia-ml.so.1 with gcc (once per variant per test run) and returns a fresh copy of it: a
 * copy has its own inode, so dlopen loads it anew and each test starts from clean library state. 'full' has both
 * process-list functions (a driver from R550 on), 'no-detail-list' only the _v3 one (older drivers),
 * 'no-processes' neither, 'r470' only the v1 and _v2 process lists (no _v3, no detail list, no memory _v2), 'v1-only' as 'r470' without _v2.
 */
export function fakeNvmlLibrary(variant: FakeNvmlVariant = 'full'): string {
  const built = join(buildDir, variant, 'libnvidia-ml.so.1');
  if (!existsSync(built)) {
    mkdirSync(dirname(built), { recursive: true });
    const defines = VARIANT_DEFINES[variant];
    execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-Wall', '-Werror', ...defines, '-o', built, source]);
  }
  const copy = join(buildDir, `copy-${++copies}`, 'libnvidia-ml.so.1');
  mkdirSync(dirname(copy), { recursive: true });
  copyFileSync(built, copy);
  return copy;
}

export interface FakeDevice {
  name?: string;
  uuid?: string;
  totalBytes: number;
  /** Memory used, one value per read; the last repeats. */
  used: number[];
  /** Memory the driver reserves for itself: nvmlDeviceGetMemoryInfo (v1) counts it as used, _v2 does not. */
  reservedBytes?: number;
  utilizationPercent?: number;
  processes?: Array<{ pid: number; bytes: number }>;
  lostAfterReads?: number;
  /** MIG mode with this many GPU instances (UUIDs "MIG-<slot>-<device UUID without GPU->"). */
  migInstances?: number;
  /** Processes in MIG instances: sized on the instance's handle, unsized on the device's. */
  migProcesses?: Array<{ slot: number; pid: number; bytes: number }>;
  /** Per-process SM utilization: `pid` at `sm` % from `fromMs` to `toMs` (Unix time, ms). */
  busy?: Array<{ pid: number; sm: number; fromMs: number; toMs: number }>;
}

export interface FakeNvmlScript {
  devices: FakeDevice[];
  fail?: Record<string, number>;
  /** Failures of one device only (e.g. { device: 0, call: 'handle', code: 4 }: a cgroup hiding GPU 0). */
  deny?: Array<{ device: number; call: string; code: number }>;
  /** Size of each record nvmlDeviceGetComputeRunningProcesses_v3 writes (default 24). */
  recordBytes?: number;
  /** nvmlInit_v2 dies of SIGBUS ('crash', as a truncated library does) or never returns ('hang'). */
  initBehaviour?: 'crash' | 'hang';
  /** What nvmlDeviceGetMemoryInfo_v2 answers: 'ok' (default) or a return code. */
  memoryV2?: 'ok' | number;
  /** What nvmlDeviceGetRunningProcessDetailList answers: 'ok' (default) or a return code. */
  detailList?: 'ok' | number;
  /** The driver's per-process sample period (default 50 ms). */
  busyPeriodMs?: number;
  /** What both per-process utilization calls answer: 'ok' (default) or a return code. */
  processUtilization?: 'ok' | number;
}

/** Writes the control file the fake library reads (it re-reads it whenever it changes). */
export function writeNvmlControl(path: string, script: FakeNvmlScript): void {
  const lines = [`devices ${script.devices.length}`];
  script.devices.forEach((device, index) => {
    if (device.name !== undefined) lines.push(`name ${index} ${device.name}`);
    if (device.uuid !== undefined) lines.push(`uuid ${index} ${device.uuid}`);
    lines.push(`total ${index} ${device.totalBytes}`);
    lines.push(`used ${index} ${device.used.join(' ')}`);
    if (device.reservedBytes !== undefined) lines.push(`reserved ${index} ${device.reservedBytes}`);
    if (device.utilizationPercent !== undefined) lines.push(`util ${index} ${device.utilizationPercent}`);
    if (device.lostAfterReads !== undefined) lines.push(`lost ${index} ${device.lostAfterReads}`);
    for (const entry of device.processes ?? []) lines.push(`process ${index} ${entry.pid} ${entry.bytes}`);
    if (device.migInstances !== undefined) lines.push(`mig ${index} ${device.migInstances}`);
    for (const entry of device.migProcesses ?? [])
      lines.push(`mig_process ${index} ${entry.slot} ${entry.pid} ${entry.bytes}`);
    for (const entry of device.busy ?? [])
      lines.push(
        `busy ${index} ${entry.pid} ${entry.sm} ${Math.round(entry.fromMs)} ${Math.round(entry.toMs)}`,
      );
  });
  for (const [fn, code] of Object.entries(script.fail ?? {})) lines.push(`fail ${fn} ${code}`);
  for (const { device, call, code } of script.deny ?? []) lines.push(`deny ${device} ${call} ${code}`);
  if (script.recordBytes !== undefined) lines.push(`record_bytes ${script.recordBytes}`);
  if (script.initBehaviour !== undefined) lines.push(`init_behaviour ${script.initBehaviour}`);
  if (script.memoryV2 !== undefined) lines.push(`memory_v2 ${script.memoryV2}`);
  if (script.detailList !== undefined) lines.push(`detail_list ${script.detailList}`);
  if (script.busyPeriodMs !== undefined) lines.push(`busy_period_ms ${script.busyPeriodMs}`);
  if (script.processUtilization !== undefined) lines.push(`process_util ${script.processUtilization}`);
  writeFileSync(path, `${lines.join('\n')}\n`);
}

/** A scratch directory for one test's control files and scripts. */
export function scratchDir(prefix = 'fake-gpu-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * A fake `nvidia-smi` (a shell script) that prints `gpus` for --query-gpu and `apps` for --query-compute-apps,
 * appends one line to `calls` per run, and can hang, fail or be slow instead. With `burnLoops`, each run first
 * burns CPU and appends the shell's `times` to `cpuLog`: two lines per run, its own user and system time
 * ("0m0.100000s 0m0.000000s"), then its children's.
 */
export function fakeNvidiaSmi(
  dir: string,
  behaviour: {
    gpus?: string;
    apps?: string;
    hangSeconds?: number;
    exitCode?: number;
    stderr?: string;
    /** Busy-loop iterations each run spends first (about 0.1 s of CPU per 100 000), as a real nvidia-smi costs CPU. */
    burnLoops?: number;
  },
): { binary: string; calls: string; cpuLog: string } {
  const binary = join(dir, 'nvidia-smi');
  const calls = join(dir, 'calls.log');
  const cpuLog = join(dir, 'cpu.log');
  const gpus = join(dir, 'gpus.txt');
  const apps = join(dir, 'apps.txt');
  writeFileSync(gpus, behaviour.gpus ?? '');
  writeFileSync(apps, behaviour.apps ?? '');
  const script = [
    '#!/bin/sh',
    `echo "$1" >> '${calls}'`,
    behaviour.burnLoops === undefined
      ? ''
      : `i=0; while [ $i -lt ${behaviour.burnLoops} ]; do i=$((i+1)); done; times >> '${cpuLog}'`,
    behaviour.hangSeconds === undefined ? '' : `exec sleep ${behaviour.hangSeconds}`,
    behaviour.exitCode === undefined
      ? ''
      : `echo '${behaviour.stderr ?? 'failed'}' >&2; exit ${behaviour.exitCode}`,
    'case "$1" in',
    `  --query-gpu=*) cat '${gpus}' ;;`,
    `  --query-compute-apps=*) cat '${apps}' ;;`,
    '  *) echo "unexpected arguments: $*" >&2; exit 2 ;;',
    'esac',
  ].join('\n');
  writeFileSync(binary, `${script}\n`);
  chmodSync(binary, 0o755);
  return { binary, calls, cpuLog };
}

/**
 * A GpuSampler over `provider` that reads no environment and whose timer practically never fires: tests and
 * benchmarks call `tick()` themselves, so that each reading happens exactly when they say.
 */
export function manualGpuSampler(
  provider: GpuProvider,
  options: Omit<GpuSamplerOptions, 'startProvider'> = {},
): GpuSampler {
  return new GpuSampler({
    startProvider: async () => ({ provider, devices: await provider.start(), passedOver: [] }),
    idleIntervalMs: 3_600_000,
    activeIntervalMs: 3_600_000,
    env: {},
    ...options,
  });
}
