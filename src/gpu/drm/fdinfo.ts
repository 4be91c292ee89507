/**
 * One DRM client as its fdinfo describes it (kernel Documentation/gpu/drm-usage-stats.rst): the driver, the PCI
 * device, the client id that tells shared and duplicated descriptors apart, and the memory it holds per region.
 */
export interface DrmFdinfo {
  readonly driver: string;
  readonly pdev: string | undefined;
  readonly clientId: string | undefined;
  /**
   * Bytes per memory region (`vram`, `gtt`, `cpu`, xe's `system`, `stolen`, `vram0` …): `drm-resident-<region>`
   * where given, else its deprecated alias `drm-memory-<region>`, else `drm-total-<region>`. Empty when the driver
   * lists no memory (an older kernel).
   */
  readonly regions: ReadonlyMap<string, number>;
  /**
   * Busy time per engine in ns since the client opened (`drm-engine-<engine>: <n> ns`: amdgpu, i915, msm …); empty
   * where the driver prints none.
   */
  readonly engineNs: ReadonlyMap<string, number>;
  /**
   * xe: per engine class, the GPU cycles the client's work ran (`drm-cycles-<class>`) and the GPU's cycles over the
   * same time (`drm-total-cycles-<class>`): their deltas' ratio is the busy fraction between two readings.
   */
  readonly cycles: ReadonlyMap<string, { readonly busy: number; readonly total: number }>;
  /** Lines of ours that could not be read (a truncated line, `abc` for a size): the memory figure is unknown. */
  readonly malformed: readonly string[];
}

/** Which key names a region's memory, best first: what is in memory, then the alias, then what was allocated. */
const MEMORY_KEYS = ['resident', 'memory', 'total'] as const;
const MEMORY_LINE = /^drm-(resident|memory|total)-([^\s:]+)$/;
/** `drm-engine-<engine>` but not `drm-engine-capacity-<engine>` (a count of engines, not a time). */
const ENGINE_LINE = /^drm-engine-(?!capacity-)([^\s:]+)$/;
const ENGINE_TIME = /^(\d+)\s*ns$/;
const CYCLES_LINE = /^drm-(cycles|total-cycles)-([^\s:]+)$/;
const COUNT = /^\d+$/;
const SIZE = /^(\d+)(?:\s*(B|KiB|MiB|GiB))?$/;
const UNIT_BYTES: Readonly<Record<string, number>> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** A size as fdinfo prints it (`1234`, `512 KiB`, `3 MiB`), or undefined. */
export function parseDrmSize(text: string): number | undefined {
  const match = SIZE.exec(text);
  if (match === null) return undefined;
  const value = Number(match[1]) * (UNIT_BYTES[match[2] ?? 'B'] ?? 1);
  return Number.isSafeInteger(value) ? value : undefined;
}

/**
 * Parses the text of `/proc/<pid>/fdinfo/<fd>`; undefined when it is not a DRM client (no `drm-driver`: the fd is
 * something else, or was reused for something else since it was found).
 */
export function parseDrmFdinfo(text: string): DrmFdinfo | undefined {
  let driver: string | undefined;
  let pdev: string | undefined;
  let clientId: string | undefined;
  const found = new Map<string, Partial<Record<(typeof MEMORY_KEYS)[number], number>>>();
  const malformed: string[] = [];
  const engineNs = new Map<string, number>();
  const cycleParts = new Map<string, { busy?: number; total?: number }>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('drm-')) continue;
    const colon = line.indexOf(':');
    if (colon < 0) {
      // A line of ours cut short: whatever it was, a sum without it could be wrong.
      malformed.push(line);
      continue;
    }
    const key = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (key === 'drm-driver') driver = value;
    else if (key === 'drm-pdev') pdev = value;
    else if (key === 'drm-client-id') clientId = value;
    else if (parseEngineLine(key, value, engineNs, cycleParts)) continue;
    else {
      const memory = MEMORY_LINE.exec(key);
      if (memory === null) continue;
      const bytes = parseDrmSize(value);
      if (bytes === undefined) {
        malformed.push(line);
        continue;
      }
      const kind = memory[1] as (typeof MEMORY_KEYS)[number];
      const region = memory[2] as string;
      const entry = found.get(region) ?? {};
      entry[kind] = bytes;
      found.set(region, entry);
    }
  }
  if (driver === undefined || driver === '') return undefined;
  const regions = new Map<string, number>();
  for (const [region, entry] of found) {
    const bytes = entry.resident ?? entry.memory ?? entry.total;
    if (bytes !== undefined) regions.set(region, bytes);
  }
  const cycles = new Map<string, { busy: number; total: number }>();
  for (const [engineClass, part] of cycleParts)
    if (part.busy !== undefined && part.total !== undefined)
      cycles.set(engineClass, { busy: part.busy, total: part.total });
  return { driver, pdev, clientId, regions, engineNs, cycles, malformed };
}

/**
 * An engine-time line (`drm-engine-gfx: 123 ns`) or an xe cycles line, into the maps; false when the key is neither.
 * A value that is not a number leaves that engine out (its busy time is not guessed).
 */
function parseEngineLine(
  key: string,
  value: string,
  engineNs: Map<string, number>,
  cycleParts: Map<string, { busy?: number; total?: number }>,
): boolean {
  const engine = ENGINE_LINE.exec(key);
  if (engine !== null) {
    const time = ENGINE_TIME.exec(value);
    const ns = time === null ? Number.NaN : Number(time[1]);
    if (Number.isSafeInteger(ns)) engineNs.set(engine[1] as string, ns);
    return true;
  }
  const cycles = CYCLES_LINE.exec(key);
  if (cycles === null) return false;
  const count = COUNT.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(count)) return true;
  const engineClass = cycles[2] as string;
  const part = cycleParts.get(engineClass) ?? {};
  if (cycles[1] === 'cycles') part.busy = count;
  else part.total = count;
  cycleParts.set(engineClass, part);
  return true;
}
