import { diag } from '@opentelemetry/api';
import type { GpuDevice } from './provider.js';

/**
 * The devices CUDA in this process sees, in CUDA's order, from CUDA_VISIBLE_DEVICES: so that "device 0" here means
 * what the application's CUDA calls device 0. Like CUDA: entries are indices or (prefixes of) `GPU-` UUIDs,
 * separated by commas; parsing stops at the first entry that matches no device; unset means every device.
 * The provider's order is PCI bus order; CUDA uses it too when CUDA_DEVICE_ORDER=PCI_BUS_ID (set it on machines
 * with mixed GPU models, where CUDA's default "fastest first" order can differ).
 */
export function cudaVisibleDevices(all: readonly GpuDevice[], value: string | undefined): GpuDevice[] {
  if (value === undefined) return [...all];
  const visible: GpuDevice[] = [];
  for (const raw of value.split(',')) {
    const entry = raw.trim();
    const device = /^\d+$/.test(entry)
      ? all.find((candidate) => candidate.index === Number(entry))
      : entry.startsWith('GPU-')
        ? uniquePrefixMatch(all, entry)
        : entry.startsWith('MIG-')
          ? migInstanceHost(all, entry)
          : undefined;
    if (device === undefined) {
      if (entry !== '' && entry !== '-1') {
        diag.warn(
          `otel-resource-tracker: CUDA_VISIBLE_DEVICES entry "${entry}" matches no GPU` +
            `${entry.startsWith('MIG-') ? ' (no GPU in MIG mode has that instance)' : ''}; as CUDA does, later entries are ignored`,
        );
      }
      break;
    }
    if (!visible.includes(device)) visible.push(device);
  }
  return visible;
}

/**
 * The GPU holding the MIG instance `entry` names (a unique UUID prefix, as CUDA accepts). Its device figures are
 * the whole GPU's memory, its per-process figure this process tree's memory read from each instance (docs/gpu.md,
 * MIG).
 */
function migInstanceHost(all: readonly GpuDevice[], entry: string): GpuDevice | undefined {
  const hosts = all.filter((device) => device.migUuids?.some((uuid) => uuid.startsWith(entry)));
  return hosts.length === 1 ? hosts[0] : undefined;
}

function uniquePrefixMatch(all: readonly GpuDevice[], prefix: string): GpuDevice | undefined {
  const matches = all.filter((device) => device.uuid.startsWith(prefix));
  return matches.length === 1 ? matches[0] : undefined;
}
