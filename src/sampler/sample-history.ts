import { MaxRing } from './max-ring.js';

/** Where a windowed maximum came from, so that nobody takes an estimate for a measurement. */
export interface WindowMax {
  value: number;
  /** false when part of the window is older than the fine history and only whole coarse blocks were counted. */
  complete: boolean;
}

export interface SampleHistoryOptions {
  /** Samples kept one by one (power of two). */
  fineCapacity?: number;
  /** Samples folded into one coarse entry (power of two). */
  blockSize?: number;
  /** Coarse entries kept (power of two). */
  coarseCapacity?: number;
}

/**
 * Two resolutions of one sampled series: every sample for the recent past, and the maximum of each block of
 * samples for the long past. At the default 10 ms sampling interval that is ~82 s sample by sample and ~2.9 h
 * in 2.56 s blocks, in 96 KiB.
 */
export class SampleHistory {
  private readonly fine: MaxRing;
  private readonly coarse: MaxRing;
  private readonly blockSize: number;
  private blockMax = Number.NEGATIVE_INFINITY;

  constructor(options: SampleHistoryOptions = {}) {
    this.fine = new MaxRing(options.fineCapacity ?? 8192);
    this.coarse = new MaxRing(options.coarseCapacity ?? 4096);
    this.blockSize = options.blockSize ?? 256;
  }

  /** The number of the newest sample (0 before the first). */
  get count(): number {
    return this.fine.count;
  }

  push(value: number): void {
    this.fine.push(value);
    if (value > this.blockMax) this.blockMax = value;
    if (this.fine.count % this.blockSize === 0) {
      this.coarse.push(this.blockMax);
      this.blockMax = Number.NEGATIVE_INFINITY;
    }
  }

  /** Highest sample numbered `from`..`to` inclusive; undefined when no sample fell in the window. */
  max(from: number, to: number): WindowMax | undefined {
    if (from > to || to < 1) return undefined;
    const recent = this.fine.max(from, to);
    if (from >= this.fine.oldest) return recent === undefined ? undefined : { value: recent, complete: true };
    // Blocks that lie wholly inside [from, to]: block b holds samples (b-1)*blockSize+1 .. b*blockSize.
    const firstBlock = Math.ceil((from - 1) / this.blockSize) + 1;
    const lastBlock = Math.floor(to / this.blockSize);
    const old = this.coarse.max(firstBlock, lastBlock);
    const value = Math.max(recent ?? Number.NEGATIVE_INFINITY, old ?? Number.NEGATIVE_INFINITY);
    return value === Number.NEGATIVE_INFINITY ? undefined : { value, complete: false };
  }
}
