import { cpuScope, readThreadCpu } from './cpu-scope.js';

/** CPU totals and the RSS high-water mark as the kernel reports them now. */
export interface KernelCpu {
  userMicros: number;
  systemMicros: number;
  maxRssKb: number;
}

/**
 * One `getrusage`: the process's CPU (or, in a worker where Node measures threads, the thread's) and maxRSS.
 * 2–3 µs in a quiet loop, but it walks every thread of the process, which costs far more on a loaded server:
 * the span path of the default attribution does not call it (see CpuClock).
 */
export function readKernelCpu(): KernelCpu {
  const usage = process.resourceUsage();
  if (cpuScope === 'thread') {
    const thread = readThreadCpu();
    if (thread !== undefined)
      return { userMicros: thread.user, systemMicros: thread.system, maxRssKb: usage.maxRSS };
  }
  return { userMicros: usage.userCPUTime, systemMicros: usage.systemCPUTime, maxRssKb: usage.maxRSS };
}
