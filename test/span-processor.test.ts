import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { type Attributes, ROOT_CONTEXT } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { type HistogramMetricData, MeterProvider } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { SpanAttributes as keys, MetricNames, ResourceSpanProcessor } from '../src/index.js';
import { createTracing, inSpan, numberAttribute, type TestTracing } from './helpers/tracing.js';
import {
  allocateTouched,
  burnCpu,
  burnThreadCpu,
  collectGarbage,
  cpuSecondsSince,
  MiB,
  maxRssBytes,
  threadCpuMsReader,
  waitForRssBelow,
} from './helpers/workload.js';

function within(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= tolerance * expected,
    `${what}: ${actual.toFixed(4)} vs ${expected.toFixed(4)} (±${tolerance * 100}%)`,
  );
}

describe('ResourceSpanProcessor: figures on one span', () => {
  let tracing: TestTracing;
  beforeEach(() => {
    // Every key: these tests check each figure, not only the default set.
    tracing = createTracing({ attributes: 'full' });
  });
  afterEach(() => tracing.shutdown());

  it('sets the CPU a span burnt, as process.cpuUsage() measures it around the span', async () => {
    const before = process.cpuUsage();
    const outerStart = performance.now();
    let inner = 0;
    await inSpan(tracing.tracer, 'burn', async () => {
      const innerStart = performance.now();
      burnCpu(200);
      await nextTurn();
      burnCpu(100);
      inner = (performance.now() - innerStart) / 1000;
    });
    const outer = (performance.now() - outerStart) / 1000;
    const measured = cpuSecondsSince(before);
    const attributes = tracing.attributesOf('burn');
    within(numberAttribute(attributes, keys.ATTR_CPU_TIME), measured, 0.1, 'resource_tracker.cpu.time');
    within(numberAttribute(attributes, keys.ATTR_CPU_ATTRIBUTED_TIME), measured, 0.1, 'attributed_time');
    const user = numberAttribute(attributes, keys.ATTR_CPU_USER_TIME);
    const system = numberAttribute(attributes, keys.ATTR_CPU_SYSTEM_TIME);
    assert.ok(Math.abs(user + system - numberAttribute(attributes, keys.ATTR_CPU_TIME)) < 1e-9);
    const wall = numberAttribute(attributes, keys.ATTR_WALL_TIME);
    assert.ok(wall >= inner && wall <= outer, `wall ${wall} in [${inner}, ${outer}]`);
    within(
      numberAttribute(attributes, keys.ATTR_CPU_AVERAGE_CORES),
      (user + system) / wall,
      1e-9,
      'utilization',
    );
    assert.equal(attributes[keys.ATTR_CONCURRENT_SPANS], 0);
  });

  it('sets a peak that was allocated and freed inside the span, which the end does not see', async () => {
    // The process has been bigger before: the peak must come from the sampler, not from maxRSS. The 400 MiB must
    // be gone before the span starts (measured against the RSS before it, not against maxRSS, which an earlier
    // test may have set far higher), or its release inside the span would hide the span's own allocation.
    const base = process.memoryUsage.rss();
    let earlier: Buffer | undefined = allocateTouched(400 * MiB);
    earlier = undefined;
    await waitForRssBelow(base + 50 * MiB);
    collectGarbage();
    await sleep(30); // the sampler's cached RSS catches up with the collection
    const size = 150 * MiB;
    await inSpan(tracing.tracer, 'allocate', async () => {
      let block: Buffer | undefined = allocateTouched(size);
      await sleep(60);
      assert.equal(block.length, size);
      block = undefined;
      await waitForRssBelow(process.memoryUsage.rss() - 0.8 * size);
      await sleep(30);
    });
    assert.equal(earlier, undefined);
    const attributes = tracing.attributesOf('allocate');
    const start = numberAttribute(attributes, keys.ATTR_MEMORY_START);
    const end = numberAttribute(attributes, keys.ATTR_MEMORY_END);
    const peak = numberAttribute(attributes, keys.ATTR_MEMORY_PEAK);
    assert.ok(peak >= start + 0.95 * size, `peak ${peak / MiB} MiB, start ${start / MiB} MiB`);
    assert.ok(end < start + 30 * MiB, `end ${end / MiB} MiB, start ${start / MiB} MiB`);
    assert.equal(numberAttribute(attributes, keys.ATTR_MEMORY_DELTA), end - start);
  });

  it('reads a real RSS at the first span of a process and after the sampler went idle, never a stale one', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/memory-readings.js', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [fixture]);
    const read = JSON.parse(stdout) as Record<string, number>;
    const near = (value: number | undefined, low: number, high: number) =>
      value !== undefined && value >= low - MiB && value <= high + MiB;
    assert.ok(read.first !== undefined && read.first > 0, 'the first reading is a reading, not 0');
    assert.ok(near(read.first, read.freshBeforeFirst ?? 0, read.freshAfterFirst ?? 0), JSON.stringify(read));
    // 100 MiB allocated, touched and kept during the idle gap: the later span's start includes it.
    assert.ok(near(read.later, read.freshBeforeLater ?? 0, read.freshBeforeLater ?? 0), JSON.stringify(read));
    assert.ok((read.later ?? 0) >= (read.first ?? 0) + 95 * MiB, JSON.stringify(read));
  });

  it('reads RSS fresh at a span start when the loop was blocked past the sampling interval', async () => {
    await inSpan(tracing.tracer, 'keeps-the-sampler-running', async () => {
      await sleep(30);
      // The loop is blocked while 32 MiB are allocated: no tick can see it before the next span starts.
      const started = performance.now();
      const block = allocateTouched(32 * MiB);
      while (performance.now() - started < 250);
      const rssNow = process.memoryUsage.rss();
      const span = tracing.tracer.startSpan('after-a-blocked-loop');
      span.end();
      const start = numberAttribute(tracing.attributesOf('after-a-blocked-loop'), keys.ATTR_MEMORY_START);
      assert.ok(start >= rssNow - 2 * MiB, `start ${start / MiB} MiB, RSS ${rssNow / MiB} MiB`);
      assert.equal(block.length, 32 * MiB);
    });
  });

  it('sets the peak from maxRSS when the span set a new high for the process', async () => {
    const size = Math.max(0, maxRssBytes() - process.memoryUsage.rss()) + 100 * MiB;
    await inSpan(tracing.tracer, 'new-high', async () => {
      let block: Buffer | undefined = allocateTouched(size);
      assert.equal(block.length, size);
      block = undefined;
      await waitForRssBelow(process.memoryUsage.rss() - 0.8 * size);
    });
    const attributes = tracing.attributesOf('new-high');
    const start = numberAttribute(attributes, keys.ATTR_MEMORY_START);
    assert.ok(
      numberAttribute(attributes, keys.ATTR_MEMORY_PEAK) >= start + 0.95 * size,
      JSON.stringify({ size, ...attributes }),
    );
    assert.ok(numberAttribute(attributes, keys.ATTR_MEMORY_END) < start + 0.5 * size);
  });

  it('reads RSS fresh at both ends with exactMemory', async () => {
    const exact = createTracing({ exactMemory: true, attributes: 'full' });
    let blocks: Buffer[] = [];
    const span = exact.tracer.startSpan('grow');
    const before = process.memoryUsage.rss();
    // Touched memory can land on pages the process freed earlier and still holds (RSS then barely moves: seen on CI
    // after other suites), so allocate until RSS really grew by 64 MiB, at most 4 blocks.
    do blocks.push(allocateTouched(64 * MiB));
    while (process.memoryUsage.rss() - before < 64 * MiB && blocks.length < 4);
    const after = process.memoryUsage.rss();
    span.end(); // no event-loop turn: the cached value could not have seen the blocks
    const attributes = exact.attributesOf('grow');
    assert.ok(numberAttribute(attributes, keys.ATTR_MEMORY_START) <= before + MiB);
    assert.ok(numberAttribute(attributes, keys.ATTR_MEMORY_END) >= after - MiB);
    assert.ok(numberAttribute(attributes, keys.ATTR_MEMORY_DELTA) >= 60 * MiB);
    assert.equal(blocks[0]?.length, 64 * MiB);
    blocks = [];
    await exact.shutdown();
  });

  it('omits GPU keys when no GPU is visible', async () => {
    await inSpan(tracing.tracer, 'no-gpu', async () => undefined);
    const gpuKeys = Object.keys(tracing.attributesOf('no-gpu')).filter(
      (key) => key.startsWith('resource_tracker.gpu.') || key.startsWith('hw.'),
    );
    assert.deepEqual(gpuKeys, []);
  });
});

