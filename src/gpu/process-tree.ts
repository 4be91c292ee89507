import { readFileSync, readlinkSync } from 'node:fs';
import { parseProcStat } from '../probes/proc-stat.js';

/** The inode of the initial PID namespace (PROC_PID_INIT_INO in the kernel): the host's. */
const INIT_PID_NAMESPACE_INODE = 4026531836;

/**
 * Whether this process sees host PIDs. NVML reports host PIDs; inside a container with its own PID namespace
 * (docker without --pid=host, Kubernetes pods) our PID is not among them, and "not in the list" would wrongly read as
 * "holds no GPU memory". undefined where it cannot be told (no /proc).
 */
export function seesHostPids(namespaceLink = '/proc/self/ns/pid'): boolean | undefined {
  try {
    const match = /^pid:\[(\d+)\]$/.exec(readlinkSync(namespaceLink));
    return match ? Number(match[1]) === INIT_PID_NAMESPACE_INODE : undefined;
  } catch {
    return undefined;
  }
}

/** The parent PID from /proc/<pid>/stat, or undefined when the process is gone. */
function parentOf(pid: number, procRoot: string): number | undefined {
  try {
    return parseProcStat(readFileSync(`${procRoot}/${pid}/stat`))?.parentPid;
  } catch {
    return undefined;
  }
}

/**
 * Tells which PIDs are `rootPid` or one of its descendants, by walking each one's parent chain in /proc (a few
 * reads per GPU process, in the background sampler; never a scan of every process on the machine). Verdicts are
 * kept for `ttlMs`, so that a tick over many GPUs listing the same processes reads /proc once; a PID reused
 * within that time can be misjudged until it expires.
 */
export class ProcessTree {
  private verdicts = new Map<number, boolean>();
  private verdictsSince = 0;

  constructor(
    private readonly rootPid = process.pid,
    private readonly procRoot = '/proc',
    private readonly ttlMs = 5000,
  ) {}

  owns(pid: number, now = Date.now()): boolean {
    if (now - this.verdictsSince > this.ttlMs) {
      this.verdicts = new Map([[this.rootPid, true]]);
      this.verdictsSince = now;
    }
    const chain: number[] = [];
    let current: number | undefined = pid;
    let answer = false;
    while (current !== undefined && current > 1 && chain.length < 64) {
      const known = this.verdicts.get(current);
      if (known !== undefined) {
        answer = known;
        break;
      }
      chain.push(current);
      current = parentOf(current, this.procRoot);
    }
    for (const visited of chain) this.verdicts.set(visited, answer);
    return answer;
  }
}
