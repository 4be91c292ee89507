import assert from 'node:assert/strict';
import { SpanKind } from '@opentelemetry/api';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { KNOWN_VARIABLES, unknownVariableWarnings } from '../src/config/env.js';
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
  OTEL_RESOURCE_TRACKER_GPU_PROVIDER: empty,
  OTEL_RESOURCE_TRACKER_NVML_LIBRARY: () => true,
  OTEL_RESOURCE_TRACKER_NVIDIA_SMI_TIMEOUT_MS: empty,
  OTEL_RESOURCE_TRACKER_GPU_SAMPLE_INTERVAL_MS: empty,
  OTEL_RESOURCE_TRACKER_GPU_ACTIVE_SAMPLE_INTERVAL_MS: empty,
  OTEL_EXPORTER_PROMETHEUS_PORT: (value) => empty(value) || value === '0',
  OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION: empty,
};
const JUNK_TEXT = ['', '  ', '-1', '0', '2.5', '1e300', 'NaN', 'abc', 'true', 'all'];

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
      Object.keys(ENVIRONMENT)
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

  it('environment variables of the zero-code entry and the endpoint', async () => {
    for (const [name, valid] of Object.entries(ENVIRONMENT)) {
      for (const value of JUNK_TEXT)
        outcomes.push(check(name, value, valid(value), () => readZeroCodeConfig({ [name]: value })));
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
