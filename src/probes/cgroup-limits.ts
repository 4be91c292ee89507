import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where procfs and sysfs are mounted (node_exporter's --path.procfs / --path.sysfs); default /proc and /sys. */
export interface CgroupRoots {
  readonly procfsRoot: string;
  readonly sysfsRoot: string;
}

/** The directories of this process's CPU and memory cgroups, and which cgroup version each one is. */
export interface CgroupDirectories {
  readonly cpu: { readonly version: 1 | 2; readonly path: string } | undefined;
  readonly memory: { readonly version: 1 | 2; readonly path: string } | undefined;
}

/** One figure's failure, to be reported once per kind by whoever reads. */
export type CgroupProblem = (kind: string, message: string) => void;

/** v1 `memory.limit_in_bytes` without a limit is the largest page-aligned 63-bit number; anything this high is none. */
const V1_UNLIMITED_BYTES = 2 ** 62;

interface CgroupMount {
  readonly version: 1 | 2;
  /** The mount's root inside the hierarchy (field 4 of mountinfo): a container sees its own cgroup as `/`. */
  readonly root: string;
  /** Where it is mounted, under the configured sysfs root. */
  readonly mountPoint: string;
  readonly controllers: readonly string[];
}

/** A path in mountinfo is the host's view: `/sys/…` is re-rooted under the configured sysfs root. */
function underSysfs(path: string, roots: CgroupRoots): string {
  return path === '/sys' || path.startsWith('/sys/') ? join(roots.sysfsRoot, path.slice(4)) : path;
}

/** mountinfo escapes blanks in paths as octal (`\040`). */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

function parseMounts(mountinfo: string, roots: CgroupRoots): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const separator = line.indexOf(' - ');
    if (separator < 0) continue;
    const before = line.slice(0, separator).split(' ');
    const [fsType, , superOptions = ''] = line.slice(separator + 3).split(' ');
    const root = before[3];
    const mountPoint = before[4];
    if (root === undefined || mountPoint === undefined) continue;
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    mounts.push({
      version: fsType === 'cgroup2' ? 2 : 1,
      root: unescapeMountPath(root),
      mountPoint: underSysfs(unescapeMountPath(mountPoint), roots),
      controllers: fsType === 'cgroup' ? superOptions.split(',') : [],
    });
  }
  return mounts;
}

/** The cgroup's directory under a mount: the path in /proc/self/cgroup is relative to the hierarchy, not the mount. */
function directoryUnder(mount: CgroupMount, cgroupPath: string): string {
  const relative =
    mount.root !== '/' && (cgroupPath === mount.root || cgroupPath.startsWith(`${mount.root}/`))
      ? cgroupPath.slice(mount.root.length)
      : cgroupPath;
  return join(mount.mountPoint, relative);
}

/**
 * Finds this process's CPU and memory cgroups from `<procfs>/self/cgroup` and `<procfs>/self/mountinfo`. A v1
 * hierarchy that carries the controller wins over the v2 one: on a hybrid host (v1 controllers, an empty v2 tree at
 * /sys/fs/cgroup/unified) the v2 tree has no cpu or memory files. Throws when either file cannot be read.
 */
export function findCgroupDirectories(roots: CgroupRoots): CgroupDirectories {
  const membership = readFileSync(join(roots.procfsRoot, 'self', 'cgroup'), 'utf8');
  const mounts = parseMounts(readFileSync(join(roots.procfsRoot, 'self', 'mountinfo'), 'utf8'), roots);
  const v1Paths = new Map<string, string>();
  let v2Path: string | undefined;
  for (const line of membership.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (line.slice(0, first) === '0' && controllers === '') v2Path = path;
    else for (const controller of controllers.split(',')) v1Paths.set(controller, path);
  }
  const find = (controller: string): CgroupDirectories['cpu'] => {
    const v1 = mounts.find((mount) => mount.version === 1 && mount.controllers.includes(controller));
    const v1Path = v1Paths.get(controller);
    if (v1 !== undefined && v1Path !== undefined) return { version: 1, path: directoryUnder(v1, v1Path) };
    const v2 = mounts.find((mount) => mount.version === 2);
    if (v2 !== undefined && v2Path !== undefined) return { version: 2, path: directoryUnder(v2, v2Path) };
    return undefined;
  };
  return { cpu: find('cpu'), memory: find('memory') };
}

