import { type Attributes, context, type Span, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { ResourceSpanProcessor, type ResourceSpanProcessorOptions } from '../../src/index.js';

export interface TestTracing {
  provider: BasicTracerProvider;
  processor: ResourceSpanProcessor;
  exporter: InMemorySpanExporter;
  tracer: ReturnType<BasicTracerProvider['getTracer']>;
  finished(name: string): ReadableSpan;
  attributesOf(name: string): Attributes;
  shutdown(): Promise<void>;
}

let contextManager: AsyncLocalStorageContextManager | undefined;

/** Async context for spans across awaits, as a NodeSDK or NodeTracerProvider would install it. */
export function installContextManager(): void {
  if (contextManager !== undefined) return;
  contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
}

/**
 * Runs `fn` with no context manager registered (the API's no-op one: a BasicTracerProvider used as is), then
 * installs one again for the tests that follow.
 */
export async function withoutContextManager<T>(fn: () => Promise<T>): Promise<T> {
  context.disable();
  contextManager = undefined;
  try {
    return await fn();
  } finally {
    installContextManager();
  }
}

/** A provider with the resource processor first (or last) and an in-memory exporter. */
export function createTracing(
  options?: ResourceSpanProcessorOptions,
  order: 'first' | 'last' = 'first',
): TestTracing {
  installContextManager();
  const processor = new ResourceSpanProcessor(options);
  const exporter = new InMemorySpanExporter();
  const exporting = new SimpleSpanProcessor(exporter);
  const spanProcessors: SpanProcessor[] = order === 'first' ? [processor, exporting] : [exporting, processor];
  const provider = new BasicTracerProvider({ spanProcessors });
  const tracer = provider.getTracer('test');
  const finished = (name: string): ReadableSpan => {
    const span = exporter.getFinishedSpans().find((candidate) => candidate.name === name);
    if (span === undefined) throw new Error(`no finished span named ${name}`);
    return span;
  };
  return {
    provider,
    processor,
    exporter,
    tracer,
    finished,
    attributesOf: (name) => finished(name).attributes,
    shutdown: () => provider.shutdown(),
  };
}

/** Runs `fn` inside a new active span that ends when `fn` settles. */
export function inSpan<T>(
  tracer: ReturnType<BasicTracerProvider['getTracer']>,
  name: string,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(name, async (span) => {
    try {
      return await fn(span);
    } finally {
      span.end();
    }
  });
}

export function numberAttribute(attributes: Attributes, key: string): number {
  const value = attributes[key];
  if (typeof value !== 'number')
    throw new Error(`attribute ${key} is ${JSON.stringify(value)}, not a number`);
  return value;
}

export { trace };
