/** How many readings with GPU time a device keeps (at the 100 ms active interval: about 7 minutes of work). */
export const BUSY_TIMELINE_CAPACITY = 4096;

/**
 * The GPU time this process tree used on one device, laid out over wall-clock time: one record per reading that
 * carried any (its GPU seconds spread evenly over the window the driver's figures cover), with the running total
 * after it. A span's busy time is the total at its end minus the total at its start, each read off the record
 * that spans the moment in proportion (no I/O: arithmetic over a ring). Readings without work add no record: the
 * total simply does not move over them.
 */
export class GpuBusyTimeline {
  private readonly fromMs: Float64Array;
  private readonly toMs: Float64Array;
  private readonly totalBefore: Float64Array;
  private readonly totalAfter: Float64Array;
  /** Records pushed since the start; the ring holds the last `capacity` of them. */
  private pushed = 0;
  /** GPU seconds over every record ever pushed. */
  total = 0;

  constructor(private readonly capacity = BUSY_TIMELINE_CAPACITY) {
    this.fromMs = new Float64Array(capacity);
    this.toMs = new Float64Array(capacity);
    this.totalBefore = new Float64Array(capacity);
    this.totalAfter = new Float64Array(capacity);
  }

  /**
   * Adds `busySeconds` spread over [fromMs, toMs]. Windows are kept in order: one that reaches back over the
   * previous record starts where that one ends (the driver's samples of two readings never cover the same time).
   */
  add(fromMs: number, toMs: number, busySeconds: number): void {
    if (!(busySeconds > 0)) return;
    let from = fromMs;
    let to = toMs;
    if (this.pushed > 0) {
      const previousTo = this.toMs[(this.pushed - 1) % this.capacity] as number;
      if (to < previousTo) to = previousTo;
      if (from < previousTo) from = previousTo;
    }
    if (from > to) from = to;
    const slot = this.pushed % this.capacity;
    this.totalBefore[slot] = this.total;
    this.total += busySeconds;
    this.fromMs[slot] = from;
    this.toMs[slot] = to;
    this.totalAfter[slot] = this.total;
    this.pushed++;
  }

  /**
   * GPU seconds used between two moments (epoch ms), the records that span either one counted in proportion;
   * undefined when `fromMs` lies before the oldest record the ring still holds (the caller falls back to the
   * total it read at the start).
   */
  between(fromMs: number, toMs: number): number | undefined {
    const start = this.totalAt(fromMs);
    const end = this.totalAt(toMs);
    return start === undefined || end === undefined ? undefined : Math.max(0, end - start);
  }

  /** The running total at `atMs`; undefined when that moment is older than what the ring holds. */
  totalAt(atMs: number): number | undefined {
    const pushed = this.pushed;
    if (pushed === 0) return 0;
    const oldest = Math.max(0, pushed - this.capacity);
    const newestSlot = (pushed - 1) % this.capacity;
    if (atMs >= (this.toMs[newestSlot] as number)) return this.total;
    // The first record (in push order, which is time order) whose window ends after `atMs`.
    let low = oldest;
    let high = pushed - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.toMs[middle % this.capacity] as number) > atMs) high = middle;
      else low = middle + 1;
    }
    const slot = low % this.capacity;
    const from = this.fromMs[slot] as number;
    const to = this.toMs[slot] as number;
    const after = this.totalAfter[slot] as number;
    const before = this.totalBefore[slot] as number;
    // Before the oldest record held, once older ones are gone: what happened there is no longer known.
    if (atMs < from && low === oldest && oldest > 0) return undefined;
    if (atMs <= from) return before;
    return before + (after - before) * ((atMs - from) / (to - from));
  }
}
