import type { Attributes, AttributeValue } from '@opentelemetry/api';
import {
  type CollectedMetric,
  type CollectedResourceMetrics,
  DataPointType,
  type HistogramValue,
} from './collected-metrics.js';

/**
 * The Prometheus text exposition (format 0.0.4) of collected metrics, with the same names, types and labels as
 * @opentelemetry/exporter-prometheus's serializer with `withoutScopeInfo` (target_info, `_total` on counters; no
 * otel_scope_* labels, which would add ~40 bytes to every line), written for speed: each data point's label set is
 * rendered once and shared by its histogram buckets, instead of once per line. The exporter's serializer stalls the
 * event loop for milliseconds per scrape once span histograms are on; `npm run bench` measures both on the same
 * collection, and test/exposition-equivalence.test.ts pins the output to the exporter's.
 */
export function serializeExposition(resourceMetrics: CollectedResourceMetrics): string {
  let text = `# HELP target_info Target metadata\n# TYPE target_info gauge\ntarget_info${labels(resourceMetrics.resource.attributes)} 1\n`;
  for (const scopeMetrics of resourceMetrics.scopeMetrics) {
    for (const metric of scopeMetrics.metrics) text += serializeMetric(metric);
  }
  return text;
}

function serializeMetric(metric: CollectedMetric): string {
  let name = sanitizeName(metric.descriptor.name);
  if (name === '' || name === '_') return '';
  if (name[0] !== undefined && name[0] >= '0' && name[0] <= '9') name = `_${name}`;
  const counter = metric.dataPointType === DataPointType.SUM && metric.isMonotonic;
  if (counter && !name.endsWith('_total')) name += '_total';
  const type =
    metric.dataPointType === DataPointType.HISTOGRAM
      ? 'histogram'
      : metric.dataPointType === DataPointType.SUM || metric.dataPointType === DataPointType.GAUGE
        ? counter
          ? 'counter'
          : 'gauge'
        : undefined;
  if (type === undefined) return '';
  let text = `# HELP ${name} ${escapeHelp(metric.descriptor.description || 'description missing')}\n# TYPE ${name} ${type}\n`;
  if (metric.dataPointType === DataPointType.HISTOGRAM) {
    for (const point of metric.dataPoints)
      text += serializeHistogram(name, labelPairs(point.attributes), point.value as HistogramValue);
    return text;
  }
  for (const point of metric.dataPoints) {
    text += `${name}${labels(point.attributes)} ${formatValue(point.value as number)}\n`;
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

const INVALID_NAME_CHARACTERS = /[^a-z0-9_]/gi;
const REPEATED_UNDERSCORES = /_{2,}/g;

function sanitizeName(name: string): string {
  return name.replace(INVALID_NAME_CHARACTERS, '_').replace(REPEATED_UNDERSCORES, '_');
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