describe('ResourceSpanProcessor: the span path', () => {
  it('reads the kernel at most once per 5 ms, not at every span start while RSS sits at its high', async () => {
    const tracing = createTracing();
    // RSS at the process's high, as on a steady service: the kernel's maxRSS (summed from per-CPU counters) can
    // read a little below the exact RSS statm gives.
    const ballast = allocateTouched(32 * MiB);
    const original = process.resourceUsage;
    let reads = 0;
    process.resourceUsage = () => {
      reads++;
      return original.call(process);
    };
    let elapsedMs: number;
    try {
      const started = performance.now();
      for (let i = 0; i < 400; i++) tracing.tracer.startSpan('request', {}, ROOT_CONTEXT).end();
      elapsedMs = performance.now() - started;
    } finally {
      process.resourceUsage = original;
    }
    // One reading per 5 ms horizon, plus one per fresh RSS sample that shows a new high (one per 10 ms).
    const allowed = Math.ceil(elapsedMs / 5) * 2 + 4;
    assert.ok(reads <= allowed, `${reads} getrusage for 400 spans in ${elapsedMs.toFixed(1)} ms`);
    assert.ok(ballast.length > 0);
    await tracing.shutdown();
  });
});

describe('ResourceSpanProcessor: span histograms and the attribute set', () => {
  it('records every histogram asked for, whatever keys the span carries', async () => {
    const reader = new PrometheusExporter({ preventServerStart: true });
    const meterProvider = new MeterProvider({ readers: [reader] });
    const exporter = new InMemorySpanExporter();
    // The lean default set has no wall time and the list below no peak: the histograms still get both.
    const provider = new BasicTracerProvider({
      spanProcessors: [
        new ResourceSpanProcessor({
          meterProvider,
          spanHistograms: ['cpu', 'memory', 'wall'],
          attributes: [keys.ATTR_CPU_TIME],
        }),
        new SimpleSpanProcessor(exporter),
      ],
    });
    try {
      const span = provider.getTracer('lean').startSpan('histogrammed', {}, ROOT_CONTEXT);
      burnCpu(5);
      span.end();
      assert.deepEqual(Object.keys(exporter.getFinishedSpans()[0]?.attributes ?? {}), [keys.ATTR_CPU_TIME]);
      const { resourceMetrics } = await reader.collect();
      for (const name of [
        MetricNames.METRIC_SPAN_CPU_TIME,
        MetricNames.METRIC_SPAN_MEMORY_PEAK,
        MetricNames.METRIC_SPAN_WALL_TIME,
      ]) {
        const histogram = resourceMetrics.scopeMetrics
          .flatMap((scope) => scope.metrics)
          .find((metric) => metric.descriptor.name === name) as HistogramMetricData | undefined;
        const point = histogram?.dataPoints.find(
          (candidate) => candidate.attributes[MetricNames.ATTR_SPAN_NAME] === 'histogrammed',
        );
        assert.equal(point?.value.count, 1, `${name}: one point`);
        assert.ok((point?.value.sum ?? 0) > 0, `${name}: a figure`);
      }
    } finally {
      await provider.shutdown();
      await meterProvider.shutdown();
    }
  });
});

