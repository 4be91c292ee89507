import { fileURLToPath } from 'node:url';
import { replaceUnprintable } from '../../internal/printable.js';
import { HelperShell } from '../helper-shell.js';
import { GpuError } from '../provider.js';
import { resolveLibraryPath } from './library-search.js';
import { sharedObjectProblem } from './shared-object-check.js';

/** How long the probe may take: node's start, the library's load and nvmlInit_v2 (seconds on large machines). */
export const DEFAULT_NVML_PROBE_TIMEOUT_MS = 30_000;

const PROBE_SCRIPT = fileURLToPath(new URL('./nvml-load-probe.js', import.meta.url));

/**
 * The absolute path of an NVML library that is safe to load into this process, or a GpuError saying why not.
 * Nothing the package is given may crash or hang the application: the path is resolved without the working
 * directory (library-search.ts), the file's headers are checked (shared-object-check.ts), and it is then loaded
 * and initialised once in a short-lived probe process (nvml-load-probe.ts) run by the helper shell, which is not
 * this process's child (its CPU is not charged to the application's children). Only a library that survived
 * that is loaded here.
 */
export async function checkNvmlLibrary(
  library: string,
  probeTimeoutMs = DEFAULT_NVML_PROBE_TIMEOUT_MS,
): Promise<string> {
  const shown = replaceUnprintable(library);
  if (/[\p{Cc}]/u.test(library)) {
    throw new GpuError(
      `cannot load the NVML library ${shown}: the name holds control characters`,
      'nvml-library-invalid',
    );
  }
  const path = resolveLibraryPath(library);
  if (path === undefined) {
    throw new GpuError(
      `cannot load the NVML library ${shown} (NVML_ERROR_LIBRARY_NOT_FOUND): not in LD_LIBRARY_PATH's absolute directories, the loader's cache or the standard directories`,
      'nvml-library-missing',
    );
  }
  const problem = sharedObjectProblem(path);
  if (problem !== undefined) {
    throw new GpuError(
      `cannot load the NVML library ${replaceUnprintable(path)}: it ${problem}`,
      'nvml-library-invalid',
    );
  }
  const helper = new HelperShell();
  try {
    const result = await helper
      .run([process.execPath, PROBE_SCRIPT, path], probeTimeoutMs, 4096)
      .catch((error: unknown) => {
        throw new GpuError(
          `cannot load the NVML library ${replaceUnprintable(path)}: the probe process could not be run (${(error as Error).message})`,
          'nvml-probe-failed',
        );
      });
    if (result.timedOut) {
      throw new GpuError(
        `cannot load the NVML library ${replaceUnprintable(path)}: loading it and calling nvmlInit_v2 did not finish within ${probeTimeoutMs} ms in a probe process`,
        'nvml-library-hung',
      );
    }
    if (result.signal !== undefined || result.code !== 0) {
      const how =
        result.signal !== undefined ? `was killed by ${result.signal}` : `exited with status ${result.code}`;
      const said = lastLine(result.stderr);
      throw new GpuError(
        `cannot load the NVML library ${replaceUnprintable(path)}: a probe process loading it ${how}${said === '' ? '' : ` (${said})`}`,
        'nvml-library-crashed',
      );
    }
  } finally {
    helper.close();
  }
  return path;
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return replaceUnprintable(lines[lines.length - 1] ?? '').slice(0, 200);
}
