import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { SpanAttributes as keys } from '../src/index.js';
import { readZeroCodeConfig } from '../src/zero-code/zero-code-config.js';
import { receiverPerTest } from './helpers/otlp-receiver.js';
import { freePort } from './helpers/prometheus.js';
import { example, repoRoot, underZeroCode, waitForUrl } from './helpers/zero-code.js';

const CONTRACT_KEYS = [
  keys.ATTR_CPU_TIME,
  keys.ATTR_CPU_USER_TIME,
  keys.ATTR_CPU_SYSTEM_TIME,
  keys.ATTR_CPU_ATTRIBUTED_TIME,
  keys.ATTR_CPU_AVERAGE_CORES,
  keys.ATTR_CONCURRENT_SPANS,
  keys.ATTR_WALL_TIME,
  keys.ATTR_MEMORY_START,
  keys.ATTR_MEMORY_END,
  keys.ATTR_MEMORY_DELTA,
  keys.ATTR_MEMORY_PEAK,
];

describe('zero-code entry: node --import otel-resource-tracker/register', function () {
  this.timeout(60_000);
  const otlp = receiverPerTest();

  it("sends the batch example's spans over OTLP with the resource attributes of the contract", async () => {
    const { done } = underZeroCode(example('batch'), {
      OTEL_SERVICE_NAME: 'batch-under-test',
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_RESOURCE_TRACKER_METRICS: 'false',
      OTEL_RESOURCE_TRACKER_CHILD_PROCESSES: 'true',
      // Every key of the contract (the default set is checked on the job server below).
      OTEL_RESOURCE_TRACKER_ATTRIBUTES: 'full',
    });
    const finished = await done;
    assert.equal(finished.code, 0, finished.stderr);
    assert.match(finished.stdout, /batch done/);
    const topLevel = [
      'cpu-heavy',
      'memory-heavy',
      'concurrent-a',
      'concurrent-b',
      'nested-parent',
      'shell-out',
    ];
    for (const name of [...topLevel, 'nested-child-1', 'nested-child-2']) {
      const span = otlp.receiver.span(name);
      for (const key of CONTRACT_KEYS) assert.equal(typeof span.attributes[key], 'number', `${name}: ${key}`);
      assert.equal(span.resource['service.name'], 'batch-under-test');
      assert.equal(
        Object.keys(span.attributes).filter(
          (key) => key.startsWith('resource_tracker.gpu.') || key.startsWith('hw.'),
        ).length,
        0,
        'no GPU here',
      );
    }
    const attributed = (name: string) =>
      otlp.receiver.span(name).attributes[keys.ATTR_CPU_ATTRIBUTED_TIME] as number;
    const peak = (name: string) => otlp.receiver.span(name).attributes[keys.ATTR_MEMORY_PEAK] as number;
    // cpu-heavy spins until the process has used 300 ms of user CPU, alone: all of it is charged to it. (Which task
    // used the most CPU is the machine's business: filling 200 MiB costs 0.2–0.7 s of page faults and GC.)
    const cpuHeavy = otlp.receiver.span('cpu-heavy').attributes;
    assert.ok((cpuHeavy[keys.ATTR_CPU_USER_TIME] as number) >= 0.3, 'user CPU of cpu-heavy');
    // (Less what background callbacks of no span ran meanwhile: the exporter's, the samplers'.)
    assert.ok(
      Math.abs(attributed('cpu-heavy') - (cpuHeavy[keys.ATTR_CPU_TIME] as number)) <=
        0.05 * (cpuHeavy[keys.ATTR_CPU_TIME] as number),
      'alone: attributed = process CPU',
    );
    const highestPeak = topLevel.reduce((best, name) => (peak(name) > peak(best) ? name : best));
    assert.equal(highestPeak, 'memory-heavy');
    const memory = otlp.receiver.span('memory-heavy').attributes;
    assert.ok(
      (memory[keys.ATTR_MEMORY_PEAK] as number) - (memory[keys.ATTR_MEMORY_START] as number) > 190 * 2 ** 20,
    );
    assert.ok((otlp.receiver.span('shell-out').attributes[keys.ATTR_CHILDREN_CPU_TIME] as number) >= 0.09);
    const child = otlp.receiver.span('nested-child-1');
    assert.equal(child.parentSpanId, otlp.receiver.span('nested-parent').spanId);
  });

  it('starts the same way from NODE_OPTIONS=--import=otel-resource-tracker/register', async () => {
    const child = spawn(process.execPath, [example('batch')], {
      cwd: repoRoot,
      env: {
        PATH: process.env.PATH ?? '',
        NODE_OPTIONS: '--import=otel-resource-tracker/register',
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_RESOURCE_TRACKER_METRICS: 'false',
        OTEL_RESOURCE_TRACKER_GPU_PROVIDER: 'none',
      },
      stdio: 'ignore',
    });
    assert.equal(await new Promise((resolve) => child.on('exit', resolve)), 0);
    assert.equal(typeof otlp.receiver.span('cpu-heavy').attributes[keys.ATTR_CPU_TIME], 'number');
  });

  it('speaks OTLP/protobuf by default', async () => {
    const { done } = underZeroCode(example('batch'), {
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
      OTEL_RESOURCE_TRACKER_METRICS: 'false',
    });
    assert.equal((await done).code, 0);
    const traces = otlp.receiver.requests.filter((request) => request.path === '/v1/traces');
    assert.ok(
      traces.length > 0 && traces.every((request) => request.contentType === 'application/x-protobuf'),
    );
    assert.ok(traces.reduce((sum, request) => sum + request.bytes, 0) > 1000);
  });

  it("flushes on SIGTERM: the job server's spans arrive although the batch delay has not passed", async () => {
    const { child, done } = underZeroCode(example('http-server'), {
      PORT: '0',
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '60000',
      OTEL_RESOURCE_TRACKER_METRICS: 'false',
    });
    const url = await waitForUrl(child);
    for (const path of ['/jobs/cpu?ms=40', '/jobs/memory?mb=64', '/jobs/io?ms=20']) {
      assert.equal((await fetch(`${url}${path}`)).status, 200);
    }
    assert.equal(otlp.receiver.spans.length, 0, 'nothing exported yet (60 s batch delay)');
    child.kill('SIGTERM');
    const finished = await done;
    assert.equal(finished.code, 0, finished.stderr);
    // The Express app has no tracing code: its requests are the http and express instrumentations' spans.
    const measured = otlp.receiver.spans.filter((span) => span.attributes[keys.ATTR_CPU_TIME] !== undefined);
    assert.deepEqual(measured.map((span) => span.name).sort(), [
      'GET /jobs/cpu',
      'GET /jobs/io',
      'GET /jobs/memory',
    ]);
    assert.ok((otlp.receiver.span('GET /jobs/cpu').attributes[keys.ATTR_CPU_TIME] as number) >= 0.036);
    // The default set, no more: each key is paid for on every request (CPU to export it, bytes to store it).
    const ours = Object.keys(otlp.receiver.span('GET /jobs/cpu').attributes).filter((key) =>
      key.startsWith('resource_tracker.'),
    );
    assert.deepEqual(ours.sort(), [keys.ATTR_CPU_ATTRIBUTED_TIME, keys.ATTR_CPU_TIME, keys.ATTR_MEMORY_PEAK]);
  });

  it('writes spans with their resource attributes to the console with OTEL_TRACES_EXPORTER=console', async () => {
    const { done } = underZeroCode(example('batch'), {
      OTEL_TRACES_EXPORTER: 'console',
      OTEL_RESOURCE_TRACKER_METRICS: 'false',
    });
    const finished = await done;
    assert.equal(finished.code, 0, finished.stderr);
    assert.match(finished.stdout, /name: 'cpu-heavy'/);
    assert.match(finished.stdout, /'resource_tracker\.cpu\.attributed_time': \d/);
  });

  it('names a bad variable on stderr, starts nothing, and lets the application run', async function () {
    // 16 applications one after the other (2–4 s each on a loaded 2-core machine), each asserted on.
    this.timeout(180_000);
    for (const [variable, value, message] of [
      [
        'OTEL_TRACES_EXPORTER',
        'jaeger',
        /OTEL_TRACES_EXPORTER must list some of otlp, console, none; got the string "jaeger"/,
      ],
      [
        'OTEL_EXPORTER_OTLP_PROTOCOL',
        'http',
        /OTEL_EXPORTER_OTLP_PROTOCOL must be one of http\/protobuf, http\/json, grpc/,
      ],
      [
        'OTEL_RESOURCE_TRACKER_METRICS',
        'maybe',
        /OTEL_RESOURCE_TRACKER_METRICS must be true, 1, yes, on or false, 0, no, off \(any case\); got the string "maybe"/,
      ],
      [
        'OTEL_RESOURCE_TRACKER_GPU_DEVICES',
        'first',
        /OTEL_RESOURCE_TRACKER_GPU_DEVICES must be "all" or device indices/,
      ],
      [
        'OTEL_RESOURCE_TRACKER_CPU_ATTRIBUTION',
        'precise',
        /OTEL_RESOURCE_TRACKER_CPU_ATTRIBUTION must be one of async-context, fair-share, exact/,
      ],
      [
        'OTEL_RESOURCE_TRACKER_GPU_PROVIDER',
        'cuda',
        /OTEL_RESOURCE_TRACKER_GPU_PROVIDER must be one of auto, nvml, nvidia-smi, drm, none/,
      ],
      [
        'OTEL_EXPORTER_PROMETHEUS_PORT',
        '99999',
        /OTEL_EXPORTER_PROMETHEUS_PORT must be a number from 0 to 65535; got the string "99999"/,
      ],
      ['OTEL_RESOURCE_TRACKER_SPAN_NAMES', '/[/', /OTEL_RESOURCE_TRACKER_SPAN_NAMES has an invalid pattern/],
      [
        'OTEL_RESOURCE_TRACKER_SPAN_KINDS',
        'server,servers',
        /OTEL_RESOURCE_TRACKER_SPAN_KINDS must list some of all, server, client, producer, consumer, internal, local_root, manual; got the string "servers"/,
      ],
      [
        'OTEL_METRICS_EXPORTER',
        'prometheus,statsd',
        /OTEL_METRICS_EXPORTER must list some of prometheus, otlp, console, none; got the string "statsd"/,
      ],
      ['OTEL_METRICS_EXPORTER', 'none,otlp', /OTEL_METRICS_EXPORTER cannot combine "none" with other values/],
      [
        'OTEL_LOGS_EXPORTER',
        'kafka',
        /OTEL_LOGS_EXPORTER must list some of otlp, console, none; got the string "kafka"/,
      ],
      [
        'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL',
        'udp',
        /OTEL_EXPORTER_OTLP_METRICS_PROTOCOL must be one of http\/protobuf, http\/json, grpc; got the string "udp"/,
      ],
      ['OTEL_METRIC_EXPORT_INTERVAL', 'soon', /OTEL_METRIC_EXPORT_INTERVAL must be a number from 1 to/],
      [
        'OTEL_RESOURCE_TRACKER_ATTRIBUTES',
        'resource_tracker.cpu.time,wall_time',
        /OTEL_RESOURCE_TRACKER_ATTRIBUTES must be "default", "full" or a list of keys among resource_tracker.cpu.time, .*; got the string "wall_time" in the string "resource_tracker.cpu.time,wall_time"/,
      ],
      [
        'OTEL_NODE_RESOURCE_DETECTORS',
        'env,k8s',
        /OTEL_NODE_RESOURCE_DETECTORS must list some of all, none, env, host, os, process, serviceinstance, container, alibaba, aws, azure, gcp; got the string "k8s"/,
      ],
      [
        'OTEL_NODE_ENABLED_INSTRUMENTATIONS',
        'http,expres',
        /OTEL_NODE_ENABLED_INSTRUMENTATIONS names "expres", which @opentelemetry\/auto-instrumentations-node does not have/,
      ],
    ] as const) {
      const { done } = underZeroCode(example('batch'), {
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
        [variable]: value,
      });
      const finished = await done;
      assert.equal(finished.code, 0, `${variable}: the application still runs`);
      assert.match(finished.stdout, /batch done/);
      assert.match(finished.stderr, message);
      assert.match(finished.stderr, /Tracing is not started/);
    }
    assert.equal(otlp.receiver.spans.length, 0, 'nothing half-started');
  });

  it('names every bad variable on its own line (value cut and escaped), then starts nothing', async () => {
    const { done } = underZeroCode(example('batch'), {
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      // Resolves nowhere (.invalid is reserved for that): found before anything starts, not when the endpoint fails.
      OTEL_EXPORTER_PROMETHEUS_HOST: 'metrics-host.invalid',
      OTEL_EXPORTER_PROMETHEUS_PORT: '0x10',
      // (100 KB: Linux refuses one environment string over 128 KB.)
      OTEL_RESOURCE_TRACKER_SPAN_KINDS: `server\n${'s'.repeat(100 * 1024)}`,
      OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'http,,expres,pgg',
    });
    const finished = await done;
    assert.equal(finished.code, 0, finished.stderr);
    assert.match(finished.stdout, /batch done/);
    const lines = finished.stderr.split('\n').filter((line) => line !== '');
    assert.deepEqual(
      lines.map((line) => /^otel-resource-tracker: (\S+)/.exec(line)?.[1]),
      [
        'OTEL_EXPORTER_PROMETHEUS_PORT',
        'OTEL_RESOURCE_TRACKER_SPAN_KINDS',
        'OTEL_EXPORTER_PROMETHEUS_HOST',
        'OTEL_NODE_DISABLED_INSTRUMENTATIONS',
        'Tracing',
      ],
      finished.stderr.slice(0, 2000),
    );
    assert.match(
      lines[0] ?? '',
      /must be an integer from 0 to 65535, in decimal digits; got the string "0x10"$/,
    );
    assert.match(lines[1] ?? '', /got the string "server\\ns{73}…" \(102407 characters\)$/);
    assert.match(lines[2] ?? '', /got "metrics-host\.invalid", which does not resolve/);
    assert.match(
      lines[3] ?? '',
      /^otel-resource-tracker: OTEL_NODE_DISABLED_INSTRUMENTATIONS names "expres", "pgg", which @opentelemetry\/auto-instrumentations-node does not have .*; got the string "http,,expres,pgg"$/,
    );
    assert.equal(
      lines[4],
      'otel-resource-tracker: Tracing is not started: the 4 variables above are invalid, and the application runs untraced (fix it and restart).',
    );
    assert.ok(finished.stderr.length < 2000, `${finished.stderr.length} characters on stderr`);
    assert.equal(otlp.receiver.spans.length, 0, 'nothing half-started');
  });

  it('refuses an OTEL_EXPORTER_PROMETHEUS_HOST that resolves nowhere before tracing starts, naming it', async () => {
    const { done } = underZeroCode(example('batch'), {
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_PROMETHEUS_HOST: 'metrics-host.invalid',
    });
    const finished = await done;
    assert.equal(finished.code, 0, finished.stderr);
    assert.match(finished.stdout, /batch done/);
    assert.deepEqual(
      finished.stderr.split('\n').filter((line) => line !== ''),
      [
        'otel-resource-tracker: OTEL_EXPORTER_PROMETHEUS_HOST must be an address or host name of this machine (0.0.0.0 for all); got "metrics-host.invalid", which does not resolve (getaddrinfo ENOTFOUND)',
        'otel-resource-tracker: Tracing is not started: the variable above is invalid, and the application runs untraced (fix it and restart).',
      ],
    );
    assert.equal(otlp.receiver.spans.length, 0, 'no tracing without its metrics');
    // Not a host name at all: named once, by the configuration's reading.
    const malformed = await underZeroCode(example('batch'), {
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
      OTEL_EXPORTER_PROMETHEUS_HOST: 'metrics host',
    }).done;
    assert.equal(
      malformed.stderr.split('\n').filter((line) => line.includes('OTEL_EXPORTER_PROMETHEUS_HOST')).length,
      1,
    );
  });

  it('takes empty entries of the instrumentation lists as nothing ("http,,") and traces as usual', async () => {
    const { done } = underZeroCode(example('batch'), {
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_RESOURCE_TRACKER_METRICS: 'false',
      OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'http,,',
      OTEL_NODE_ENABLED_INSTRUMENTATIONS: ',http, ,undici,',
    });
    const finished = await done;
    assert.equal(finished.code, 0, finished.stderr);
    assert.equal(finished.stderr, '');
    assert.equal(typeof otlp.receiver.span('cpu-heavy').attributes[keys.ATTR_CPU_TIME], 'number');
  });

  it('names an unknown OTEL_RESOURCE_TRACKER_ variable and the closest known one, once, and goes on', async () => {
    const { done } = underZeroCode(example('batch'), {
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_RESOURCE_TRACKER_METRICS: 'false',
      OTEL_RESOURCE_TRACKER_SPANNAMES: 'cpu-heavy',
    });
    const finished = await done;
    assert.equal(finished.code, 0);
    const lines = finished.stderr.split('\n').filter((line) => line.includes('SPANNAMES'));
    assert.deepEqual(lines, [
      'otel-resource-tracker: OTEL_RESOURCE_TRACKER_SPANNAMES is not a variable of otel-resource-tracker and is ignored; did you mean OTEL_RESOURCE_TRACKER_SPAN_NAMES?',
    ]);
    assert.ok(otlp.receiver.spans.length > 5, 'tracing started as without it');
  });

  it('says once, on one line, where spans were going when they cannot be exported', async () => {
    const closed = await freePort();
    const { done } = underZeroCode(example('batch'), {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${closed}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '20',
      OTEL_EXPORTER_OTLP_TIMEOUT: '1000',
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '2',
      OTEL_RESOURCE_TRACKER_METRICS: 'false',
    });
    const finished = await done;
    assert.equal(finished.code, 0);
    assert.match(finished.stdout, /batch done/);
    const lines = finished.stderr.split('\n').filter((line) => line.trim() !== '');
    assert.equal(lines.length, 1, finished.stderr);
    assert.match(
      lines[0] ?? '',
      new RegExp(
        `^otel-resource-tracker: spans cannot be exported to http://127\\.0\\.0\\.1:${closed}/v1/traces: .*ECONNREFUSED.*\\(said once`,
      ),
    );
  });

  it('measures only the spans named in OTEL_RESOURCE_TRACKER_SPAN_NAMES', async () => {
    const { done } = underZeroCode(example('batch'), {
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_RESOURCE_TRACKER_METRICS: 'false',
      OTEL_RESOURCE_TRACKER_SPAN_NAMES: 'cpu-heavy,/^nested-/',
    });
    assert.equal((await done).code, 0);
    assert.equal(typeof otlp.receiver.span('cpu-heavy').attributes[keys.ATTR_CPU_TIME], 'number');
    assert.equal(typeof otlp.receiver.span('nested-child-2').attributes[keys.ATTR_CPU_TIME], 'number');
    assert.equal(otlp.receiver.span('memory-heavy').attributes[keys.ATTR_CPU_TIME], undefined);
  });
});

