import { memorySampler } from './memory-sampler.js';

/**
 * How a window's peak RSS was found:
 * - `maxrss`: the kernel's high-water mark rose inside the window, so the peak is exact (KiB precision).
 * - `sampler`: the process had been bigger before; the peak is the highest background sample in the window
 *   (misses spikes shorter than the sampling interval, and anything while a synchronous task blocked the loop).
 * - `sampler-partial`: as `sampler`, but the window outlived the sample-by-sample history, so its oldest part
 *   was counted only in whole coarse blocks.
 * - `endpoints`: no sample fell in the window (no tracker was running); max of the RSS at start and end.
 */
export type PeakMemorySource = 'maxrss' | 'sampler' | 'sampler-partial' | 'endpoints';

export interface WindowPeak {
  /** Highest RSS of the process inside the window, bytes. */
  bytes: number;
  source: PeakMemorySource;
}

/**
 * The highest RSS between two moments, for snapshots and spans alike: if getrusage's maxRSS rose in between, the
 * process set a new high inside the window and that high is the peak; otherwise the highest background sample
 * taken after sample `afterTick` up to sample `untilTick`; never less than the RSS at either end.
 */
export function peakRssInWindow(
  startRssBytes: number,
  endRssBytes: number,
  startMaxRssBytes: number,
  endMaxRssBytes: number,
  afterTick: number,
  untilTick: number,
): WindowPeak {
  const endpoints = Math.max(startRssBytes, endRssBytes);
  if (endMaxRssBytes > startMaxRssBytes)
    return { bytes: Math.max(endMaxRssBytes, endpoints), source: 'maxrss' };
  const sampled = memorySampler.maxRssBetween(afterTick, untilTick);
  if (sampled === undefined) return { bytes: endpoints, source: 'endpoints' };
  return {
    bytes: Math.max(sampled.value, endpoints),
    source: sampled.complete ? 'sampler' : 'sampler-partial',
  };
}
