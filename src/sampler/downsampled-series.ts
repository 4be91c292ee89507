/**
 * A series of readings kept at a fixed number of points however long it runs: while there is room, one point per
 * reading; once full, neighbouring points are merged in pairs (`merge` keeps what must survive: a peak, the later
 * of two running totals) and each new point then stands for twice as many readings as before. A run of any length
 * is drawn with between capacity/2 and capacity points, each the merge of `readingsPerPoint` consecutive readings.
 */
export class DownsampledSeries<T> {
  private readonly merged: T[] = [];
  /** The readings of the point being built (fewer than readingsPerPoint of them), merged. */
  private pending: T | undefined;
  private pendingCount = 0;
  private perPoint = 1;
  private total = 0;

  constructor(
    private readonly capacity: number,
    private readonly merge: (earlier: T, later: T) => T,
  ) {
    if (!Number.isInteger(capacity) || capacity < 2 || capacity % 2 !== 0) {
      throw new RangeError(`DownsampledSeries capacity must be an even whole number ≥ 2, got ${capacity}`);
    }
  }

  /** Readings merged into each whole point. */
  get readingsPerPoint(): number {
    return this.perPoint;
  }

  /** Readings pushed in all. */
  get readings(): number {
    return this.total;
  }

  /** The newest reading, as pushed. */
  latest: T | undefined;

  push(reading: T): void {
    this.total++;
    this.latest = reading;
    this.pending = this.pending === undefined ? reading : this.merge(this.pending, reading);
    if (++this.pendingCount < this.perPoint) return;
    this.merged.push(this.pending);
    this.pending = undefined;
    this.pendingCount = 0;
    if (this.merged.length < this.capacity) return;
    for (let index = 0; index < this.capacity / 2; index++) {
      this.merged[index] = this.merge(this.merged[2 * index] as T, this.merged[2 * index + 1] as T);
    }
    this.merged.length = this.capacity / 2;
    this.perPoint *= 2;
  }

  /** The points, oldest first; the last may stand for fewer readings than the others (those since it began). */
  points(): T[] {
    return this.pending === undefined ? [...this.merged] : [...this.merged, this.pending];
  }
}
