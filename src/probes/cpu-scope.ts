import { isMainThread } from 'node:worker_threads';

type ThreadCpuUsage = () => NodeJS.CpuUsage;

/** `process.threadCpuUsage` (Node >= 23.9): the CPU of the calling thread alone. */
const threadCpuUsage = (process as { threadCpuUsage?: ThreadCpuUsage }).threadCpuUsage?.bind(process);

/**
 * Inside a worker thread, CPU figures are the worker's own where Node can measure a thread (threadCpuUsage);
 * elsewhere, and always on the main thread, they are the whole process's.
 */
export type CpuScope = 'thread' | 'process';

export const cpuScope: CpuScope = !isMainThread && threadCpuUsage !== undefined ? 'thread' : 'process';

/** The calling thread's CPU, for `cpuScope === 'thread'`. */
export function readThreadCpu(): NodeJS.CpuUsage | undefined {
  return threadCpuUsage?.();
}
