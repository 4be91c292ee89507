import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

export const MiB = 1024 * 1024;

/** Spins until the process has used `ms` milliseconds of CPU (measured by process.cpuUsage, not the clock). */
export function burnCpu(ms: number): void {
  const start = process.cpuUsage();
  let x = 0;
  for (;;) {
    for (let i = 0; i < 10_000; i++) x = (x + Math.sqrt(i)) % 1e9;
    const used = process.cpuUsage(start);
    if ((used.user + used.system) / 1000 >= ms) break;
  }
  if (x < 0) throw new Error('unreachable');
}

type ThreadCpuUsage = (previous?: NodeJS.CpuUsage) => NodeJS.CpuUsage;
const threadCpuUsage = (process as { threadCpuUsage?: ThreadCpuUsage }).threadCpuUsage?.bind(process);

/**
 * Spins until the calling thread has used `ms` of CPU where Node can measure a thread (threadCpuUsage, Node >=
 * 23.9), else the process: in a worker, the figures are the thread's own there, and the process's CPU (the main
 * thread, GC helpers) would end the burn early.
 */
export function burnThreadCpu(ms: number): void {
  const threadMs = threadCpuMsReader();
  if (threadMs === undefined) {
    burnCpu(ms);
    return;
  }
  const start = threadMs();
  let x = 0;
  for (;;) {
    for (let i = 0; i < 10_000; i++) x = (x + Math.sqrt(i)) % 1e9;
    if (threadMs() - start >= ms) break;
  }
  if (x < 0) throw new Error('unreachable');
}

/**
 * The calling thread's CPU in ms, read as independently of the package as can be: threadCpuUsage (Node >= 23.9),
 * else the scheduler's count in /proc/thread-self/schedstat (Linux); undefined elsewhere.
 */
export function threadCpuMsReader(): (() => number) | undefined {
  if (threadCpuUsage !== undefined) {
    return () => {
      const used = threadCpuUsage();
      return (used.user + used.system) / 1000;
    };
  }
  if (process.platform !== 'linux') return undefined;
  const read = () => Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
  try {
    read();
    return read;
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) since `since`, from process.cpuUsage. */
export function cpuSecondsSince(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
}

/** A buffer whose every page has been written, so that it is resident. */
export function allocateTouched(bytes: number): Buffer {
  const buffer = Buffer.allocUnsafeSlow(bytes);
  for (let offset = 0; offset < bytes; offset += 4096) buffer[offset] = 1;
  return buffer;
}

export function collectGarbage(): void {
  if (typeof global.gc !== 'function') throw new Error('run mocha with --expose-gc');
  global.gc();
}

/** Collects garbage until the RSS is back below `bytes` (array buffers are freed off-thread), or throws. */
export async function waitForRssBelow(bytes: number, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (process.memoryUsage.rss() >= bytes) {
    if (performance.now() > deadline) {
      throw new Error(`RSS stayed at ${process.memoryUsage.rss()} >= ${bytes} after ${timeoutMs} ms`);
    }
    collectGarbage();
    await sleep(10);
  }
}

/** Process high-water mark in bytes. */
export function maxRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}
