import { readlinkSync } from 'node:fs';
import { diag } from '@opentelemetry/api';
import { ProcessTree } from '../process-tree.js';
import {
  type GpuDevice,
  type GpuDeviceSample,
  GpuError,
  type GpuProcessBusy,
  type GpuProcessMemory,
  type GpuProcessView,
  type GpuProvider,
  type GpuSample,
} from '../provider.js';
import { type DrmCard, listDrmCards, readXeVramTotal } from './drm-cards.js';
import { type DrmClient, DrmClientScanner } from './drm-clients.js';
import { DrmEngineTime } from './drm-engine-time.js';
import { readUnsigned, type ValueResult } from './sysfs-value.js';

export const DEFAULT_PROCFS_ROOT = '/proc';
export const DEFAULT_SYSFS_ROOT = '/sys';

interface TrackedCard {
  readonly card: DrmCard;
  readonly device: GpuDevice;
  /** xe's VRAM size from its tiles, read once (it does not change). */
  readonly staticTotalBytes: number | undefined;
}

/** This process as `<proc>/self` numbers it (the same as process.pid unless procfs is another PID namespace's). */
function selfPidIn(procRoot: string): number {
  try {
    const pid = Number(readlinkSync(`${procRoot}/self`));
    return Number.isInteger(pid) && pid > 0 ? pid : process.pid;
  } catch {
    return process.pid;
  }
}

/**
 * AMD and Intel GPUs from what the kernel publishes, no library and no ioctl: devices and device memory from sysfs
 * (`<sys>/class/drm/card<N>/device`), the memory of this process tree from DRM fdinfo (`<proc>/<pid>/fdinfo/<fd>`).
 * A file that is missing, unreadable or malformed leaves its figure absent, with one diagnostic per kind; the other
 * figures and devices go on. Everything here runs in the background sampler.
 */
export class DrmProvider implements GpuProvider {
  readonly name = 'drm';
  readonly processView: GpuProcessView;
  private tracked: TrackedCard[] = [];
  private readonly scanner: DrmClientScanner;
  private readonly engineTime = new DrmEngineTime();
  private readonly reported = new Set<string>();
  /** The clients of this process tree at the last sample, with their regions: for `npm run gpu-check`. */
  lastClients: readonly DrmClient[] | undefined;

  constructor(
    procRoot = DEFAULT_PROCFS_ROOT,
    private readonly sysRoot = DEFAULT_SYSFS_ROOT,
  ) {
    this.processView = { procRoot, selfPid: selfPidIn(procRoot) };
    const tree = new ProcessTree(this.processView.selfPid, procRoot);
    this.scanner = new DrmClientScanner(procRoot, tree, (kind, message) => this.reportOnce(kind, message));
  }

  start(): Promise<readonly GpuDevice[]> {
    const cards = listDrmCards(this.sysRoot, (kind, message) => this.reportOnce(kind, message));
    if (cards.length === 0) {
      return Promise.reject(
        new GpuError(
          `no AMD (amdgpu) or Intel (i915, xe) GPU under ${this.sysRoot}/class/drm`,
          'drm-no-device',
        ),
      );
    }
    this.tracked = cards.map((card, index) => {
      const staticTotalBytes = readXeVramTotal(card);
      const total = this.deviceMemory(card, staticTotalBytes).totalBytes;
      return {
        card,
        staticTotalBytes,
        device: {
          index,
          uuid: card.id,
          name: card.model,
          vendor: card.vendor,
          // Only the providers read this; 0 stands for "not published" here and is never reported as a figure.
          memoryTotalBytes: total ?? 0,
        },
      };
    });
    return Promise.resolve(this.tracked.map((tracked) => tracked.device));
  }

  sample(): Promise<GpuSample> {
    const now = Date.now();
    const clients = this.scanner.read(now);
    this.lastClients = clients;
    const engineTime = clients === undefined ? undefined : this.engineTime.update(clients, now);
    const devices: GpuDeviceSample[] = this.tracked.map(({ card, device, staticTotalBytes }) => {
      const { usedBytes, totalBytes } = this.deviceMemory(card, staticTotalBytes);
      const busy =
        card.driver === 'amdgpu' ? this.figure(card, card.deviceDir, 'gpu_busy_percent') : undefined;
      // A client that does not say its device (no drm-pdev) is that card's where there is a single card; with
      // several, it could be any of them, so each one's figure becomes unknown rather than wrong.
      const single = this.tracked.length === 1;
      const processes: GpuProcessMemory[] | undefined = clients
        ?.filter((client) => client.pdev === card.pciSlot || client.pdev === undefined)
        .map((client) => ({
          pid: client.pid,
          usedBytes: client.pdev === undefined && !single ? undefined : client.bytes,
          // The fdinfo reader reports an unreadable line or missing usage stats itself, one line per kind.
          unknownExplained: client.bytes === undefined,
        }));
      return {
        device,
        usedBytes,
        totalBytes,
        freeBytes: usedBytes !== undefined && totalBytes !== undefined ? totalBytes - usedBytes : undefined,
        utilization: busy === undefined ? undefined : this.fraction(card, busy),
        processes,
        processBusy: this.processBusy(card, clients, engineTime),
      };
    });
    return Promise.resolve({ devices, failures: [] });
  }

