import { type EventLoopUtilization, performance } from 'node:perf_hooks';
import type { Attributes } from '@opentelemetry/api';
import { type ContentionSampler, sharedContentionSampler } from '../sampler/contention-sampler.js';
import { gcPauses } from '../sampler/gc-pauses.js';
import type { MemorySampler } from '../sampler/memory-sampler.js';
import * as keys from './attribute-keys.js';

/** The span keys this file sets: why a span was slow, beside what it cost. */
export const SLOW_SPAN_ATTRIBUTES: readonly string[] = [
  keys.ATTR_GC_PAUSE_TIME,
  keys.ATTR_GC_COUNT,
  keys.ATTR_EVENT_LOOP_UTILIZATION,
  keys.ATTR_CPU_THROTTLED_TIME,
  keys.ATTR_CPU_WAIT_TIME,
  keys.ATTR_CPU_LIMIT,
  keys.ATTR_MEMORY_LIMIT,
];

/** What a span remembers at its start for these keys. */
export interface SlowAtStart {
  readonly loop: EventLoopUtilization | undefined;
  readonly throttledSeconds: number | undefined;
  readonly waitSeconds: number | undefined;
}

/**
 * GC pauses, event-loop utilization, cgroup throttling and limits, run-queue wait over a span's window: each from a
 * source kept in the background (the GC ring, the contention sampler's series) or one in-process read (ELU). Only
 * the sources of the chosen keys are started: with none of these keys chosen, nothing of this runs.
 */
export class SlowSpanFigures {
  private readonly gc: boolean;
  private readonly loop: boolean;
  private readonly throttled: boolean;
  private readonly wait: boolean;
  private readonly limits: boolean;
  private readonly stopGc: (() => void) | undefined;
  private readonly contention: ContentionSampler | undefined;
  private readonly stopContention: (() => void) | undefined;

  constructor(
    private readonly chosen: ReadonlySet<string>,
    sampler: MemorySampler,
  ) {
    this.gc = chosen.has(keys.ATTR_GC_PAUSE_TIME) || chosen.has(keys.ATTR_GC_COUNT);
    this.loop = chosen.has(keys.ATTR_EVENT_LOOP_UTILIZATION);
    this.throttled = chosen.has(keys.ATTR_CPU_THROTTLED_TIME);
    this.wait = chosen.has(keys.ATTR_CPU_WAIT_TIME);
    this.limits = chosen.has(keys.ATTR_CPU_LIMIT) || chosen.has(keys.ATTR_MEMORY_LIMIT);
    this.stopGc = this.gc ? gcPauses.use() : undefined;
    // cgroups and schedstat are Linux's: elsewhere these keys are absent, without a warning.
    if ((this.throttled || this.wait || this.limits) && process.platform === 'linux') {
      this.contention = sharedContentionSampler();
      this.stopContention = this.contention.use(
        { cgroup: this.throttled || this.limits, runQueue: this.wait },
        sampler,
      );
    }
  }

  /** Whether any key of this file is among `chosen`. */
  static anyChosen(chosen: ReadonlySet<string>): boolean {
    return SLOW_SPAN_ATTRIBUTES.some((key) => chosen.has(key));
  }

  start(wallMs: number): SlowAtStart {
    return {
      loop: this.loop ? performance.eventLoopUtilization() : undefined,
      throttledSeconds: this.throttled ? this.contention?.throttledSecondsAt(wallMs) : undefined,
      waitSeconds: this.wait ? this.contention?.runQueueSecondsAt(wallMs) : undefined,
    };
  }

  /** Sets the chosen keys for the window [startMs, endMs]; a figure whose source is missing is left out. */
  addAttributes(attributes: Attributes, atStart: SlowAtStart, startMs: number, endMs: number): void {
    const { chosen, contention } = this;
    if (this.gc) {
      const { pauseMs, count } = gcPauses.inWindow(startMs, endMs);
      if (chosen.has(keys.ATTR_GC_PAUSE_TIME)) attributes[keys.ATTR_GC_PAUSE_TIME] = pauseMs / 1000;
      if (chosen.has(keys.ATTR_GC_COUNT)) attributes[keys.ATTR_GC_COUNT] = count;
    }
    if (atStart.loop !== undefined) {
      attributes[keys.ATTR_EVENT_LOOP_UTILIZATION] = performance.eventLoopUtilization(
        atStart.loop,
      ).utilization;
    }
    if (contention === undefined) return;
    if (atStart.throttledSeconds !== undefined) {
      const end = contention.throttledSecondsAt(endMs);
      // The start is interpolated between the readings around it while the ring still holds them.
      const start = contention.throttled.valueAt(startMs) ?? atStart.throttledSeconds;
      if (end !== undefined) attributes[keys.ATTR_CPU_THROTTLED_TIME] = Math.max(0, end - start);
    }
    if (atStart.waitSeconds !== undefined) {
      const end = contention.runQueueSecondsAt(endMs);
      const start = contention.runQueueWait.valueAt(startMs) ?? atStart.waitSeconds;
      if (end !== undefined) attributes[keys.ATTR_CPU_WAIT_TIME] = Math.max(0, end - start);
    }
    if (this.limits) {
      const cores = contention.cpuLimitCores;
      const bytes = contention.memoryLimitBytes;
      if (cores !== undefined && chosen.has(keys.ATTR_CPU_LIMIT)) attributes[keys.ATTR_CPU_LIMIT] = cores;
      if (bytes !== undefined && chosen.has(keys.ATTR_MEMORY_LIMIT))
        attributes[keys.ATTR_MEMORY_LIMIT] = bytes;
    }
  }

  shutdown(): void {
    this.stopGc?.();
    this.stopContention?.();
  }
}
