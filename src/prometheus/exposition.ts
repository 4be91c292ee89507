import type { Attributes } from '@opentelemetry/api';
import {
  type CollectedMetric,
  type CollectedResourceMetrics,
  type CollectedScope,
  DataPointType,
  type HistogramValue,
} from './collected-metrics.js';
import { EXPOSITION_LABELS, labelNames, labelPairs, labelSet } from './label-set.js';
import { type PrometheusType, prometheusMetricName } from './metric-name.js';
import { warnOnce } from './warn-once.js';

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
  const constantAttributes =
    options.withResourceConstantLabels === undefined
      ? {}
      : matchingAttributes(resourceAttributes, options.withResourceConstantLabels);
  const unitSuffixes = options.withoutUnitSuffixes !== true;
  const families = new Families();
  for (const scopeMetrics of resourceMetrics.scopeMetrics) {
    const scope =
      options.withoutScopeInfo === true || scopeMetrics.scope === undefined
        ? {}
        : scopeAttributes(scopeMetrics.scope);
    // The series' own labels, which no attribute takes: scope first, then the resource's constant labels.
    const scopeNames = new Set(labelNames(scope));
    const constant = labelPairs(constantAttributes, scopeNames);
    const reserved = new Set([
      ...EXPOSITION_LABELS,
      ...scopeNames,
      ...labelNames(constantAttributes, scopeNames),
    ]);
    const series: SeriesLabels = { extra: join(labelPairs(scope), constant), reserved };
    for (const metric of scopeMetrics.metrics) {
      const type = prometheusType(metric);
      if (type === undefined) continue;
      const name = prometheusMetricName(metric.descriptor.name, metric.descriptor.unit, type, {
        unitSuffixes,
      });
      if (name === '') continue;
      const family = families.claim(name, type, metric, scopeMetrics.scope?.name ?? '');
      if (family !== undefined) serializePoints(family, metric, series);
    }
  }
  for (const family of families.all()) text += family.text;
  return text;
}

interface SeriesLabels {
  /** The scope and constant labels, written after each point's own. */
  readonly extra: string;
  /** Label names an attribute may not take on these series. */
  readonly reserved: ReadonlySet<string>;
}

/**
 * One metric family (`# HELP`, `# TYPE`, then its samples), and the label sets it holds: looked up only once a
 * point's labels could equal another's (a key or value that was rewritten, a second meter in the family), since
 * hashing every label set costs a third of the serializer's time and SDK points of exact labels are distinct.
 */
class Family {
  text: string;
  private readonly labelSets: string[] = [];
  private written: Set<string> | undefined;

  constructor(
    readonly name: string,
    readonly type: PrometheusType,
    /** Where it came from, for the diagnostic when another instrument wants its name. */
    readonly origin: string,
    help: string,
  ) {
    this.text = `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`;
  }

  /** From now on, every label set is checked against those written. */
  checkLabelSets(): void {
    this.written ??= new Set(this.labelSets);
  }

  /** Whether `body` is not written yet (and it is now counted as written). */
  isNew(body: string): boolean {
    if (this.written === undefined) {
      this.labelSets.push(body);
      return true;
    }
    if (this.written.has(body)) return false;
    this.written.add(body);
    return true;
  }
}

/**
 * The families of one exposition: one per name, since Prometheus rejects a whole scrape that declares a name twice
 * or holds one sample twice. Instruments of the same name and type from several meters (scopes) share their family
 * (their series differ by otel_scope_name); an instrument whose name is already taken by another type, or by a
 * histogram's `_bucket` / `_count` / `_sum` series, is left out (the first one keeps the name) with one diagnostic.
 */
class Families {
  private readonly byName = new Map<string, Family>();
  /** Every sample name written, to the family that writes it. */
  private readonly sampleNames = new Map<string, Family>();

  claim(name: string, type: PrometheusType, metric: CollectedMetric, scopeName: string): Family | undefined {
    const origin = `instrument "${metric.descriptor.name}" of meter "${scopeName}" (${type})`;
    const existing = this.byName.get(name);
    if (existing !== undefined && existing.type === type) {
      // A second instrument in the family: its points may repeat the first one's (without scope labels).
      existing.checkLabelSets();
      return existing;
    }
    const samples = type === 'histogram' ? [`${name}_bucket`, `${name}_count`, `${name}_sum`] : [name];
    const holder =
      existing ?? samples.map((sample) => this.sampleNames.get(sample)).find((f) => f !== undefined);
    if (holder !== undefined) {
      warnOnce(
        `${origin} is left out of the Prometheus exposition: its name ${name} is taken by ${holder?.origin ?? 'another family'}`,
      );
      return undefined;
    }
    const help = escapeHelp(metric.descriptor.description || 'description missing');
    const family = new Family(name, type, origin, help);
    this.byName.set(name, family);
    for (const sample of samples) this.sampleNames.set(sample, family);
    return family;
  }

  all(): Family[] {
    return [...this.byName.values()];
  }
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

function serializePoints(family: Family, metric: CollectedMetric, series: SeriesLabels): void {
  const { name } = family;
  for (const point of metric.dataPoints) {
    const labels = labelSet(point.attributes, series.reserved);
    const body = join(labels.body, series.extra);
    if (!labels.exact) family.checkLabelSets();
    if (!family.isNew(body)) {
      // Two points whose attributes differ only where sanitising makes them equal (`a.b` and `a_b`), or the same
      // instrument in two meters without scope labels: a sample written twice fails the whole scrape.
      warnOnce(`${family.name}{${body}} is written once: another point of the same labels came first`);
      continue;
    }
    if (family.type === 'histogram') {
      family.text += serializeHistogram(name, body, point.value as HistogramValue);
      continue;
    }
    family.text += `${name}${body === '' ? '' : `{${body}}`} ${formatValue(point.value as number)}\n`;
  }
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

function scopeAttributes(scope: CollectedScope): Attributes {
  const attributes: Attributes = { otel_scope_name: scope.name };
  if (scope.schemaUrl) attributes.otel_scope_schema_url = scope.schemaUrl;
  if (scope.version) attributes.otel_scope_version = scope.version;
  return attributes;
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

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}
