import { readFileSync } from 'node:fs';

const AT_NULL = 0n;
const AT_PAGESZ = 6n;
const FALLBACK_PAGE_SIZE = 4096;

/**
 * The kernel's page size, which /proc/self/statm counts in. Read once from the auxiliary vector the kernel hands
 * every process (AT_PAGESZ), so that arm64 kernels with 16 KiB or 64 KiB pages are measured right; Node has no API
 * for it and spawning `getconf` would be a fork on start-up.
 */
export function readPageSize(auxvPath = '/proc/self/auxv'): number {
  try {
    const auxv = readFileSync(auxvPath);
    // 64-bit little-endian (x86-64, arm64): pairs of (type, value), closed by AT_NULL.
    for (let offset = 0; offset + 16 <= auxv.length; offset += 16) {
      const type = auxv.readBigUInt64LE(offset);
      if (type === AT_NULL) break;
      if (type === AT_PAGESZ) return Number(auxv.readBigUInt64LE(offset + 8));
    }
  } catch {
    // Not Linux, or /proc is not mounted: the caller does not use statm then.
  }
  return FALLBACK_PAGE_SIZE;
}
