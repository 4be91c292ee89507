import { gzipSync } from 'node:zlib';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { AggregationType, MeterProvider, type ViewOptions } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { MetricNames, ResourceSpanProcessor } from '../src/index.js';
import {
  CPU_SECONDS_BUCKETS,
  MEMORY_BYTES_BUCKETS,
  type SpanHistogramKind,
} from '../src/metrics/span-histograms.js';
import { type ExpositionOptions, serializeExposition } from '../src/prometheus/exposition.js';

/** The boundaries of versions before 0.2 (seconds from 5 ms, bytes in powers of two from 32 MiB). */
const OLD_SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800];
const OLD_BYTES_BUCKETS = Array.from({ length: 12 }, (_, power) => 2 ** (25 + power));
const MiB = 1024 * 1024;

/** A seeded generator, so that every run measures the same samples. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function logNormal(count: number, median: number, sigma: number, seed: number): number[] {
  const next = random(seed);
  return Array.from({ length: count }, () => {
    const normal = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
    return median * Math.exp(sigma * normal);
  });
}

function exactQuantile(sorted: readonly number[], q: number): number {
  const position = q * (sorted.length - 1);
  const below = Math.floor(position);
  const low = sorted[below] as number;
  const high = sorted[Math.min(below + 1, sorted.length - 1)] as number;
  return low + (high - low) * (position - below);
}

/** Prometheus's histogram_quantile (promql/quantile.go bucketQuantile): linear inside the bucket holding the rank. */
function histogramQuantile(q: number, boundaries: readonly number[], values: readonly number[]): number {
  const counts = new Array<number>(boundaries.length + 1).fill(0);
  for (const value of values) {
    let index = boundaries.findIndex((bound) => value <= bound);
    if (index < 0) index = boundaries.length;
    counts[index] = (counts[index] ?? 0) + 1;
  }
  const rank = q * values.length;
  let cumulative = 0;
  for (let index = 0; index < counts.length; index++) {
    const inBucket = counts[index] ?? 0;
    if (cumulative + inBucket >= rank && inBucket > 0) {
      if (index === boundaries.length) return boundaries[boundaries.length - 1] as number; // +Inf bucket
      const end = boundaries[index] as number;
      const start = index === 0 ? 0 : (boundaries[index - 1] as number);
      return start + (end - start) * ((rank - cumulative) / inBucket);
    }
    cumulative += inBucket;
  }
  return Number.NaN;
}

interface Distribution {
  name: string;
  values: number[];
  unit: 's' | 'By';
}

/** Distributions shaped like what the histograms record: lognormal, from this repo's own measurements. */
function distributions(): Distribution[] {
  return [
    { name: 'HTTP request CPU, median 1.5 ms', values: logNormal(20_000, 0.0015, 0.8, 1), unit: 's' },
    { name: 'background job CPU, median 40 ms', values: logNormal(20_000, 0.04, 1.0, 2), unit: 's' },
    { name: 'batch task CPU, median 3 s', values: logNormal(20_000, 3, 0.6, 3), unit: 's' },
    { name: 'service peak RSS, median 90 MiB', values: logNormal(20_000, 90 * MiB, 0.15, 4), unit: 'By' },
    { name: 'ML worker peak RSS, median 2.5 GiB', values: logNormal(20_000, 2560 * MiB, 0.2, 5), unit: 'By' },
  ];
}

function formatValue(value: number, unit: 's' | 'By'): string {
  return unit === 's' ? `${(value * 1000).toPrecision(3)} ms` : `${(value / MiB).toPrecision(4)} MiB`;
}

function quantileErrors(): void {
  console.log(
    '\nhistogram_quantile error against the exact quantile (20 000 lognormal samples each; same samples for both layouts)',
  );
  console.log(
    `${'distribution'.padEnd(36)} ${'q'.padStart(4)} ${'exact'.padStart(12)} ${'before'.padStart(9)} ${'now'.padStart(9)}`,
  );
  for (const { name, values, unit } of distributions()) {
    const sorted = [...values].sort((a, b) => a - b);
    const [oldBounds, newBounds] =
      unit === 's' ? [OLD_SECONDS_BUCKETS, CPU_SECONDS_BUCKETS] : [OLD_BYTES_BUCKETS, MEMORY_BYTES_BUCKETS];
    for (const q of [0.5, 0.95]) {
      const exact = exactQuantile(sorted, q);
      const error = (bounds: number[]) =>
        `${(((histogramQuantile(q, bounds, values) - exact) / exact) * 100).toFixed(1)} %`;
      console.log(
        `${name.padEnd(36)} ${`p${q * 100}`.padStart(4)} ${formatValue(exact, unit).padStart(12)} ${error(oldBounds).padStart(9)} ${error(newBounds).padStart(9)}`,
      );
    }
  }
}

