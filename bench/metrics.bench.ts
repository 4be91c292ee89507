import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { setGpuMemorySource } from '../src/gpu/gpu-memory-source.js';
import { NvmlProvider } from '../src/gpu/nvml/nvml-provider.js';
import {
  type PrometheusEndpoint,
  ResourceSpanProcessor,
  registerResourceMetrics,
  startPrometheusEndpoint,
} from '../src/index.js';
import { serializeExposition } from '../src/prometheus/exposition.js';
import {
  fakeNvmlLibrary,
  GiB,
  manualGpuSampler,
  scratchDir,
  writeNvmlControl,
} from '../test/helpers/fake-gpu.js';
import { measure } from './harness.js';

interface ScrapeCost {
  /** Collect + serialize: what a scrape costs the application's event loop. */
  renderMs: number;
  /** A whole HTTP scrape with the client (fetch) in the same process, so its parsing is counted too. */
  httpMs: number;
  bytes: number;
}

async function scrapeCost(endpoint: PrometheusEndpoint, scrapes: number): Promise<ScrapeCost> {
  for (let i = 0; i < 50; i++) await endpoint.render();
  let start = performance.now();
  let text = '';
  for (let i = 0; i < scrapes; i++) text = await endpoint.render();
  const renderMs = (performance.now() - start) / scrapes;
  for (let i = 0; i < 20; i++) await (await fetch(endpoint.url)).text();
  start = performance.now();
  for (let i = 0; i < scrapes; i++) await (await fetch(endpoint.url)).text();
  return { renderMs, httpMs: (performance.now() - start) / scrapes, bytes: text.length };
}

/** Our serializer against the exporter's own, on the same collected data (the GPUs in use now, 100 span names). */
async function compareSerializers(): Promise<void> {
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const meterProvider = new MeterProvider({ readers: [exporter] });
  registerResourceMetrics(meterProvider);
  const tracer = new BasicTracerProvider({
    spanProcessors: [new ResourceSpanProcessor({ meterProvider })],
  }).getTracer('bench');
  for (let i = 0; i < 1000; i++) tracer.startSpan(`span-name-${i % 100}`, {}, ROOT_CONTEXT).end();
  const { resourceMetrics } = await exporter.collect();
  const theirs = new PrometheusSerializer('', false, undefined, false, false);
  const exporterMs =
    measure('exporter serializer', () => theirs.serialize(resourceMetrics), 20, 5).nsPerOp / 1e6;
  const oursMs = measure('our serializer', () => serializeExposition(resourceMetrics), 200, 5).nsPerOp / 1e6;
  // Say what was serialized, counted from the output itself.
  const text = serializeExposition(resourceMetrics);
  const gpuSeries = text.split('\n').filter((line) => line.startsWith('hw_gpu_memory_usage_bytes{')).length;
  const spanNames = new Set(text.match(/span_name="[^"]*"/g) ?? []).size;
  console.log(
    `\nSerializing the same collection (${gpuSeries} GPUs, ${spanNames} span names, ${text.length} bytes): exporter-prometheus's PrometheusSerializer ` +
      `${exporterMs.toFixed(2)} ms, ours ${oursMs.toFixed(2)} ms (${(exporterMs / oursMs).toFixed(1)}x faster)`,
  );
  await meterProvider.shutdown();
}

/** Scrape cost: an empty meter, then 1 and 8 fake GPUs, without and with 100 span names of histograms. */
export async function benchMetrics(): Promise<void> {
  const empty = await startPrometheusEndpoint({ port: 0, resourceMetrics: false });
  const baseline = await scrapeCost(empty, 300);
  await empty.shutdown();
  const rows: Array<[string, ScrapeCost]> = [['empty meter [baseline]', baseline]];
  const control = join(scratchDir(), 'control');
  process.env.FAKE_NVML_CONTROL = control;
  for (const gpus of [1, 8]) {
    writeNvmlControl(control, {
      devices: Array.from({ length: gpus }, (_, index) => ({
        uuid: `GPU-${index}`,
        name: 'Fake H100',
        totalBytes: 80 * GiB,
        used: [index * GiB],
        utilizationPercent: 30,
        processes: [{ pid: process.pid, bytes: GiB }],
      })),
    });
    const provider = new NvmlProvider(fakeNvmlLibrary());
    const sampler = manualGpuSampler(provider);
    await sampler.start();
    setGpuMemorySource(sampler);
    const endpoint = await startPrometheusEndpoint({ port: 0 });
    rows.push([`${gpus} GPU(s), no span histograms`, await scrapeCost(endpoint, 300)]);
    const tracer = new BasicTracerProvider({
      spanProcessors: [new ResourceSpanProcessor({ meterProvider: endpoint.meterProvider })],
    }).getTracer('bench');
    for (let i = 0; i < 1000; i++) tracer.startSpan(`span-name-${i % 100}`, {}, ROOT_CONTEXT).end();
    rows.push([`${gpus} GPU(s), 100 span names`, await scrapeCost(endpoint, 300)]);
    await endpoint.shutdown();
    if (gpus === 8) await compareSerializers();
    sampler.shutdown();
  }
  console.log('\nPrometheus scrape cost (fake NVML; ratios against an empty meter in the same run)');
  const header = ['case'.padEnd(34), 'render ms', ' ratio', '  HTTP ms', ' ratio', '   bytes'];
  console.log(header.join(' '));
  for (const [name, cost] of rows) {
    const cells = [
      name.padEnd(34),
      cost.renderMs.toFixed(3).padStart(9),
      (cost.renderMs / baseline.renderMs).toFixed(1).padStart(6),
      cost.httpMs.toFixed(3).padStart(9),
      (cost.httpMs / baseline.httpMs).toFixed(1).padStart(6),
      String(cost.bytes).padStart(8),
    ];
    console.log(cells.join(' '));
  }
  console.log(
    'goal: < 1 ms per scrape with 8 GPUs; render = what a scrape costs the application, HTTP adds the client',
  );
}
