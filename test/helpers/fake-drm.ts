import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/** What a fake PCI GPU publishes in sysfs; a file left undefined is not written (the driver does not publish it). */
export interface FakeDrmCard {
  /** `card0`, … */
  card: string;
  pciSlot: string;
  vendor: string;
  device?: string;
  driver: string;
  /** Other files of the device directory (`mem_info_vram_used`, `unique_id`, `tile0/physical_vram_size_bytes` …). */
  files?: Record<string, string>;
  /** Files of the card's own directory (`<sys>/class/drm/card<N>/lmem_total_bytes` …). */
  cardFiles?: Record<string, string>;
}

/**
 * A fake procfs and sysfs, laid out as the kernel lays them out, for the DRM provider to read through
 * OTEL_RESOURCE_TRACKER_PROCFS_ROOT / _SYSFS_ROOT. File descriptors are symlinks to `/dev/dri/...` paths that need
 * not exist (the provider only reads the link); `<proc>/self` links to this test process's real PID.
 */
export class FakeDrmTree {
  readonly root = mkdtempSync(join(tmpdir(), 'fake-drm-'));
  readonly proc = join(this.root, 'proc');
  readonly sys = join(this.root, 'sys');

  constructor() {
    mkdirSync(join(this.sys, 'class', 'drm'), { recursive: true });
    mkdirSync(this.proc, { recursive: true });
    symlinkSync(String(process.pid), join(this.proc, 'self'));
  }

  /** The environment that points the provider at this tree. */
  env(provider = 'drm'): Record<string, string> {
    return {
      OTEL_RESOURCE_TRACKER_GPU_PROVIDER: provider,
      OTEL_RESOURCE_TRACKER_PROCFS_ROOT: this.proc,
      OTEL_RESOURCE_TRACKER_SYSFS_ROOT: this.sys,
    };
  }

  /** `<sys>/class/drm/<card>` with its `device` link to `<sys>/devices/pci0000:00/<slot>`, as on a real machine. */
  addCard(card: FakeDrmCard): void {
    const deviceDir = join(this.sys, 'devices', 'pci0000:00', card.pciSlot);
    const cardDir = join(deviceDir, 'drm', card.card);
    mkdirSync(cardDir, { recursive: true });
    this.write(join(deviceDir, 'vendor'), `${card.vendor}\n`);
    this.write(join(deviceDir, 'device'), `${card.device ?? '0x0000'}\n`);
    this.write(
      join(deviceDir, 'uevent'),
      `DRIVER=${card.driver}\nPCI_CLASS=30000\nPCI_SLOT_NAME=${card.pciSlot}\nMODALIAS=pci:v0000\n`,
    );
    for (const [file, text] of Object.entries(card.files ?? {})) this.write(join(deviceDir, file), text);
    for (const [file, text] of Object.entries(card.cardFiles ?? {})) this.write(join(cardDir, file), text);
    symlinkSync(deviceDir, join(cardDir, 'device'));
    symlinkSync(cardDir, join(this.sys, 'class', 'drm', card.card));
  }

  /** A connector entry (`card0-DP-1`), which is not a GPU. */
  addConnector(name: string): void {
    const dir = join(this.sys, 'class', 'drm', name);
    mkdirSync(dir, { recursive: true });
    this.write(join(dir, 'status'), 'connected\n');
  }

  /** Rewrites one file of a card's device directory (`abc` in `mem_info_vram_used`, …). */
  setCardFile(pciSlot: string, file: string, text: string): void {
    this.write(join(this.sys, 'devices', 'pci0000:00', pciSlot, file), text);
  }

  removeCardFile(pciSlot: string, file: string): void {
    rmSync(join(this.sys, 'devices', 'pci0000:00', pciSlot, file), { force: true });
  }

  /** `<proc>/<pid>/stat` with this parent, and empty `fd` and `fdinfo` directories. */
  addProcess(pid: number, parent: number, name = 'node'): void {
    mkdirSync(join(this.proc, String(pid), 'fd'), { recursive: true });
    mkdirSync(join(this.proc, String(pid), 'fdinfo'), { recursive: true });
    // The real format: the name in parentheses may hold spaces and parentheses.
    this.write(
      join(this.proc, String(pid), 'stat'),
      `${pid} (${name}) S ${parent} ${pid} ${pid} 0 -1 4194560 100 0 0 0 5 2 0 0 20 0 1 0 100 1000000 200\n`,
    );
  }

  /** fd `fd` of `pid` linking to `target`, with `fdinfo` text (undefined: no fdinfo file). */
  addFd(pid: number, fd: number, target: string, fdinfo?: string): void {
    symlinkSync(target, join(this.proc, String(pid), 'fd', String(fd)));
    if (fdinfo !== undefined) this.setFdinfo(pid, fd, fdinfo);
  }

  /** What closing the descriptor does: its link and its fdinfo go. */
  closeFd(pid: number, fd: number): void {
    rmSync(join(this.proc, String(pid), 'fd', String(fd)), { force: true });
    rmSync(join(this.proc, String(pid), 'fdinfo', String(fd)), { force: true });
  }

  setFdinfo(pid: number, fd: number, text: string): void {
    this.write(join(this.proc, String(pid), 'fdinfo', String(fd)), text);
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }

  private write(path: string, text: string): void {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
}

/** fdinfo text as the kernel prints it: the generic lines, then the driver's `drm-` lines. */
export function fdinfoText(drmLines: Record<string, string>): string {
  const lines = ['pos:\t0', 'flags:\t02100002', 'mnt_id:\t26', 'ino:\t1067'];
  for (const [key, value] of Object.entries(drmLines)) lines.push(`${key}:\t${value}`);
  return `${lines.join('\n')}\n`;
}
