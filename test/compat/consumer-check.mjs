/**
 * The compatibility check, run inside a fresh consumer project that installed the packed tarball (never this
 * repository's dist/ or node_modules), under one Node version. COMPAT_LINE says which OpenTelemetry line the
 * consumer is on: 2 (api 1.9, sdk-trace-base 2.12, sdk-node 0.223) or 3 (api 1.10, sdk-trace 3.1, sdk-node 0.301);
 * 'lib' is a library-only consumer with no SDK at all. Prints one line per check and "N passed, N failed".
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

const LINE = process.env.COMPAT_LINE ?? '2';
const WITH_AUTO = LINE === '2' || LINE === '3z';
const label = `node ${process.versions.node} / OpenTelemetry ${LINE === 'lib' ? 'none (library only)' : `${LINE[0]}.x${WITH_AUTO ? ' with the auto-instrumentations' : ''}`}`;
const checks = [];
const check = (name, run) => checks.push({ name, run });

/** Spins until this process has used `ms` of CPU; returns the CPU it measured itself, in seconds. */
function burn(ms) {
  const start = process.cpuUsage();
  let x = 0;
  while (process.cpuUsage(start).user / 1000 < ms) for (let i = 0; i < 10_000; i++) x += Math.sqrt(i);
  const used = process.cpuUsage(start);
  return x < 0 ? 0 : (used.user + used.system) / 1e6;
}

const tracker = await import('otel-resource-tracker');

check('seed API: a tracked burn reports at least the CPU it burned', () => {
  let burned = 0;
  const usage = tracker.ResourceTracker.track(() => {
    burned = burn(150);
  });
  const dict = tracker.resourceUsageToDict(usage);
  assert.deepEqual(Object.keys(dict), [
    'cpu_time_seconds',
    'wall_clock_seconds',
    'peak_memory_mb',
    'gpu_vram_used_mb',
  ]);
  assert.ok(usage.cpuTimeSeconds >= burned * 0.95, `${usage.cpuTimeSeconds} >= ${burned}`);
  assert.ok(dict.peak_memory_mb > 10);
});