describe('ResourceSpanProcessor: two processors in one provider', () => {
  it('keeps each processor its own state: both publish their figures, and the histogram gets its point', async () => {
    const reader = new PrometheusExporter({ preventServerStart: true });
    const meterProvider = new MeterProvider({ readers: [reader] });
    const exporter = new InMemorySpanExporter();
    // As a user configures it twice: one processor for span histograms (memory figures only), one plain.
    const provider = new BasicTracerProvider({
      spanProcessors: [
        new ResourceSpanProcessor({ meterProvider, attributeGroups: ['memory'] }),
        new ResourceSpanProcessor({ attributeGroups: ['cpu', 'attribution'] }),
        new SimpleSpanProcessor(exporter),
      ],
    });
    try {
      const span = provider.getTracer('twice').startSpan('measured twice', {}, ROOT_CONTEXT);
      burnCpu(5);
      span.end();
      const attributes = exporter.getFinishedSpans()[0]?.attributes ?? {};
      // The first processor's figures…
      assert.ok(numberAttribute(attributes, keys.ATTR_MEMORY_PEAK) > 0, JSON.stringify(attributes));
      // …and the second's.
      assert.ok(numberAttribute(attributes, keys.ATTR_CPU_TIME) > 0, JSON.stringify(attributes));
      const { resourceMetrics } = await reader.collect();
      const histogram = resourceMetrics.scopeMetrics
        .flatMap((scope) => scope.metrics)
        .find((metric) => metric.descriptor.name === MetricNames.METRIC_SPAN_MEMORY_PEAK) as
        | HistogramMetricData
        | undefined;
      const point = histogram?.dataPoints.find(
        (candidate) => candidate.attributes[MetricNames.ATTR_SPAN_NAME] === 'measured twice',
      );
      assert.equal(point?.value.count, 1, 'one histogram point for the span');
      assert.equal(point?.value.sum, attributes[keys.ATTR_MEMORY_PEAK]);
    } finally {
      await provider.shutdown();
      await meterProvider.shutdown();
    }
  });
});

describe('ResourceSpanProcessor in a worker thread', () => {
  it("gives a worker's span its own thread's CPU, not the busy main thread's as well", async function () {
    if (threadCpuMsReader() === undefined) this.skip(); // neither threadCpuUsage nor /proc: process figures there
    const worker = new Worker(fileURLToPath(new URL('./fixtures/span-in-busy-process.js', import.meta.url)));
    try {
      await new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      const result = new Promise<{ attributes: Attributes; ownMs: number }>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      worker.postMessage('go');
      burnThreadCpu(150); // the main thread is busy while the worker's span runs
      const { attributes, ownMs } = await result;
      const figures = `${JSON.stringify(attributes)}; the worker thread used ${ownMs} ms`;
      assert.equal(attributes[keys.ATTR_CPU_SCOPE], 'thread', figures);
      const cpuMs = numberAttribute(attributes, keys.ATTR_CPU_TIME) * 1000;
      assert.ok(Math.abs(cpuMs - ownMs) <= 0.15 * ownMs + 2, figures);
      const parts =
        numberAttribute(attributes, keys.ATTR_CPU_USER_TIME) +
        numberAttribute(attributes, keys.ATTR_CPU_SYSTEM_TIME);
      assert.ok(Math.abs(parts * 1000 - cpuMs) < 1e-6, `user + system = cpu.time; ${figures}`);
    } finally {
      await worker.terminate();
    }
  });
});
