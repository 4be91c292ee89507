import { performance } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';
import { type Attributes, type Context, context, diag, trace } from '@opentelemetry/api';
import { ConcurrencyPeak } from '../attribution/concurrency-peak.js';
import { ExactCpuLedger } from '../attribution/exact-cpu-ledger.js';
import { FairShareLedger } from '../attribution/fair-share-ledger.js';
import { getGpuMemorySource } from '../gpu/gpu-memory-source.js';
import { GpuSampler } from '../gpu/gpu-sampler.js';
import { SpanHistograms } from '../metrics/span-histograms.js';
import { ChildrenCpuProbe } from '../probes/children-cpu.js';
import { cpuScope, readThreadCpu } from '../probes/cpu-scope.js';
import { processMemoryProbe } from '../probes/process-memory.js';
import { memorySampler } from '../sampler/memory-sampler.js';
import { peakRssInWindow } from '../sampler/window-peak.js';
import * as keys from './attribute-keys.js';
import { addGpuAttributes, readTrackedGpus } from './gpu-figures.js';
import {
  type AttributeGroup,
  type ResolvedOptions,
  type ResourceSpanProcessorOptions,
  resolveOptions,
  type SpanSelector,
} from './options.js';
import type { SdkSpanProcessor, WritableSpan } from './sdk-span.js';
import {
  MEASURED_ANCESTOR,
  measuredStateOf,
  SPAN_STATE,
  type SpanState,
  type WithSpanState,
} from './span-state.js';

/** The sampler is given back after this long without an open span (avoids timer churn between requests). */
const SAMPLER_IDLE_RELEASE_MS = 1000;

interface CpuNow {
  userMicros: number;
  systemMicros: number;
  maxRssKb: number;
}

function readCpu(): CpuNow {
  const usage = process.resourceUsage();
  if (cpuScope === 'thread') {
    const thread = readThreadCpu();
    if (thread !== undefined)
      return { userMicros: thread.user, systemMicros: thread.system, maxRssKb: usage.maxRSS };
  }
  return { userMicros: usage.userCPUTime, systemMicros: usage.systemCPUTime, maxRssKb: usage.maxRSS };
}

function stateOf(span: unknown): SpanState | undefined {
  return (span as WithSpanState | undefined)?.[SPAN_STATE];
}

/**
 * A SpanProcessor that measures what each span cost — CPU (the process's and the span's share of it), wall
 * clock, memory, GPU memory — and sets it on the span as attributes (see the README's attribute reference)
 * in `onEnding`, so that every processor's `onEnd` and every exporter sees them.
 *
 * The span path does one getrusage and one clock read at each end, plus arithmetic; RSS and GPU figures come
 * from the background samplers' caches (RSS is read fresh, one `pread`, only when the cache is older than one
 * sampling interval). Nothing it does can throw into the application: a failure costs the
 * span its attributes and is reported once through the OpenTelemetry `diag` logger.
 */
export class ResourceSpanProcessor implements SdkSpanProcessor {
  private readonly options: ResolvedOptions;
  /** The attribute groups as plain flags: checked on every span. */
  private readonly sets: Readonly<Record<AttributeGroup, boolean>>;
  private readonly fairShare: FairShareLedger;
  private readonly concurrency = new ConcurrencyPeak();
  private readonly exact: ExactCpuLedger | undefined;
  private readonly childrenCpu: ChildrenCpuProbe | undefined;
  private readonly reported = new Set<string>();
  private readonly histograms: SpanHistograms | undefined;
  private sampling = false;
  private lastBusyMs = 0;
  private sawOnEnding = false;
  private isShutdown = false;

  constructor(options?: ResourceSpanProcessorOptions) {
    this.options = resolveOptions(options);
    const { groups } = this.options;
    this.sets = {
      cpu: groups.has('cpu'),
      attribution: groups.has('attribution'),
      memory: groups.has('memory'),
      gpu: groups.has('gpu'),
    };
    this.fairShare = new FairShareLedger(this.options.maxSpanOpenMs);
    if (this.options.meterProvider !== undefined) {
      this.histograms = new SpanHistograms(this.options.meterProvider, this.options.maxSpanNames);
    }
    if (this.options.cpuAttribution === 'exact') {
      this.exact = new ExactCpuLedger(
        () => measuredStateOf(trace.getSpan(context.active()))?.exact,
        () => {
          const cpu = cpuScope === 'thread' ? readThreadCpu() : undefined;
          const { user, system } = cpu ?? process.cpuUsage();
          return user + system;
        },
      );
      this.exact.enable();
    }
    if (this.options.childProcesses) {
      this.childrenCpu = new ChildrenCpuProbe();
      if (!this.childrenCpu.available) {
        this.reportOnce(
          'children',
          'child-process CPU needs /proc/self/stat (Linux); process.children.cpu.time is off',
        );
      }
    }
  }

