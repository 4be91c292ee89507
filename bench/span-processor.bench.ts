import { performance } from 'node:perf_hooks';
import { type Attributes, context, ROOT_CONTEXT } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, type Span, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
// The packed package (package.json's exports, dist/): what users run, measured as they get it.
import { ResourceSpanProcessor, type ResourceSpanProcessorOptions } from 'otel-resource-tracker';
import { type Measurement, measure, report } from './harness.js';

class NoopProcessor implements SpanProcessor {
  onStart(_span: Span): void {}
  onEnding(_span: Span): void {}
  onEnd(): void {}
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** The floor: what any such processor must do — 2 getrusage, 2 clock reads, one public setAttributes. */
class FloorProcessor extends NoopProcessor {
  private start = 0;
  private cpu = 0;
  override onStart(): void {
    const usage = process.resourceUsage();
    this.cpu = usage.userCPUTime + usage.systemCPUTime;
    this.start = performance.now();
  }
  override onEnding(span: Span): void {
    const usage = process.resourceUsage();
    const wall = (performance.now() - this.start) / 1000;
    const cpu = (usage.userCPUTime + usage.systemCPUTime - this.cpu) / 1e6;
    const attributes: Attributes = {
      'resource_tracker.cpu.time': cpu,
      'resource_tracker.cpu.user_time': cpu,
      'resource_tracker.cpu.system_time': 0,
      'resource_tracker.cpu.average_cores': cpu / wall,
      'resource_tracker.wall_time': wall,
      'resource_tracker.cpu.attributed_time': cpu,
      'resource_tracker.concurrent_spans': 0,
      'resource_tracker.memory.start': usage.maxRSS,
      'resource_tracker.memory.end': usage.maxRSS,
      'resource_tracker.memory.delta': 0,
      'resource_tracker.memory.peak': usage.maxRSS,
    };
    span.setAttributes(attributes);
  }
}

/** Ways of keeping per-span state between onStart and onEnding (the README's "Choices" compares them). */
const STATE = Symbol('state');
class SymbolFieldState extends NoopProcessor {
  override onStart(span: Span): void {
    (span as unknown as Record<symbol, unknown>)[STATE] = { start: 1 };
  }
  override onEnding(span: Span): void {
    (span as unknown as Record<symbol, unknown>)[STATE] = undefined;
  }
}
class WeakMapState extends NoopProcessor {
  private readonly states = new WeakMap<Span, { start: number }>();
  override onStart(span: Span): void {
    this.states.set(span, { start: 1 });
  }
  override onEnding(span: Span): void {
    this.states.delete(span);
  }
}
class FinalizationState extends SymbolFieldState {
  private readonly registry = new FinalizationRegistry<number>(() => undefined);
  override onStart(span: Span): void {
    super.onStart(span);
    this.registry.register(span, 1);
  }
}

/** One active span a call (the way instrumentations make them: run in its context, then ended). */
function perSpan(name: string, processors: SpanProcessor[]): Measurement {
  const tracer = new BasicTracerProvider({ spanProcessors: processors }).getTracer('bench');
  return measure(name, () => tracer.startActiveSpan('op', {}, ROOT_CONTEXT, (span) => span.end()), 50_000);
}

/** An active child span a call, inside an active parent. */
function nested(name: string, options?: ResourceSpanProcessorOptions): Measurement {
  const tracer = new BasicTracerProvider({ spanProcessors: [new ResourceSpanProcessor(options)] }).getTracer(
    'b',
  );
  return tracer.startActiveSpan('parent', {}, ROOT_CONTEXT, (parent) => {
    const result = measure(name, () => tracer.startActiveSpan('child', (span) => span.end()), 50_000);
    parent.end();
    return result;
  });
}

/**
 * Cost per span: bare provider, a no-op processor, the floor, and ResourceSpanProcessor in its modes, with a context
 * manager registered as every SDK set-up has one (without one the processor falls back to fair share).
 */
export function benchSpanProcessor(): void {
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  try {
    benchPerSpan();
  } finally {
    context.disable();
  }
}

function benchPerSpan(): void {
  const bare = perSpan('bare provider, no processor [baseline]', []);
  const noop = perSpan('no-op processor', [new NoopProcessor()]);
  const floor = perSpan('floor processor (2 getrusage + 2 clock + setAttributes)', [new FloorProcessor()]);
  const resource = perSpan('ResourceSpanProcessor (defaults)', [new ResourceSpanProcessor()]);
  const full = perSpan("ResourceSpanProcessor { attributes: 'full' }", [
    new ResourceSpanProcessor({ attributes: 'full' }),
  ]);
  const exactMemory = perSpan('ResourceSpanProcessor { exactMemory: true }', [
    new ResourceSpanProcessor({ exactMemory: true }),
  ]);
  const child = nested('ResourceSpanProcessor, child of an open span');
  const histograms = perSpan('ResourceSpanProcessor { meterProvider } (span histograms)', [
    new ResourceSpanProcessor({
      meterProvider: new MeterProvider({ readers: [new PrometheusExporter({ preventServerStart: true })] }),
    }),
  ]);
  const filtered = perSpan('ResourceSpanProcessor, span filtered out by name', [
    new ResourceSpanProcessor({ spanNames: ['something-else'] }),
  ]);
  report('Per-span cost (ratios against a bare provider in the same run)', bare, [
    noop,
    floor,
    resource,
    full,
    exactMemory,
    child,
    histograms,
    filtered,
  ]);
  // The no-op measured again beside them: order effects in one process are as large as what is compared here.
  const noopAgain = perSpan('no-op processor (measured again, beside these)', [new NoopProcessor()]);
  const symbolField = perSpan('per-span state: a symbol-keyed field on the span', [new SymbolFieldState()]);
  const weakMap = perSpan('per-span state: a WeakMap entry', [new WeakMapState()]);
  const finalization = perSpan('per-span state: field + FinalizationRegistry', [new FinalizationState()]);
  report('Per-span state (ratios against the no-op processor in the same run)', noopAgain, [
    symbolField,
    weakMap,
    finalization,
  ]);
  const floorAdded = floor.nsPerOp - noop.nsPerOp;
  for (const [what, row] of [
    ['ResourceSpanProcessor (defaults)', resource],
    ["{ attributes: 'full' }", full],
  ] as const) {
    const added = row.nsPerOp - noop.nsPerOp;
    const ratio = added / floorAdded;
    console.log(
      `floor adds ${floorAdded.toFixed(0)} ns; ${what} adds ${added.toFixed(0)} ns = ${ratio.toFixed(2)}x the floor` +
        ` (goal <= 1.3x)${ratio > 1.3 ? '  !! over the goal' : ''}`,
    );
  }
}
