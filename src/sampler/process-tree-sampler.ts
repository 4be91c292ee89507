import { closeSync, openSync, readSync } from 'node:fs';
import { readClockTicksPerSecond, readPageSize } from '../probes/auxv.js';
import type { Libc, Rusage } from '../probes/libc.js';
import { type ProcStat, parseProcStat } from '../probes/proc-stat.js';

/** One reading of the tree. */
export interface TreeSample {
  /** ms since the sampler started. */
  readonly atMs: number;
  /** CPU seconds of the whole tree so far (user + system; live processes and reaped ones). */
  readonly cpuSeconds: number;
  /** Sum of the live processes' RSS at this moment. */
  readonly rssBytes: number;
  readonly processCount: number;
}

/**
 * Samples a process tree from /proc: the root, every descendant found through /proc/<pid>/task/<tid>/children, and
 * orphans re-parented to this process (which makes itself a child subreaper, so that a grandchild whose parent
 * exits stays ours rather than init's). CPU: RUSAGE_CHILDREN of this process (every descendant already waited for,
 * the root included once it ended) plus the live processes' own and waited-for-children's CPU; the running total
 * never goes back (a process between its exit and its parent's wait is briefly in neither). RSS: the sum over live
 * processes at one moment, and each process's highest reading. Ticks on an unref()'d timer, never in a loop.
 * It keeps running figures only, not the samples (the caller keeps a bounded history of them): memory stays flat
 * however long it runs, and descriptors are held only for processes in the tree at the last tick.
 */
export class ProcessTreeSampler {
  private readonly clockTicks = readClockTicksPerSecond();
  private readonly pageSize = readPageSize();
  private readonly startedAt = performance.now();
  /** RUSAGE_CHILDREN before the run (other children this process had), taken off every figure. */
  private readonly reapedAtStart: Rusage | undefined;
  /** RUSAGE_CHILDREN at the last tick. */
  private reaped: Rusage | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly descriptors = new Map<string, number>();
  private readonly buffer = Buffer.alloc(64 * 1024);
  private cpuSeconds = 0;
  private liveUserSeconds = 0;
  private liveSystemSeconds = 0;
  /** Highest sum of RSS over the tree at one moment, and when. */
  peakTreeRssBytes = 0;
  peakTreeRssAtMs = 0;
  /** Highest RSS of one process seen by sampling. */
  private largestSampledRssBytes = 0;
  /** Processes seen in the tree, the root included (counted: a set of every PID would grow without bound). */
  processesSeen = 0;
  /** The PIDs in the tree at the last tick: adopted orphans are recognised among them. */
  private inTree = new Set<number>();

  constructor(
    private readonly rootPid: number,
    private readonly libc: Libc | undefined,
    private readonly intervalMs: number,
    private readonly procRoot = '/proc',
  ) {
    this.reapedAtStart = libc?.childrenUsage();
  }

