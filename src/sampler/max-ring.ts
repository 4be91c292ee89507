/**
 * The last `capacity` values of a series, numbered 1, 2, 3… as they are pushed, with the maximum of any numbered
 * range in O(log capacity): a segment tree laid over a ring. Used for "highest RSS between these two samples"
 * without scanning, so that a span's end can ask it on the hot path.
 */
export class MaxRing {
  private readonly tree: Float64Array;
  private pushed = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 2 || (capacity & (capacity - 1)) !== 0) {
      throw new RangeError(`MaxRing capacity must be a power of two >= 2, got ${capacity}`);
    }
    this.tree = new Float64Array(2 * capacity).fill(Number.NEGATIVE_INFINITY);
  }

  /** How many values were ever pushed: the number of the newest one. */
  get count(): number {
    return this.pushed;
  }

  /** The number of the oldest value still held. */
  get oldest(): number {
    return Math.max(1, this.pushed - this.capacity + 1);
  }

  push(value: number): void {
    let node = this.capacity + (this.pushed % this.capacity);
    this.pushed++;
    this.tree[node] = value;
    while (node > 1) {
      node >>= 1;
      this.tree[node] = Math.max(this.tree[2 * node] as number, this.tree[2 * node + 1] as number);
    }
  }

  /**
   * Maximum of the values numbered `from`..`to` (inclusive), clamped to what is still held;
   * undefined when nothing held falls in the range.
   */
  max(from: number, to: number): number | undefined {
    const first = Math.max(from, this.oldest);
    const last = Math.min(to, this.pushed);
    if (first > last) return undefined;
    const start = (first - 1) % this.capacity;
    const end = (last - 1) % this.capacity;
    return start <= end
      ? this.maxOfSlots(start, end)
      : Math.max(this.maxOfSlots(start, this.capacity - 1), this.maxOfSlots(0, end));
  }

  private maxOfSlots(startSlot: number, endSlot: number): number {
    let result = Number.NEGATIVE_INFINITY;
    let low = startSlot + this.capacity;
    let high = endSlot + this.capacity + 1;
    while (low < high) {
      if (low & 1) result = Math.max(result, this.tree[low++] as number);
      if (high & 1) result = Math.max(result, this.tree[--high] as number);
      low >>= 1;
      high >>= 1;
    }
    return result;
  }
}
