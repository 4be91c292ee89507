import type { Attributes } from '@opentelemetry/api';

/*
 * What a MetricReader's collect() returns, as far as the serializer reads it: declared here rather than imported
 * from @opentelemetry/sdk-metrics, so that the library type-checks without it and reads the collections of both
 * SDK lines (2.x and 3.x have the same shape and the same DataPointType values).
 */

/** @opentelemetry/sdk-metrics DataPointType (a numeric enum, equal in 2.x and 3.x). */
export const DataPointType = { HISTOGRAM: 0, EXPONENTIAL_HISTOGRAM: 1, GAUGE: 2, SUM: 3 } as const;

export interface HistogramValue {
  readonly count: number;
  readonly sum?: number;
  readonly buckets: { readonly boundaries: readonly number[]; readonly counts: readonly number[] };
}

export interface CollectedDataPoint {
  readonly attributes: Attributes;
  readonly value: unknown;
}

export interface CollectedMetric {
  readonly descriptor: { readonly name: string; readonly description: string; readonly unit: string };
  readonly dataPointType: number;
  readonly isMonotonic?: boolean;
  readonly dataPoints: readonly CollectedDataPoint[];
}

export interface CollectedScope {
  readonly name: string;
  readonly version?: string | undefined;
  readonly schemaUrl?: string | undefined;
}

export interface CollectedResourceMetrics {
  readonly resource: { readonly attributes: Attributes; waitForAsyncAttributes?(): Promise<void> };
  readonly scopeMetrics: ReadonlyArray<{
    readonly scope?: CollectedScope;
    readonly metrics: readonly CollectedMetric[];
  }>;
}
