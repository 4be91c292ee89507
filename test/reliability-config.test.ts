import assert from 'node:assert/strict';
import { SpanKind } from '@opentelemetry/api';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { ConfigError, KNOWN_VARIABLES, unknownVariableWarnings } from '../src/config/env.js';
import {
  calculateResourceUsage,
  captureResourceSnapshot,
  ResourceSpanProcessor,
  type ResourceSpanProcessorOptions,
  ResourceTracker,
  registerResourceMetrics,
  resourceUsageToDict,
  startPrometheusEndpoint,
} from '../src/index.js';
import { readProfilerEnvironment } from '../src/profiler/profiler-settings.js';
import { readZeroCodeConfig } from '../src/zero-code/zero-code-config.js';
import { recordFigure } from './helpers/figures.js';

/** Wrong types, negative, huge, empty, not-a-number: what a user or a config file can hand us. */
const JUNK: unknown[] = [
  '',
  '  ',
  -1,
  0,
  2.5,
  1e300,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  null,
  {},
  [],
  'x',
  true,
];

type Outcome = 'named' | 'accepted';

/** Calls `attempt`; a throw must name `name` (the option or variable), else the value must be one we accept. */
function check(name: string, value: unknown, valid: boolean, attempt: () => void): Outcome {
  try {
    attempt();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    assert.ok(!valid, `${name} = ${JSON.stringify(value)} is valid but was refused: ${message}`);
    assert.ok(message.includes(name), `the error for ${name} = ${String(value)} names it: ${message}`);
    return 'named';
  }
  assert.ok(valid, `${name} = ${String(value)} must be refused`);
  return 'accepted';
}

