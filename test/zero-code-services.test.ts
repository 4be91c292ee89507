import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { get as httpGet } from 'node:http';
import { SpanAttributes as keys, MetricNames } from '../src/index.js';
import { CPU_SECONDS_BUCKETS } from '../src/metrics/span-histograms.js';
import { fakeNvmlLibrary, GiB, scratchDir, writeNvmlControl } from './helpers/fake-gpu.js';
import type { ReceivedSpan } from './helpers/otlp-receiver.js';
import { receiverPerTest } from './helpers/otlp-receiver.js';
import { app, type Finished, runNode, waitForUrl } from './helpers/zero-code.js';

const SERVER = 2;
const CLIENT = 3;
const ENTRY = 'otel-resource-tracker/register';
const BURN_MS = 40;

/** A GET on a new connection each time (no keep-alive), so that a cluster's workers share the requests. */
function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    httpGet(url, { agent: false }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      response.on('end', () => {
        if (response.statusCode === 200) resolve(text);
        else reject(new Error(`${url}: HTTP ${response.statusCode}`));
      });
    }).on('error', reject);
  });
}

/** The first `count` matches of `pattern` on the child's stderr, however early they were written. */
function stderrMatches(child: ChildProcess, pattern: RegExp, count: number): Promise<string[]> {
  return new Promise((resolve) => {
    let seen = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      const found = [...seen.matchAll(new RegExp(pattern, 'g'))].map((match) => match[1] as string);
      if (found.length >= count) resolve(found.slice(0, count));
    });
  });
}

/** Lines our entry wrote on stderr (each starts with the package name). */
function ourLines(finished: Finished): string[] {
  return finished.stderr.split('\n').filter((line) => line.startsWith('otel-resource-tracker:'));
}

function serverSpan(spans: readonly ReceivedSpan[], path: string): ReceivedSpan {
  const found = spans.find((span) => span.kind === SERVER && span.attributes['url.path'] === path);
  assert.ok(
    found,
    `a SERVER span for ${path}; got ${spans.map((span) => `${span.kind}:${span.name}`).join(', ')}`,
  );
  return found;
}

