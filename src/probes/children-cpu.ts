import { openSync, readSync } from 'node:fs';
import { readClockTicksPerSecond } from './auxv.js';
import { readDecimalField } from './decimal-field.js';

const ASCII_CLOSE_PAREN = 41;
const ASCII_SPACE = 32;
/** cutime and cstime are fields 16 and 17 of /proc/self/stat; after the ")" closing the name, field 3 begins. */
const CUTIME_FIELD_AFTER_NAME = 16 - 3;

/**
 * CPU seconds of this process's children that have ended and been waited for (cutime + cstime of
 * /proc/self/stat): what `child_process` work cost. Linux only; one `pread` on a descriptor kept open.
 */
export class ChildrenCpuProbe {
  private readonly fd: number | undefined;
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

  /** Seconds, or undefined when /proc/self/stat cannot be read. */
  readSeconds(): number | undefined {
    if (this.fd === undefined) return undefined;
    let length: number;
    try {
      length = readSync(this.fd, this.buffer, 0, this.buffer.length, 0);
    } catch {
      return undefined;
    }
    // The command name may hold spaces and parentheses: count fields from the last ")".
    let position = this.buffer.lastIndexOf(ASCII_CLOSE_PAREN, length - 1);
    if (position < 0) return undefined;
    position += 2;
    for (let field = 0; field < CUTIME_FIELD_AFTER_NAME; field++) {
      position = this.buffer.indexOf(ASCII_SPACE, position) + 1;
      if (position <= 0 || position >= length) return undefined;
    }
    const cutime = readDecimalField(this.buffer, position, length);
    const cstime = cutime === undefined ? undefined : readDecimalField(this.buffer, cutime.end + 1, length);
    if (cutime === undefined || cstime === undefined) return undefined;
    const ticks = cutime.value + cstime.value;
    return ticks / this.ticksPerSecond;
  }
}
