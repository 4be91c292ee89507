import assert from 'node:assert/strict';
import { get as httpGet } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { type MeterProvider, ROOT_CONTEXT } from '@opentelemetry/api';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { noGpuMemorySource, setGpuMemorySource } from '../src/gpu/gpu-memory-source.js';
import type { GpuSampler } from '../src/gpu/gpu-sampler.js';
import { NvmlProvider } from '../src/gpu/nvml/nvml-provider.js';
import {
  type PrometheusEndpoint,
  ResourceSpanProcessor,
  registerResourceMetrics,
  startPrometheusEndpoint,
} from '../src/index.js';
import { fakeNvmlLibrary, GiB, manualGpuSampler, scratchDir, writeNvmlControl } from './helpers/fake-gpu.js';
import { promtoolCheckMetrics, startPrometheus } from './helpers/prometheus.js';
import { allocateTouched, burnCpu, MiB } from './helpers/workload.js';

const UUID = 'GPU-feedface-0000-0000-0000-000000000001';

/** Value of the sample line of metric `name` that has all of `labels`. */
function sampleValue(
  exposition: string,
  name: string,
  labels: Record<string, string | number>,
): number | undefined {
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const matches = Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`));
    if (matches) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('metrics: live gauges and the Prometheus endpoint', function () {
  this.timeout(90_000);
  let control: string;
  let sampler: GpuSampler;
  let endpoint: PrometheusEndpoint;

  async function script(usedBytes: number, fail?: Record<string, number>): Promise<void> {
    await sleep(5); // the fake re-reads its control file when its modification time changes
    writeNvmlControl(control, {
      devices: [
        {
          name: 'Fake H100',
          uuid: UUID,
          totalBytes: 80 * GiB,
          used: [usedBytes],
          utilizationPercent: 42,
          processes: [
            { pid: process.pid, bytes: 2 * GiB },
            { pid: 1, bytes: 5 * GiB },
          ],
        },
      ],
      ...(fail === undefined ? {} : { fail }),
    });
  }

  before(async () => {
    control = join(scratchDir(), 'control');
    await script(12 * GiB);
    process.env.FAKE_NVML_CONTROL = control;
    const provider = new NvmlProvider(fakeNvmlLibrary());
    sampler = manualGpuSampler(provider);
    await sampler.start();
    setGpuMemorySource(sampler);
    endpoint = await startPrometheusEndpoint({ port: 0 });
  });

  after(async () => {
    await endpoint.shutdown();
    setGpuMemorySource(noGpuMemorySource);
    sampler.shutdown();
  });

  const scrape = async () => (await fetch(endpoint.url)).text();

  it("serves the scripted device with its labels, this process's GPU memory and process figures", async () => {
    assert.match(endpoint.url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const cpuBefore = process.resourceUsage().userCPUTime / 1e6;
    const text = await scrape();
    const cpuAfter = process.resourceUsage().userCPUTime / 1e6;
    const device = {
      hw_id: UUID,
      hw_type: 'gpu',
      hw_model: 'Fake H100',
      hw_vendor: 'NVIDIA',
      resource_tracker_gpu_index: 0,
    };
    assert.equal(sampleValue(text, 'hw_gpu_memory_usage_bytes', device), 12 * GiB);
    assert.equal(sampleValue(text, 'hw_gpu_memory_limit_bytes', device), 80 * GiB);
    assert.equal(sampleValue(text, 'hw_gpu_memory_utilization_ratio', device), 12 / 80);
    assert.equal(sampleValue(text, 'hw_gpu_utilization_ratio', device), 0.42);
    assert.equal(
      sampleValue(text, 'resource_tracker_process_gpu_memory_usage_bytes', device),
      2 * GiB,
      "ours, not pid 1's",
    );
    assert.equal(sampleValue(text, 'resource_tracker_gpu_up', { resource_tracker_gpu_provider: 'nvml' }), 1);
    const lastSuccess =
      sampleValue(text, 'resource_tracker_gpu_last_success_timestamp_seconds', {
        resource_tracker_gpu_provider: 'nvml',
      }) ?? 0;
    assert.ok(Math.abs(lastSuccess - Date.now() / 1000) < 120);
    // Read during the scrape: between the process's user CPU just before it and just after it.
    const user = sampleValue(text, 'process_cpu_time_seconds_total', { cpu_mode: 'user' }) ?? 0;
    assert.ok(user >= cpuBefore && user <= cpuAfter, `user CPU ${user} in [${cpuBefore}, ${cpuAfter}]`);
    const rss = sampleValue(text, 'process_memory_usage_bytes', {}) ?? 0;
    assert.ok(Math.abs(rss - process.memoryUsage.rss()) < 32 * 1024 * 1024, `rss ${rss}`);
  });

  it('never puts process IDs or command lines in labels', async () => {
    const text = await scrape();
    assert.doesNotMatch(text, /\bpid="|process_pid|command|\b1\b="/);
    assert.ok(!text.includes(`"${process.pid}"`));
  });

  it('drops the health gauge to 0 when the device fails, and back to 1 when it answers again', async () => {
    await script(12 * GiB, { memory: 999 });
    await sampler.tick();
    const failed = await scrape();
    assert.equal(
      sampleValue(failed, 'resource_tracker_gpu_up', { resource_tracker_gpu_provider: 'nvml' }),
      0,
    );
    await script(20 * GiB);
    await sampler.tick();
    const back = await scrape();
    assert.equal(sampleValue(back, 'resource_tracker_gpu_up', { resource_tracker_gpu_provider: 'nvml' }), 1);
    assert.equal(sampleValue(back, 'hw_gpu_memory_usage_bytes', { hw_id: UUID }), 20 * GiB);
  });

  it('passes promtool check metrics', async () => {
    const tracer = new BasicTracerProvider({
      spanProcessors: [new ResourceSpanProcessor({ meterProvider: endpoint.meterProvider })],
    }).getTracer('promtool');
    tracer.startSpan('lint-me', {}, ROOT_CONTEXT).end();
    const output = promtoolCheckMetrics(await scrape());
    assert.equal(output.trim(), '', `promtool said: ${output}`);
  });

  it('caps span names in the histograms, folding the rest into _other', async () => {
    const capped = await startPrometheusEndpoint({ port: 0, resourceMetrics: false });
    const tracer = new BasicTracerProvider({
      spanProcessors: [new ResourceSpanProcessor({ meterProvider: capped.meterProvider, maxSpanNames: 5 })],
    }).getTracer('cap');
    for (let i = 0; i < 20; i++) tracer.startSpan(`name-${i}`, {}, ROOT_CONTEXT).end();
    const text = await (await fetch(capped.url)).text();
    const names = new Set(
      [...text.matchAll(/resource_tracker_span_cpu_time_seconds_count\{span_name="([^"]+)"/g)].map(
        (match) => match[1],
      ),
    );
    assert.deepEqual([...names].sort(), ['_other', 'name-0', 'name-1', 'name-2', 'name-3', 'name-4']);
    assert.equal(
      sampleValue(text, 'resource_tracker_span_cpu_time_seconds_count', { span_name: '_other' }),
      15,
    );
    await capped.shutdown();
  });

  it('gzips a large scrape for a scraper that accepts it, and only then', async () => {
    const big = await startPrometheusEndpoint({ port: 0, resourceMetrics: false });
    try {
      const tracer = new BasicTracerProvider({
        spanProcessors: [new ResourceSpanProcessor({ meterProvider: big.meterProvider })],
      }).getTracer('gzip');
      for (let i = 0; i < 100; i++) tracer.startSpan(`name-${i}`, {}, ROOT_CONTEXT).end();
      const raw = (acceptEncoding: string | undefined) =>
        new Promise<{ encoding: string | undefined; body: Buffer }>((resolve, reject) => {
          httpGet(
            big.url,
            { headers: acceptEncoding ? { 'Accept-Encoding': acceptEncoding } : {} },
            (response) => {
              const chunks: Buffer[] = [];
              response.on('data', (chunk: Buffer) => chunks.push(chunk));
              response.on('end', () =>
                resolve({ encoding: response.headers['content-encoding'], body: Buffer.concat(chunks) }),
              );
            },
          ).on('error', reject);
        });
      const gzipped = await raw('gzip, deflate');
      const plain = await raw(undefined);
      assert.equal(gzipped.encoding, 'gzip');
      assert.equal(plain.encoding, undefined);
      assert.equal(gunzipSync(gzipped.body).toString(), plain.body.toString());
      assert.ok(
        gzipped.body.length * 5 < plain.body.length,
        `${gzipped.body.length} of ${plain.body.length} bytes`,
      );
    } finally {
      await big.shutdown();
    }
  });

  it('is scraped by a real Prometheus: PromQL sees the GPU memory and a span histogram quantile', async () => {
    const tracer = new BasicTracerProvider({
      spanProcessors: [new ResourceSpanProcessor({ meterProvider: endpoint.meterProvider })],
    }).getTracer('prometheus');
    for (let i = 0; i < 10; i++) {
      const span = tracer.startSpan('batch-item', {}, ROOT_CONTEXT);
      burnCpu(20);
      span.end();
    }
    const prometheus = await startPrometheus([{ job: 'app', hostPort: new URL(endpoint.url).host }]);
    try {
      const gpu = await prometheus.waitFor(
        `hw_gpu_memory_usage_bytes{hw_id="${UUID}"}`,
        (results) => results.length === 1,
      );
      assert.equal(Number(gpu[0]?.value[1]), 20 * GiB);
      const p50 = await prometheus.waitFor(
        'histogram_quantile(0.5, sum by (le) (resource_tracker_span_cpu_time_seconds_bucket{span_name="batch-item"}))',
        (results) => results.length === 1 && Number.isFinite(Number(results[0]?.value[1])),
      );
      const median = Number(p50[0]?.value[1]);
      // 20 ms of CPU each (a little more with the span's own work): the median falls in the (0.02, 0.05] bucket.
      assert.ok(median > 0.02 && median <= 0.05, `p50 ${median}`);
      const up = await prometheus.query('up{job="app"}');
      assert.equal(up[0]?.value[1], '1');
    } finally {
      await prometheus.stop();
    }
  });

  it('registerResourceMetrics rejects what is not a meter, and its options, by name', () => {
    assert.throws(
      () => registerResourceMetrics({} as unknown as MeterProvider),
      /needs a Meter or a MeterProvider, got object/,
    );
    assert.throws(
      () => registerResourceMetrics(endpoint.meterProvider, { gpu: 'yes' } as unknown as { gpu: boolean }),
      /options\.gpu must be true or false, got the string "yes"/,
    );
    assert.throws(
      () => registerResourceMetrics(endpoint.meterProvider, { gpus: true } as unknown as { gpu: boolean }),
      /unknown option "gpus"/,
    );
    assert.throws(
      () =>
        registerResourceMetrics(endpoint.meterProvider, { gpuSampler: null } as unknown as { gpu: boolean }),
      /options\.gpuSampler must be a GpuSampler, got null/,
    );
  });

  it('stops observing after unregister(): the values stop following the process', async () => {
    const quiet = await startPrometheusEndpoint({ port: 0, resourceMetrics: false });
    const registration = registerResourceMetrics(quiet.meterProvider, { gpu: false });
    const rss = async () => sampleValue(await quiet.render(), 'process_memory_usage_bytes', {}) ?? 0;
    const grow = async (): Promise<[number, number]> => {
      const before = await rss();
      const block = allocateTouched(64 * MiB);
      const after = await rss();
      assert.equal(block.length, 64 * MiB);
      return [before, after];
    };
    const [registeredBefore, registeredAfter] = await grow();
    assert.ok(registeredAfter - registeredBefore > 60 * MiB, 'observed while registered');
    registration.unregister();
    const [before, after] = await grow();
    assert.equal(after, before, 'no longer observed');
    await quiet.shutdown();
  });

  describe('startPrometheusEndpoint: bad input and lifecycle', () => {
    it('rejects a port in use with a clear message, never an uncaught exception', async () => {
      const blocker = createServer();
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
      const address = blocker.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      try {
        await assert.rejects(
          startPrometheusEndpoint({ port }),
          new RegExp(
            `cannot listen on 127\\.0\\.0\\.1:${port}: port ${port} on 127\\.0\\.0\\.1 is already in use`,
          ),
        );
      } finally {
        blocker.close();
      }
    });

    it('rejects bad hosts, ports and environment values, naming them', async () => {
      await assert.rejects(
        startPrometheusEndpoint({ port: 70_000 }),
        /options\.port must be an integer from 0 to 65535, got number 70000/,
      );
      await assert.rejects(
        startPrometheusEndpoint({ port: '9464' as unknown as number }),
        /options\.port must be an integer/,
      );
      await assert.rejects(
        startPrometheusEndpoint({ host: '10.255.255.1', port: 0 }),
        /10\.255\.255\.1 is not an address of this machine/,
      );
      await assert.rejects(
        startPrometheusEndpoint({ host: '' }),
        /options\.host must be a host name or IP address/,
      );
      await assert.rejects(
        startPrometheusEndpoint({ env: { OTEL_EXPORTER_PROMETHEUS_PORT: 'ninety' } }),
        /OTEL_EXPORTER_PROMETHEUS_PORT must be a number from 0 to 65535; got the string "ninety"/,
      );
      await assert.rejects(
        startPrometheusEndpoint({ env: { OTEL_EXPORTER_PROMETHEUS_PORT: '94.64' } }),
        /OTEL_EXPORTER_PROMETHEUS_PORT must be an integer/,
      );
      await assert.rejects(
        startPrometheusEndpoint({ env: { OTEL_EXPORTER_PROMETHEUS_HOST: 'a b' } }),
        /OTEL_EXPORTER_PROMETHEUS_HOST must be a host name/,
      );
      await assert.rejects(
        startPrometheusEndpoint({ prot: 1 } as unknown as { port: number }),
        /unknown option "prot"/,
      );
    });

    it('honours OTEL_EXPORTER_PROMETHEUS_HOST / _PORT, binds 127.0.0.1 by default, and shuts down twice safely', async () => {
      const fromEnv = await startPrometheusEndpoint({
        env: { OTEL_EXPORTER_PROMETHEUS_PORT: '0', OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.2' },
      });
      assert.equal(fromEnv.host, '127.0.0.2');
      await fromEnv.shutdown();
      const byDefault = await startPrometheusEndpoint({ port: 0, env: {} });
      assert.equal(byDefault.host, '127.0.0.1');
      assert.equal((await fetch(byDefault.url.replace('/metrics', '/other'))).status, 404);
      await Promise.all([byDefault.shutdown(), byDefault.shutdown()]);
      await byDefault.shutdown();
      await assert.rejects(fetch(byDefault.url));
    });
  });
});