  onStart(span: WritableSpan, parentContext: Context): void {
    if (this.isShutdown) return;
    try {
      const parentSpan = trace.getSpan(parentContext);
      if (this.options.selects !== undefined && !this.selects(span)) {
        const ancestor = measuredStateOf(parentSpan);
        if (ancestor !== undefined) (span as WithSpanState)[MEASURED_ANCESTOR] = ancestor;
        return;
      }
      const cpu = readCpu();
      const wallMs = performance.now();
      const cpuMicros = cpu.userMicros + cpu.systemMicros;
      // Every read first, the ledgers last: a read that fails must not leave a span counted in the split.
      const rssBytes = this.options.exactMemory
        ? processMemoryProbe.read().rssBytes
        : memorySampler.currentRssBytes(wallMs);
      const gpu = this.sets.gpu ? readTrackedGpus(this.options.gpuDevices) : undefined;
      const childrenCpuSeconds = this.childrenCpu?.readSeconds();
      const parent = measuredStateOf(parentSpan);
      this.ensureSampling(wallMs);
      this.fairShare.expire(wallMs, cpuMicros);
      const share = this.fairShare.start(parent?.share, cpuMicros, wallMs);
      const state: SpanState = {
        cpuUserMicros: cpu.userMicros,
        cpuSystemMicros: cpu.systemMicros,
        maxRssKb: cpu.maxRssKb,
        wallMs,
        rssBytes,
        samplerTick: memorySampler.tick,
        concurrencyMoment: this.concurrency.record(this.fairShare.open),
        share,
        exact: this.exact?.start(parent?.exact, cpuMicros),
        gpu,
        childrenCpuSeconds,
      };
      (span as WithSpanState)[SPAN_STATE] = state;
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
    const state = stateOf(span);
    if (state === undefined) return;
    (span as WithSpanState)[SPAN_STATE] = undefined;
    try {
      const attributes = this.measure(state);
      span.setAttributes(attributes);
      this.histograms?.record(
        span.name,
        attributes[keys.ATTR_CPU_ATTRIBUTED_TIME] as number | undefined,
        attributes[keys.ATTR_WALL_TIME] as number | undefined,
        attributes[keys.ATTR_MEMORY_PEAK] as number | undefined,
      );
    } catch (error) {
      this.reportOnce('onEnding', 'measuring a span end failed; the span gets no resource attributes', error);
    }
  }

  onEnd(span: object): void {
    const state = stateOf(span);
    if (state === undefined) return;
    // Only an SDK without onEnding gets here: close the span's accounting, but the span is read-only now.
    (span as WithSpanState)[SPAN_STATE] = undefined;
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
      this.measure(state);
    } catch {
      // Nothing to publish to; the accounting is closed as far as it got.
    }
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    this.isShutdown = true;
    this.exact?.disable();
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

  private measure(state: SpanState): Attributes {
    const cpu = readCpu();
    const wallMs = performance.now();
    const cpuMicros = cpu.userMicros + cpu.systemMicros;
    const shareMicros = this.fairShare.end(state.share, cpuMicros);
    const exactMicros = state.exact === undefined ? undefined : this.exact?.end(state.exact, cpuMicros);
    const concurrent = Math.max(0, this.concurrency.maxSince(state.concurrencyMoment) - 1);
    this.concurrency.record(this.fairShare.open);
    const { sets } = this;
    const attributes: Attributes = {};
    const userSeconds = (cpu.userMicros - state.cpuUserMicros) / 1e6;
    const systemSeconds = (cpu.systemMicros - state.cpuSystemMicros) / 1e6;
    const wallSeconds = (wallMs - state.wallMs) / 1000;
    if (sets.cpu) {
      attributes[keys.ATTR_CPU_TIME] = userSeconds + systemSeconds;
      attributes[keys.ATTR_CPU_USER_TIME] = userSeconds;
      attributes[keys.ATTR_CPU_SYSTEM_TIME] = systemSeconds;
      attributes[keys.ATTR_CPU_UTILIZATION] =
        wallSeconds > 0 ? (userSeconds + systemSeconds) / wallSeconds : 0;
      attributes[keys.ATTR_WALL_TIME] = wallSeconds;
      if (!isMainThread) attributes[keys.ATTR_CPU_SCOPE] = cpuScope;
    }
    if (sets.attribution) {
      const attributed = this.exact === undefined ? shareMicros : exactMicros;
      if (attributed !== undefined) attributes[keys.ATTR_CPU_ATTRIBUTED_TIME] = attributed / 1e6;
      attributes[keys.ATTR_CONCURRENT_SPANS] = concurrent;
    }
    if (sets.memory) this.addMemory(attributes, state, cpu.maxRssKb, wallMs);
    if (state.gpu !== undefined) addGpuAttributes(attributes, state.gpu);
    if (state.childrenCpuSeconds !== undefined) {
      const childrenNow = this.childrenCpu?.readSeconds();
      if (childrenNow !== undefined)
        attributes[keys.ATTR_CHILDREN_CPU_TIME] = childrenNow - state.childrenCpuSeconds;
    }
    return attributes;
  }

  private addMemory(attributes: Attributes, state: SpanState, maxRssKbNow: number, wallMs: number): void {
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
    attributes[keys.ATTR_MEMORY_START] = state.rssBytes;
    attributes[keys.ATTR_MEMORY_END] = endRss;
    attributes[keys.ATTR_MEMORY_DELTA] = endRss - state.rssBytes;
    attributes[keys.ATTR_MEMORY_PEAK] = peak.bytes;
  }

  /** Keeps the memory sampler running while spans are open, and for a second after the last one. */
  private ensureSampling(nowMs: number): void {
    this.lastBusyMs = nowMs;
    if (this.sampling) return;
    this.sampling = true;
    memorySampler.acquireWhile(() => {
      const now = performance.now();
      if (this.fairShare.open > 0) this.lastBusyMs = now;
      this.sampling = !this.isShutdown && now - this.lastBusyMs < SAMPLER_IDLE_RELEASE_MS;
      return this.sampling;
    });
    // GPU readings tick faster (100 ms) for as long as the memory sampler is kept for spans.
    const gpu = getGpuMemorySource();
    if (this.sets.gpu && gpu instanceof GpuSampler) gpu.acquireWhile(() => this.sampling);
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
