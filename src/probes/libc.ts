import koffi from 'koffi';

/** struct rusage on Linux x86-64 / arm64: two timevals (16 bytes each), then 14 longs. */
const RUSAGE_BYTES = 144;
const RUSAGE_CHILDREN = -1;
const PR_SET_CHILD_SUBREAPER = 36;
const WNOHANG = 1;

/** What getrusage / wait4 report of a process, or of all the waited-for descendants (RUSAGE_CHILDREN). */
export interface Rusage {
  readonly userSeconds: number;
  readonly systemSeconds: number;
  /** The largest resident set size, in bytes (the kernel counts KiB). */
  readonly maxRssBytes: number;
}

interface LibcFunctions {
  prctl(option: number, arg2: number, arg3: number, arg4: number, arg5: number): number;
  getrusage(who: number, usage: Buffer): number;
  wait4(pid: number, status: [number], options: number, usage: Buffer): number;
}

function decode(buffer: Buffer): Rusage {
  const seconds = (offset: number) =>
    Number(buffer.readBigInt64LE(offset)) + Number(buffer.readBigInt64LE(offset + 8)) / 1e6;
  return {
    userSeconds: seconds(0),
    systemSeconds: seconds(16),
    maxRssBytes: Number(buffer.readBigInt64LE(32)) * 1024,
  };
}

/**
 * The three libc calls Node does not expose, through koffi (already our dependency, for NVML): become a child
 * subreaper (descendants whose parent dies are re-parented to us, not to init, so they stay in the tree and are
 * reaped by us), read RUSAGE_CHILDREN (CPU and the largest maxRSS of every waited-for descendant: what GNU time
 * reports), and reap an adopted orphan. Linux only; `undefined` where libc cannot be loaded.
 */
export class Libc {
  private readonly buffer = Buffer.alloc(RUSAGE_BYTES);
  private readonly status: [number] = [0];

  private constructor(private readonly functions: LibcFunctions) {}

  static load(): Libc | undefined {
    if (process.platform !== 'linux' || !['x64', 'arm64'].includes(process.arch)) return undefined;
    try {
      const library = koffi.load('libc.so.6');
      return new Libc({
        prctl: library.func(
          'int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)',
        ) as LibcFunctions['prctl'],
        getrusage: library.func('int getrusage(int who, void *usage)') as LibcFunctions['getrusage'],
        wait4: library.func(
          'int wait4(int pid, _Out_ int *status, int options, void *usage)',
        ) as LibcFunctions['wait4'],
      });
    } catch {
      return undefined;
    }
  }

  /** Orphaned descendants are re-parented to this process instead of init. */
  becomeSubreaper(): boolean {
    return this.functions.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) === 0;
  }

  /** CPU and largest maxRSS of every descendant waited for so far. */
  childrenUsage(): Rusage | undefined {
    return this.functions.getrusage(RUSAGE_CHILDREN, this.buffer.fill(0)) === 0
      ? decode(this.buffer)
      : undefined;
  }

  /**
   * Reaps `pid` if it has ended (never blocks): its CPU and maxRSS then count in RUSAGE_CHILDREN. Only for adopted
   * orphans: the child libuv spawned is libuv's to reap, or its exit would never be seen.
   */
  reap(pid: number): boolean {
    return this.functions.wait4(pid, this.status, WNOHANG, this.buffer) === pid;
  }
}
