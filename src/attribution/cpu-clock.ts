/** Cumulative CPU of the process (or of the thread, in a worker measured per thread), in microseconds. */
export interface CpuTotals {
  userMicros: number;
  systemMicros: number;
}

/**
 * The CPU used between two readings, never negative, and with user + system always equal to the total: the total
 * is clamped at 0 and the user part inside it. (Parts can move back where the split is estimated: the CPU clock's
 * recent proportion, or a worker thread's /proc tick counts.)
 */
export function cpuBetween(start: CpuTotals, end: CpuTotals): CpuTotals {
  const userDelta = end.userMicros - start.userMicros;
  const totalMicros = Math.max(0, userDelta + end.systemMicros - start.systemMicros);
  const userMicros = Math.min(totalMicros, Math.max(0, userDelta));
  return { userMicros, systemMicros: totalMicros - userMicros };
}

/** What a reconciliation reads: the kernel's totals, and the JS thread's own CPU where it can be read. */
export interface CpuReading extends CpuTotals {
  /** CPU of the thread that runs JavaScript, µs; undefined where it cannot be read cheaply. */
  threadMicros: number | undefined;
}

/** Weight of the past in the user/system split, per interval (~10 intervals of memory). */
const USER_SHARE_DECAY = 0.9;

/** Below this much busy time in an interval, its thread-CPU ÷ busy ratio is noise: the old rate is kept. */
const MIN_BUSY_MS_FOR_RATE = 0.5;

/**
 * Process CPU for the span path without a syscall per span. A `getrusage` costs 2–40 µs of process CPU on a
 * loaded server (it walks every thread of the process), two per request; `performance.now()` costs ~0.05 µs. So
 * span ends read the clock, and CPU is estimated from two parts, reconciled with the kernel's figures at most
 * every 5 ms (at span ends and at the sampler's ticks):
 *
 * - the JavaScript thread's CPU: the busy time the async-context ledger marks with the clock, times the last
 *   interval's thread CPU ÷ busy time (1 when the thread was never descheduled and did nothing the marks
 *   missed; read from /proc/thread-self/schedstat);
 * - everything else (GC helper threads, the libuv pool, other threads): the last interval's rate per
 *   wall-clock millisecond.
 *
 * At each reconciliation the estimate jumps to the kernel's figure, so an error never outlives one interval; the
 * span path reconciles too when the last reading is more than 5 ms old (see AsyncContextAttribution), so a span's
 * figure is exact up to what happened in the few milliseconds before each of its ends. User and system time are
 * split in the recent proportion.
 */
export class CpuClock {
  private anchorWallMs = 0;
  private anchorBusyMs = 0;
  private anchorUserMicros = 0;
  private anchorSystemMicros = 0;
  private anchorThreadMicros: number | undefined;
  /** Thread CPU µs per busy ms in the last interval. */
  private busyRate = 1000;
  /** CPU µs of everything but the marked busy time, per wall ms, in the last interval. */
  private otherRate = 0;
  private userShare = 1;
  /** Decaying sums of user and total CPU: the kernel splits user/system by ticks, too coarse for one interval. */
  private recentUserMicros = 0;
  private recentCpuMicros = 0;
  private anchored = false;

  /** Brings the estimate to the kernel's figures and learns the rates of the interval since the last call. */
  reconcile(busyMs: number, wallMs: number, reading: CpuReading): void {
    const user = reading.userMicros;
    const system = reading.systemMicros;
    if (this.anchored) {
      const busy = busyMs - this.anchorBusyMs;
      const wall = wallMs - this.anchorWallMs;
      const cpu = user - this.anchorUserMicros + (system - this.anchorSystemMicros);
      const thread =
        reading.threadMicros !== undefined && this.anchorThreadMicros !== undefined
          ? reading.threadMicros - this.anchorThreadMicros
          : undefined;
      if (thread !== undefined && busy >= MIN_BUSY_MS_FOR_RATE) this.busyRate = thread / busy;
      if (thread === undefined) this.busyRate = 1000;
      if (wall > 0) this.otherRate = Math.max(0, cpu - busy * this.busyRate) / wall;
      this.recentUserMicros = this.recentUserMicros * USER_SHARE_DECAY + (user - this.anchorUserMicros);
      this.recentCpuMicros = this.recentCpuMicros * USER_SHARE_DECAY + cpu;
      if (this.recentCpuMicros > 0)
        this.userShare = Math.min(1, Math.max(0, this.recentUserMicros / this.recentCpuMicros));
    } else {
      const total = user + system;
      this.userShare = total > 0 ? user / total : 1;
    }
    this.anchorWallMs = wallMs;
    this.anchorBusyMs = busyMs;
    this.anchorUserMicros = user;
    this.anchorSystemMicros = system;
    this.anchorThreadMicros = reading.threadMicros;
    this.anchored = true;
  }

  /** Estimated cumulative CPU at `wallMs`, given the ledger's busy total then. */
  estimate(busyMs: number, wallMs: number): CpuTotals {
    const extra =
      Math.max(0, busyMs - this.anchorBusyMs) * this.busyRate +
      Math.max(0, wallMs - this.anchorWallMs) * this.otherRate;
    return {
      userMicros: this.anchorUserMicros + extra * this.userShare,
      systemMicros: this.anchorSystemMicros + extra * (1 - this.userShare),
    };
  }
}
