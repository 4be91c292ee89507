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

/** The exposition as a sorted list of lines, without `# UNIT` lines (which ours leaves out, as format 0.0.4 does). */
function lines(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('# UNIT'))
    .sort();
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
      const theirs = new PrometheusSerializer('', false, undefined, false, true).serialize(resourceMetrics);
      const ours = serializeExposition(resourceMetrics);
      // The collection holds what it should, so that equality means something.
      assert.match(ours, /^hw_gpu_memory_usage\{[^}]*hw_id="GPU-1"[^}]*\} 2147483648$/m);
      assert.match(ours, /_bucket\{[^}]*le="\+Inf"\} 20$/m);
      assert.ok(lines(ours).length > 100, `${lines(ours).length} lines`);
      assert.deepEqual(lines(ours), lines(theirs));
    } finally {
      await meterProvider.shutdown();
      sampler.shutdown();
      setGpuMemorySource(previous);
    }
  });
});
