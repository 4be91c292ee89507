import { closeSync, openSync, readSync } from 'node:fs';
import { readDecimalField } from './decimal-field.js';
import { parseProcStat } from './proc-stat.js';

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

const STAT_PATH = '/proc/thread-self/stat';

/**
 * The calling thread's CPU split into user and system, for worker threads where Node has no
 * `process.threadCpuUsage` (before 23.9): the scheduler's nanosecond total from /proc/thread-self/schedstat, split
 * in the proportion of utime and stime in /proc/thread-self/stat (those count clock ticks, 10 ms: too coarse to
 * use alone). Two `pread`s on descriptors kept open by the thread that made the probe. undefined where either file
 * cannot be read.
 */
export class ThreadCpuSplitProbe {
  private readonly total: ThreadCpuProbe;
  private fd: number | undefined;
  private readonly buffer = Buffer.alloc(1024);

  constructor(schedstatPath = SCHEDSTAT_PATH, statPath = STAT_PATH) {
    this.total = new ThreadCpuProbe(schedstatPath);
    if (process.platform !== 'linux') return;
    try {
      this.fd = openSync(statPath, 'r');
    } catch {
      this.fd = undefined;
    }
  }

  get available(): boolean {
    return this.fd !== undefined && this.read() !== undefined;
  }

  /** The thread's cumulative CPU, µs, as `process.cpuUsage()` gives the process's. */
  read(): NodeJS.CpuUsage | undefined {
    if (this.fd === undefined) return undefined;
    const totalMicros = this.total.readMicros();
    const ticks = totalMicros === undefined ? undefined : this.readTicks(this.fd);
    if (totalMicros === undefined || ticks === undefined) {
      this.close();
      return undefined;
    }
    const tickSum = ticks.user + ticks.system;
    const user = tickSum > 0 ? (totalMicros * ticks.user) / tickSum : totalMicros;
    return { user, system: totalMicros - user };
  }

  close(): void {
    this.total.close();
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // Already closed by someone else: nothing to release.
    }
    this.fd = undefined;
  }

  private readTicks(fd: number): { user: number; system: number } | undefined {
    try {
      const stat = parseProcStat(this.buffer, readSync(fd, this.buffer, 0, this.buffer.length, 0));
      return stat === undefined ? undefined : { user: stat.userTicks, system: stat.systemTicks };
    } catch {
      return undefined;
    }
  }
}
