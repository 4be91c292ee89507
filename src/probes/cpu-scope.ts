import { isMainThread } from 'node:worker_threads';
import { ThreadCpuSplitProbe } from './thread-cpu.js';

type ThreadCpuUsage = () => NodeJS.CpuUsage;

/** `process.threadCpuUsage` (Node >= 23.9): the CPU of the calling thread alone. */
const threadCpuUsage = (process as { threadCpuUsage?: ThreadCpuUsage }).threadCpuUsage?.bind(process);

/**
 * Before Node 23.9, a worker reads its own thread's CPU from /proc/thread-self (Linux): made in the worker that
 * loads the package, so its descriptors are that thread's. Never on the main thread, whose figures are the
 * process's.
 */
const procThreadCpu = !isMainThread && threadCpuUsage === undefined ? new ThreadCpuSplitProbe() : undefined;

/**
 * Inside a worker thread, CPU figures are the worker's own where the thread can be measured (threadCpuUsage, or
 * /proc/thread-self on Linux); elsewhere, and always on the main thread, they are the whole process's.
 */
export type CpuScope = 'thread' | 'process';

export const cpuScope: CpuScope =
  !isMainThread && (threadCpuUsage !== undefined || procThreadCpu?.available === true) ? 'thread' : 'process';

/** The calling thread's CPU, for `cpuScope === 'thread'`. */
export function readThreadCpu(): NodeJS.CpuUsage | undefined {
  return threadCpuUsage !== undefined ? threadCpuUsage() : procThreadCpu?.read();
}
