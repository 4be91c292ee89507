import { readFileSync } from 'node:fs';

const AT_NULL = 0n;
const AT_PAGESZ = 6n;
const AT_CLKTCK = 17n;

/**
 * One value from the auxiliary vector the kernel hands every process (/proc/self/auxv): the page size and the
 * clock-tick rate that /proc counts in. Node has no API for either, and spawning `getconf` would be a fork on
 * start-up. Read once; `fallback` where there is no /proc (not Linux).
 */
function readAuxv(type: bigint, fallback: number, auxvPath: string): number {
  try {
    const auxv = readFileSync(auxvPath);
    // 64-bit little-endian (x86-64, arm64): pairs of (type, value), closed by AT_NULL.
    for (let offset = 0; offset + 16 <= auxv.length; offset += 16) {
      const entry = auxv.readBigUInt64LE(offset);
      if (entry === AT_NULL) break;
      if (entry === type) return Number(auxv.readBigUInt64LE(offset + 8));
    }
  } catch {
    // Not Linux, or /proc is not mounted: callers do not read /proc then.
  }
  return fallback;
}

/** Bytes per page (statm counts pages): 4 KiB on x86-64, 4/16/64 KiB on arm64 kernels. */
export function readPageSize(auxvPath = '/proc/self/auxv'): number {
  return readAuxv(AT_PAGESZ, 4096, auxvPath);
}

/** Clock ticks per second (USER_HZ: /proc/self/stat counts CPU times in them). */
export function readClockTicksPerSecond(auxvPath = '/proc/self/auxv'): number {
  return readAuxv(AT_CLKTCK, 100, auxvPath);
}
