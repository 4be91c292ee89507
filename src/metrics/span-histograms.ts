import type { Attributes, Histogram, MeterProvider } from '@opentelemetry/api';
import * as names from './metric-names.js';

/**
 * Seconds: 5 ms to 30 min, dense where request and task costs usually fall. Every bucket is a line per span name
 * per scrape, so there are 15, not more.
 */
export const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800];
/** Bytes: powers of two from 32 MiB to 64 GiB (a Node process's RSS never starts lower than ~30 MiB). */
export const BYTES_BUCKETS = Array.from({ length: 12 }, (_, power) => 2 ** (25 + power));

/** The value that stands for every span name past the cardinality cap. */
export const OTHER_SPAN_NAME = '_other';

/**
 * Per-span-name histograms of what spans cost: attributed CPU seconds, wall seconds and peak RSS. Span names
 * become a label, so their number is capped: past `maxSpanNames` distinct names, the rest are recorded under
 * `_other`, keeping the series count bounded whatever the application names its spans.
 */
export class SpanHistograms {
  private readonly cpu: Histogram;
  private readonly wall: Histogram;
  private readonly peak: Histogram;
  private readonly attributesByName = new Map<string, Attributes>();
  private readonly other: Attributes = { 'span.name': OTHER_SPAN_NAME };

  constructor(
    meterProvider: MeterProvider,
    private readonly maxSpanNames: number,
  ) {
    const meter = meterProvider.getMeter('otel-resource-tracker');
    this.cpu = meter.createHistogram(names.METRIC_SPAN_CPU_TIME, {
      unit: 's',
      description: 'CPU attributed to spans (process.cpu.attributed_time), per span name',
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    });
    this.wall = meter.createHistogram(names.METRIC_SPAN_WALL_TIME, {
      unit: 's',
      description: 'Wall-clock time of spans, per span name',
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    });
    this.peak = meter.createHistogram(names.METRIC_SPAN_MEMORY_PEAK, {
      unit: 'By',
      description: 'Peak RSS of the process during spans, per span name',
      advice: { explicitBucketBoundaries: BYTES_BUCKETS },
    });
  }

  record(
    spanName: string,
    cpuSeconds: number | undefined,
    wallSeconds: number | undefined,
    peakBytes: number | undefined,
  ): void {
    const attributes = this.attributesFor(spanName);
    if (cpuSeconds !== undefined) this.cpu.record(cpuSeconds, attributes);
    if (wallSeconds !== undefined) this.wall.record(wallSeconds, attributes);
    if (peakBytes !== undefined) this.peak.record(peakBytes, attributes);
  }

  private attributesFor(spanName: string): Attributes {
    const known = this.attributesByName.get(spanName);
    if (known !== undefined) return known;
    if (this.attributesByName.size >= this.maxSpanNames) return this.other;
    const attributes = { 'span.name': spanName };
    this.attributesByName.set(spanName, attributes);
    return attributes;
  }
}