describe('zero-code entry on real services: auto-instrumentation, both loaders, metrics, many processes', function () {
  this.timeout(60_000);
  const otlp = receiverPerTest();
  const tracing = () => ({
    OTEL_SERVICE_NAME: 'shop',
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_METRICS_EXPORTER: 'none',
  });

  for (const [script, routeName] of [
    ['express-app.mjs', 'GET /cpu'],
    ['express-app.cjs', 'GET /cpu'],
    ['http-app.mjs', 'GET'],
    ['http-app.cjs', 'GET'],
  ] as const) {
    for (const loader of ['--import', '--require'] as const) {
      it(`${script} under ${loader}: each request is a SERVER span with its figures, an outgoing call a CLIENT child`, async () => {
        const { child, done } = runNode([loader, ENTRY, app(script)], tracing());
        const url = await waitForUrl(child);
        await get(`${url}/cpu?ms=${BURN_MS}`);
        await get(`${url}/out`);
        child.kill('SIGTERM');
        const finished = await done;
        // No handler of its own: SIGTERM ends it as it would without us, once the spans are out.
        assert.equal(finished.signal, 'SIGTERM', finished.stderr);
        assert.deepEqual(ourLines(finished), []);
        // (Node 20's asynchronous loader hook, registered from --require, makes import-in-the-middle warn.)
        const spans = otlp.receiver.spans;
        const request = serverSpan(spans, '/cpu');
        assert.equal(request.name, routeName);
        assert.equal(request.resource['service.name'], 'shop');
        assert.ok((request.attributes[keys.ATTR_CPU_TIME] as number) >= (BURN_MS / 1000) * 0.95);
        // The burn ran in the handler, synchronously inside the SERVER span's context (node:http) or in a
        // continuation of Express's router: the SERVER span's own.
        assert.ok(
          (request.attributes[keys.ATTR_CPU_ATTRIBUTED_TIME] as number) >= (BURN_MS / 1000) * 0.9,
          `attributed ${request.attributes[keys.ATTR_CPU_ATTRIBUTED_TIME]} s of a ${BURN_MS} ms burn`,
        );
        assert.equal(typeof request.attributes[keys.ATTR_MEMORY_PEAK], 'number');
        const outer = serverSpan(spans, '/out');
        const call = spans.find((span) => span.kind === CLIENT && span.traceId === outer.traceId);
        assert.ok(call, 'a CLIENT span in the /out trace');
        assert.equal(
          call.attributes[keys.ATTR_CPU_TIME],
          undefined,
          'CLIENT spans are not measured by default',
        );
        // The CLIENT span hangs under the /out request (directly, or under an Express handler span).
        const byId = new Map(spans.map((span) => [span.spanId, span]));
        let ancestor = byId.get(call.parentSpanId ?? '');
        while (ancestor !== undefined && ancestor !== outer) ancestor = byId.get(ancestor.parentSpanId ?? '');
        assert.equal(ancestor, outer);
      });
    }
  }

  it('measures every span with SPAN_KINDS=all, only SERVER spans with =server, named spans of any kind with SPAN_NAMES', async () => {
    for (const [variables, measured] of [
      [{ OTEL_RESOURCE_TRACKER_SPAN_KINDS: 'all' }, (span: ReceivedSpan) => span.kind !== 0],
      [{ OTEL_RESOURCE_TRACKER_SPAN_KINDS: 'server' }, (span: ReceivedSpan) => span.kind === SERVER],
      [
        { OTEL_RESOURCE_TRACKER_SPAN_NAMES: '/^request handler/' },
        (span: ReceivedSpan) => span.name.startsWith('request handler'),
      ],
    ] as const) {
      otlp.receiver.spans.length = 0;
      const { child, done } = runNode(['--import', ENTRY, app('express-app.mjs')], {
        ...tracing(),
        ...variables,
        EXIT_AFTER: '2',
      });
      const url = await waitForUrl(child);
      await get(`${url}/out`);
      assert.equal((await done).code, 0);
      assert.ok(otlp.receiver.spans.length >= 4);
      assert.ok(otlp.receiver.spans.some(measured), 'some span is selected');
      for (const span of otlp.receiver.spans) {
        const label = `${JSON.stringify(variables)}: ${span.name}`;
        assert.equal(typeof span.attributes[keys.ATTR_CPU_TIME] === 'number', measured(span), label);
      }
    }
  });

  it('pushes the GPU and process gauges over OTLP with the resource of the spans (OTEL_METRICS_EXPORTER=otlp)', async () => {
    const dir = scratchDir();
    const control = `${dir}/control`;
    writeNvmlControl(control, {
      devices: [{ name: 'Fake A100', uuid: 'GPU-fake-0', totalBytes: 40 * GiB, used: [3 * GiB] }],
    });
    const { child, done } = runNode(['--import', ENTRY, app('express-app.mjs')], {
      ...tracing(),
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_METRIC_EXPORT_INTERVAL: '200',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test',
      OTEL_RESOURCE_TRACKER_GPU_PROVIDER: 'nvml',
      OTEL_RESOURCE_TRACKER_NVML_LIBRARY: fakeNvmlLibrary(),
      FAKE_NVML_CONTROL: control,
      EXIT_AFTER: '1',
    });
    const url = await waitForUrl(child);
    await get(`${url}/cpu?ms=5`);
    assert.equal((await done).code, 0);
    const points = otlp.receiver.points;
    const gpu = points.find((point) => point.metric === 'hw.gpu.memory.usage');
    assert.ok(gpu, `GPU gauge pushed; got ${[...new Set(points.map((point) => point.metric))].join(', ')}`);
    assert.equal(gpu.value, 3 * GiB);
    assert.equal(gpu.attributes['hw.id'], 'GPU-fake-0');
    assert.ok(points.some((point) => point.metric === 'process.memory.usage' && (point.value ?? 0) > 0));
    const span = serverSpan(otlp.receiver.spans, '/cpu');
    for (const key of ['service.name', 'service.instance.id', 'deployment.environment.name']) {
      assert.equal(gpu.resource[key], span.resource[key], key);
    }
    assert.equal(gpu.resource['deployment.environment.name'], 'test');
    const paths = new Set(otlp.receiver.requests.map((request) => request.path));
    assert.ok(!paths.has('/v1/logs'), 'no logs exporter unless OTEL_LOGS_EXPORTER asks');
  });

  it('pushes the span histograms over OTLP: explicit buckets by default, base-2 exponential when the variable asks', async () => {
    for (const aggregation of ['', 'base2_exponential_bucket_histogram']) {
      otlp.receiver.points.length = 0;
      const { child, done } = runNode(['--import', ENTRY, app('express-app.mjs')], {
        ...tracing(),
        OTEL_METRICS_EXPORTER: 'otlp',
        OTEL_METRIC_EXPORT_INTERVAL: '200',
        ...(aggregation === ''
          ? {}
          : { OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION: aggregation }),
        EXIT_AFTER: '2',
      });
      const url = await waitForUrl(child);
      await get(`${url}/cpu?ms=5`);
      await get(`${url}/cpu?ms=5`);
      assert.equal((await done).code, 0);
      const cpu = otlp.receiver.points.filter(
        (point) =>
          point.metric === MetricNames.METRIC_SPAN_CPU_TIME && point.attributes['span.name'] === 'GET /cpu',
      );
      const last = cpu[cpu.length - 1];
      assert.ok(last, `span CPU histogram pushed (${aggregation || 'default'})`);
      assert.equal(last.value, 2);
      if (aggregation === '') {
        assert.equal(last.kind, 'histogram');
        assert.deepEqual(last.bounds, CPU_SECONDS_BUCKETS);
      } else {
        assert.equal(last.kind, 'exponentialHistogram');
      }
      // Gauges and counters keep their own aggregation either way.
      assert.ok(
        otlp.receiver.points.some((point) => point.metric === 'process.cpu.time' && point.kind === 'sum'),
      );
    }
  });

  it("serves target_info with the environment's service name, attributes and this process's instance id", async () => {
    const { child, done } = runNode(['--import', ENTRY, app('http-app.mjs')], {
      ...tracing(),
      OTEL_METRICS_EXPORTER: 'prometheus',
      OTEL_EXPORTER_PROMETHEUS_PORT: '0',
      OTEL_RESOURCE_ATTRIBUTES: 'team=payments,deployment.environment.name=test',
      EXIT_AFTER: '1',
    });
    const announced = stderrMatches(child, /metrics of process \d+ are at (\S+)/, 1);
    const url = await waitForUrl(child);
    const [metricsUrl] = await announced;
    const text = await get(metricsUrl as string);
    const targetInfo = /^target_info\{(.*)\} 1$/m.exec(text)?.[1] ?? '';
    assert.match(targetInfo, /service_name="shop"/);
    assert.match(targetInfo, /team="payments"/);
    assert.match(targetInfo, /deployment_environment_name="test"/);
    assert.match(targetInfo, /service_instance_id="[0-9a-f-]{36}"/);
    assert.match(text, /^process_memory_usage_bytes[ {]/m);
    await get(`${url}/cpu?ms=1`);
    await done;
    const instance = /service_instance_id="([^"]+)"/.exec(targetInfo)?.[1];
    assert.equal(serverSpan(otlp.receiver.spans, '/cpu').resource['service.instance.id'], instance);
  });

  it('a 2-worker cluster: spans and OTLP metrics from both workers, each with its own instance id', async () => {
    const { child, done } = runNode(['--require', ENTRY, app('cluster-app.cjs')], {
      ...tracing(),
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_METRIC_EXPORT_INTERVAL: '200',
    });
    const url = await waitForUrl(child);
    // In parallel, on new connections, until both workers have answered: the primary hands connections to the
    // workers that are free, which need not be both in every round.
    const answeredBy = new Set<string>();
    for (let round = 0; round < 50 && (round < 5 || answeredBy.size < 2); round++) {
      const answers = await Promise.all([1, 2, 3, 4].map(() => get(`${url}/cpu?ms=5`)));
      for (const answer of answers) answeredBy.add(answer.trim());
    }
    assert.equal(answeredBy.size, 2, `both workers answered: ${[...answeredBy].join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    child.kill('SIGTERM');
    const finished = await done;
    assert.equal(finished.code, 0, finished.stderr);
    const servers = otlp.receiver.spans.filter((span) => span.kind === SERVER);
    const pids = new Set(servers.map((span) => span.resource['process.pid']));
    assert.equal(pids.size, 2, 'requests served and exported by both workers');
    assert.ok(servers.every((span) => typeof span.attributes[keys.ATTR_CPU_TIME] === 'number'));
    const pushing = new Set(
      otlp.receiver.points
        .filter((point) => point.metric === 'process.memory.usage')
        .map((point) => `${point.resource['process.pid']} ${point.resource['service.instance.id']}`),
    );
    assert.equal(pushing.size, 3, `primary and both workers push their gauges: ${[...pushing].join(', ')}`);
  });

  it('a 2-worker cluster with Prometheus: each worker serves its metrics on the next port and says where', async () => {
    const base = 20_000 + Math.floor(Math.random() * 20_000);
    const { child, done } = runNode(['--import', ENTRY, app('cluster-app.cjs')], {
      ...tracing(),
      OTEL_METRICS_EXPORTER: 'prometheus',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(base),
    });
    const announcing = stderrMatches(child, /metrics of cluster worker \d+ \(pid \d+\) are at (\S+)/, 2);
    await waitForUrl(child);
    const announced = await announcing;
    const instances = new Set<string>();
    for (const url of [`http://127.0.0.1:${base}/metrics`, ...announced]) {
      const text = await get(url);
      instances.add(/service_instance_id="([^"]+)"/.exec(text)?.[1] ?? '');
    }
    assert.equal(instances.size, 3, 'the primary and two workers, each its own endpoint and instance');
    assert.deepEqual(announced.map((url) => Number(new URL(url).port)).sort(), [base + 1, base + 2]);
    child.kill('SIGTERM');
    assert.equal((await done).code, 0);
  });
});