describe('zero-code configuration: OTEL_RESOURCE_TRACKER_ATTRIBUTES', () => {
  it('reads default, full (any case) or a comma list of keys into the processor option', () => {
    assert.equal(readZeroCodeConfig({}).processor.attributes, undefined, 'unset: the processor default');
    assert.equal(
      readZeroCodeConfig({ OTEL_RESOURCE_TRACKER_ATTRIBUTES: ' Full ' }).processor.attributes,
      'full',
    );
    assert.equal(
      readZeroCodeConfig({ OTEL_RESOURCE_TRACKER_ATTRIBUTES: 'default' }).processor.attributes,
      'default',
    );
    assert.deepEqual(
      readZeroCodeConfig({
        OTEL_RESOURCE_TRACKER_ATTRIBUTES: 'resource_tracker.cpu.time, resource_tracker.wall_time',
      }).processor.attributes,
      [keys.ATTR_CPU_TIME, keys.ATTR_WALL_TIME],
    );
  });

  it('refuses an unknown key in one line naming the variable, the key and what is accepted', () => {
    assert.throws(
      () => readZeroCodeConfig({ OTEL_RESOURCE_TRACKER_ATTRIBUTES: 'all' }),
      (error: Error) =>
        error.name === 'ConfigError' &&
        !error.message.includes('\n') &&
        /^OTEL_RESOURCE_TRACKER_ATTRIBUTES must be "default", "full" or a list of keys among resource_tracker\.cpu\.time, .*hw\.model, .*; got the string "all"$/.test(
          error.message,
        ),
    );
  });
});