  start(onTick?: (sample: TreeSample) => void): void {
    const tick = () => {
      const sample = this.tick();
      onTick?.(sample);
    };
    tick();
    this.timer = setInterval(tick, this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    for (const fd of this.descriptors.values()) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
    this.descriptors.clear();
  }

  /** One reading now (the timer calls it; the end of a run calls it once more). */
  tick(): TreeSample {
    const atMs = performance.now() - this.startedAt;
    let liveUser = 0;
    let liveSystem = 0;
    let rss = 0;
    let count = 0;
    const inTree = new Set<number>();
    for (const pid of this.treePids()) {
      const stat = this.stat(pid);
      if (stat === undefined) continue;
      if (stat.state === 'Z') {
        this.forget(pid);
        // Ended: an adopted orphan is ours to reap (its CPU then lands in RUSAGE_CHILDREN); any other zombie is
        // its parent's to wait for, and its figures move into the parent's cutime then.
        if (stat.parentPid === process.pid && pid !== this.rootPid) this.libc?.reap(pid);
        continue;
      }
      inTree.add(pid);
      if (!this.inTree.has(pid)) this.processesSeen++;
      count++;
      liveUser += (stat.userTicks + stat.childrenUserTicks) / this.clockTicks;
      liveSystem += (stat.systemTicks + stat.childrenSystemTicks) / this.clockTicks;
      const rssBytes = stat.rssPages * this.pageSize;
      rss += rssBytes;
      if (rssBytes > this.largestSampledRssBytes) this.largestSampledRssBytes = rssBytes;
    }
    // A process that ended and was reaped by its parent between two ticks is never read again: without this its
    // descriptors would stay open for the rest of the run (one pair per short-lived process).
    for (const pid of this.descriptorPids) if (!inTree.has(pid) && pid !== process.pid) this.forget(pid);
    this.inTree = inTree;
    this.reaped = this.libc?.childrenUsage();
    this.liveUserSeconds = liveUser;
    this.liveSystemSeconds = liveSystem;
    const { userSeconds, systemSeconds } = this.cpu;
    this.cpuSeconds = Math.max(this.cpuSeconds, userSeconds + systemSeconds);
    if (rss > this.peakTreeRssBytes) {
      this.peakTreeRssBytes = rss;
      this.peakTreeRssAtMs = atMs;
    }
    return { atMs, cpuSeconds: this.cpuSeconds, rssBytes: rss, processCount: count };
  }

  /** How many descriptors the sampler holds open now (two at most per process in the tree). */
  get openDescriptors(): number {
    return this.descriptors.size;
  }

  /**
   * The tree's CPU at the last tick: what was reaped since the start (RUSAGE_CHILDREN, less what this process's
   * other children had used before) plus the live processes' own and their waited-for children's.
   */
  get cpu(): { userSeconds: number; systemSeconds: number } {
    const since = (field: 'userSeconds' | 'systemSeconds') =>
      (this.reaped?.[field] ?? 0) - (this.reapedAtStart?.[field] ?? 0);
    return {
      userSeconds: since('userSeconds') + this.liveUserSeconds,
      systemSeconds: since('systemSeconds') + this.liveSystemSeconds,
    };
  }

  /** The largest single process's peak RSS: the kernel's maxRSS of the waited-for ones, or the highest sampled. */
  get largestProcessPeakBytes(): number {
    return Math.max(this.reaped?.maxRssBytes ?? 0, this.largestSampledRssBytes);
  }

  /** The root, its descendants, and adopted orphans (children of this process that were once in the tree). */
  private treePids(): number[] {
    const roots = [this.rootPid];
    for (const pid of this.childrenOf(process.pid))
      if (pid !== this.rootPid && this.inTree.has(pid)) roots.push(pid);
    const found: number[] = [];
    const queue = [...roots];
    const visited = new Set<number>();
    while (queue.length > 0) {
      const pid = queue.shift() as number;
      if (visited.has(pid)) continue;
      visited.add(pid);
      found.push(pid);
      for (const child of this.childrenOf(pid)) queue.push(child);
    }
    return found;
  }

  /**
   * The children of `pid`'s main thread (/proc/<pid>/task/<pid>/children): the thread that forks in shells, Python,
   * Node and most programs. Children forked by other threads are found once they fork in turn or when their parent
   * ends (they are then re-parented to us).
   */
  private childrenOf(pid: number): number[] {
    const text = this.read(pid, 'children', `${this.procRoot}/${pid}/task/${pid}/children`);
    if (text === undefined || text === '') return [];
    const children: number[] = [];
    for (const entry of text.split(' ')) if (entry !== '' && entry !== '\n') children.push(Number(entry));
    return children;
  }

  /**
   * One `pread` on a descriptor kept open per process and file: four syscalls fewer than opening the file each
   * tick, which is what sampling 50 processes ten times a second costs. A process that ended reads as undefined
   * (its descriptors are closed then).
   */
  private read(pid: number, kind: 'stat' | 'children', path: string): string | undefined {
    const length = this.readInto(pid, kind, path);
    return length === undefined ? undefined : this.buffer.toString('latin1', 0, length);
  }

  /** Reads the file into the shared buffer: its length, or undefined when the process is gone. */
  private readInto(pid: number, kind: 'stat' | 'children', path: string): number | undefined {
    const key = `${kind}:${pid}`;
    let fd = this.descriptors.get(key);
    try {
      if (fd === undefined) {
        fd = openSync(path, 'r');
        this.descriptors.set(key, fd);
      }
      return readSync(fd, this.buffer, 0, this.buffer.length, 0);
    } catch {
      this.forget(pid);
      return undefined;
    }
  }

  private forget(pid: number): void {
    for (const kind of ['stat', 'children']) {
      const fd = this.descriptors.get(`${kind}:${pid}`);
      if (fd === undefined) continue;
      this.descriptors.delete(`${kind}:${pid}`);
      try {
        closeSync(fd);
      } catch {
        // already gone
      }
    }
  }

  /** The PIDs that descriptors are held open for. */
  private get descriptorPids(): Set<number> {
    const pids = new Set<number>();
    for (const key of this.descriptors.keys()) pids.add(Number(key.slice(key.indexOf(':') + 1)));
    return pids;
  }

  private stat(pid: number): ProcStat | undefined {
    const length = this.readInto(pid, 'stat', `${this.procRoot}/${pid}/stat`);
    return length === undefined ? undefined : parseProcStat(this.buffer, length);
  }
}
