import type { Attributes, Histogram, MeterProvider } from '@opentelemetry/api';
import { truncateText } from '../internal/truncate-text.js';
import { METER_NAME, METER_VERSION } from './meter-scope.js';
import * as names from './metric-names.js';

/**
 * Seconds of CPU per span: 1-2-5 steps from 100 µs (a small HTTP request) to 1 s, then wider to 10 min (a batch
 * task). 19 boundaries: with the memory histogram's 11, a span name costs 36 series (see docs/metrics.md for the
 * quantile error this gives on measured distributions).
 */
export const CPU_SECONDS_BUCKETS = [
  0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 120, 600,
];
/** Wall seconds (opt-in histogram): the same steps, so that CPU and wall time can be read side by side. */
export const WALL_SECONDS_BUCKETS = CPU_SECONDS_BUCKETS;
/**
 * Bytes of peak RSS: ×1.5 / ×1.33 steps (32, 48, 64, 96, 128, 192, 256, 384, 512 MiB) where Node processes live,
 * then 1 and 4 GiB. 11 boundaries.
 */
export const MEMORY_BYTES_BUCKETS = [32, 48, 64, 96, 128, 192, 256, 384, 512, 1024, 4096].map(
  (mebibytes) => mebibytes * 1024 * 1024,
);

/** The span histograms that can be recorded. */
export type SpanHistogramKind = 'cpu' | 'memory' | 'wall';
export const SPAN_HISTOGRAM_KINDS: readonly SpanHistogramKind[] = ['cpu', 'memory', 'wall'];
/** Wall time is left out by default: it is the span's duration, which traces and span metrics already give. */
export const DEFAULT_SPAN_HISTOGRAMS: readonly SpanHistogramKind[] = ['cpu', 'memory'];

/**
 * Span names are recorded at most this long (UTF-16 units); a longer one is cut to its first 255 and `…`. Names
 * are capped in count (maxSpanNames) and here in length, so that the series they make are bounded in bytes too:
 * without it, one 1 MiB span name made every scrape 36 MiB, and 16 of them broke every scrape for good.
 */
export const MAX_SPAN_NAME_LENGTH = 256;

/** The value that stands for every span name past the cardinality cap. */
export const OTHER_SPAN_NAME = '_other';

function histogram(meterProvider: MeterProvider, name: string, boundaries: number[]): Histogram {
  const { unit, description } = names.metricDefinition(name);
  return meterProvider
    .getMeter(METER_NAME, METER_VERSION)
    .createHistogram(name, { unit, description, advice: { explicitBucketBoundaries: boundaries } });
}

/**
 * Per-span-name histograms of what spans cost: attributed CPU seconds and peak RSS (and wall seconds when asked).
 * Span names become a label, so their number is capped: past `maxSpanNames` distinct names, the rest are recorded
 * under `_other`, keeping the series count bounded whatever the application names its spans; names longer than
 * MAX_SPAN_NAME_LENGTH are recorded truncated (names that share their first 255 units share a series). The boundaries are
 * advice: a View in the application's MeterProvider, or an OTLP exporter that prefers exponential histograms
 * (OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION), overrides them.
 */
export class SpanHistograms {
  private readonly cpu: Histogram | undefined;
  private readonly wall: Histogram | undefined;
  private readonly peak: Histogram | undefined;
  private readonly attributesByName = new Map<string, Attributes>();
  private readonly other: Attributes = { [names.ATTR_SPAN_NAME]: OTHER_SPAN_NAME };

  constructor(
    meterProvider: MeterProvider,
    private readonly maxSpanNames: number,
    kinds: readonly SpanHistogramKind[] = DEFAULT_SPAN_HISTOGRAMS,
  ) {
    if (kinds.includes('cpu'))
      this.cpu = histogram(meterProvider, names.METRIC_SPAN_CPU_TIME, CPU_SECONDS_BUCKETS);
    if (kinds.includes('wall'))
      this.wall = histogram(meterProvider, names.METRIC_SPAN_WALL_TIME, WALL_SECONDS_BUCKETS);
    if (kinds.includes('memory'))
      this.peak = histogram(meterProvider, names.METRIC_SPAN_MEMORY_PEAK, MEMORY_BYTES_BUCKETS);
  }

  record(
    spanName: string,
    cpuSeconds: number | undefined,
    wallSeconds: number | undefined,
    peakBytes: number | undefined,
  ): void {
    const attributes = this.attributesFor(spanName);
    if (cpuSeconds !== undefined) this.cpu?.record(cpuSeconds, attributes);
    if (wallSeconds !== undefined) this.wall?.record(wallSeconds, attributes);
    if (peakBytes !== undefined) this.peak?.record(peakBytes, attributes);
  }

  private attributesFor(name: string): Attributes {
    // A length check on the span path; the copy happens only for a name over the bound.
    const spanName = name.length > MAX_SPAN_NAME_LENGTH ? truncateText(name, MAX_SPAN_NAME_LENGTH) : name;
    const known = this.attributesByName.get(spanName);
    if (known !== undefined) return known;
    if (this.attributesByName.size >= this.maxSpanNames) return this.other;
    const attributes = { [names.ATTR_SPAN_NAME]: spanName };
    this.attributesByName.set(spanName, attributes);
    return attributes;
  }
}
