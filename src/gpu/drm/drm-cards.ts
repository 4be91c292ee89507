import { readdirSync } from 'node:fs';
import { parseUevent, readText, readUnsigned } from './sysfs-value.js';

/** PCI vendor ids of the GPUs this provider reads. */
const VENDORS: Readonly<Record<string, 'AMD' | 'Intel'>> = { '0x1002': 'AMD', '0x8086': 'Intel' };
/** The drivers whose files this provider knows; a card bound to another one (radeon, simpledrm) is left out. */
const DRIVERS = new Set(['amdgpu', 'i915', 'xe']);

/** A GPU as `<sys>/class/drm/card<N>` shows it. */
export interface DrmCard {
  /** `card0`, … */
  readonly card: string;
  /** `<sys>/class/drm/card<N>`. */
  readonly cardDir: string;
  /** `<sys>/class/drm/card<N>/device`: the PCI device's sysfs directory (through the link). */
  readonly deviceDir: string;
  readonly vendor: 'AMD' | 'Intel';
  /** `amdgpu`, `i915` or `xe`. */
  readonly driver: string;
  /** The PCI address, `0000:03:00.0`: what fdinfo's `drm-pdev` says. */
  readonly pciSlot: string;
  /** amdgpu's `unique_id` where the GPU has one, else the PCI address: `hw.id`. */
  readonly id: string;
  /** amdgpu's `product_name` where present, else vendor, PCI device id and driver: `hw.model`. */
  readonly model: string;
}

/** Skips a card, saying why (once per kind, by whoever reports). */
export type CardReport = (kind: string, message: string) => void;

function cardNumber(name: string): number {
  return Number(name.slice('card'.length));
}

/**
 * The AMD and Intel GPUs under `<sys>/class/drm`: `card<N>` entries (not `card<N>-<connector>`) whose `device`
 * is a PCI device of vendor 0x1002 or 0x8086, bound to amdgpu, i915 or xe. In card order, one entry per PCI device.
 */
export function listDrmCards(sysRoot: string, report: CardReport): DrmCard[] {
  let names: string[];
  try {
    names = readdirSync(`${sysRoot}/class/drm`).filter((name) => /^card\d+$/.test(name));
  } catch {
    return [];
  }
  names.sort((a, b) => cardNumber(a) - cardNumber(b));
  const cards: DrmCard[] = [];
  for (const card of names) {
    const cardDir = `${sysRoot}/class/drm/${card}`;
    const deviceDir = `${cardDir}/device`;
    const vendorText = readText(`${deviceDir}/vendor`);
    const vendor = 'value' in vendorText ? VENDORS[vendorText.value.toLowerCase()] : undefined;
    if (vendor === undefined) continue;
    const uevent = readText(`${deviceDir}/uevent`);
    const fields = 'value' in uevent ? parseUevent(uevent.value) : new Map<string, string>();
    const driver = fields.get('DRIVER');
    const pciSlot = fields.get('PCI_SLOT_NAME');
    if (driver === undefined || pciSlot === undefined) {
      report('drm-uevent', `${deviceDir}/uevent names no DRIVER or PCI_SLOT_NAME; ${card} is not read`);
      continue;
    }
    if (!DRIVERS.has(driver) || cards.some((known) => known.pciSlot === pciSlot)) continue;
    const uniqueId = readText(`${deviceDir}/unique_id`);
    const productName = readText(`${deviceDir}/product_name`);
    const deviceId = readText(`${deviceDir}/device`);
    cards.push({
      card,
      cardDir,
      deviceDir,
      vendor,
      driver,
      pciSlot,
      id: 'value' in uniqueId && uniqueId.value !== '' ? uniqueId.value : pciSlot,
      model:
        'value' in productName && productName.value !== ''
          ? productName.value
          : `${vendor} GPU ${'value' in deviceId ? deviceId.value : 'unknown'} (${driver})`,
    });
  }
  return cards;
}

/**
 * xe's VRAM size: the sum of `device/tile<N>/physical_vram_size_bytes` (physical, so a little more than what can
 * be allocated); undefined on i915 and on integrated GPUs, which publish none.
 */
export function readXeVramTotal(card: DrmCard): number | undefined {
  if (card.driver !== 'xe') return undefined;
  let tiles: string[];
  try {
    tiles = readdirSync(card.deviceDir).filter((name) => /^tile\d+$/.test(name));
  } catch {
    return undefined;
  }
  let total: number | undefined;
  for (const tile of tiles) {
    const size = readUnsigned(`${card.deviceDir}/${tile}/physical_vram_size_bytes`);
    if ('value' in size) total = (total ?? 0) + size.value;
  }
  return total === 0 ? undefined : total;
}