/** The error `attempt` threw or rejected with, or undefined when it succeeded (assertions belong outside). */
async function refusalOf(attempt: () => unknown): Promise<Error | undefined> {
  try {
    await attempt();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

const isArray = (value: unknown) => Array.isArray(value);
const isBoolean = (value: unknown) => typeof value === 'boolean';

/** Which junk values each option accepts (everything else must be refused, naming the option). */
const PROCESSOR_OPTIONS: Record<keyof ResourceSpanProcessorOptions, (value: unknown) => boolean> = {
  spanNames: isArray,
  spanKinds: isArray,
  spanFilter: () => false,
  attributes: (value) => Array.isArray(value) && value.length === 0,
  attributeGroups: isArray,
  cpuAttribution: () => false,
  exactMemory: isBoolean,
  childProcesses: isBoolean,
  gpu: isBoolean,
  gpuDevices: () => false,
  maxSpanOpenSeconds: (value) => typeof value === 'number' && value > 0,
  meterProvider: () => false,
  maxSpanNames: () => false,
  spanHistograms: (value) => Array.isArray(value) && value.length === 0,
  profiler: () => false,
  // The profiler's details: an empty object is all defaults (and the profiler is off without `profiler`).
  profile: (value) =>
    typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0,
};

const empty = (value: string) => value.trim() === '';
const booleanText = (value: string) => empty(value) || ['0', 'true'].includes(value.trim());
/** Which junk strings each environment variable accepts. */
const ENVIRONMENT: Record<string, (value: string) => boolean> = {
  OTEL_TRACES_EXPORTER: empty,
  OTEL_EXPORTER_OTLP_PROTOCOL: empty,
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: empty,
  OTEL_RESOURCE_TRACKER_METRICS: booleanText,
  OTEL_RESOURCE_TRACKER_SPAN_HISTOGRAMS: booleanText,
  OTEL_RESOURCE_TRACKER_CHILD_PROCESSES: booleanText,
  OTEL_RESOURCE_TRACKER_EXACT_MEMORY: booleanText,
  OTEL_RESOURCE_TRACKER_ATTRIBUTES: empty,
  OTEL_RESOURCE_TRACKER_SPAN_NAMES: () => true,
  OTEL_RESOURCE_TRACKER_SPAN_KINDS: (value) => empty(value) || value === 'all',
  OTEL_RESOURCE_TRACKER_SPAN_LOG: () => true,
  OTEL_RESOURCE_TRACKER_REPORT: empty,
  OTEL_RESOURCE_TRACKER_CPU_ATTRIBUTION: empty,
  OTEL_RESOURCE_TRACKER_GPU_DEVICES: (value) => empty(value) || value === '0' || value === 'all',
  OTEL_METRICS_EXPORTER: empty,
  OTEL_LOGS_EXPORTER: empty,
  OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: empty,
  OTEL_METRIC_EXPORT_INTERVAL: empty,
  OTEL_METRIC_EXPORT_TIMEOUT: empty,
  OTEL_NODE_RESOURCE_DETECTORS: (value) => empty(value) || value === 'all',
  OTEL_RESOURCE_TRACKER_GPU_PROVIDER: empty,
  OTEL_RESOURCE_TRACKER_NVML_LIBRARY: () => true,
  OTEL_RESOURCE_TRACKER_PROCFS_ROOT: () => true,
  OTEL_RESOURCE_TRACKER_SYSFS_ROOT: () => true,
  OTEL_RESOURCE_TRACKER_NVIDIA_SMI_TIMEOUT_MS: empty,
  OTEL_RESOURCE_TRACKER_GPU_SAMPLE_INTERVAL_MS: empty,
  OTEL_RESOURCE_TRACKER_GPU_ACTIVE_SAMPLE_INTERVAL_MS: empty,
  OTEL_EXPORTER_PROMETHEUS_PORT: (value) => empty(value) || value === '0',
  OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION: empty,
};
/**
 * The profiler's variables: a bad one turns the profiler off with one diagnostic naming it, and tracing goes on
 * (issue 27), so they are checked through the profiler's reader rather than as a refusal of the whole set-up.
 */
const PROFILER_ENVIRONMENT: Record<string, (value: string) => boolean> = {
  OTEL_RESOURCE_TRACKER_PROFILER: empty,
  OTEL_RESOURCE_TRACKER_PROFILE_SAMPLE_INTERVAL_US: empty,
  OTEL_RESOURCE_TRACKER_PROFILE_DIR: () => true,
  OTEL_RESOURCE_TRACKER_PROFILE_PERIOD_MS: empty,
  OTEL_RESOURCE_TRACKER_PROFILE_MAX_FILES: empty,
  OTEL_RESOURCE_TRACKER_PROFILE_MAX_BYTES: empty,
  OTEL_RESOURCE_TRACKER_PROFILER_BACKEND: empty,
};
/** '0x10' and '1e3' are numbers to JavaScript's Number(), not to a person writing a port or milliseconds. */
const JUNK_TEXT = [
  '',
  '  ',
  '-1',
  '0',
  '2.5',
  '1e300',
  'NaN',
  'abc',
  'true',
  'all',
  '0x10',
  '1e3',
  '0b1',
  '+5',
];

describe('reliability: every option and variable, given junk', () => {
  const outcomes: Outcome[] = [];
  after(() => {
    recordFigure({
      area: 'Configuration',
      injected:
        'every option of every entry point and every environment variable, given wrong types, negative, huge, empty, NaN',
      times: outcomes.length,
      outcome: `${outcomes.filter((o) => o === 'named').length} refused with an error naming the option or variable; ${outcomes.filter((o) => o === 'accepted').length} accepted as documented (empty = default, huge timeouts, …)`,
      lost: '–',
    });
  });

  it('ResourceSpanProcessor options', () => {
    for (const [key, valid] of Object.entries(PROCESSOR_OPTIONS)) {
      for (const value of JUNK) {
        outcomes.push(
          check(
            key,
            value,
            valid(value),
            () => new ResourceSpanProcessor({ [key]: value } as ResourceSpanProcessorOptions),
          ),
        );
      }
    }
    // The valid forms still work.
    new ResourceSpanProcessor({
      spanKinds: [SpanKind.SERVER],
      gpuDevices: 'all',
      maxSpanOpenSeconds: Number.POSITIVE_INFINITY,
    });
  });

  it('snapshot, tracker, usage and dict arguments', async () => {
    for (const value of JUNK) {
      const valid = value === 0;
      outcomes.push(
        check('gpuIndex', value, valid, () => captureResourceSnapshot({ gpuIndex: value as number })),
      );
      outcomes.push(
        check('gpuIndex', value, valid, () => new ResourceTracker({ gpuIndex: value as number })),
      );
      outcomes.push(
        check('start', value, false, () => calculateResourceUsage(value as never, captureResourceSnapshot())),
      );
      outcomes.push(check('usage', value, false, () => resourceUsageToDict(value as never)));
      outcomes.push(check('function', value, false, () => ResourceTracker.track(value as () => void)));
    }
    // A start with fixed values, so that which valid-looking ends come "before" it (and are refused for that) does
    // not depend on how long this process has run or how often its sampler ticked: the counts are the same in a
    // run of this file alone and in the whole suite.
    const snapshot = {
      ...captureResourceSnapshot(),
      cpuUserSeconds: 1,
      cpuSystemSeconds: 1,
      wallClockTime: 1,
      samplerTick: 1,
    };
    for (const field of ['cpuUserSeconds', 'memoryRssBytes', 'wallClockTime', 'samplerTick'] as const) {
      for (const value of JUNK) {
        const valid =
          typeof value === 'number' &&
          Number.isFinite(value) &&
          value >= 0 &&
          (field !== 'samplerTick' || Number.isInteger(value));
        // A valid-looking value may still be refused for coming "before" the start: only the naming is checked then.
        const refusal = await refusalOf(() =>
          calculateResourceUsage(snapshot, { ...snapshot, [field]: value }),
        );
        if (refusal === undefined) assert.ok(valid, `end.${field} = ${String(value)} must be refused`);
        else assert.match(refusal.message, new RegExp(`end\\.${field}`));
        outcomes.push(refusal === undefined ? 'accepted' : 'named');
      }
    }
  });

  it('registerResourceMetrics and startPrometheusEndpoint options', async () => {
    const meterProvider = new MeterProvider();
    for (const key of ['gpu', 'process'] as const) {
      for (const value of JUNK) {
        outcomes.push(
          check(`options.${key}`, value, isBoolean(value), () =>
            registerResourceMetrics(meterProvider, { [key]: value as boolean }).unregister(),
          ),
        );
      }
    }
    for (const value of JUNK) {
      outcomes.push(
        check('registerResourceMetrics', value, false, () => registerResourceMetrics(value as MeterProvider)),
      );
      const validPort = value === 0;
      const refusal = await refusalOf(async () => {
        const endpoint = await startPrometheusEndpoint({ port: value as number, resourceMetrics: false });
        await endpoint.shutdown();
      });
      if (refusal === undefined) assert.ok(validPort, `port ${String(value)} must be refused`);
      else {
        assert.ok(!validPort, `port ${String(value)} is valid but was refused: ${refusal.message}`);
        assert.match(refusal.message, /options\.port/);
      }
      outcomes.push(refusal === undefined ? 'accepted' : 'named');
      for (const key of [
        'withoutScopeInfo',
        'withoutTargetInfo',
        'withoutUnitSuffixes',
        'withResourceConstantLabels',
      ]) {
        const accepted = key === 'withResourceConstantLabels' ? value instanceof RegExp : isBoolean(value);
        const refused = await refusalOf(async () => {
          const endpoint = await startPrometheusEndpoint({ port: 0, resourceMetrics: false, [key]: value });
          await endpoint.shutdown();
        });
        if (refused === undefined) assert.ok(accepted, `${key}: ${String(value)} must be refused`);
        else assert.match(refused.message, new RegExp(`options\\.${key}`));
        outcomes.push(refused === undefined ? 'accepted' : 'named');
      }
    }
    await meterProvider.shutdown();
  });

  it('every variable of ours is known to the unknown-variable warning, and only those', () => {
    assert.deepEqual(
      [...KNOWN_VARIABLES].sort(),
      [...Object.keys(ENVIRONMENT), ...Object.keys(PROFILER_ENVIRONMENT)]
        .filter((name) => name.startsWith('OTEL_RESOURCE_TRACKER_'))
        .sort(),
    );
    assert.deepEqual(
      unknownVariableWarnings({ OTEL_RESOURCE_TRACKER_GPU_DEVICE: '0', OTEL_SERVICE_NAME: 'x' }),
      [
        'OTEL_RESOURCE_TRACKER_GPU_DEVICE is not a variable of otel-resource-tracker and is ignored; did you mean OTEL_RESOURCE_TRACKER_GPU_DEVICES?',
      ],
    );
  });

  it('a bad value is shown on one line: at most 80 characters of it, control characters escaped', () => {
    const huge = `otlp${'\n'.repeat(3)}\u001b[31m${'x'.repeat(128 * 1024)}`;
    for (const [name, value] of [
      ['OTEL_TRACES_EXPORTER', huge],
      ['OTEL_RESOURCE_TRACKER_REPORT', `report.txt\r\nforged line\u202e`],
      ['OTEL_EXPORTER_PROMETHEUS_PORT', `9464\n${'9'.repeat(100_000)}`],
      ['OTEL_RESOURCE_TRACKER_SPAN_NAMES', 'a,/[\u001b[2J/'],
      ['OTEL_RESOURCE_TRACKER_GPU_SAMPLE_INTERVAL_MS', '\u0000\u0007\u009b2J'],
    ] as const) {
      const refusal = (() => {
        try {
          readZeroCodeConfig({ [name]: value });
          return undefined;
        } catch (error) {
          return error as Error;
        }
      })();
      assert.ok(refusal instanceof ConfigError, `${name} refused`);
      assert.equal(refusal.message.split('\n').length, 1, `one line: ${refusal.message.slice(0, 300)}`);
      assert.ok(refusal.message.startsWith(name), refusal.message);
      assert.doesNotMatch(refusal.message, /[\p{Cc}\u202e]/u, 'no control character raw');
      assert.ok(refusal.message.length < 400, `${refusal.message.length} characters`);
    }
    assert.throws(() => readZeroCodeConfig({ OTEL_TRACES_EXPORTER: huge }), {
      message: new RegExp(
        `^OTEL_TRACES_EXPORTER must list some of otlp, console, none; got the string "otlp\\\\n\\\\n\\\\n\\\\x1b\\[31m${'x'.repeat(68)}…" \\(131084 characters\\)$`,
      ),
    });
  });

  it('every bad variable is named, one line each, in one refusal', () => {
    const refusal = (() => {
      try {
        readZeroCodeConfig({
          OTEL_TRACES_EXPORTER: 'jaeger',
          OTEL_EXPORTER_PROMETHEUS_PORT: '0x10',
          OTEL_RESOURCE_TRACKER_SPAN_KINDS: 'servers',
          OTEL_RESOURCE_TRACKER_GPU_PROVIDER: 'cuda',
          OTEL_METRIC_EXPORT_INTERVAL: '1e3',
          OTEL_SERVICE_NAME: 'fine',
        });
        return undefined;
      } catch (error) {
        return error as ConfigError;
      }
    })();
    assert.ok(refusal instanceof ConfigError);
    assert.deepEqual(refusal.problems.map((line) => line.split(' ')[0]).sort(), [
      'OTEL_EXPORTER_PROMETHEUS_PORT',
      'OTEL_METRIC_EXPORT_INTERVAL',
      'OTEL_RESOURCE_TRACKER_GPU_PROVIDER',
      'OTEL_RESOURCE_TRACKER_SPAN_KINDS',
      'OTEL_TRACES_EXPORTER',
    ]);
    assert.equal(refusal.message, refusal.problems.join('\n'));
    assert.ok(
      refusal.problems.includes(
        'OTEL_EXPORTER_PROMETHEUS_PORT must be an integer from 0 to 65535, in decimal digits; got the string "0x10"',
      ),
      refusal.message,
    );
  });

  it('whole numbers in decimal digits only where a whole number is meant; blanks around a value are trimmed', () => {
    const numeric = [
      'OTEL_EXPORTER_PROMETHEUS_PORT',
      'OTEL_METRIC_EXPORT_INTERVAL',
      'OTEL_METRIC_EXPORT_TIMEOUT',
      'OTEL_RESOURCE_TRACKER_GPU_SAMPLE_INTERVAL_MS',
      'OTEL_RESOURCE_TRACKER_GPU_ACTIVE_SAMPLE_INTERVAL_MS',
      'OTEL_RESOURCE_TRACKER_NVIDIA_SMI_TIMEOUT_MS',
    ];
    for (const name of numeric) {
      for (const value of ['0x3e8', '1e3', '1000.0', '1_000', '0o1750', '+1000', '1 000']) {
        assert.throws(() => readZeroCodeConfig({ [name]: value }), {
          message: new RegExp(`^${name} must be an? (integer|number) from`),
        });
      }
      assert.doesNotThrow(() => readZeroCodeConfig({ [name]: ' 1000 ' }), name);
    }
    assert.equal(readZeroCodeConfig({ OTEL_METRIC_EXPORT_INTERVAL: ' 5000 ' }).metricExport.intervalMs, 5000);
  });

  it('environment variables of the zero-code entry and the endpoint', async () => {
    for (const [name, valid] of Object.entries(ENVIRONMENT)) {
      for (const value of JUNK_TEXT)
        outcomes.push(check(name, value, valid(value), () => readZeroCodeConfig({ [name]: value })));
    }
    for (const [name, valid] of Object.entries(PROFILER_ENVIRONMENT)) {
      for (const value of JUNK_TEXT) {
        // The companions are read when the profiler is on; the switch itself alone.
        const env =
          name === 'OTEL_RESOURCE_TRACKER_PROFILER'
            ? { [name]: value }
            : { OTEL_RESOURCE_TRACKER_PROFILER: 'cpu', [name]: value };
        const { problem } = readProfilerEnvironment(env);
        if (problem === undefined) assert.ok(valid(value), `${name}=${value} must be refused`);
        else {
          assert.ok(!valid(value), `${name}=${value} is valid but was refused: ${problem}`);
          assert.ok(problem.includes(name), `the problem names ${name}: ${problem}`);
        }
        outcomes.push(problem === undefined ? 'accepted' : 'named');
      }
    }
    for (const value of JUNK_TEXT) {
      const valid = empty(value) || value === '0';
      const refusal = await refusalOf(async () => {
        const endpoint = await startPrometheusEndpoint({
          env: { OTEL_EXPORTER_PROMETHEUS_PORT: value, OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1' },
          port: empty(value) ? 0 : (undefined as unknown as number),
          resourceMetrics: false,
        });
        await endpoint.shutdown();
      });
      if (refusal === undefined) assert.ok(valid, `OTEL_EXPORTER_PROMETHEUS_PORT=${value} must be refused`);
      else {
        assert.ok(
          !valid,
          `OTEL_EXPORTER_PROMETHEUS_PORT=${value} is valid but was refused: ${refusal.message}`,
        );
        assert.match(refusal.message, /OTEL_EXPORTER_PROMETHEUS_PORT/);
      }
      outcomes.push(refusal === undefined ? 'accepted' : 'named');
    }
  });
});
