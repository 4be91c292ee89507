import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { getGpuMemorySource, setGpuMemorySource } from '../src/gpu/gpu-memory-source.js';
import { NvmlProvider } from '../src/gpu/nvml/nvml-provider.js';
import { ResourceSpanProcessor, registerResourceMetrics } from '../src/index.js';
import { serializeExposition } from '../src/prometheus/exposition.js';
import { fakeNvmlLibrary, GiB, manualGpuSampler, scratchDir, writeNvmlControl } from './helpers/fake-gpu.js';
import { promtoolCheckMetrics } from './helpers/prometheus.js';

/** The exposition as a sorted list of lines, without `# UNIT` lines (which ours leaves out, as format 0.0.4 does). */
function lines(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('# UNIT'))
    .sort();
}

/** The specification's name for each of our metrics, written out (not computed) so that this test is a check. */
const SPEC_NAMES: Record<string, string> = {
  hw_gpu_memory_usage: 'hw_gpu_memory_usage_bytes',
  hw_gpu_memory_limit: 'hw_gpu_memory_limit_bytes',
  hw_gpu_memory_utilization: 'hw_gpu_memory_utilization_ratio',
  hw_gpu_utilization: 'hw_gpu_utilization_ratio',
  resource_tracker_process_gpu_memory_usage: 'resource_tracker_process_gpu_memory_usage_bytes',
  process_cpu_time_total: 'process_cpu_time_seconds_total',
  process_memory_usage: 'process_memory_usage_bytes',
  process_memory_virtual: 'process_memory_virtual_bytes',
  resource_tracker_cgroup_cpu_throttled_time_total:
    'resource_tracker_cgroup_cpu_throttled_time_seconds_total',
  resource_tracker_cgroup_memory_limit: 'resource_tracker_cgroup_memory_limit_bytes',
  resource_tracker_gpu_last_success_timestamp: 'resource_tracker_gpu_last_success_timestamp_seconds',
  resource_tracker_span_cpu_time: 'resource_tracker_span_cpu_time_seconds',
  resource_tracker_span_memory_peak: 'resource_tracker_span_memory_peak_bytes',
};

function specName(name: string): string {
  for (const [old, renamed] of Object.entries(SPEC_NAMES)) {
    for (const suffix of ['', '_bucket', '_count', '_sum']) {
      if (name === `${old}${suffix}`) return `${renamed}${suffix}`;
    }
  }
  return name;
}

