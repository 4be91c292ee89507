import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { readDecimalField } from './decimal-field.js';

const ASCII_SPACE = 32;

/**
 * The calling thread's run-queue wait: the second field of `<procfs>/thread-self/schedstat` (ns spent runnable but
 * waiting for a CPU). The file is kept open and read with `pread` at offset 0, one syscall a reading; the thread that
 * reads is the JavaScript thread whose spans are measured (each thread has its own sampler).
 */
export class SchedstatProbe {
  private fd: number | undefined;
  private readonly buffer = Buffer.alloc(128);

  constructor(private readonly path: string) {}

  static forThisThread(procfsRoot: string): SchedstatProbe {
    return new SchedstatProbe(join(procfsRoot, 'thread-self', 'schedstat'));
  }

  /** Seconds this thread waited on a run queue since it started; throws when the file cannot be read or parsed. */
  readWaitSeconds(): number {
    if (this.fd === undefined) this.fd = openSync(this.path, 'r');
    const length = readSync(this.fd, this.buffer, 0, this.buffer.length, 0);
    const running = readDecimalField(this.buffer, 0, length);
    if (running === undefined || this.buffer[running.end] !== ASCII_SPACE) {
      throw new Error(`${this.path}: not "<run ns> <wait ns> <slices>"`);
    }
    const waiting = readDecimalField(this.buffer, running.end + 1, length);
    if (waiting === undefined) throw new Error(`${this.path}: not "<run ns> <wait ns> <slices>"`);
    return waiting.value / 1e9;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
