import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';

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

const LOADER_CACHE = '/etc/ld.so.cache';

/**
 * The absolute path of the library the package will load, found without loading anything; undefined when there is
 * none. A path (anything with a "/") is taken as given, made absolute against the working directory. A bare name
 * is looked up the way the dynamic loader would, with one difference that matters: only absolute directories of
 * LD_LIBRARY_PATH count. The loader reads an empty element (`LD_LIBRARY_PATH=":/usr/local/cuda/lib64"`, a common
 * slip of `$LD_LIBRARY_PATH:...` with the variable unset) or a relative one as the working directory: handing it
 * the bare name would load, and run the constructors of, whatever `libnvidia-ml.so.1` sits where the application
 * was started. The caller always loads the absolute path returned here, never the bare name.
 *
 * Why not just try loading: a failed `koffi.load` throws from native code, and a worker thread terminated at that
 * moment takes the whole process down — so on the usual machine, one without NVIDIA's library, it is not tried.
 */
export function resolveLibraryPath(
  library: string,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (library.includes('/')) {
    const path = resolve(library);
    return existsSync(path) ? path : undefined;
  }
  const directories = [
    ...(env.LD_LIBRARY_PATH ?? '').split(':').filter((directory) => isAbsolute(directory)),
    ...fromLoaderCache(library),
    ...STANDARD_DIRECTORIES,
  ];
  for (const directory of directories) {
    const candidate = join(directory, library);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * The directories /etc/ld.so.cache lists `library` in. The cache's string table holds each entry's soname and
 * its full path, NUL-terminated: the absolute strings that end in "/<library>" are the paths.
 */
function fromLoaderCache(library: string): string[] {
  let cache: Buffer;
  try {
    cache = readFileSync(LOADER_CACHE);
  } catch {
    return [];
  }
  const suffix = `/${library}`;
  const directories: string[] = [];
  let position = cache.indexOf(suffix);
  while (position >= 0) {
    const end = position + suffix.length;
    if (end === cache.length || cache[end] === 0) {
      const start = cache.lastIndexOf(0, position) + 1;
      const path = cache.toString('latin1', start, end);
      if (path.startsWith('/')) directories.push(path.slice(0, -suffix.length) || '/');
    }
    position = cache.indexOf(suffix, end);
  }
  return directories;
}
