import { closeSync, openSync, readSync } from 'node:fs';
import { readClockTicksPerSecond } from './auxv.js';
import { parseProcStat } from './proc-stat.js';

/**
 * CPU seconds of this process's children that have ended and been waited for (cutime + cstime of
 * /proc/self/stat): what `child_process` work cost. Linux only; one `pread` on a descriptor kept open until
 * `close()`.
 */
export class ChildrenCpuProbe {
  private fd: number | undefined;
  private readonly buffer = Buffer.alloc(1024);
  private readonly ticksPerSecond = readClockTicksPerSecond();

  constructor(statPath = '/proc/self/stat') {
    try {
      this.fd = process.platform === 'linux' ? openSync(statPath, 'r') : undefined;
    } catch {
      this.fd = undefined;
    }
  }

  get available(): boolean {
    return this.fd !== undefined;
  }

  /** Seconds, or undefined when /proc/self/stat cannot be read (or the probe was closed). */
  readSeconds(): number | undefined {
    if (this.fd === undefined) return undefined;
    let length: number;
    try {
      length = readSync(this.fd, this.buffer, 0, this.buffer.length, 0);
    } catch {
      return undefined;
    }
    const stat = parseProcStat(this.buffer, length);
    if (stat === undefined) return undefined;
    return (stat.childrenUserTicks + stat.childrenSystemTicks) / this.ticksPerSecond;
  }

  /** Releases the descriptor (the owner's shutdown); later reads are undefined. */
  close(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    this.fd = undefined;
  }
}
