import { performance } from 'node:perf_hooks';
import { type Attributes, ROOT_CONTEXT } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, type Span, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ResourceSpanProcessor, type ResourceSpanProcessorOptions } from '../src/index.js';
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

function perSpan(name: string, processors: SpanProcessor[]): Measurement {
  const tracer = new BasicTracerProvider({ spanProcessors: processors }).getTracer('bench');
  return measure(name, () => tracer.startSpan('op', undefined, ROOT_CONTEXT).end(), 50_000);
}

function nested(name: string, options?: ResourceSpanProcessorOptions): Measurement {
  const tracer = new BasicTracerProvider({ spanProcessors: [new ResourceSpanProcessor(options)] }).getTracer(
    'b',
  );
  const parent = tracer.startSpan('parent', undefined, ROOT_CONTEXT);
  const parentContext = ROOT_CONTEXT.setValue(Symbol.for('OpenTelemetry Context Key SPAN'), parent);
  return measure(name, () => tracer.startSpan('child', undefined, parentContext).end(), 50_000);
}

/** Cost per span: bare provider, a no-op processor, the floor, and ResourceSpanProcessor in its modes. */
export function benchSpanProcessor(): void {
  const bare = perSpan('bare provider, no processor [baseline]', []);
  const noop = perSpan('no-op processor', [new NoopProcessor()]);
  const floor = perSpan('floor processor (2 getrusage + 2 clock + setAttributes)', [new FloorProcessor()]);
  const resource = perSpan('ResourceSpanProcessor (defaults)', [new ResourceSpanProcessor()]);
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
  const added = resource.nsPerOp - noop.nsPerOp;
  console.log(
    `floor adds ${floorAdded.toFixed(0)} ns; ResourceSpanProcessor adds ${added.toFixed(0)} ns = ` +
      `${(added / floorAdded).toFixed(2)}x the floor (goal <= 1.2x)`,
  );
}