describe('Prometheus exposition: ours is the exporter serializer’s, line for line', () => {
  it('on one collection with GPU gauges, process gauges and counters, and span histograms', async () => {
    const control = join(scratchDir(), 'control');
    process.env.FAKE_NVML_CONTROL = control;
    writeNvmlControl(control, {
      devices: [0, 1].map((index) => ({
        uuid: `GPU-${index}`,
        name: 'Fake "H100" \\ 80GB',
        totalBytes: 80 * GiB,
        used: [(index + 1) * GiB],
        utilizationPercent: 30,
        processes: [{ pid: process.pid, bytes: GiB }],
      })),
    });
    const previous = getGpuMemorySource();
    const sampler = manualGpuSampler(new NvmlProvider(fakeNvmlLibrary()));
    await sampler.start();
    setGpuMemorySource(sampler);
    const exporter = new PrometheusExporter({ preventServerStart: true });
    const meterProvider = new MeterProvider({ readers: [exporter] });
    try {
      registerResourceMetrics(meterProvider);
      const tracer = new BasicTracerProvider({
        spanProcessors: [new ResourceSpanProcessor({ meterProvider })],
      }).getTracer('equivalence');
      for (let i = 0; i < 60; i++) tracer.startSpan(`span-${i % 3}\nwith "quotes"`, {}, ROOT_CONTEXT).end();
      const { resourceMetrics } = await exporter.collect();
      // The exporter's defaults: scope labels and target_info, no unit suffixes (it does not add them).
      const theirs = new PrometheusSerializer('', false, undefined, false, false).serialize(resourceMetrics);
      const ours = serializeExposition(resourceMetrics, { withoutUnitSuffixes: true });
      // The collection holds what it should, so that equality means something.
      assert.match(
        ours,
        /^hw_gpu_memory_usage\{[^}]*hw_id="GPU-1"[^}]*otel_scope_name="otel-resource-tracker"[^}]*\} 2147483648$/m,
      );
      assert.match(ours, /_bucket\{[^}]*le="\+Inf"\} 20$/m);
      assert.ok(lines(ours).length > 100, `${lines(ours).length} lines`);
      assert.deepEqual(lines(ours), lines(theirs));

      // Without scope labels, as the exporter's withoutScopeInfo.
      assert.deepEqual(
        lines(serializeExposition(resourceMetrics, { withoutUnitSuffixes: true, withoutScopeInfo: true })),
        lines(new PrometheusSerializer('', false, undefined, false, true).serialize(resourceMetrics)),
      );
      // Resource attributes copied onto every series, and no target_info, as the exporter's options do.
      const constant = /^service\./;
      assert.deepEqual(
        lines(
          serializeExposition(resourceMetrics, {
            withoutUnitSuffixes: true,
            withResourceConstantLabels: constant,
            withoutTargetInfo: true,
          }),
        ),
        lines(new PrometheusSerializer('', false, constant, true, false).serialize(resourceMetrics)),
      );

      // The default differs from the exporter's only by the unit suffixes the specification adds to names.
      const renamed = lines(theirs).map((line) =>
        line.replace(/(?<=^(?:# (?:HELP|TYPE) )?)([a-z_]+)(?=[ {])/, (name: string) => specName(name)),
      );
      assert.deepEqual(lines(serializeExposition(resourceMetrics)), renamed.sort());
    } finally {
      await meterProvider.shutdown();
      sampler.shutdown();
      setGpuMemorySource(previous);
    }
  });

  it('differs where the specification does: keys that collide, a leading digit, an attribute named le', async () => {
    const exporter = new PrometheusExporter({ preventServerStart: true });
    const meterProvider = new MeterProvider({ readers: [exporter] });
    try {
      const meter = meterProvider.getMeter('equivalence', '1.0.0');
      const orders = meter.createCounter('orders');
      orders.add(1, { a_b: 'second', 'a.b': 'first', plain: 'p' });
      orders.add(2, { plain: 'q', '2xx': 'yes' });
      meter.createHistogram('latency').record(1, { le: 'user' });
      const { resourceMetrics } = await exporter.collect();
      const theirs = new PrometheusSerializer('', false, undefined, false, false).serialize(resourceMetrics);
      const ours = serializeExposition(resourceMetrics, { withoutUnitSuffixes: true });
      // The exporter writes such label sets as they come: a label twice, a label name starting with a digit, a
      // second `le` on the buckets. Prometheus rejects the whole scrape for any of them.
      assert.throws(() => promtoolCheckMetrics(theirs));
      assert.equal(promtoolCheckMetrics(ours).trim(), '');
      // Ours follows the specification (compatibility/prometheus_and_openmetrics.md, "Metric Attributes"): keys
      // that collide share the label, values joined with ';' in the order of the original keys (`a.b` < `a_b`);
      // a name may not start with a digit (`key_`, as the Collector writes it); and `le` is the bucket's, so the
      // attribute's becomes `exported_le`. Everything else is the exporter's, line for line.
      const respecified = lines(theirs).map((line) =>
        line
          .replace('a_b="second",a_b="first"', 'a_b="first;second"')
          .replace(',2xx="yes"', ',key_2xx="yes"')
          .replace('{le="user"', '{exported_le="user"'),
      );
      assert.notDeepEqual(respecified, lines(theirs), 'the collection holds each case');
      assert.deepEqual(lines(ours), respecified.sort());
    } finally {
      await meterProvider.shutdown();
    }
  });
});
