import { performance } from 'node:perf_hooks';
import { type Context, context } from '@opentelemetry/api';
import { cpuScope } from '../probes/cpu-scope.js';
import { readKernelCpu } from '../probes/kernel-cpu.js';
import { ThreadCpuProbe } from '../probes/thread-cpu.js';
import type { MemorySampler } from '../sampler/memory-sampler.js';
import { AsyncContextLedger, type ContextNode } from './async-context-ledger.js';
import { CpuClock, type CpuTotals, cpuBetween } from './cpu-clock.js';

/**
 * A span start or end further than this from the last reconciliation reconciles first: the estimate is only
 * trusted this far from a kernel reading (a rate learned in one interval — GC threads busy after a collection —
 * must not be extrapolated over a long quiet gap). At most one getrusage per this many ms, whatever the rate of
 * spans.
 */
const RECONCILE_HORIZON_MS = 5;

/** A tick reconciles only when the thread was busy this long since the last time, or this long has passed. */
const RECONCILE_MIN_BUSY_MS = 1;
const RECONCILE_MAX_GAP_MS = 1000;

/** What async-context attribution remembers of a span start. */
export interface ContextStart {
  readonly node: ContextNode;
  readonly wallMs: number;
  readonly busyMs: number;
  readonly cpu: CpuTotals;
}

/** A span's CPU from its start to now: the process's, and the part that ran in the span's contexts. */
export interface ContextCpu {
  readonly userMicros: number;
  readonly systemMicros: number;
  readonly attributedMicros: number;
}

/**
 * The default attribution: the ledger marks who ran with the clock, the CPU clock turns busy time into CPU, and
 * kernel readings (at the memory sampler's ticks, and at span starts and ends 5 ms or more from the last one)
 * keep the estimate honest: the span path does at most one getrusage per 5 ms, whatever the number or the
 * length of spans, and none on spans near a reading.
 */
export class AsyncContextAttribution {
  private readonly ledger: AsyncContextLedger;
  private readonly clock = new CpuClock();
  private readonly threadCpu = new ThreadCpuProbe();
  private readonly stopListening: () => void;
  /** maxRSS at the last reconciliation, KiB. */
  private maxRssKb = 0;
  private lastReconcileMs = Number.NEGATIVE_INFINITY;
  private lastReconcileBusyMs = 0;

  constructor(nodeOf: (context: Context) => ContextNode | undefined, sampler: MemorySampler) {
    this.ledger = new AsyncContextLedger(
      () => context.active(),
      (active) => nodeOf(active as Context),
    );
    this.ledger.enable();
    this.stopListening = sampler.addTickListener(() => this.reconcileIfBusy());
  }

  /** The kernel's maxRSS as of the last reading. */
  get lastMaxRssKb(): number {
    return this.maxRssKb;
  }

  /**
   * `rssBytes`: the RSS at the start, when known. RSS above the last reading's maxRSS means the process set a new
   * high since that reading: the start then reads the kernel, so that the span's maxRSS baseline is not stale
   * (a stale one would credit the span with a high set before it started).
   */
  start(parent: ContextNode | undefined, nowMs: number, rssBytes = 0): ContextStart {
    if (nowMs - this.lastReconcileMs >= RECONCILE_HORIZON_MS || rssBytes > this.maxRssKb * 1024) {
      this.reconcile();
      // The kernel sums maxRSS from per-CPU counters that lag the exact RSS statm gives (Linux 6.2+), so a
      // reading can stay below the RSS just seen: that RSS is a high the process reached too. Without it the
      // baseline stays below, and every span start near the high reads the kernel again (one getrusage per
      // request on a steady service).
      this.maxRssKb = Math.max(this.maxRssKb, rssBytes / 1024);
    }
    const node = this.ledger.start(parent, nowMs);
    const busyMs = this.ledger.busyMs(nowMs);
    return { node, wallMs: nowMs, busyMs, cpu: this.clock.estimate(busyMs, nowMs) };
  }

  end(start: ContextStart, nowMs: number): ContextCpu {
    const spanBusyMs = this.ledger.end(start.node, nowMs);
    // One getrusage per 5 ms at most, whatever the length or number of spans: the estimate at this end is then
    // at most 5 ms of learned rates away from a kernel reading.
    if (nowMs - this.lastReconcileMs >= RECONCILE_HORIZON_MS) this.reconcile();
    const busyMs = this.ledger.busyMs(nowMs);
    const cpu = this.clock.estimate(busyMs, nowMs);
    // A reconciliation between the ends can move the estimate back by the last interval's error.
    const { userMicros, systemMicros } = cpuBetween(start.cpu, cpu);
    const totalMicros = userMicros + systemMicros;
    const windowBusyMs = busyMs - start.busyMs;
    // The span's part of the process CPU in its window: its share of the thread's busy time there.
    const share = windowBusyMs > 0 ? Math.min(1, Math.max(0, spanBusyMs / windowBusyMs)) : 0;
    return { userMicros, systemMicros, attributedMicros: totalMicros * share };
  }

  shutdown(): void {
    this.ledger.disable();
    this.stopListening();
    this.threadCpu.close();
  }

  /**
   * At a sampler tick: reconciles when the thread ran since the last time (or a second passed). A tick on an
   * idle process (a span open, nothing running) saves its two reads: the estimate cannot have drifted by more
   * than other threads' work, which the next reconciliation brings in.
   */
  private reconcileIfBusy(): void {
    const nowMs = performance.now();
    if (
      this.ledger.busyMs(nowMs) - this.lastReconcileBusyMs < RECONCILE_MIN_BUSY_MS &&
      nowMs - this.lastReconcileMs < RECONCILE_MAX_GAP_MS
    )
      return;
    this.reconcile();
  }

  private reconcile(): void {
    const nowMs = performance.now();
    this.lastReconcileMs = nowMs;
    const kernel = readKernelCpu();
    // A high-water mark: never below what an earlier reading, or an RSS seen at a span start, showed.
    this.maxRssKb = Math.max(this.maxRssKb, kernel.maxRssKb);
    const threadMicros =
      cpuScope === 'thread' ? kernel.userMicros + kernel.systemMicros : this.threadCpu.readMicros();
    const busyMs = this.ledger.busyMs(nowMs);
    this.lastReconcileBusyMs = busyMs;
    this.clock.reconcile(busyMs, nowMs, { ...kernel, threadMicros });
  }
}
