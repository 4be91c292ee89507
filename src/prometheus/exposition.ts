import type { Attributes, AttributeValue } from '@opentelemetry/api';
import {
  type CollectedMetric,
  type CollectedResourceMetrics,
  type CollectedScope,
  DataPointType,
  type HistogramValue,
} from './collected-metrics.js';
import { type PrometheusType, prometheusMetricName, sanitizeName } from './metric-name.js';

/** The shape of the exposition, in the options' words of @opentelemetry/exporter-prometheus. */
export interface ExpositionOptions {
  /** Leave out the otel_scope_name / otel_scope_version labels. Default false (the specification's default). */
  readonly withoutScopeInfo?: boolean;
  /** Leave out target_info (the resource). Default false. */
  readonly withoutTargetInfo?: boolean;
  /** Copy the resource attributes whose keys match onto every series (e.g. /service\.name/). Default none. */
  readonly withResourceConstantLabels?: RegExp;
  /** Leave out the unit suffixes (`_bytes`, `_seconds`, `_ratio`): the names of versions before 0.2. Default false. */
  readonly withoutUnitSuffixes?: boolean;
}

/**
 * The Prometheus text exposition (format 0.0.4) of collected metrics, as the specification's Prometheus
 * compatibility rules ask by default (specification/compatibility/prometheus_and_openmetrics.md): names with unit
 * suffixes before `_total` (prometheus/metric-name.ts), otel_scope_name / otel_scope_version labels on every
 * series, target_info for the resource; each can be turned off. Written for speed: each data point's label set is
 * rendered once and shared by its histogram buckets. @opentelemetry/exporter-prometheus's serializer stalls the
 * event loop for milliseconds per scrape once span histograms are on; test/exposition-equivalence.test.ts pins
 * ours to it where the two agree (everything but the unit suffixes, which it does not add).
 */
export function serializeExposition(
  resourceMetrics: CollectedResourceMetrics,
  options: ExpositionOptions = {},
): string {
  const resourceAttributes = resourceMetrics.resource.attributes;
  let text = options.withoutTargetInfo
    ? ''
    : `# HELP target_info Target metadata\n# TYPE target_info gauge\ntarget_info${labels(resourceAttributes)} 1\n`;
  const constant =
    options.withResourceConstantLabels === undefined
      ? ''
      : labelPairs(matchingAttributes(resourceAttributes, options.withResourceConstantLabels));
  const unitSuffixes = options.withoutUnitSuffixes !== true;
  for (const scopeMetrics of resourceMetrics.scopeMetrics) {
    const scope = options.withoutScopeInfo === true ? '' : scopeLabels(scopeMetrics.scope);
    const extra = [scope, constant].filter((part) => part !== '').join(',');
    for (const metric of scopeMetrics.metrics) text += serializeMetric(metric, extra, unitSuffixes);
  }
  return text;
}

function prometheusType(metric: CollectedMetric): PrometheusType | undefined {
  switch (metric.dataPointType) {
    case DataPointType.HISTOGRAM:
      return 'histogram';
    case DataPointType.SUM:
      return metric.isMonotonic ? 'counter' : 'gauge';
    case DataPointType.GAUGE:
      return 'gauge';
    default:
      // Exponential histograms need the protobuf format (native histograms): OTLP carries them, not this text.
      return undefined;
  }
}

function serializeMetric(metric: CollectedMetric, extra: string, unitSuffixes: boolean): string {
  const type = prometheusType(metric);
  if (type === undefined) return '';
  const name = prometheusMetricName(metric.descriptor.name, metric.descriptor.unit, type, { unitSuffixes });
  if (name === '') return '';
  let text = `# HELP ${name} ${escapeHelp(metric.descriptor.description || 'description missing')}\n# TYPE ${name} ${type}\n`;
  if (type === 'histogram') {
    for (const point of metric.dataPoints)
      text += serializeHistogram(
        name,
        join(labelPairs(point.attributes), extra),
        point.value as HistogramValue,
      );
    return text;
  }
  for (const point of metric.dataPoints) {
    const body = join(labelPairs(point.attributes), extra);
    text += `${name}${body === '' ? '' : `{${body}}`} ${formatValue(point.value as number)}\n`;
  }
  return text;
}

function serializeHistogram(name: string, body: string, histogram: HistogramValue): string {
  const braces = body === '' ? '' : `{${body}}`;
  const bucketPrefix = `${name}_bucket{${body}${body === '' ? '' : ','}le="`;
  let text = `${name}_count${braces} ${formatValue(histogram.count)}\n`;
  if (histogram.sum !== undefined) text += `${name}_sum${braces} ${formatValue(histogram.sum)}\n`;
  const { boundaries, counts } = histogram.buckets;
  let cumulative = 0;
  for (let index = 0; index < counts.length; index++) {
    cumulative += counts[index] ?? 0;
    const bound = boundaries[index];
    const le = bound === undefined || bound === Number.POSITIVE_INFINITY ? '+Inf' : String(bound);
    text += `${bucketPrefix}${le}"} ${cumulative}\n`;
    if (le === '+Inf') break;
  }
  return text;
}

function scopeLabels(scope: CollectedScope | undefined): string {
  if (scope === undefined) return '';
  const attributes: Attributes = { otel_scope_name: scope.name };
  if (scope.schemaUrl) attributes.otel_scope_schema_url = scope.schemaUrl;
  if (scope.version) attributes.otel_scope_version = scope.version;
  return labelPairs(attributes);
}

function matchingAttributes(attributes: Attributes, pattern: RegExp): Attributes {
  const matching: Attributes = {};
  for (const key in attributes) if (pattern.test(key)) matching[key] = attributes[key];
  return matching;
}

function join(first: string, second: string): string {
  return first === '' ? second : second === '' ? first : `${first},${second}`;
}

function labels(attributes: Attributes): string {
  const body = labelPairs(attributes);
  return body === '' ? '' : `{${body}}`;
}

function labelPairs(attributes: Attributes): string {
  let body = '';
  for (const key in attributes) {
    const value = attributes[key];
    if (value === undefined) continue;
    body += `${body === '' ? '' : ','}${sanitizeName(key)}="${escapeLabelValue(value)}"`;
  }
  return body;
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabelValue(value: AttributeValue): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatValue(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}
