import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where distributions and the NVIDIA container toolkit put libnvidia-ml, beside the loader's cache. */
const STANDARD_DIRECTORIES = [
  '/lib',
  '/usr/lib',
  '/lib64',
  '/usr/lib64',
  '/lib/x86_64-linux-gnu',
  '/usr/lib/x86_64-linux-gnu',
  '/lib/aarch64-linux-gnu',
  '/usr/lib/aarch64-linux-gnu',
  '/usr/local/lib',
  '/usr/local/nvidia/lib64',
];

/**
 * Whether the dynamic loader could find `library` (a path, or a bare name looked up in LD_LIBRARY_PATH, the
 * loader's cache and the standard directories), checked without loading it. Why not just try: a failed
 * `koffi.load` throws from native code, and a worker thread terminated at that moment takes the whole process
 * down (Node aborts on a throw into a terminating environment) — so on the usual machine, one without NVIDIA's
 * library, it must not be tried at all.
 */
export function libraryIsFindable(library: string): boolean {
  if (library.includes('/')) return existsSync(library);
  const directories = [
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    ...STANDARD_DIRECTORIES,
  ];
  if (directories.some((directory) => existsSync(join(directory, library)))) return true;
  try {
    return readFileSync('/etc/ld.so.cache').includes(library);
  } catch {
    return false;
  }
}
