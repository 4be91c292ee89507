/**
 * OpenTelemetry metric name + unit + type → Prometheus metric name, as the specification's Prometheus compatibility
 * rules give it (specification/compatibility/prometheus_and_openmetrics.md, "Metric Metadata" and "Sums") and as the
 * Collector's translator applies them, so that a direct scrape and the Collector path name a metric the same:
 * invalid characters become `_` (runs of `_` collapse to one), the unit becomes a word suffix unless the name
 * already holds it (`By` → `_bytes`, `s` → `_seconds`, `{thing}` → nothing, `1` → `_ratio` on gauges, `a/b` →
 * `_a_per_b`), and a monotonic counter ends in `_total`, after the unit.
 */
export type PrometheusType = 'counter' | 'gauge' | 'histogram';

const UNIT_WORDS: Readonly<Record<string, string>> = {
  d: 'days',
  h: 'hours',
  min: 'minutes',
  s: 'seconds',
  ms: 'milliseconds',
  us: 'microseconds',
  ns: 'nanoseconds',
  By: 'bytes',
  KiBy: 'kibibytes',
  MiBy: 'mebibytes',
  GiBy: 'gibibytes',
  TiBy: 'tibibytes',
  KBy: 'kilobytes',
  MBy: 'megabytes',
  GBy: 'gigabytes',
  TBy: 'terabytes',
  m: 'meters',
  V: 'volts',
  A: 'amperes',
  J: 'joules',
  W: 'watts',
  g: 'grams',
  Cel: 'celsius',
  Hz: 'hertz',
  '%': 'percent',
};

const PER_UNIT_WORDS: Readonly<Record<string, string>> = {
  s: 'second',
  m: 'minute',
  h: 'hour',
  d: 'day',
  w: 'week',
  mo: 'month',
  y: 'year',
};

const INVALID_NAME_CHARACTERS = /[^a-z0-9_]/gi;
const REPEATED_UNDERSCORES = /_{2,}/g;

/** Prometheus label and metric names: characters outside [a-zA-Z0-9_] become `_`, runs of `_` one. */
export function sanitizeName(name: string): string {
  return name.replace(INVALID_NAME_CHARACTERS, '_').replace(REPEATED_UNDERSCORES, '_');
}

/** `name` without a trailing `_total` (and trailing `_`), unless nothing but `total` would be left. */
function withoutTotalSuffix(name: string): string {
  const trimmed = name.replace(/_+$/, '');
  const base = trimmed.endsWith('_total') ? trimmed.slice(0, -'_total'.length) : trimmed;
  return base === '' || base === '_' ? trimmed : base;
}

/** The word(s) a UCUM unit adds to a Prometheus name; '' when none (no unit, a `{count}`, `1` on a non-gauge). */
export function prometheusUnit(unit: string, type: PrometheusType): string {
  const bare = unit.replace(/\{[^}]*\}/g, '').trim();
  if (bare === '') return '';
  if (bare === '1') return type === 'gauge' ? 'ratio' : '';
  const [main = '', per = ''] = bare.split('/', 2).map((part) => part.trim());
  const words = [UNIT_WORDS[main] ?? main];
  if (per !== '') words.push('per', PER_UNIT_WORDS[per] ?? per);
  return sanitizeName(words.filter((word) => word !== '').join('_'))
    .replace(/^_+|_+$/g, '')
    .toLowerCase();
}

export interface NameOptions {
  /** Add the unit suffix (the specification's default). false: the pre-0.2 names, `_total` kept. */
  readonly unitSuffixes: boolean;
}

/** The Prometheus metric name of an OpenTelemetry metric; '' when nothing valid is left of it. */
export function prometheusMetricName(
  name: string,
  unit: string,
  type: PrometheusType,
  options: NameOptions = { unitSuffixes: true },
): string {
  let result = sanitizeName(name);
  if (result === '' || result === '_') return '';
  if (result[0] !== undefined && result[0] >= '0' && result[0] <= '9') result = `_${result}`;
  // A counter's `_total` goes last, after the unit, and only once: `requests_total` in seconds is
  // `requests_seconds_total` (as the Collector names it), never `requests_total_seconds_total`.
  if (type === 'counter') result = withoutTotalSuffix(result);
  if (options.unitSuffixes) {
    const suffix = prometheusUnit(unit, type);
    if (suffix !== '' && !`_${result}_`.includes(`_${suffix}_`)) result += `_${suffix}`;
  }
  if (type === 'counter' && !result.endsWith('_total') && result !== 'total') result += '_total';
  return result;
}
