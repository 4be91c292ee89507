import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { MetricNames, SpanAttributes, startPrometheusEndpoint } from '../src/index.js';
import { METER_VERSION } from '../src/metrics/meter-scope.js';
import type { InstrumentKind } from '../src/metrics/metric-names.js';
import { prometheusMetricName, prometheusUnit, sanitizeName } from '../src/prometheus/metric-name.js';
import { DEFAULT_SPAN_ATTRIBUTES, SELECTABLE_SPAN_ATTRIBUTES } from '../src/span-processor/attribute-set.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const read = (path: string) => readFileSync(join(repoRoot, path), 'utf8');

/** The first column (backticked) of every row of the table between <!-- marker --> and <!-- /marker -->. */
function tableRows(markdown: string, marker: string): string[][] {
  const match = new RegExp(`<!-- ${marker} -->\\n([\\s\\S]*?)<!-- /${marker} -->`).exec(markdown);
  assert.ok(match?.[1], `table ${marker} is marked`);
  return match[1]
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) =>
      line
        .slice(1, -1)
        .split('|')
        .map((cell) => cell.trim()),
    );
}

const unquote = (cell: string | undefined) => /^`([^`]*)`/.exec(cell ?? '')?.[1] ?? '';

function constants(module: object, prefix: string): string[] {
  return Object.entries(module)
    .filter(([name, value]) => name.startsWith(prefix) && typeof value === 'string')
    .map(([, value]) => value as string);
}

const PROMETHEUS_TYPE: Record<InstrumentKind, 'counter' | 'gauge' | 'histogram'> = {
  counter: 'counter',
  updowncounter: 'gauge',
  gauge: 'gauge',
  histogram: 'histogram',
};

/** The Prometheus name of each of our metrics, from its one definition. */
function prometheusNames(): Map<string, string> {
  return new Map(
    [...MetricNames.METRICS.values()].map((metric) => [
      metric.name,
      prometheusMetricName(metric.name, metric.unit, PROMETHEUS_TYPE[metric.instrument]),
    ]),
  );
}

describe('names: one source of truth, semconv or our namespace', () => {
  const conventions = read('docs/conventions.md');

  it('every span attribute constant is in the docs table, and the table has nothing else', () => {
    const documented = tableRows(conventions, 'span-attributes').map((row) => unquote(row[0]));
    assert.deepEqual([...documented].sort(), [...new Set(constants(SpanAttributes, 'ATTR_'))].sort());
  });

  it("the table's set column says which keys are in the default set and which only in full", () => {
    const rows = tableRows(conventions, 'span-attributes');
    const inSet = (set: string) =>
      rows
        .filter((row) => row[1] === set)
        .map((row) => unquote(row[0]))
        .sort();
    assert.deepEqual(inSet('default'), [...DEFAULT_SPAN_ATTRIBUTES].sort());
    assert.deepEqual(
      inSet('full'),
      SELECTABLE_SPAN_ATTRIBUTES.filter((key) => !DEFAULT_SPAN_ATTRIBUTES.includes(key)).sort(),
    );
    assert.deepEqual(inSet('opt-in'), [SpanAttributes.ATTR_CHILDREN_CPU_TIME]);
  });

  it('every key outside our namespace is one semconv defines, and the table says so', () => {
    for (const row of [
      ...tableRows(conventions, 'span-attributes'),
      ...tableRows(conventions, 'metric-attributes'),
    ]) {
      const key = unquote(row[0]);
      const status = row[row.length - 1] ?? '';
      if (key.startsWith(`${SpanAttributes.NAMESPACE}.`)) assert.match(status, /^ours/, key);
      else if (key !== MetricNames.ATTR_SPAN_NAME) assert.match(status, /^semconv/, key);
    }
    for (const row of tableRows(conventions, 'metrics')) {
      const name = unquote(row[0]);
      assert.match(row[5] ?? '', name.startsWith('resource_tracker.') ? /^ours/ : /^semconv/, name);
    }
  });

  it('every metric is in the docs table with its unit, instrument and Prometheus name', () => {
    const rows = tableRows(conventions, 'metrics');
    const names = prometheusNames();
    assert.deepEqual(rows.map((row) => unquote(row[0])).sort(), [...names.keys()].sort());
    for (const row of rows) {
      const definition = MetricNames.metricDefinition(unquote(row[0]));
      assert.equal(unquote(row[1]), names.get(definition.name), `${definition.name}: Prometheus name`);
      assert.equal(row[3], definition.unit, `${definition.name}: unit`);
      assert.ok(
        row[2]?.endsWith(definition.instrument.replace('updowncounter', 'up-down counter')),
        definition.name,
      );
    }
  });

  it('every metric attribute constant is in the labels table, with its Prometheus label', () => {
    const rows = tableRows(conventions, 'metric-attributes');
    assert.deepEqual(
      rows.map((row) => unquote(row[0])).sort(),
      [...new Set(constants(MetricNames, 'ATTR_'))].sort(),
    );
    for (const row of rows) assert.equal(unquote(row[1]), sanitizeName(unquote(row[0])));
  });

  it('the dashboard and the rules use only these metric names and labels', () => {
    const dashboard = JSON.parse(read('examples/grafana/dashboards/otel-resource-tracker.json')) as {
      panels: Array<{ targets: Array<{ expr: string; legendFormat?: string }> }>;
      templating: { list: Array<{ query: { query: string } }> };
    };
    const rules = parse(read('examples/prometheus/rules.yml')) as {
      groups: Array<{ rules: Array<{ expr: string; annotations?: Record<string, string> }> }>;
    };
    const texts = [
      ...dashboard.panels.flatMap((panel) =>
        panel.targets.flatMap((target) => [target.expr, target.legendFormat ?? '']),
      ),
      ...dashboard.templating.list.map((variable) => variable.query.query),
      ...rules.groups.flatMap((group) =>
        group.rules.flatMap((rule) => [rule.expr, ...Object.values(rule.annotations ?? {})]),
      ),
    ];
    const metricNames = new Set([...prometheusNames().values()]);
    const labels = new Set([
      ...constants(MetricNames, 'ATTR_').map(sanitizeName),
      'job',
      'instance',
      'le',
      'otel_scope_name',
      'otel_scope_version',
    ]);
    const used = new Set<string>();
    for (const text of texts) {
      for (const [token] of text.matchAll(
        /\b(?:hw|process|resource_tracker|otel_resource_tracker)_[a-z_]+/g,
      )) {
        if (labels.has(token)) continue;
        const base = token.replace(/_(bucket|count|sum)$/, '');
        assert.ok(metricNames.has(base), `"${token}" is not one of our Prometheus names (in: ${text})`);
        used.add(base);
      }
      const labelUses = [
        ...[...text.matchAll(/\bby \(([^)]*)\)/g)].flatMap((match) => (match[1] ?? '').split(',')),
        ...[...text.matchAll(/[{,]\s*([a-z_]+)\s*(?:=~|!=|=)/g)].map((match) => match[1] ?? ''),
        ...[...text.matchAll(/\$labels\.([a-z_]+)/g)].map((match) => match[1] ?? ''),
        ...[...text.matchAll(/\{\{\s*([a-z_]+)\s*\}\}/g)].map((match) => match[1] ?? ''),
      ].map((label) => label.trim());
      for (const label of labelUses)
        assert.ok(labels.has(label), `label "${label}" is not one of ours (in: ${text})`);
    }
    assert.ok(used.size >= 8, `the dashboard and rules use ${used.size} of our metrics`);
  });

  it('meters carry the package version (otel_scope_version), kept equal to package.json', () => {
    assert.equal(METER_VERSION, (JSON.parse(read('package.json')) as { version: string }).version);
  });
});

describe('Prometheus names per the specification (prometheus_and_openmetrics.md)', () => {
  it('turns units into suffixes placed before _total, once', () => {
    assert.equal(prometheusMetricName('hw.gpu.memory.usage', 'By', 'gauge'), 'hw_gpu_memory_usage_bytes');
    assert.equal(prometheusMetricName('process.cpu.time', 's', 'counter'), 'process_cpu_time_seconds_total');
    assert.equal(
      prometheusMetricName('http.server.duration', 'ms', 'histogram'),
      'http_server_duration_milliseconds',
    );
    assert.equal(prometheusMetricName('requests.total', '{request}', 'counter'), 'requests_total');
    assert.equal(prometheusMetricName('network.io', 'By/s', 'gauge'), 'network_io_bytes_per_second');
    assert.equal(
      prometheusMetricName('queue.bytes', 'By', 'gauge'),
      'queue_bytes',
      'a name that holds its unit',
    );
    assert.equal(prometheusMetricName('hw.gpu.utilization', '1', 'gauge'), 'hw_gpu_utilization_ratio');
    assert.equal(
      prometheusMetricName('jobs.done', '1', 'counter'),
      'jobs_done_total',
      '"1" is a ratio on gauges only',
    );
    assert.equal(prometheusMetricName('9lives', '', 'gauge'), '_9lives');
    assert.equal(
      prometheusMetricName('process.cpu.time', 's', 'counter', { unitSuffixes: false }),
      'process_cpu_time_total',
    );
    assert.equal(prometheusUnit('{packet}/s', 'gauge'), 'per_second');
  });

  it('the endpoint options are the exporter’s, checked by name', async () => {
    const endpoint = await startPrometheusEndpoint({
      port: 0,
      withoutScopeInfo: true,
      withoutTargetInfo: true,
      withoutUnitSuffixes: true,
      withResourceConstantLabels: /^service\.name$/,
    });
    try {
      const text = await endpoint.render();
      assert.doesNotMatch(text, /otel_scope_name|target_info/);
      assert.match(text, /^process_memory_usage\{service_name="[^"]+"\} \d+$/m);
    } finally {
      await endpoint.shutdown();
    }
    const standard = await startPrometheusEndpoint({ port: 0 });
    try {
      const text = await standard.render();
      assert.match(
        text,
        new RegExp(
          `^process_memory_usage_bytes\\{otel_scope_name="otel-resource-tracker",otel_scope_version="${METER_VERSION}"\\} \\d+$`,
          'm',
        ),
      );
      assert.match(text, /^target_info\{/m);
    } finally {
      await standard.shutdown();
    }
    await assert.rejects(
      startPrometheusEndpoint({ port: 0, withResourceConstantLabels: 'service.name' as unknown as RegExp }),
      /options\.withResourceConstantLabels must be a RegExp matching resource attribute keys .*got the string "service\.name"/,
    );
    await assert.rejects(
      startPrometheusEndpoint({ port: 0, withoutUnitSuffixes: 'yes' as unknown as boolean }),
      /options\.withoutUnitSuffixes must be true or false, got the string "yes"/,
    );
  });
});
