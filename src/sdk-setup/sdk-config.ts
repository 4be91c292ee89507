import { ConfigProblems } from '../config/config-problems.js';
import {
  ENV_LOGS_EXPORTER,
  ENV_METRIC_EXPORT_INTERVAL,
  ENV_METRIC_EXPORT_TIMEOUT,
  ENV_METRICS,
  ENV_METRICS_EXPORTER,
  ENV_OTLP_METRICS_HISTOGRAM_AGGREGATION,
  ENV_OTLP_METRICS_PROTOCOL,
  ENV_OTLP_PROTOCOL,
  ENV_OTLP_TRACES_PROTOCOL,
  ENV_RESOURCE_DETECTORS,
  ENV_TRACES_EXPORTER,
  type Environment,
  readBoolean,
  readChoice,
  readChoices,
  readInteger,
} from '../config/env.js';

export const TRACES_EXPORTERS = ['otlp', 'console', 'none'] as const;
export type TracesExporterName = Exclude<(typeof TRACES_EXPORTERS)[number], 'none'>;
export const METRICS_EXPORTERS = ['prometheus', 'otlp', 'console', 'none'] as const;
export type MetricsExporterName = Exclude<(typeof METRICS_EXPORTERS)[number], 'none'>;
export const LOGS_EXPORTERS = ['otlp', 'console', 'none'] as const;
export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

/** Detectors of @opentelemetry/resources itself; the others come with @opentelemetry/auto-instrumentations-node. */
export const BASIC_RESOURCE_DETECTORS = ['env', 'host', 'os', 'process', 'serviceinstance'] as const;
export type BasicResourceDetector = (typeof BASIC_RESOURCE_DETECTORS)[number];
const RESOURCE_DETECTORS = [
  'all',
  'none',
  ...BASIC_RESOURCE_DETECTORS,
  'container',
  'alibaba',
  'aws',
  'azure',
  'gcp',
] as const;
export type ResourceDetectorName = (typeof RESOURCE_DETECTORS)[number];
/**
 * Without OTEL_NODE_RESOURCE_DETECTORS: what runs locally and fast. Upstream's register defaults to "all", which
 * also asks the cloud metadata services over the network on every start; we do that only when asked.
 */
export const DEFAULT_RESOURCE_DETECTORS: readonly BasicResourceDetector[] = ['env', 'host', 'os', 'process'];

export interface MetricExportTiming {
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

/**
 * The OpenTelemetry SDK's own variables, as both entries that set up an SDK read them: the zero-code entry and the
 * `run` command's span. (The zero-code entry adds our processor's variables on top: zero-code/zero-code-config.ts.)
 */
export interface SdkConfig {
  readonly tracesExporters: readonly TracesExporterName[];
  readonly otlpProtocol: OtlpProtocol;
  readonly metricsExporters: readonly MetricsExporterName[];
  readonly otlpMetricsProtocol: OtlpProtocol;
  /**
   * OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION (the specification's variable, which the OTLP metric
   * exporter of the 0.2xx line does not read itself): histograms pushed over OTLP as base-2 exponential histograms.
   */
  readonly otlpExponentialHistograms: boolean;
  readonly metricExport: MetricExportTiming;
  /** OTEL_LOGS_EXPORTER names an exporter (the SDK builds it); otherwise no logger provider at all. */
  readonly logs: boolean;
  /** From OTEL_NODE_RESOURCE_DETECTORS; `undefined`: our default. */
  readonly resourceDetectors: readonly ResourceDetectorName[] | undefined;
}

function otlpProtocol(env: Environment, signalVariable: string): OtlpProtocol {
  const variable = env[signalVariable]?.trim() ? signalVariable : ENV_OTLP_PROTOCOL;
  return readChoice(env, variable, OTLP_PROTOCOLS, 'http/protobuf');
}

function withoutNone<T extends string>(names: readonly (T | 'none')[]): T[] {
  return names.filter((name): name is T => name !== 'none');
}

const MAX_TIMER_MS = 2_147_483_647;

/**
 * Reads the SDK's variables. Each bad one is added to `problems` (which the caller turns into one line per bad
 * variable) and its default taken for now, so that the next ones are checked too.
 */
export function readSdkConfig(env: Environment, problems: ConfigProblems): SdkConfig {
  const metricsOn = problems.read(() => readBoolean(env, ENV_METRICS, true), true);
  const metricsExporters = metricsOn
    ? withoutNone(
        problems.read<(typeof METRICS_EXPORTERS)[number][]>(
          () =>
            readChoices<(typeof METRICS_EXPORTERS)[number]>(
              env,
              ENV_METRICS_EXPORTER,
              METRICS_EXPORTERS,
              ['prometheus'],
              ['none'],
            ),
          ['prometheus'],
        ),
      )
    : [];
  const intervalMs = problems.read(
    () => readInteger(env, ENV_METRIC_EXPORT_INTERVAL, 1, MAX_TIMER_MS, 60_000),
    60_000,
  );
  const timeoutMs = problems.read(
    () => readInteger(env, ENV_METRIC_EXPORT_TIMEOUT, 1, MAX_TIMER_MS, 30_000),
    30_000,
  );
  const detectors = problems.read(
    () => readChoices(env, ENV_RESOURCE_DETECTORS, RESOURCE_DETECTORS, [], ['all', 'none']),
    [],
  );
  return {
    tracesExporters: withoutNone(
      problems.read(
        () =>
          readChoices<(typeof TRACES_EXPORTERS)[number]>(
            env,
            ENV_TRACES_EXPORTER,
            TRACES_EXPORTERS,
            ['otlp'],
            ['none'],
          ),
        [],
      ),
    ),
    otlpProtocol: problems.read(() => otlpProtocol(env, ENV_OTLP_TRACES_PROTOCOL), 'http/protobuf'),
    metricsExporters,
    otlpMetricsProtocol: problems.read(() => otlpProtocol(env, ENV_OTLP_METRICS_PROTOCOL), 'http/protobuf'),
    otlpExponentialHistograms:
      problems.read(
        () =>
          readChoice(
            env,
            ENV_OTLP_METRICS_HISTOGRAM_AGGREGATION,
            ['explicit_bucket_histogram', 'base2_exponential_bucket_histogram'],
            'explicit_bucket_histogram',
          ),
        'explicit_bucket_histogram',
      ) === 'base2_exponential_bucket_histogram',
    // A timeout longer than the interval is cut to it, as the SDK does.
    metricExport: { intervalMs, timeoutMs: Math.min(timeoutMs, intervalMs) },
    logs:
      withoutNone(
        problems.read(
          () =>
            readChoices<(typeof LOGS_EXPORTERS)[number]>(
              env,
              ENV_LOGS_EXPORTER,
              LOGS_EXPORTERS,
              ['none'],
              ['none'],
            ),
          [],
        ),
      ).length > 0,
    resourceDetectors: detectors.length === 0 ? undefined : detectors,
  };
}

/** The SDK's variables, for an entry that reads no others: every bad one in one ConfigError, a line each. */
export function sdkConfigFromEnv(env: Environment): SdkConfig {
  const problems = new ConfigProblems();
  const config = readSdkConfig(env, problems);
  problems.throwIfAny();
  return config;
}