if (LINE === 'lib') {
  check('library-only: the span processor constructs without any SDK installed', () => {
    const processor = new tracker.ResourceSpanProcessor();
    return processor.shutdown();
  });
  check('library-only: startPrometheusEndpoint names the packages to install', async () => {
    await assert.rejects(tracker.startPrometheusEndpoint({ port: 0 }), (error) => {
      assert.match(error.message, /@opentelemetry\/exporter-prometheus and @opentelemetry\/sdk-metrics/);
      assert.match(error.message, /npm install/);
      return true;
    });
  });
  check(
    'library-only: the zero-code entry says what to install, and the application still runs',
    async () => {
      const app = join(process.cwd(), 'app.mjs');
      writeFileSync(app, "console.log('app ran');\n");
      const child = spawn(process.execPath, ['--import', 'otel-resource-tracker/register', app], {
        env: { PATH: process.env.PATH ?? '' },
      });
      let out = '';
      child.stdout.on('data', (chunk) => (out += chunk));
      child.stderr.on('data', (chunk) => (out += chunk));
      const [code] = await once(child, 'exit');
      assert.equal(code, 0, out);
      assert.match(out, /app ran/);
      assert.match(
        out,
        /needs @opentelemetry\/auto-instrumentations-node, which is not installed: npm install @opentelemetry\/auto-instrumentations-node/,
      );
      assert.equal(out.trim().split('\n').length, 2, out);
    },
  );
} else {
  check(
    "span processor in the application's own provider: figures set in onEnding, seen by the exporter",
    async () => {
      let provider;
      let exporter;
      if (LINE === '2') {
        const base = await import('@opentelemetry/sdk-trace-base');
        exporter = new base.InMemorySpanExporter();
        provider = new base.BasicTracerProvider({
          spanProcessors: [
            new tracker.ResourceSpanProcessor({ attributes: 'full' }),
            new base.SimpleSpanProcessor(exporter),
          ],
        });
      } else {
        const sdk = await import('@opentelemetry/sdk-trace');
        exporter = new sdk.InMemorySpanExporter();
        provider = new sdk.TracerProvider({
          spanProcessors: [
            new tracker.ResourceSpanProcessor({ attributes: 'full' }),
            new sdk.SimpleSpanProcessor({ exporter }),
          ],
        });
      }
      const span = provider.getTracer('compat').startSpan('burn');
      const burned = burn(200);
      span.end();
      await provider.forceFlush();
      const [exported] = exporter.getFinishedSpans();
      const attributes = exported.attributes;
      const keys = tracker.SpanAttributes;
      assert.ok(
        attributes[keys.ATTR_CPU_TIME] >= burned * 0.95,
        `${attributes[keys.ATTR_CPU_TIME]} >= ${burned}`,
      );
      assert.ok(attributes[keys.ATTR_CPU_ATTRIBUTED_TIME] >= burned * 0.95, 'alone: all of it attributed');
      assert.ok(attributes[keys.ATTR_WALL_TIME] >= burned * 0.9);
      assert.ok(attributes[keys.ATTR_MEMORY_PEAK] > 10 * 2 ** 20);
      await provider.shutdown();
    },
  );

  check("gauges on the application's own MeterProvider", async () => {
    const metrics = await import('@opentelemetry/sdk-metrics');
    class Reader extends metrics.MetricReader {
      async onForceFlush() {}
      async onShutdown() {}
    }
    const reader = new Reader();
    const meterProvider = new metrics.MeterProvider({ readers: [reader] });
    // With a GPU sampler of its own pace, as the README shows: every documented option is reachable from the package.
    const gpuSampler = new tracker.GpuSampler({ idleIntervalMs: 5000 });
    const registration = tracker.registerResourceMetrics(meterProvider, { gpuSampler });
    const { resourceMetrics } = await reader.collect();
    const all = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
    const rss = all.find((metric) => metric.descriptor.name === 'process.memory.usage');
    assert.ok(rss, `process.memory.usage among ${all.map((metric) => metric.descriptor.name).join(', ')}`);
    const reported = rss.dataPoints[0].value;
    const now = process.memoryUsage.rss();
    assert.ok(Math.abs(reported - now) / now < 0.25, `RSS ${reported} vs ${now}`);
    registration.unregister();
    gpuSampler.shutdown();
    await meterProvider.shutdown();
  });

  check('Prometheus endpoint: a scrape has the process gauges and target_info', async () => {
    const endpoint = await tracker.startPrometheusEndpoint({ port: 0 });
    try {
      const text = await (await fetch(endpoint.url)).text();
      assert.match(text, /^target_info\{/m);
      assert.match(text, /^process_memory_usage_bytes\S* \d+/m);
      assert.match(text, /^process_cpu_time\S*\{[^}]*cpu_mode="user"[^}]*\} [\d.e-]+$/m);
    } finally {
      await endpoint.shutdown();
    }
  });

  /** Starts `script` under the zero-code entry with `loader`, sends `requests` GETs, ends it with SIGTERM. */
  async function underEntry(loader, script, path, requests) {
    const received = [];
    const receiver = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        if (request.url === '/v1/traces')
          for (const resource of JSON.parse(body).resourceSpans ?? [])
            for (const scope of resource.scopeSpans ?? []) received.push(...(scope.spans ?? []));
        response.end('{}');
      });
    });
    receiver.listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    const child = spawn(
      process.execPath,
      [loader, 'otel-resource-tracker/register', join(process.cwd(), script)],
      {
        env: {
          PATH: process.env.PATH ?? '',
          OTEL_SERVICE_NAME: 'compat-server',
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.address().port}`,
          OTEL_EXPORTER_PROMETHEUS_PORT: '0',
          OTEL_RESOURCE_TRACKER_GPU_PROVIDER: 'none',
        },
      },
    );
    let output = '';
    child.stderr.on('data', (chunk) => (output += chunk));
    const port = await new Promise((resolve, reject) => {
      child.stdout.on('data', (chunk) => {
        const match = /(?:port |127\.0\.0\.1:)(\d+)/.exec(String(chunk));
        if (match) resolve(Number(match[1]));
      });
      child.once('exit', () => reject(new Error(`server exited: ${output}`)));
    });
    for (let i = 0; i < requests; i++)
      assert.equal((await fetch(`http://127.0.0.1:${port}${path}`)).status, 200);
    child.kill('SIGTERM');
    const [, signal] = await once(child, 'exit');
    receiver.close();
    assert.equal(signal, 'SIGTERM', 'the server ends on SIGTERM as it would without us');
    const ours = output
      .split('\n')
      .filter((line) => line.startsWith('otel-resource-tracker:') && !/metrics of process/.test(line));
    return { received, ours, output };
  }

  const cpuOf = (span) =>
    span.attributes.find((attribute) => attribute.key === tracker.SpanAttributes.ATTR_CPU_TIME)?.value
      .doubleValue;

  check(
    'zero-code entry on a node:http server with its own spans: figures reach an OTLP receiver',
    async () => {
      const { received, ours, output } = await underEntry('--import', 'server.mjs', '/work', 3);
      if (WITH_AUTO) assert.deepEqual(ours, [], output);
      else {
        assert.equal(ours.length, 1, output);
        assert.match(
          ours[0],
          /auto-instrumentations-node is not installed, so only the spans the application makes itself/,
        );
      }
      const spans = received.filter((span) => span.name === 'GET /work');
      assert.equal(spans.length, 3);
      for (const span of spans) assert.ok(cpuOf(span) >= 0.05, JSON.stringify(span.attributes));
    },
  );

  if (WITH_AUTO) {
    for (const script of ['express-app.mjs', 'express-app.cjs']) {
      for (const loader of ['--import', '--require']) {
        check(
          `zero-code, no tracing code: ${script} under ${loader}, SERVER spans with figures`,
          async () => {
            const { received, ours, output } = await underEntry(loader, script, '/cpu?ms=50', 2);
            assert.deepEqual(ours, [], output);
            const servers = received.filter((span) => span.kind === 2);
            assert.deepEqual(
              servers.map((span) => span.name),
              ['GET /cpu', 'GET /cpu'],
            );
            for (const span of servers) assert.ok(cpuOf(span) >= 0.045, JSON.stringify(span.attributes));
          },
        );
      }
    }
  }
}

