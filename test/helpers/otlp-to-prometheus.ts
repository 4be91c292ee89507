/**
 * What the OpenTelemetry Collector's Prometheus exporter serves for OTLP metrics it received: the specification's
 * OTLP → Prometheus translation (specification/compatibility/prometheus_and_openmetrics.md) as the Collector's
 * translator applies it — written here from the specification, apart from the package's own serializer, so that a
 * test can check that dashboards and rules work on both paths. Name: the name's words (split at every character
 * that is not a letter or digit), then the unit's words unless already there, `ratio` for gauges of unit 1, and
 * `total` last on monotonic sums; labels: the point's attributes, otel_scope_name / otel_scope_version, and
 * job / instance from service.name (and namespace) / service.instance.id; the rest of the resource in target_info.
 */

interface KeyValue {
  key: string;
  value: {
    stringValue?: string;
    intValue?: string | number;
    doubleValue?: number;
    boolValue?: boolean;
  };
}

interface NumberPoint {
  attributes?: KeyValue[];
  asDouble?: number;
  asInt?: string | number;
}

interface HistogramPoint {
  attributes?: KeyValue[];
  count?: string | number;
  sum?: number;
  bucketCounts?: Array<string | number>;
  explicitBounds?: number[];
}

interface Metric {
  name: string;
  unit?: string;
  description?: string;
  gauge?: { dataPoints?: NumberPoint[] };
  sum?: { dataPoints?: NumberPoint[]; isMonotonic?: boolean };
  histogram?: { dataPoints?: HistogramPoint[] };
}

export interface OtlpMetricsJson {
  resourceMetrics?: Array<{
    resource?: { attributes?: KeyValue[] };
    scopeMetrics?: Array<{ scope?: { name?: string; version?: string }; metrics?: Metric[] }>;
  }>;
}

const UNIT_WORD: Record<string, string> = {
  By: 'bytes',
  s: 'seconds',
  ms: 'milliseconds',
  us: 'microseconds',
  ns: 'nanoseconds',
  min: 'minutes',
  h: 'hours',
  d: 'days',
  KiBy: 'kibibytes',
  MiBy: 'mebibytes',
  GiBy: 'gibibytes',
  '%': 'percent',
};
const PER_WORD: Record<string, string> = { s: 'second', m: 'minute', h: 'hour', d: 'day' };

function text(value: KeyValue['value']): string {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return String(value.intValue);
  if (value.doubleValue !== undefined) return String(value.doubleValue);
  if (value.boolValue !== undefined) return String(value.boolValue);
  return '';
}

function label(key: string): string {
  return key.replace(/[^a-zA-Z0-9_]/g, '_').replace(/__+/g, '_');
}

function collectorName(metric: Metric, type: 'gauge' | 'counter' | 'histogram'): string {
  const words = metric.name.split(/[^a-zA-Z0-9]+/).filter((word) => word !== '');
  const unit = (metric.unit ?? '').replace(/\{[^}]*\}/g, '');
  const [main = '', per = ''] = unit.split('/');
  const unitWords =
    unit === '1'
      ? type === 'gauge'
        ? ['ratio']
        : []
      : [UNIT_WORD[main] ?? main, ...(per === '' ? [] : ['per', PER_WORD[per] ?? per])].filter(
          (word) => word !== '',
        );
  for (const word of unitWords) if (!words.includes(word)) words.push(word);
  const withoutTotal = type === 'counter' ? words.filter((word) => word !== 'total') : words;
  if (type === 'counter') withoutTotal.push('total');
  const name = withoutTotal.join('_');
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

function labels(pairs: Array<[string, string]>): string {
  return `{${pairs.map(([key, value]) => `${label(key)}="${value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`).join(',')}}`;
}

/** The exposition the Collector's Prometheus exporter would serve for this (cumulative) OTLP/JSON request. */
export function collectorExposition(request: OtlpMetricsJson): string {
  const lines: string[] = [];
  for (const resourceMetrics of request.resourceMetrics ?? []) {
    const resource = new Map(
      (resourceMetrics.resource?.attributes ?? []).map((kv) => [kv.key, text(kv.value)]),
    );
    const service = resource.get('service.name') ?? '';
    const namespace = resource.get('service.namespace');
    const target: Array<[string, string]> = [
      ['job', namespace ? `${namespace}/${service}` : service],
      ['instance', resource.get('service.instance.id') ?? ''],
    ];
    const info = [...resource].filter(
      ([key]) => !['service.name', 'service.namespace', 'service.instance.id'].includes(key),
    );
    lines.push('# TYPE target_info gauge', `target_info${labels([...target, ...info])} 1`);
    for (const scopeMetrics of resourceMetrics.scopeMetrics ?? []) {
      const scope: Array<[string, string]> = [
        ['otel_scope_name', scopeMetrics.scope?.name ?? ''],
        ['otel_scope_version', scopeMetrics.scope?.version ?? ''],
      ];
      for (const metric of scopeMetrics.metrics ?? []) {
        const type = metric.histogram ? 'histogram' : metric.sum?.isMonotonic ? 'counter' : 'gauge';
        const name = collectorName(metric, type);
        lines.push(`# TYPE ${name} ${type}`);
        const pointLabels = (point: { attributes?: KeyValue[] }): Array<[string, string]> => [
          ...(point.attributes ?? []).map((kv): [string, string] => [kv.key, text(kv.value)]),
          ...scope,
          ...target,
        ];
        for (const point of metric.gauge?.dataPoints ?? metric.sum?.dataPoints ?? []) {
          lines.push(`${name}${labels(pointLabels(point))} ${point.asDouble ?? Number(point.asInt)}`);
        }
        for (const point of metric.histogram?.dataPoints ?? []) {
          const base = pointLabels(point);
          let cumulative = 0;
          const bounds = point.explicitBounds ?? [];
          (point.bucketCounts ?? []).forEach((count, index) => {
            cumulative += Number(count);
            const le = index < bounds.length ? String(bounds[index]) : '+Inf';
            lines.push(`${name}_bucket${labels([...base, ['le', le]])} ${cumulative}`);
          });
          lines.push(`${name}_count${labels(base)} ${Number(point.count ?? 0)}`);
          if (point.sum !== undefined) lines.push(`${name}_sum${labels(base)} ${point.sum}`);
        }
      }
    }
  }
  return `${lines.join('\n')}\n`;
}