/** A whole, non-negative decimal number, or undefined. */
function wholeNumber(text: string): number | undefined {
  return /^\d+$/.test(text) ? Number(text) : undefined;
}

/** The value of `key` in a flat-keyed file (`cpu.stat`: "key value" lines). */
function keyedValue(text: string, key: string): number | undefined {
  for (const line of text.split('\n')) {
    const [name, value] = line.trim().split(/\s+/);
    if (name === key && value !== undefined) return wholeNumber(value);
  }
  return undefined;
}

/** Reads a cgroup file; undefined (and one report of `kind`) when it is missing, unreadable or says nothing. */
function readCgroupFile(path: string, kind: string, problem: CgroupProblem): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (error) {
    problem(kind, `${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    return undefined;
  }
}

/**
 * Seconds the CPU cgroup has been throttled by its quota since it was made: v2 `cpu.stat` `throttled_usec`, v1
 * `cpu.stat` `throttled_time` (ns). Undefined when the file is missing or malformed (reported once per kind).
 */
export function readThrottledSeconds(
  cpu: NonNullable<CgroupDirectories['cpu']>,
  problem: CgroupProblem,
): number | undefined {
  const path = join(cpu.path, 'cpu.stat');
  const text = readCgroupFile(path, 'throttled', problem);
  if (text === undefined) return undefined;
  const key = cpu.version === 2 ? 'throttled_usec' : 'throttled_time';
  const value = keyedValue(text, key);
  if (value === undefined) {
    problem('throttled', `${path} has no whole-number ${key} line`);
    return undefined;
  }
  return cpu.version === 2 ? value / 1e6 : value / 1e9;
}

/** A limit: a number, `unlimited`, or undefined when it could not be read. */
export type CgroupLimit = number | 'unlimited' | undefined;

/** Cores the CPU cgroup's quota allows: v2 `cpu.max` ("quota period" or "max period"), v1 cfs_quota_us / cfs_period_us. */
export function readCpuLimitCores(
  cpu: NonNullable<CgroupDirectories['cpu']>,
  problem: CgroupProblem,
): CgroupLimit {
  let quota: string | undefined;
  let period: string | undefined;
  let where: string;
  if (cpu.version === 2) {
    where = join(cpu.path, 'cpu.max');
    const text = readCgroupFile(where, 'cpu-limit', problem);
    if (text === undefined) return undefined;
    [quota, period] = text.split(/\s+/);
    if (quota === 'max' && period !== undefined && wholeNumber(period) !== undefined) return 'unlimited';
  } else {
    where = join(cpu.path, 'cpu.cfs_quota_us');
    quota = readCgroupFile(where, 'cpu-limit', problem);
    if (quota === undefined) return undefined;
    if (quota === '-1') return 'unlimited';
    period = readCgroupFile(join(cpu.path, 'cpu.cfs_period_us'), 'cpu-limit', problem);
    if (period === undefined) return undefined;
  }
  const quotaUs = wholeNumber(quota ?? '');
  const periodUs = wholeNumber(period ?? '');
  if (quotaUs === undefined || periodUs === undefined || periodUs === 0) {
    problem('cpu-limit', `${where}: the quota and period are not whole numbers of microseconds`);
    return undefined;
  }
  return quotaUs / periodUs;
}

/** Bytes the memory cgroup may use: v2 `memory.max` ("max" = none), v1 `memory.limit_in_bytes`. */
export function readMemoryLimitBytes(
  memory: NonNullable<CgroupDirectories['memory']>,
  problem: CgroupProblem,
): CgroupLimit {
  const path = join(memory.path, memory.version === 2 ? 'memory.max' : 'memory.limit_in_bytes');
  const text = readCgroupFile(path, 'memory-limit', problem);
  if (text === undefined) return undefined;
  if (memory.version === 2 && text === 'max') return 'unlimited';
  const bytes = wholeNumber(text);
  if (bytes === undefined) {
    problem('memory-limit', `${path} is not a whole number of bytes`);
    return undefined;
  }
  return bytes >= V1_UNLIMITED_BYTES ? 'unlimited' : bytes;
}
