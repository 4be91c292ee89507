import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { fakeNvmlLibrary, GiB, scratchDir, writeNvmlControl } from './helpers/fake-gpu.js';
import { OtlpReceiver } from './helpers/otlp-receiver.js';
import { collectorExposition, type OtlpMetricsJson } from './helpers/otlp-to-prometheus.js';
import { freePort, type RunningPrometheus, requireBinary, startPrometheus } from './helpers/prometheus.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const examples = join(repoRoot, 'examples');

type Yaml = Record<string, unknown>;
const readYaml = (path: string) => parse(readFileSync(path, 'utf8')) as Yaml;
const section = (value: unknown, what: string): Yaml => {
  assert.ok(value !== null && typeof value === 'object', `${what} is a mapping`);
  return value as Yaml;
};

interface Panel {
  title: string;
  targets: Array<{ expr: string }>;
}

/** Grafana's variables, replaced as Grafana would for "All" and a short range. */
function withoutGrafanaVariables(expression: string): string {
  return expression
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$__interval', '15s')
    .replaceAll('$job', '.*')
    .replaceAll('$instance', '.*');
}

describe('examples: Prometheus rules, Grafana dashboard, collector and compose files', function () {
  this.timeout(90_000);

  it('rules pass promtool check rules and their unit tests (promtool test rules)', () => {
    requireBinary('promtool');
    const cwd = join(examples, 'prometheus');
    execFileSync('promtool', ['check', 'rules', 'rules.yml'], { cwd, stdio: 'pipe' });
    const output = execFileSync('promtool', ['test', 'rules', 'rules.test.yml'], { cwd, encoding: 'utf8' });
    assert.match(output, /SUCCESS/);
  });

  it('collector-config.yaml: every pipeline names defined components, and the ports agree with the examples', () => {
    const config = readYaml(join(repoRoot, 'collector-config.yaml'));
    const defined = (kind: string) => new Set(Object.keys(section(config[kind], kind)));
    const service = section(config.service, 'service');
    for (const [name, pipeline] of Object.entries(section(service.pipelines, 'service.pipelines'))) {
      for (const kind of ['receivers', 'processors', 'exporters'] as const) {
        const listed = (section(pipeline, name)[kind] as string[] | undefined) ?? [];
        assert.ok(kind === 'processors' || listed.length > 0, `${name} has ${kind}`);
        for (const component of listed)
          assert.ok(defined(kind).has(component), `${name}.${kind}: ${component} is defined`);
      }
      const processors = section(pipeline, name).processors as string[];
      assert.equal(processors[0], 'memory_limiter', `${name}: memory_limiter comes first`);
      assert.ok(processors.includes('batch'));
    }
    for (const extension of (service.extensions as string[] | undefined) ?? []) {
      assert.ok(defined('extensions').has(extension), `extension ${extension} is defined`);
    }
    const receivers = section(section(config.receivers, 'receivers').otlp, 'otlp');
    const protocols = section(receivers.protocols, 'protocols');
    const port = (endpoint: unknown) => Number(String(endpoint).split(':').at(-1));
    const grpcPort = port(section(protocols.grpc, 'grpc').endpoint);
    const httpPort = port(section(protocols.http, 'http').endpoint);
    assert.deepEqual([grpcPort, httpPort], [4317, 4318]);
    const exporters = section(config.exporters, 'exporters');
    const prometheusPort = port(section(exporters.prometheus, 'prometheus').endpoint);
    const jaegerEndpoint = String(section(exporters['otlp/jaeger'], 'otlp/jaeger').endpoint);

    const compose = readYaml(join(examples, 'docker-compose.yaml'));
    const services = section(compose.services, 'services');
    for (const name of ['app', 'otel-collector', 'jaeger', 'prometheus', 'grafana'])
      assert.ok(services[name], `service ${name}`);
    const app = section(services.app, 'app');
    const appEnv = section(app.environment, 'app.environment');
    assert.equal(appEnv.OTEL_EXPORTER_OTLP_ENDPOINT, `http://otel-collector:${httpPort}`);
    assert.equal(
      appEnv.OTEL_EXPORTER_OTLP_PROTOCOL,
      'http/protobuf',
      'the HTTP receiver takes the default protocol',
    );
    const collectorPorts = (section(services['otel-collector'], 'otel-collector').ports as string[]).map(
      (entry) => Number(entry.split(':')[1]),
    );
    for (const expected of [grpcPort, httpPort, prometheusPort])
      assert.ok(collectorPorts.includes(expected), `collector publishes ${expected}`);
    assert.equal(jaegerEndpoint.split(':')[0], 'jaeger', 'the Jaeger exporter points at the jaeger service');

    const scrape = readYaml(join(examples, 'prometheus', 'prometheus.yml'));
    const targets = (scrape.scrape_configs as Yaml[]).flatMap((job) =>
      (job.static_configs as Yaml[]).flatMap((config) => config.targets as string[]),
    );
    assert.deepEqual(targets.sort(), [
      `app:${appEnv.OTEL_EXPORTER_PROMETHEUS_PORT}`,
      `otel-collector:${prometheusPort}`,
    ]);
    assert.equal(
      appEnv.OTEL_EXPORTER_PROMETHEUS_HOST,
      '0.0.0.0',
      'inside a container the endpoint must leave 127.0.0.1',
    );

    for (const service of Object.values(services)) {
      for (const volume of (section(service, 'service').volumes as string[] | undefined) ?? []) {
        const source = volume.split(':')[0] as string;
        if (!source.startsWith('.')) continue; // a named volume
        assert.ok(existsSync(resolve(examples, source)), `compose volume ${source} exists`);
      }
    }
  });

  it('every dashboard and rule query returns data on a real Prometheus, on a direct scrape and on the Collector path', async () => {
    const dashboard = JSON.parse(
      readFileSync(join(examples, 'grafana', 'dashboards', 'otel-resource-tracker.json'), 'utf8'),
    ) as {
      panels: Panel[];
    };
    const dir = scratchDir();
    const control = join(dir, 'control');
    const metricsPort = await freePort();
    // The Collector path: the app pushes OTLP (as to a Collector), and what the Collector's Prometheus exporter
    // would serve for it (the specification's translation, test/helpers/otlp-to-prometheus.ts) is scraped.
    const receiver = new OtlpReceiver();
    const receiverUrl = await receiver.start();
    const collector = createServer((_request, response) => {
      response.setHeader('Content-Type', 'text/plain; version=0.0.4');
      response.end(collectorExposition((receiver.lastMetricsRequest ?? {}) as OtlpMetricsJson));
    });
    await new Promise<void>((listening) => collector.listen(0, '127.0.0.1', listening));
    const collectorPort = (collector.address() as AddressInfo).port;
    const app: ChildProcess = spawn(
      process.execPath,
      ['--import', 'otel-resource-tracker/register', join(repoRoot, 'build', 'examples', 'http-server.js')],
      {
        cwd: repoRoot,
        env: {
          PATH: process.env.PATH ?? '',
          PORT: '0',
          OTEL_SERVICE_NAME: 'jobs',
          OTEL_TRACES_EXPORTER: 'none',
          OTEL_METRICS_EXPORTER: 'prometheus,otlp',
          OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json',
          OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${receiverUrl}/v1/metrics`,
          OTEL_METRIC_EXPORT_INTERVAL: '1000',
          OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
          OTEL_RESOURCE_TRACKER_GPU_PROVIDER: 'nvml',
          OTEL_RESOURCE_TRACKER_NVML_LIBRARY: fakeNvmlLibrary(),
          FAKE_NVML_CONTROL: control,
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const prometheusDir = scratchDir('rules-');
    writeFileSync(join(prometheusDir, 'rules.yml'), readFileSync(join(examples, 'prometheus', 'rules.yml')));
    const ruleFiles = `rule_files:\n  - ${join(prometheusDir, 'rules.yml')}\n`;
    const prometheus: Array<[string, RunningPrometheus]> = [];
    try {
      writeNvmlControl(control, {
        devices: [
          {
            name: 'Fake H100',
            uuid: 'GPU-dashboard',
            totalBytes: 80 * GiB,
            used: [30 * GiB],
            utilizationPercent: 60,
            processes: [{ pid: app.pid ?? 0, bytes: 4 * GiB }],
          },
        ],
      });
      const url = await new Promise<string>((resolveUrl, reject) => {
        app.stdout?.on('data', (chunk: Buffer) => {
          const match = /listening on (http:\/\/[\d.:]+)/.exec(chunk.toString());
          if (match?.[1]) resolveUrl(match[1]);
        });
        app.once('exit', () => reject(new Error('the job server exited')));
      });
      prometheus.push([
        'direct scrape',
        await startPrometheus([{ job: 'app', hostPort: `127.0.0.1:${metricsPort}` }], ruleFiles),
      ]);
      prometheus.push([
        'Collector path',
        await startPrometheus(
          [{ job: 'collector', hostPort: `127.0.0.1:${collectorPort}`, honorLabels: true }],
          ruleFiles,
        ),
      ]);
      const until = Date.now() + 8000;
      while (Date.now() < until) {
        for (const path of ['/jobs/cpu?ms=20', '/jobs/memory?mb=40', '/jobs/io?ms=10'])
          await fetch(`${url}${path}`);
        await sleep(200);
      }
      const ours = 'count by (__name__) ({__name__=~"hw_.*|process_.*|resource_tracker_.*"})';
      const namesOn: string[][] = [];
      for (const [path, server] of prometheus) {
        await server.waitFor(
          'resource_tracker_span_cpu_time_seconds_count',
          (results) => results.length >= 3,
        );
        namesOn.push((await server.query(ours)).map((result) => result.metric.__name__ ?? '').sort());
        const empty: string[] = [];
        for (const panel of dashboard.panels) {
          for (const target of panel.targets) {
            const results = await server.query(withoutGrafanaVariables(target.expr)); // throws on a PromQL error
            if (results.length === 0) empty.push(`${panel.title}: ${target.expr}`);
          }
        }
        assert.deepEqual(empty, [], `every panel query returns data (${path})`);
        const rules = readYaml(join(examples, 'prometheus', 'rules.yml'));
        for (const group of rules.groups as Yaml[]) {
          for (const rule of group.rules as Yaml[]) await server.query(String(rule.expr));
        }
        // The recording rule evaluates to data: its series exist.
        await server.waitFor(
          'span_name:resource_tracker_span_memory_peak_bytes:p95_30m',
          (r) => r.length >= 3,
        );
        const loaded = (await (await fetch(`${server.url}/api/v1/rules`)).json()) as {
          data: { groups: Array<{ rules: Array<{ health: string; name: string }> }> };
        };
        const rulesHealth = loaded.data.groups.flatMap((group) =>
          group.rules.map((rule) => `${rule.name}:${rule.health}`),
        );
        assert.equal(rulesHealth.length, 5);
        assert.ok(
          rulesHealth.every((entry) => !entry.endsWith(':err')),
          `${path}: ${rulesHealth.join(', ')}`,
        );
      }
      // The same metric names on both paths (the direct path adds nothing the Collector path lacks, and back).
      assert.ok((namesOn[0]?.length ?? 0) >= 10, namesOn[0]?.join(', '));
      assert.deepEqual(namesOn[0], namesOn[1]);
    } finally {
      app.kill('SIGTERM');
      for (const [, server] of prometheus) await server.stop();
      collector.close();
      await receiver.stop();
    }
  });
});
