import { closeSync, openSync, readSync } from 'node:fs';
import { readDecimalField } from './decimal-field.js';

const SCHEDSTAT_PATH = '/proc/thread-self/schedstat';

/**
 * CPU time of the calling thread, in microseconds, from /proc/thread-self/schedstat (the scheduler's own
 * nanosecond count: "time on CPU, time waiting, timeslices") with one `pread` on a descriptor kept open. The
 * descriptor belongs to the thread that opened it, so each thread (worker) that loads the package gets its own.
 * undefined where there is no such file (not Linux, /proc not mounted): callers then assume the thread ran
 * whenever it was marked busy.
 */
export class ThreadCpuProbe {
  private fd: number | undefined;
  private readonly buffer = Buffer.alloc(96);

  constructor(path = SCHEDSTAT_PATH) {
    if (process.platform !== 'linux') return;
    try {
      this.fd = openSync(path, 'r');
    } catch {
      this.fd = undefined;
    }
  }

  readMicros(): number | undefined {
    if (this.fd === undefined) return undefined;
    try {
      const length = readSync(this.fd, this.buffer, 0, this.buffer.length, 0);
      const field = readDecimalField(this.buffer, 0, length);
      if (field !== undefined) return field.value / 1000;
    } catch {
      // A descriptor closed under us, or an unreadable file: stop using it rather than retry on every tick.
    }
    this.close();
    return undefined;
  }

  close(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // Already closed by someone else: nothing to release.
    }
    this.fd = undefined;
  }
}