let passed = 0;
let failed = 0;
check(
  'the bin: otel-resource-tracker run measures a command from the installed package, JSON and report',
  async () => {
    const { existsSync, readFileSync } = await import('node:fs');
    const bin = join(process.cwd(), 'node_modules', '.bin', 'otel-resource-tracker');
    assert.ok(existsSync(bin), 'npm linked the bin');
    const child = spawn(
      process.execPath,
      [
        bin,
        'run',
        '--json',
        'run.json',
        '--report',
        'run.html',
        '--',
        process.execPath,
        '-e',
        'const s=process.cpuUsage();while(process.cpuUsage(s).user<200000);process.exit(4)',
      ],
      {
        env: {
          PATH: process.env.PATH,
          OTEL_TRACES_EXPORTER: 'none',
          OTEL_RESOURCE_TRACKER_GPU_PROVIDER: 'none',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const [code] = await once(child, 'exit');
    assert.equal(code, 4, stderr);
    const figures = JSON.parse(readFileSync('run.json', 'utf8'));
    assert.ok(figures.cpu_time_seconds >= 0.2, `cpu ${figures.cpu_time_seconds}`);
    assert.match(readFileSync('run.html', 'utf8'), /uPlot/);
  },
);

for (const { name, run } of checks) {
  try {
    await run();
    passed++;
    console.log(`  ok   ${name}`);
  } catch (error) {
    failed++;
    console.log(
      `  FAIL ${name}\n       ${String(error?.stack ?? error)
        .split('\n')
        .slice(0, 6)
        .join('\n       ')}`,
    );
  }
}
console.log(`${label}: ${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
