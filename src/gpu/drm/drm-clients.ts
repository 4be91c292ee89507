import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { ProcessTree } from '../process-tree.js';
import { type DrmFdinfo, parseDrmFdinfo } from './fdinfo.js';

/** What a file descriptor that opens a GPU links to. */
const DRM_NODE = /^\/dev\/dri\/(renderD|card)\d+$/;
/** How often the process tree's descriptors are listed again (between listings only known DRM fds are read). */
export const DRM_SCAN_INTERVAL_MS = 2000;

/** One DRM client of this process tree: the memory it holds on a device. */
export interface DrmClient {
  /** The process the client was found in first (a client shared by fork is counted once, for one of them). */
  readonly pid: number;
  readonly pdev: string | undefined;
  readonly driver: string;
  /** Sum over every region the fdinfo lists; undefined when it lists none or a line could not be read. */
  readonly bytes: number | undefined;
  /** The regions and their bytes, for gpu-check. */
  readonly regions: ReadonlyMap<string, number>;
  /** Identifies the client across readings (pdev or driver / client id; pid / fd without an id). */
  readonly key: string;
  /** Engine busy time (ns per engine) and xe's cycle counters, as fdinfo.ts reads them. */
  readonly engineNs: ReadonlyMap<string, number>;
  readonly cycles: DrmFdinfo['cycles'];
}

interface DrmDescriptor {
  readonly pid: number;
  readonly fd: string;
}

export type ClientReport = (kind: string, message: string) => void;

/**
 * Finds the DRM file descriptors of this process and its descendants in `<proc>/<pid>/fd` (a link to
 * `/dev/dri/renderD*` or `/dev/dri/card*`) and reads what each one holds from `<proc>/<pid>/fdinfo/<fd>`.
 *
 * Cost: listing `<proc>` and asking the process tree about each PID (one read of `<pid>/stat` per process, verdicts
 * kept 5 s), then one `readlink` per descriptor of our processes only — every DRM_SCAN_INTERVAL_MS at most; the
 * ticks in between read the fdinfo of the descriptors already found (a few small reads). A process we may not read
 * (another user's, without CAP_SYS_PTRACE) is skipped.
 */
export class DrmClientScanner {
  private descriptors: DrmDescriptor[] = [];
  private scannedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly procRoot: string,
    private readonly tree: ProcessTree,
    private readonly report: ClientReport,
    private readonly scanIntervalMs = DRM_SCAN_INTERVAL_MS,
  ) {}

  /**
   * The DRM clients of this process tree now, each (pdev, client-id) once; undefined when procfs cannot be listed
   * (then nothing can be said, not even "none").
   */
  read(now = Date.now()): DrmClient[] | undefined {
    if (now - this.scannedAt >= this.scanIntervalMs) {
      const found = this.scan(now);
      if (found === undefined) return undefined;
      this.descriptors = found;
      this.scannedAt = now;
    }
    const clients = new Map<string, DrmClient>();
    const stillOpen: DrmDescriptor[] = [];
    for (const descriptor of this.descriptors) {
      const info = this.readFdinfo(descriptor);
      if (info === undefined) {
        // Closed, or reused for something else: found again at the next scan. But a descriptor that still opens a
        // GPU and says nothing (a kernel without drm-usage-stats: amdgpu before 5.19) holds an unknown amount:
        // the figure is unknown, not smaller.
        if (this.stillDrm(descriptor)) {
          stillOpen.push(descriptor);
          this.report(
            'drm-fdinfo-no-stats',
            `${this.procRoot}/${descriptor.pid}/fdinfo/${descriptor.fd} has no drm-driver line (a kernel without ` +
              'DRM usage stats): GPU memory per process is unknown',
          );
          const key = `${descriptor.pid}/${descriptor.fd}`;
          clients.set(key, {
            pid: descriptor.pid,
            pdev: undefined,
            driver: 'unknown',
            bytes: undefined,
            regions: new Map(),
            key,
            engineNs: new Map(),
            cycles: new Map(),
          });
        }
        continue;
      }
      stillOpen.push(descriptor);
      // Without a client id every descriptor is its own client (the spec asks drivers for one; all of ours give it).
      const key =
        info.clientId === undefined
          ? `${descriptor.pid}/${descriptor.fd}`
          : `${info.pdev ?? info.driver}/${info.clientId}`;
      if (clients.has(key)) continue;
      clients.set(key, {
        pid: descriptor.pid,
        pdev: info.pdev,
        driver: info.driver,
        bytes: this.clientBytes(info, descriptor),
        regions: info.regions,
        key,
        engineNs: info.engineNs,
        cycles: info.cycles,
      });
    }
    this.descriptors = stillOpen;
    return [...clients.values()];
  }

  private clientBytes(info: DrmFdinfo, descriptor: DrmDescriptor): number | undefined {
    if (info.malformed.length > 0) {
      this.report(
        'drm-fdinfo-malformed',
        `${this.procRoot}/${descriptor.pid}/fdinfo/${descriptor.fd} has a line that cannot be read ` +
          `(${JSON.stringify(info.malformed[0]?.slice(0, 60))}): that client's GPU memory is unknown`,
      );
      return undefined;
    }
    if (info.regions.size === 0) return undefined;
    let bytes = 0;
    for (const value of info.regions.values()) bytes += value;
    return bytes;
  }

  private stillDrm(descriptor: DrmDescriptor): boolean {
    try {
      return DRM_NODE.test(readlinkSync(`${this.procRoot}/${descriptor.pid}/fd/${descriptor.fd}`));
    } catch {
      return false;
    }
  }

  private readFdinfo(descriptor: DrmDescriptor): DrmFdinfo | undefined {
    try {
      return parseDrmFdinfo(
        readFileSync(`${this.procRoot}/${descriptor.pid}/fdinfo/${descriptor.fd}`, 'latin1'),
      );
    } catch {
      return undefined;
    }
  }

  private scan(now: number): DrmDescriptor[] | undefined {
    let entries: string[];
    try {
      entries = readdirSync(this.procRoot);
    } catch (error) {
      this.report(
        'drm-procfs',
        `${this.procRoot} cannot be listed (${(error as Error).message}): GPU memory per process is unknown`,
      );
      return undefined;
    }
    const found: DrmDescriptor[] = [];
    for (const entry of entries) {
      const pid = Number(entry);
      if (!Number.isInteger(pid) || pid <= 0 || !this.tree.owns(pid, now)) continue;
      let fds: string[];
      try {
        fds = readdirSync(`${this.procRoot}/${pid}/fd`);
      } catch (error) {
        // Gone since the listing: nothing to say. Not ours to read (another user's, without CAP_SYS_PTRACE):
        // skipped, and said once, since the tree's figure then leaves that process out.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
          this.report(
            'drm-fd-unreadable',
            `the descriptors of process ${pid} (a descendant) cannot be listed ` +
              `(${(error as NodeJS.ErrnoException).code ?? String(error)}): its GPU memory is not counted`,
          );
        continue;
      }
      for (const fd of fds) {
        let target: string;
        try {
          target = readlinkSync(`${this.procRoot}/${pid}/fd/${fd}`);
        } catch {
          continue;
        }
        if (DRM_NODE.test(target)) found.push({ pid, fd });
      }
    }
    return found;
  }
}
