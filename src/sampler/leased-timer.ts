/**
 * A background timer that ticks fast while anyone holds a lease on it and slowly (or not at all) otherwise. The
 * timer is always `unref()`'d: it never keeps the process alive. Leases come in two kinds: plain ones
 * (`acquire`/`release`), and conditional ones (`acquireWhile`) that the timer drops by itself once their
 * condition, asked once per tick, answers false — for holders that come and go too often to acquire and release
 * each time (a span processor between requests).
 */
export class LeasedTimer {
  private leases = 0;
  private conditionalLeases: Array<() => boolean> = [];
  private timer: NodeJS.Timeout | undefined;
  private runningAt: number | undefined;
  private started = false;

  constructor(
    private readonly tick: () => void,
    private activeIntervalMs: number,
    /** undefined: no timer at all while no lease is held. */
    private idleIntervalMs: number | undefined,
  ) {}

  get leaseCount(): number {
    return this.leases;
  }

  /** Starts idle ticking (when there is an idle interval); leases start active ticking on their own. */
  start(): void {
    this.started = true;
    this.reschedule();
  }

  stop(): void {
    this.started = false;
    this.leases = 0;
    this.conditionalLeases = [];
    this.reschedule();
  }

  acquire(): void {
    this.leases++;
    if (this.leases === 1) {
      this.runTick();
      this.reschedule();
    }
  }

  acquireWhile(stillNeeded: () => boolean): void {
    this.acquire();
    this.conditionalLeases.push(stillNeeded);
  }

  release(): void {
    if (this.leases === 0) return;
    this.leases--;
    if (this.leases === 0) this.reschedule();
  }

  setIntervals(activeIntervalMs: number, idleIntervalMs: number | undefined): void {
    this.activeIntervalMs = activeIntervalMs;
    this.idleIntervalMs = idleIntervalMs;
    this.reschedule();
  }

  private reschedule(): void {
    const wanted = this.leases > 0 ? this.activeIntervalMs : this.started ? this.idleIntervalMs : undefined;
    if (wanted === this.runningAt) return;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.runningAt = wanted;
    if (wanted === undefined) return;
    this.timer = setInterval(() => this.runTick(), wanted);
    this.timer.unref();
  }

  private runTick(): void {
    if (this.conditionalLeases.length > 0) this.dropUnneededLeases();
    this.tick();
  }

  private dropUnneededLeases(): void {
    const kept = this.conditionalLeases.filter((stillNeeded) => {
      try {
        return stillNeeded();
      } catch {
        return false;
      }
    });
    const dropped = this.conditionalLeases.length - kept.length;
    this.conditionalLeases = kept;
    for (let i = 0; i < dropped; i++) this.release();
  }
}