  shutdown(): void {
    this.tracked = [];
  }

  /**
   * GPU time per client of this card since the previous reading; undefined (unknown, not 0) when procfs could not
   * be listed, or a client of the card has no engine figures (a kernel before engine stats) or could be another
   * card's (no drm-pdev among several cards).
   */
  private processBusy(
    card: DrmCard,
    clients: readonly DrmClient[] | undefined,
    engineTime: ReturnType<DrmEngineTime['update']> | undefined,
  ): GpuProcessBusy[] | undefined {
    if (clients === undefined || engineTime === undefined) return undefined;
    const single = this.tracked.length === 1;
    const entries: GpuProcessBusy[] = [];
    for (const client of clients) {
      if (client.pdev !== card.pciSlot && client.pdev !== undefined) continue;
      const busySeconds = engineTime.busy.get(client.key);
      if (busySeconds === undefined || (client.pdev === undefined && !single)) {
        this.reportOnce(
          'drm-engine-time-missing',
          `a DRM client of this process tree on ${card.card} has no drm-engine- or drm-cycles- lines (a kernel ` +
            'without per-client engine stats) or names no device among several: ' +
            'resource_tracker.gpu.process.busy_time is absent there',
        );
        return undefined;
      }
      entries.push({ pid: client.pid, busySeconds, fromMs: engineTime.fromMs, toMs: engineTime.toMs });
    }
    return entries;
  }

  /**
   * Device memory as the driver publishes it. amdgpu: `mem_info_vram_used` / `_total`. i915: mainline publishes
   * none; the out-of-tree i915 of Intel's backports (Arc, Flex, Max) has `lmem_total_bytes` / `lmem_avail_bytes` on
   * the card. xe: the size of its tiles only. Whatever is not published is undefined.
   */
  private deviceMemory(
    card: DrmCard,
    xeTotalBytes: number | undefined,
  ): { usedBytes: number | undefined; totalBytes: number | undefined } {
    switch (card.driver) {
      case 'amdgpu':
        return {
          usedBytes: this.figure(card, card.deviceDir, 'mem_info_vram_used'),
          totalBytes: this.figure(card, card.deviceDir, 'mem_info_vram_total'),
        };
      case 'i915': {
        const totalBytes = this.figure(card, card.cardDir, 'lmem_total_bytes');
        const available =
          totalBytes === undefined ? undefined : this.figure(card, card.cardDir, 'lmem_avail_bytes');
        const usedBytes =
          totalBytes !== undefined && available !== undefined && available <= totalBytes
            ? totalBytes - available
            : undefined;
        return { usedBytes, totalBytes };
      }
      default:
        return { usedBytes: undefined, totalBytes: xeTotalBytes };
    }
  }

  /** One number from a file of the card, or undefined with one diagnostic per file and problem. */
  private figure(card: DrmCard, dir: string, file: string): number | undefined {
    const result: ValueResult<number> = readUnsigned(`${dir}/${file}`);
    if ('value' in result) return result.value;
    this.reportOnce(
      `drm-${file}-${result.problem}`,
      `${result.detail}: that figure of ${card.card} (${card.driver}) is absent`,
    );
    return undefined;
  }

  private fraction(card: DrmCard, percent: number): number | undefined {
    if (percent <= 100) return percent / 100;
    this.reportOnce(
      'drm-gpu_busy_percent-malformed',
      `${card.deviceDir}/gpu_busy_percent holds ${percent}, more than 100: the utilization of ${card.card} is absent`,
    );
    return undefined;
  }

  /** One diagnostic per kind: a warning, or a debug line for a file the kernel or driver simply does not publish. */
  private reportOnce(kind: string, message: string): void {
    if (this.reported.has(kind)) return;
    this.reported.add(kind);
    if (kind.endsWith('-missing')) diag.debug(`otel-resource-tracker: ${message}`);
    else diag.warn(`otel-resource-tracker: ${message}`);
  }
}
