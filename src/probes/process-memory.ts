import { closeSync, openSync, readSync } from 'node:fs';
import { readPageSize } from './auxv.js';
import { readDecimalField } from './decimal-field.js';

/** Resident and virtual size of this process, in bytes. */
export interface ProcessMemory {
  rssBytes: number;
  /** undefined where the platform does not expose the virtual size cheaply (anything but Linux). */
  vmsBytes: number | undefined;
}

const STATM_PATH = '/proc/self/statm';
const ASCII_SPACE = 32;

/**
 * Reads RSS and VMS with one `pread` of /proc/self/statm on a descriptor kept open for the life of the process:
 * one syscall, no allocation. `process.memoryUsage.rss()` costs an open, a read and a close and gives no VMS.
 * Elsewhere (or when /proc is unreadable) it falls back to `process.memoryUsage.rss()`.
 */
export class ProcessMemoryProbe {
  private fd: number | undefined;
  private readonly buffer = Buffer.alloc(128);
  private readonly pageSize: number;

  constructor(private readonly statmPath = STATM_PATH) {
    this.fd = this.open();
    this.pageSize = this.fd === undefined ? 0 : readPageSize();
  }

  read(): ProcessMemory {
    if (this.fd !== undefined) {
      try {
        return this.readStatm(this.fd);
      } catch {
        // The descriptor can be closed under us (code that closes every fd): reopen once. If statm still cannot
        // be read or parsed, stop using it for good rather than retrying on every call.
        this.fd = this.open();
        try {
          if (this.fd !== undefined) return this.readStatm(this.fd);
        } catch {
          this.close();
        }
      }
    }
    return { rssBytes: process.memoryUsage.rss(), vmsBytes: undefined };
  }

  close(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } finally {
      this.fd = undefined;
    }
  }

  private open(): number | undefined {
    if (process.platform !== 'linux') return undefined;
    try {
      return openSync(this.statmPath, 'r');
    } catch {
      return undefined;
    }
  }

  private readStatm(fd: number): ProcessMemory {
    const length = readSync(fd, this.buffer, 0, this.buffer.length, 0);
    // statm: "size resident shared text lib data dt", all in pages.
    const vms = this.parsePages(0, length);
    const rss = this.parsePages(vms.next + 1, length);
    return { rssBytes: rss.pages * this.pageSize, vmsBytes: vms.pages * this.pageSize };
  }

  /** A decimal field starting at `start` and closed by a space; throws on anything else. */
  private parsePages(start: number, length: number): { pages: number; next: number } {
    const field = readDecimalField(this.buffer, start, length);
    if (field === undefined || this.buffer[field.end] !== ASCII_SPACE) {
      throw new Error(`unexpected content in ${this.statmPath}`);
    }
    return { pages: field.value, next: field.end };
  }
}

/** The process-wide probe: one descriptor per thread that loads the package. */
export const processMemoryProbe = new ProcessMemoryProbe();
