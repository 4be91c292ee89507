/**
 * Recent readings of one monotonic counter (seconds throttled, seconds waited) with the moment each was taken, in a
 * fixed ring: the counter's value at any moment inside the ring is interpolated between the two readings around it,
 * so that a span's figure is pro-rated at its edges instead of jumping a whole sampling interval.
 */
export class CounterSeries {
  private readonly atMs: Float64Array;
  private readonly values: Float64Array;
  /** Readings taken so far; the newest is at (count - 1) % capacity. */
  private count = 0;

  constructor(private readonly capacity = 1024) {
    this.atMs = new Float64Array(capacity);
    this.values = new Float64Array(capacity);
  }

  get newestAtMs(): number {
    return this.count === 0
      ? Number.NEGATIVE_INFINITY
      : (this.atMs[(this.count - 1) % this.capacity] as number);
  }

  /** Adds a reading; one taken at the same moment as the newest, or that goes backwards (a reset), restarts. */
  push(atMs: number, value: number): void {
    if (this.count > 0) {
      const newest = (this.count - 1) % this.capacity;
      if (value < (this.values[newest] as number)) this.count = 0;
      else if (atMs <= (this.atMs[newest] as number)) {
        this.values[newest] = value;
        return;
      }
    }
    const slot = this.count % this.capacity;
    this.atMs[slot] = atMs;
    this.values[slot] = value;
    this.count++;
  }

  /**
   * The counter at `atMs`: interpolated between the readings around it; the newest reading's value after it (the
   * caller keeps the newest fresh). Undefined before any reading and before the oldest reading kept.
   */
  valueAt(atMs: number): number | undefined {
    if (this.count === 0) return undefined;
    const oldestIndex = Math.max(0, this.count - this.capacity);
    if (atMs < (this.atMs[oldestIndex % this.capacity] as number)) return undefined;
    let later = this.count - 1;
    if (atMs >= (this.atMs[later % this.capacity] as number)) return this.values[later % this.capacity];
    // Walk back from the newest: spans are short next to the ring, so this stops after a few steps.
    while (later > oldestIndex && (this.atMs[(later - 1) % this.capacity] as number) > atMs) later--;
    const laterSlot = later % this.capacity;
    if (later === oldestIndex) return this.values[laterSlot];
    const earlierSlot = (later - 1) % this.capacity;
    const t0 = this.atMs[earlierSlot] as number;
    const t1 = this.atMs[laterSlot] as number;
    const v0 = this.values[earlierSlot] as number;
    const v1 = this.values[laterSlot] as number;
    return v0 + ((v1 - v0) * (atMs - t0)) / (t1 - t0);
  }
}
