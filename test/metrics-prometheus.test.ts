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
import { REUSE_RENDER_MS } from '../src/prometheus/shared-render.js';
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
    // render() collects now; a scrape this soon after another one would get that one's render (REUSE_RENDER_MS).
    const failed = await endpoint.render();
    assert.equal(
      sampleValue(failed, 'resource_tracker_gpu_up', { resource_tracker_gpu_provider: 'nvml' }),
      0,
    );
    await script(20 * GiB);
    await sampler.tick();
    const back = await endpoint.render();
    assert.equal(sampleValue(back, 'resource_tracker_gpu_up', { resource_tracker_gpu_provider: 'nvml' }), 1);
    assert.equal(sampleValue(back, 'hw_gpu_memory_usage_bytes', { hw_id: UUID }), 20 * GiB);
  });

  it('passes promtool check metrics with several meters, one instrument name in two of them', async () => {
    const tracer = new BasicTracerProvider({
      spanProcessors: [new ResourceSpanProcessor({ meterProvider: endpoint.meterProvider })],
    }).getTracer('promtool');
    tracer.startSpan('lint-me', {}, ROOT_CONTEXT).end();
    // Two libraries of the application counting under one name, beside ours: one family, a series per scope.
    for (const library of ['checkout', 'billing']) {
      const counter = endpoint.meterProvider
        .getMeter(library, '1.0.0')
        .createCounter('app.requests', { description: `requests seen by ${library}` });
      counter.add(3, { 'http.route': '/pay' });
    }
    // A scrape within REUSE_RENDER_MS of the previous test's gets that render, from before these counters.
    await sleep(REUSE_RENDER_MS + 50);
    const text = await scrape();
    assert.equal(text.match(/^# TYPE app_requests_total counter$/gm)?.length, 1);
    assert.equal(text.match(/^# HELP app_requests_total /gm)?.length, 1);
    for (const library of ['checkout', 'billing']) {
      assert.equal(
        sampleValue(text, 'app_requests_total', { otel_scope_name: library, http_route: '/pay' }),
        3,
      );
    }
    assert.match(text, /^resource_tracker_span_cpu_time_seconds_count\{span_name="lint-me"/m);
    const output = promtoolCheckMetrics(text);
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

/** Each `# TYPE` and `# HELP` name of an exposition, with how many times it is declared. */
function declarations(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const match of text.matchAll(/^# (TYPE|HELP) (\S+)/gm)) {
    const key = `${match[1]} ${match[2]}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

describe('the Prometheus exposition is valid whatever the application names', function () {
  this.timeout(90_000);

  it('odd resource and metric attributes, and names that sanitise alike: promtool and a real Prometheus take it', async () => {
    const previous = process.env.OTEL_RESOURCE_ATTRIBUTES;
    // `service_name` beside `service.name`, and a key starting with a digit: both are users' real configurations.
    process.env.OTEL_RESOURCE_ATTRIBUTES = 'service.name=checkout,service_name=shop,1st.tier=gold';
    const odd = await startPrometheusEndpoint({ port: 0, resourceMetrics: false });
    const prometheus = await startPrometheus([{ job: 'odd', hostPort: new URL(odd.url).host }]);
    try {
      const shop = odd.meterProvider.getMeter('shop', '1.0.0');
      // One instrument name in two meters: one family.
      for (const meter of [shop, odd.meterProvider.getMeter('billing')]) {
        meter
          .createCounter('orders', { unit: '{order}' })
          .add(2, { 'a.b': 'dotted', a_b: 'underscored', '2xx': 'yes', quantile: 'q' });
      }
      // A histogram attribute named `le`, which the bucket bound needs.
      shop
        .createHistogram('latency', { unit: 's', advice: { explicitBucketBoundaries: [0.1, 1] } })
        .record(0.5, { le: 'user-given' });
      // Counters already ending in `_total`: the suffix once, after the unit.
      shop.createCounter('jobs_total', { unit: 's' }).add(1);
      shop.createCounter('tasks.total.').add(1);
      // Two instruments whose names sanitise alike, of different types: the first keeps the name.
      shop.createObservableGauge('queue.depth').addCallback((result) => result.observe(7));
      shop.createHistogram('queue_depth').record(1);
      // …and of the same type: one family, and a sample written twice would fail the scrape.
      shop.createUpDownCounter('pool.size').add(4, { pool: 'a' });
      shop.createUpDownCounter('pool_size').add(5, { pool: 'b' });
      // Two points whose labels sanitise alike: one sample (the first), never the same sample twice.
      const twins = shop.createCounter('twins');
      twins.add(1, { 'x.y': 'same' });
      twins.add(2, { x_y: 'same' });

      const text = await odd.render();
      const repeated = [...declarations(text)].filter(([, count]) => count > 1);
      assert.deepEqual(repeated, [], 'each family is declared once');
      // The specification's rules: colliding keys share a label, values joined by ';' in the keys' order.
      assert.match(text, /^target_info\{[^}]*service_name="checkout;shop"[^}]*\} 1$/m);
      assert.match(text, /^target_info\{[^}]*key_1st_tier="gold"/m);
      const orders = text.split('\n').filter((line) => line.startsWith('orders_total{'));
      assert.equal(orders.length, 2, text);
      for (const line of orders) {
        assert.match(line, /a_b="dotted;underscored"/);
        assert.match(line, /key_2xx="yes"/);
        assert.match(line, /exported_quantile="q"/);
        assert.equal(line.match(/\ba_b="/g)?.length, 1);
      }
      assert.match(text, /^latency_seconds_bucket\{exported_le="user-given",[^}]*,le="1"\} 1$/m);
      assert.match(text, /^jobs_seconds_total\{/m);
      assert.match(text, /^tasks_total\{/m);
      assert.doesNotMatch(text, /_total_(?:\w*_)?total/);
      assert.match(text, /^# TYPE queue_depth gauge$/m);
      assert.doesNotMatch(text, /^queue_depth_(?:bucket|count|sum)/m);
      assert.equal(sampleValue(text, 'pool_size', { pool: 'a' }), 4);
      assert.equal(sampleValue(text, 'pool_size', { pool: 'b' }), 5);
      assert.deepEqual(
        text.split('\n').filter((line) => line.startsWith('twins_total{')),
        ['twins_total{x_y="same",otel_scope_name="shop",otel_scope_version="1.0.0"} 1'],
      );

      const output = promtoolCheckMetrics(text);
      assert.equal(output.trim(), '', `promtool said: ${output}`);
      // A real scrape: Prometheus rejects a whole exposition with one label name twice ("not unique").
      await prometheus.waitFor('up{job="odd"} == 1', (results) => results.length === 1);
      const merged = await prometheus.waitFor(
        'orders_total{a_b="dotted;underscored"}',
        (r) => r.length === 2,
      );
      assert.deepEqual(merged.map((result) => result.metric.otel_scope_name).sort(), ['billing', 'shop']);
      await prometheus.waitFor('target_info{service_name="checkout;shop"}', (r) => r.length === 1);
      await prometheus.waitFor('latency_seconds_count{exported_le="user-given"}', (r) => r.length === 1);
    } finally {
      await prometheus.stop();
      await odd.shutdown();
      if (previous === undefined) delete process.env.OTEL_RESOURCE_ATTRIBUTES;
      else process.env.OTEL_RESOURCE_ATTRIBUTES = previous;
    }
  });

  it('one instrument in two meters without scope labels: each sample written once', async () => {
    const unscoped = await startPrometheusEndpoint({
      port: 0,
      resourceMetrics: false,
      withoutScopeInfo: true,
    });
    try {
      for (const library of ['checkout', 'billing']) {
        unscoped.meterProvider.getMeter(library).createCounter('app.requests').add(1, { route: '/pay' });
      }
      const text = await (await fetch(unscoped.url)).text();
      assert.deepEqual(
        text.split('\n').filter((line) => line.startsWith('app_requests_total')),
        ['app_requests_total{route="/pay"} 1'],
      );
      assert.equal(promtoolCheckMetrics(text).trim(), '');
    } finally {
      await unscoped.shutdown();
    }
  });

  it('span names of 1 MiB: recorded cut to 256 characters, every scrape answers and stays small', async () => {
    const long = await startPrometheusEndpoint({ port: 0, resourceMetrics: false });
    try {
      const tracer = new BasicTracerProvider({
        spanProcessors: [new ResourceSpanProcessor({ meterProvider: long.meterProvider })],
      }).getTracer('long');
      for (let i = 0; i < 16; i++) {
        tracer.startSpan(`${String.fromCharCode(97 + i)}${'x'.repeat(MiB)}`, {}, ROOT_CONTEXT).end();
      }
      for (let scrapeIndex = 0; scrapeIndex < 3; scrapeIndex++) {
        const response = await fetch(long.url);
        const text = await response.text();
        assert.equal(response.status, 200, text.slice(0, 200));
        // Before: 36 MiB for one such name, and "Invalid string length" (500) for every scrape with 16.
        assert.ok(text.length < 256 * 1024, `${text.length} characters`);
        const names = new Set(
          [...text.matchAll(/resource_tracker_span_cpu_time_seconds_count\{span_name="([^"]*)"/g)].map(
            (match) => match[1] ?? '',
          ),
        );
        assert.equal(names.size, 16);
        for (const name of names) {
          assert.equal(name.length, 256);
          assert.ok(name.endsWith('…'), name.slice(-10));
        }
        if (scrapeIndex === 0) assert.equal(promtoolCheckMetrics(text).trim(), '');
        await sleep(150); // past the window in which scrapes share a render: each of these collects anew
      }
    } finally {
      await long.shutdown();
    }
  });

  it('answers POST with 405 and Allow: GET, HEAD, HEAD without collecting, and honours gzip;q=0', async () => {
    const http = await startPrometheusEndpoint({ port: 0, resourceMetrics: false });
    try {
      let collections = 0;
      http.meterProvider
        .getMeter('probe')
        .createObservableGauge('probe.collections')
        .addCallback((result) => {
          collections++;
          result.observe(collections);
        });
      const tracer = new BasicTracerProvider({
        spanProcessors: [new ResourceSpanProcessor({ meterProvider: http.meterProvider })],
      }).getTracer('http');
      for (let i = 0; i < 100; i++) tracer.startSpan(`name-${i}`, {}, ROOT_CONTEXT).end();

      const post = await fetch(http.url, { method: 'POST', body: 'x' });
      assert.equal(post.status, 405);
      assert.equal(post.headers.get('allow'), 'GET, HEAD');
      assert.equal((await fetch(http.url, { method: 'DELETE' })).status, 405);
      assert.equal((await fetch(http.url.replace('/metrics', '/other'), { method: 'POST' })).status, 404);

      const head = await fetch(http.url, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.match(head.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      assert.equal(collections, 0, 'a HEAD collects nothing');

      const encodingFor = (acceptEncoding: string) =>
        new Promise<string | undefined>((resolve, reject) => {
          httpGet(http.url, { headers: { 'Accept-Encoding': acceptEncoding } }, (response) => {
            response.resume();
            response.on('end', () => resolve(response.headers['content-encoding']));
          }).on('error', reject);
        });
      assert.equal(await encodingFor('gzip;q=0'), undefined);
      assert.equal(await encodingFor('gzip; q=0.0, identity'), undefined);
      assert.equal(await encodingFor('*;q=0'), undefined);
      assert.equal(await encodingFor('identity;q=1, gzip;q=0.5'), 'gzip');
      assert.equal(await encodingFor('*'), 'gzip');
      assert.ok(collections > 0, 'a GET collects');
    } finally {
      await http.shutdown();
    }
  });
});