interface Shape {
  name: string;
  kinds: SpanHistogramKind[];
  exposition: ExpositionOptions;
  views: ViewOptions[];
}

function explicit(instrumentName: string, boundaries: number[]): ViewOptions {
  return {
    instrumentName,
    aggregation: { type: AggregationType.EXPLICIT_BUCKET_HISTOGRAM, options: { boundaries } },
  };
}

async function scrapeOf(
  shape: Shape,
): Promise<{ bytes: number; gzipBytes: number; spanSeries: number; perName: number }> {
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const meterProvider = new MeterProvider({ readers: [exporter], views: shape.views });
  const tracer = new BasicTracerProvider({
    spanProcessors: [new ResourceSpanProcessor({ meterProvider, spanHistograms: shape.kinds })],
  }).getTracer('bench');
  for (let i = 0; i < 1000; i++) tracer.startSpan(`span-name-${i % 100}`, {}, ROOT_CONTEXT).end();
  const { resourceMetrics } = await exporter.collect();
  const text = serializeExposition(resourceMetrics, shape.exposition);
  await meterProvider.shutdown();
  const spanSeries = text.split('\n').filter((line) => line.includes('span_name="')).length;
  const perName = text.split('\n').filter((line) => line.includes('span_name="span-name-7"')).length;
  return {
    bytes: Buffer.byteLength(text),
    gzipBytes: gzipSync(text, { level: 1 }).length,
    spanSeries,
    perName,
  };
}

async function scrapeSizes(): Promise<void> {
  const before: Shape = {
    name: 'before 0.2 (3 histograms, old buckets, no scope labels or unit suffixes)',
    kinds: ['cpu', 'memory', 'wall'],
    exposition: { withoutScopeInfo: true, withoutUnitSuffixes: true },
    views: [
      explicit(MetricNames.METRIC_SPAN_CPU_TIME, OLD_SECONDS_BUCKETS),
      explicit(MetricNames.METRIC_SPAN_WALL_TIME, OLD_SECONDS_BUCKETS),
      explicit(MetricNames.METRIC_SPAN_MEMORY_PEAK, OLD_BYTES_BUCKETS),
    ],
  };
  const now: Shape = {
    name: 'now (default: cpu + memory, scope labels, suffixes)',
    kinds: ['cpu', 'memory'],
    exposition: {},
    views: [],
  };
  const lean: Shape = {
    name: 'now, withoutScopeInfo',
    kinds: ['cpu', 'memory'],
    exposition: { withoutScopeInfo: true },
    views: [],
  };
  const withWall: Shape = {
    name: "now + spanHistograms 'wall'",
    kinds: ['cpu', 'memory', 'wall'],
    exposition: {},
    views: [],
  };
  console.log('\nScrape size with 100 span names (no GPU; ratios against the pre-0.2 shape in the same run)');
  console.log(
    `${'shape'.padEnd(74)} ${'series/name'.padStart(11)} ${'span series'.padStart(11)} ${'bytes'.padStart(8)} ${'ratio'.padStart(6)} ${'gzip -1'.padStart(8)}`,
  );
  const baseline = await scrapeOf(before);
  for (const shape of [before, now, lean, withWall]) {
    const result = shape === before ? baseline : await scrapeOf(shape);
    console.log(
      `${shape.name.padEnd(74)} ${String(result.perName).padStart(11)} ${String(result.spanSeries).padStart(11)} ${String(result.bytes).padStart(8)} ${(result.bytes / baseline.bytes).toFixed(2).padStart(6)} ${String(result.gzipBytes).padStart(8)}`,
    );
  }
  console.log(
    'goal: <= 36 series per span name by default. A scraper that accepts gzip (Prometheus does) gets the last column.',
  );
}

export async function benchHistograms(): Promise<void> {
  quantileErrors();
  await scrapeSizes();
}
