import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';
import { type Attributes, type Context, context, diag, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { AsyncContextAttribution } from '../attribution/async-context-attribution.js';
import { cpuBetween } from '../attribution/cpu-clock.js';
import { FairShareLedger } from '../attribution/fair-share-ledger.js';
import { SpanTrees } from '../attribution/span-trees.js';
import { unknownVariableWarningsOnce } from '../config/env.js';
import { getGpuMemorySource } from '../gpu/gpu-memory-source.js';
import { GpuSampler } from '../gpu/gpu-sampler.js';
import { SpanHistograms } from '../metrics/span-histograms.js';
import { ChildrenCpuProbe } from '../probes/children-cpu.js';
import { cpuScope } from '../probes/cpu-scope.js';
import { readKernelCpu } from '../probes/kernel-cpu.js';
import { processMemoryProbe } from '../probes/process-memory.js';
import type { SpanActivity } from '../profiler/span-profiler.js';
import { memorySampler } from '../sampler/memory-sampler.js';
import { peakRssInWindow } from '../sampler/window-peak.js';
import * as keys from './attribute-keys.js';
import { GPU_ATTRIBUTES } from './attribute-set.js';
import { contextsAreFollowed } from './context-following.js';
import { addGpuAttributes, readTrackedGpus } from './gpu-figures.js';
import {
  type ResolvedOptions,
  type ResourceSpanProcessorOptions,
  resolveOptions,
  type SpanSelector,
} from './options.js';
import type { SdkSpanProcessor, WritableSpan } from './sdk-span.js';
import { SlowSpanFigures } from './slow-figures.js';
import { type SpanState, SpanStateSlots } from './span-state.js';

/** The sampler is given back after this long without an open span (avoids timer churn between requests). */
const SAMPLER_IDLE_RELEASE_MS = 1000;

/** Which keys a processor sets, one flag each; the GPU keys as a set (read only on a GPU host). */
interface KeyFlags {
  readonly cpuTime: boolean;
  readonly cpuUserTime: boolean;
  readonly cpuSystemTime: boolean;
  readonly averageCores: boolean;
  readonly wallTime: boolean;
  readonly cpuScope: boolean;
  readonly attributedTime: boolean;
  readonly concurrent: boolean;
  readonly memoryStart: boolean;
  readonly memoryEnd: boolean;
  readonly memoryDelta: boolean;
  readonly memoryPeak: boolean;
  /** Any of the four memory keys. */
  readonly memory: boolean;
  /** The GPU keys to set; undefined when none (no GPU reading is taken then). */
  readonly gpuKeys: ReadonlySet<string> | undefined;
}

function keyFlags(chosen: ReadonlySet<string>): KeyFlags {
  const memoryStart = chosen.has(keys.ATTR_MEMORY_START);
  const memoryEnd = chosen.has(keys.ATTR_MEMORY_END);
  const memoryDelta = chosen.has(keys.ATTR_MEMORY_DELTA);
  const memoryPeak = chosen.has(keys.ATTR_MEMORY_PEAK);
  const gpuKeys = new Set(GPU_ATTRIBUTES.filter((key) => chosen.has(key)));
  return {
    cpuTime: chosen.has(keys.ATTR_CPU_TIME),
    cpuUserTime: chosen.has(keys.ATTR_CPU_USER_TIME),
    cpuSystemTime: chosen.has(keys.ATTR_CPU_SYSTEM_TIME),
    averageCores: chosen.has(keys.ATTR_CPU_AVERAGE_CORES),
    wallTime: chosen.has(keys.ATTR_WALL_TIME),
    cpuScope: chosen.has(keys.ATTR_CPU_SCOPE),
    attributedTime: chosen.has(keys.ATTR_CPU_ATTRIBUTED_TIME),
    concurrent: chosen.has(keys.ATTR_CONCURRENT_SPANS),
    memoryStart,
    memoryEnd,
    memoryDelta,
    memoryPeak,
    memory: memoryStart || memoryEnd || memoryDelta || memoryPeak,
    gpuKeys: gpuKeys.size > 0 ? gpuKeys : undefined,
  };
}

/**
 * A SpanProcessor that measures what each span cost — CPU (the process's and the span's share of it), wall
 * clock, memory, GPU memory — and sets it on the span as attributes (see the README's attribute reference)
 * in `onEnding`, so that every processor's `onEnd` and every exporter sees them.
 *
 * The span path reads the monotonic clock and does arithmetic: CPU comes from the async-context ledger's clock
 * marks reconciled with the kernel's figures at the background sampler's ticks (or, in fair-share mode, one
 * getrusage at each end); RSS and GPU figures come from the samplers' caches (RSS is read fresh, one `pread`,
 * only when the cache is older than one sampling interval). Nothing it does can throw into the application: a
 * failure costs the span its attributes and is reported once through the OpenTelemetry `diag` logger.
 */
export class ResourceSpanProcessor implements SdkSpanProcessor {
  private readonly options: ResolvedOptions;
  /** This processor's own fields on each span: other processors in the provider keep theirs apart. */
  private readonly slots = new SpanStateSlots();
  /** The keys to set as plain flags: checked on every span. */
  private readonly sets: KeyFlags;
  /** Made on first use: in fair-share mode, or in async-context mode while no context manager follows contexts. */
  private fairShare: FairShareLedger | undefined;
  private readonly asyncContext: AsyncContextAttribution | undefined;
  /**
   * Whether a context manager follows contexts (async-context mode): checked when the sampler starts for spans
   * and at its ticks, not per span. While none does, spans are split by fair share.
   */
  private followsContexts = true;
  private readonly trees: SpanTrees;
  private readonly stopSettlingTrees: () => void;
  private readonly childrenCpu: ChildrenCpuProbe | undefined;
  private readonly reported = new Set<string>();
  private readonly histograms: SpanHistograms | undefined;
  private sampling = false;
  private lastBusyMs = 0;
  private sawOnEnding = false;
  private isShutdown = false;
  /** The CPU profiler (option `profiler: 'cpu'`), once it has started; told which measured span starts and ends. */
  private profiler: SpanActivity | undefined;
  /** GC, event-loop, throttling and run-queue figures: made only when one of their keys is chosen. */
  private readonly slowFigures: SlowSpanFigures | undefined;

  constructor(options?: ResourceSpanProcessorOptions) {
    this.options = resolveOptions(options);
    for (const warning of unknownVariableWarningsOnce()) diag.warn(`otel-resource-tracker: ${warning}`);
    this.sets = keyFlags(this.options.attributes);
    this.trees = new SpanTrees(this.options.maxSpanOpenMs);
    this.stopSettlingTrees = memorySampler.addTickListener(() => this.trees.settle(performance.now()));
    if (this.options.meterProvider !== undefined) {
      this.histograms = new SpanHistograms(
        this.options.meterProvider,
        this.options.maxSpanNames,
        this.options.spanHistograms,
      );
    }
    if (this.options.cpuAttribution === 'async-context') {
      this.asyncContext = new AsyncContextAttribution(
        (active: Context) => this.slots.measured(trace.getSpan(active))?.context?.node,
        memorySampler,
      );
    }
    if (this.options.childProcesses) {
      this.childrenCpu = new ChildrenCpuProbe();
      if (!this.childrenCpu.available) {
        this.reportOnce(
          'children',
          'child-process CPU needs /proc/self/stat (Linux); resource_tracker.children.cpu.time is off',
        );
      }
    }
    if (this.options.profile !== undefined) this.startProfiler(this.options.profile);
    if (SlowSpanFigures.anyChosen(this.options.attributes)) {
      try {
        this.slowFigures = new SlowSpanFigures(this.options.attributes, memorySampler);
      } catch (error) {
        // A runtime without `gc` performance entries (or perf_hooks at all): the keys are left out, the app runs.
        this.reportOnce(
          'slow-figures',
          'the GC, event-loop and cgroup figures cannot start; they are left out',
          error,
        );
      }
    }
  }

  onStart(span: WritableSpan, parentContext: Context): void {
    if (this.isShutdown) return;
    try {
      const parentSpan = trace.getSpan(parentContext);
      if (this.options.selects !== undefined && !this.selects(span)) {
        const ancestor = this.slots.measured(parentSpan);
        if (ancestor !== undefined) this.slots.setAncestor(span, ancestor);
        return;
      }
      const wallMs = performance.now();
      // The sampler's first tick anchors the CPU clock: before any estimate is taken.
      this.ensureSampling(wallMs);
      const byContext = this.asyncContext !== undefined && this.followsContexts;
      // Fair-share splits the kernel's figures and exactMemory wants a fresh maxRSS: one getrusage at each end.
      const kernel = !byContext || this.options.exactMemory ? readKernelCpu() : undefined;
      // Every read first, the ledgers last: a read that fails must not leave a span counted anywhere.
      const rssBytes = this.options.exactMemory
        ? processMemoryProbe.read().rssBytes
        : memorySampler.currentRssBytes(wallMs);
      const gpu = this.sets.gpuKeys !== undefined ? readTrackedGpus(this.options.gpuDevices) : undefined;
      const childrenCpuSeconds = this.childrenCpu?.readSeconds();
      const parent = this.slots.measured(parentSpan);
      const contextStart = byContext
        ? this.asyncContext?.start(parent?.context?.node, wallMs, rssBytes)
        : undefined;
      const cpu = kernel ?? contextStart?.cpu ?? readKernelCpu();
      let share: SpanState['share'];
      if (!byContext) {
        const fairShare = this.fairShareLedger();
        const cpuMicros = cpu.userMicros + cpu.systemMicros;
        fairShare.expire(wallMs, cpuMicros);
        share = fairShare.start(parent?.ended ? undefined : parent?.share, cpuMicros, wallMs);
      }
      const tree = this.trees.open(parent?.tree, wallMs);
      const state: SpanState = {
        cpuUserMicros: cpu.userMicros,
        cpuSystemMicros: cpu.systemMicros,
        maxRssKb: kernel?.maxRssKb ?? this.asyncContext?.lastMaxRssKb ?? 0,
        wallMs,
        rssBytes,
        samplerTick: memorySampler.tick,
        tree,
        concurrencyMoment: this.trees.now(),
        share,
        context: contextStart,
        gpu,
        childrenCpuSeconds,
        slow: this.slowFigures?.start(wallMs),
        ended: false,
      };
      this.slots.setOwn(span, state);
      this.profiler?.started(state, parent, span);
    } catch (error) {
      this.reportOnce(
        'onStart',
        'measuring a span start failed; the span gets no resource attributes',
        error,
      );
    }
  }

  onEnding(span: WritableSpan): void {
    this.sawOnEnding = true;
    const state = this.slots.own(span);
    if (state === undefined || state.ended) return;
    try {
      span.setAttributes(this.measure(state, span.name));
    } catch (error) {
      this.reportOnce('onEnding', 'measuring a span end failed; the span gets no resource attributes', error);
    }
  }

  onEnd(span: object): void {
    const state = this.slots.own(span);
    if (state === undefined || state.ended) return;
    // Only an SDK without onEnding gets here: close the span's accounting, but the span is read-only now.
    if (!this.sawOnEnding) {
      this.reportOnce(
        'no-onEnding',
        'this OpenTelemetry SDK does not call SpanProcessor.onEnding, so resource attributes cannot be set on ' +
          'spans; use @opentelemetry/sdk-trace-base 2.12 or @opentelemetry/sdk-trace 3.x (both call it)',
        undefined,
        'warn',
      );
    }
    try {
      this.measure(state, undefined);
    } catch {
      // Nothing to publish to; the accounting is closed as far as it got.
    }
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    this.isShutdown = true;
    this.profiler?.shutdown();
    this.slowFigures?.shutdown();
    this.asyncContext?.shutdown();
    this.childrenCpu?.close();
    this.stopSettlingTrees();
    return Promise.resolve();
  }

  private selects(span: WritableSpan): boolean {
    try {
      return (this.options.selects as (span: SpanSelector) => boolean)(span);
    } catch (error) {
      this.reportOnce('filter', 'the span filter threw; spans it throws for are not measured', error);
      return false;
    }
  }

  /** Closes the span's accounting (once) and returns its attributes. */
  private measure(state: SpanState, spanName: string | undefined): Attributes {
    state.ended = true;
    this.profiler?.ended(state);
    const wallMs = performance.now();
    const { sets } = this;
    const concurrent = sets.concurrent ? this.trees.othersSince(state.concurrencyMoment) : 0;
    this.trees.close(state.tree);
    const kernel = state.context === undefined || this.options.exactMemory ? readKernelCpu() : undefined;
    let userMicros: number;
    let systemMicros: number;
    let attributedMicros: number | undefined;
    if (state.context !== undefined && this.asyncContext !== undefined) {
      ({ userMicros, systemMicros, attributedMicros } = this.asyncContext.end(state.context, wallMs));
    } else {
      const now = kernel ?? readKernelCpu();
      ({ userMicros, systemMicros } = cpuBetween(
        { userMicros: state.cpuUserMicros, systemMicros: state.cpuSystemMicros },
        now,
      ));
      if (state.share !== undefined)
        attributedMicros = this.fairShare?.end(state.share, now.userMicros + now.systemMicros);
    }
    const attributes: Attributes = {};
    const userSeconds = userMicros / 1e6;
    const systemSeconds = systemMicros / 1e6;
    const wallSeconds = (wallMs - state.wallMs) / 1000;
    const attributedSeconds = attributedMicros === undefined ? undefined : attributedMicros / 1e6;
    if (sets.cpuTime) attributes[keys.ATTR_CPU_TIME] = userSeconds + systemSeconds;
    if (sets.cpuUserTime) attributes[keys.ATTR_CPU_USER_TIME] = userSeconds;
    if (sets.cpuSystemTime) attributes[keys.ATTR_CPU_SYSTEM_TIME] = systemSeconds;
    if (sets.averageCores) {
      attributes[keys.ATTR_CPU_AVERAGE_CORES] =
        wallSeconds > 0 ? (userSeconds + systemSeconds) / wallSeconds : 0;
    }
    if (sets.wallTime) attributes[keys.ATTR_WALL_TIME] = wallSeconds;
    if (sets.cpuScope && !isMainThread) attributes[keys.ATTR_CPU_SCOPE] = cpuScope;
    if (sets.attributedTime && attributedSeconds !== undefined)
      attributes[keys.ATTR_CPU_ATTRIBUTED_TIME] = attributedSeconds;
    if (sets.concurrent) attributes[keys.ATTR_CONCURRENT_SPANS] = concurrent;
    let peakBytes: number | undefined;
    if (sets.memory || this.histograms !== undefined) {
      const maxRssKb = kernel?.maxRssKb ?? this.asyncContext?.lastMaxRssKb ?? state.maxRssKb;
      peakBytes = this.addMemory(attributes, state, maxRssKb, wallMs);
    }
    if (state.gpu !== undefined && sets.gpuKeys !== undefined)
      addGpuAttributes(attributes, state.gpu, sets.gpuKeys);
    if (state.slow !== undefined)
      this.slowFigures?.addAttributes(attributes, state.slow, state.wallMs, wallMs);
    if (state.childrenCpuSeconds !== undefined) {
      const childrenNow = this.childrenCpu?.readSeconds();
      if (childrenNow !== undefined)
        attributes[keys.ATTR_CHILDREN_CPU_TIME] = childrenNow - state.childrenCpuSeconds;
    }
    if (spanName !== undefined) this.histograms?.record(spanName, attributedSeconds, wallSeconds, peakBytes);
    return attributes;
  }

  /** Sets the chosen memory keys; returns the peak (the span histograms want it whether or not it is set). */
  private addMemory(attributes: Attributes, state: SpanState, maxRssKbNow: number, wallMs: number): number {
    const endRss = this.options.exactMemory
      ? processMemoryProbe.read().rssBytes
      : memorySampler.currentRssBytes(wallMs);
    const peak = peakRssInWindow(
      state.rssBytes,
      endRss,
      state.maxRssKb * 1024,
      maxRssKbNow * 1024,
      state.samplerTick,
      memorySampler.tick,
    );
    const { sets } = this;
    if (sets.memoryStart) attributes[keys.ATTR_MEMORY_START] = state.rssBytes;
    if (sets.memoryEnd) attributes[keys.ATTR_MEMORY_END] = endRss;
    if (sets.memoryDelta) attributes[keys.ATTR_MEMORY_DELTA] = endRss - state.rssBytes;
    if (sets.memoryPeak) attributes[keys.ATTR_MEMORY_PEAK] = peak.bytes;
    return peak.bytes;
  }

  private fairShareLedger(): FairShareLedger {
    if (this.fairShare === undefined) this.fairShare = new FairShareLedger(this.options.maxSpanOpenMs);
    return this.fairShare;
  }

  /** In async-context mode: finds out (again) whether a context manager follows contexts. */
  private checkContextFollowing(): void {
    if (this.asyncContext === undefined) return;
    this.followsContexts = contextsAreFollowed();
    if (this.followsContexts) return;
    this.reportOnce(
      'no-context-manager',
      'no OpenTelemetry context manager is registered (a BasicTracerProvider used as is?), so no span is ever ' +
        'active and async contexts cannot be followed: CPU is attributed by fair share (as cpuAttribution ' +
        '"fair-share") until one is. NodeTracerProvider.register() and the NodeSDK install one.',
      undefined,
      'warn',
    );
  }

  /**
   * Keeps the memory sampler running while span trees are open, and for a second after the last one. Trees,
   * not spans: a span that is never ended stops counting once it is garbage (or older than maxSpanOpenSeconds),
   * so a leak cannot keep the samplers at their busy rate for the life of the process.
   */
  private ensureSampling(nowMs: number): void {
    this.lastBusyMs = nowMs;
    if (this.sampling) return;
    this.sampling = true;
    this.checkContextFollowing();
    // The samplers' timers are made in the root context: their ticks are nobody's work, not the span's that
    // happened to start them.
    context.with(ROOT_CONTEXT, () => {
      memorySampler.acquireWhile(() => {
        const now = performance.now();
        if (this.trees.openCount > 0) this.lastBusyMs = now;
        this.sampling = !this.isShutdown && now - this.lastBusyMs < SAMPLER_IDLE_RELEASE_MS;
        if (this.sampling) this.checkContextFollowing();
        return this.sampling;
      });
      // GPU readings tick faster (100 ms) for as long as the memory sampler is kept for spans.
      const gpu = getGpuMemorySource();
      if (this.sets.gpuKeys !== undefined && gpu instanceof GpuSampler) gpu.acquireWhile(() => this.sampling);
    });
  }

  /**
   * The profiler is loaded only when asked for (profiler off loads none of it), and with require rather than
   * import(): synchronously (require(esm), as the CommonJS preload does), so that it samples from the first span.
   */
  private startProfiler(settings: NonNullable<ResolvedOptions['profile']>): void {
    const report =
      settings.onProblem ?? ((message: string) => diag.warn(`otel-resource-tracker: ${message}`));
    try {
      const { startSpanProfiler } = createRequire(import.meta.url)(
        '../profiler/span-profiler.js',
      ) as typeof import('../profiler/span-profiler.js');
      this.profiler = startSpanProfiler(
        settings,
        (active) => this.slots.measured(trace.getSpan(active)),
        report,
      );
    } catch (error) {
      report(`profiler: it did not start: ${(error as Error).message}`);
    }
  }

  private reportOnce(
    kind: string,
    message: string,
    error?: unknown,
    level: 'warn' | 'error' = 'error',
  ): void {
    if (this.reported.has(kind)) return;
    this.reported.add(kind);
    diag[level](`otel-resource-tracker: ${message}`, ...(error === undefined ? [] : [error]));
  }
}
