/**
 * The most spans open at once since a given moment, for `resource_tracker.concurrent_spans`, in O(1) amortised per change
 * and O(log n) per question. Moments are numbered by a counter that advances at every change; the history is a
 * stack of (moment, count) whose counts strictly decrease from the bottom, so "the most since moment m" is the
 * first entry at or after m. Its length is bounded by the highest count, not by the number of spans.
 */
export class ConcurrencyPeak {
  private moments: number[] = [];
  private counts: number[] = [];
  private moment = 0;

  /** Records the new number of open spans; returns the moment number of this change. */
  record(count: number): number {
    this.moment++;
    while (this.counts.length > 0 && (this.counts[this.counts.length - 1] as number) <= count) {
      this.counts.pop();
      this.moments.pop();
    }
    this.counts.push(count);
    this.moments.push(this.moment);
    return this.moment;
  }

  /** The highest count recorded at or after moment `since`; 0 when none was. */
  maxSince(since: number): number {
    let low = 0;
    let high = this.moments.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.moments[middle] as number) < since) low = middle + 1;
      else high = middle;
    }
    return low < this.counts.length ? (this.counts[low] as number) : 0;
  }
}
