import { SpanKind } from '@opentelemetry/api';
import {
  BOOLEAN_SPELLINGS,
  booleanSpelling,
  ConfigError,
  ENV_ATTRIBUTES,
  ENV_CHILD_PROCESSES,
  ENV_CPU_ATTRIBUTION,
  ENV_EXACT_MEMORY,
  ENV_GPU_DEVICES,
  ENV_LOGS_EXPORTER,
  ENV_METRIC_EXPORT_INTERVAL,
  ENV_METRIC_EXPORT_TIMEOUT,
  ENV_METRICS,
  ENV_METRICS_EXPORTER,
  ENV_OTLP_METRICS_HISTOGRAM_AGGREGATION,
  ENV_OTLP_METRICS_PROTOCOL,
  ENV_OTLP_PROTOCOL,
  ENV_OTLP_TRACES_PROTOCOL,
  ENV_REPORT,
  ENV_RESOURCE_DETECTORS,
  ENV_SPAN_HISTOGRAMS,
  ENV_SPAN_KINDS,
  ENV_SPAN_LOG,
  ENV_SPAN_NAMES,
  ENV_TRACES_EXPORTER,
  type Environment,
  readBoolean,
  readChoice,
  readChoices,
  readList,
  readNumber,
  readString,
} from '../config/env.js';
import { gpuProviderConfigFromEnv } from '../gpu/detect.js';
import { gpuSamplingFromEnv } from '../gpu/gpu-sampler.js';
import { describe } from '../internal/validate.js';
import {
  DEFAULT_SPAN_HISTOGRAMS,
  SPAN_HISTOGRAM_KINDS,
  type SpanHistogramKind,
} from '../metrics/span-histograms.js';
import { resolveHost, resolvePort } from '../prometheus/endpoint-address.js';
import {
  SPAN_ATTRIBUTE_SET_ACCEPTS,
  type SpanAttributeSet,
  spanAttributeKeys,
} from '../span-processor/attribute-set.js';
import {
  CPU_ATTRIBUTIONS,
  type CpuAttribution,
  type ResourceSpanProcessorOptions,
  SPAN_ROLES,
  type SpanRole,
} from '../span-processor/options.js';

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
type ResourceDetectorName = (typeof RESOURCE_DETECTORS)[number];
/**
 * Without OTEL_NODE_RESOURCE_DETECTORS: what runs locally and fast. Upstream's register defaults to "all", which
 * also asks the cloud metadata services over the network on every start; we do that only when asked.
 */
export const DEFAULT_RESOURCE_DETECTORS: readonly BasicResourceDetector[] = ['env', 'host', 'os', 'process'];

const SPAN_KIND_NAMES = [
  'all',
  'server',
  'client',
  'producer',
  'consumer',
  'internal',
  ...SPAN_ROLES,
] as const;
type SpanKindName = (typeof SPAN_KIND_NAMES)[number];
/** Requests, messages, jobs and the application's own spans; not each middleware, query or outgoing call. */
export const DEFAULT_SPAN_KINDS: readonly SpanKindName[] = ['server', 'consumer', 'local_root', 'manual'];
const KIND_VALUES: Record<Exclude<SpanKindName, 'all' | SpanRole>, SpanKind> = {
  internal: SpanKind.INTERNAL,
  server: SpanKind.SERVER,
  client: SpanKind.CLIENT,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
};

export interface MetricExportTiming {
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

/** Everything the zero-code entry needs, read from the environment in one go (so nothing starts half-way). */
export interface ZeroCodeConfig {
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
  /** The span histograms to record (none: empty). */
  readonly spanHistograms: readonly SpanHistogramKind[];
  /** OTEL_RESOURCE_TRACKER_REPORT: the HTML report of this process to write at exit. */
  readonly reportFile: string | undefined;
  /** OTEL_RESOURCE_TRACKER_SPAN_LOG (set by `run --report`): where to append each ended span for its report. */
  readonly spanLogFile: string | undefined;
  readonly processor: ResourceSpanProcessorOptions;
}

/**
 * OTEL_RESOURCE_TRACKER_SPAN_HISTOGRAMS: a boolean (true: the default histograms, false: none) or a list of
 * cpu, memory, wall.
 */
function spanHistograms(env: Environment): readonly SpanHistogramKind[] {
  const raw = readString(env, ENV_SPAN_HISTOGRAMS);
  if (raw === undefined) return DEFAULT_SPAN_HISTOGRAMS;
  const asBoolean = booleanSpelling(raw);
  if (asBoolean !== undefined) return asBoolean ? DEFAULT_SPAN_HISTOGRAMS : [];
  try {
    return readChoices(env, ENV_SPAN_HISTOGRAMS, SPAN_HISTOGRAM_KINDS, DEFAULT_SPAN_HISTOGRAMS);
  } catch {
    throw new ConfigError(
      `${ENV_SPAN_HISTOGRAMS} must be ${BOOLEAN_SPELLINGS}, or a comma list of ${SPAN_HISTOGRAM_KINDS.join(', ')}; got ${describe(env[ENV_SPAN_HISTOGRAMS])}`,
    );
  }
}

function reportFile(env: Environment): string | undefined {
  const file = readString(env, ENV_REPORT);
  if (file !== undefined && !/\.html?$/i.test(file)) {
    throw new ConfigError(`${ENV_REPORT} must name an .html file; got ${describe(env[ENV_REPORT])}`);
  }
  return file;
}

function spanNames(env: Environment): Array<string | RegExp> | undefined {
  return readList(env, ENV_SPAN_NAMES)?.map((entry) => {
    const pattern = /^\/(.+)\/([a-z]*)$/.exec(entry);
    if (pattern === null) return entry;
    try {
      return new RegExp(pattern[1] as string, pattern[2]);
    } catch (error) {
      throw new ConfigError(`${ENV_SPAN_NAMES} has an invalid pattern ${entry}: ${(error as Error).message}`);
    }
  });
}

/** OTEL_RESOURCE_TRACKER_ATTRIBUTES: `default`, `full`, or a comma list of keys; undefined when unset. */
function spanAttributes(env: Environment): SpanAttributeSet | undefined {
  const entries = readList(env, ENV_ATTRIBUTES)?.map((entry) => entry.toLowerCase());
  if (entries === undefined) return undefined;
  const set: SpanAttributeSet =
    entries.length === 1 && (entries[0] === 'default' || entries[0] === 'full') ? entries[0] : entries;
  const chosen = spanAttributeKeys(set);
  if ('unknown' in chosen) {
    throw new ConfigError(
      `${ENV_ATTRIBUTES} must be ${SPAN_ATTRIBUTE_SET_ACCEPTS}; got ${describe(chosen.unknown)}` +
        (entries.length > 1 ? ` in ${describe(env[ENV_ATTRIBUTES])}` : ''),
    );
  }
  return set;
}

function gpuDevices(env: Environment): number[] | 'all' | undefined {
  const entries = readList(env, ENV_GPU_DEVICES);
  if (entries === undefined) return undefined;
  if (entries.length === 1 && entries[0]?.toLowerCase() === 'all') return 'all';
  return entries.map((entry) => {
    if (!/^\d+$/.test(entry)) {
      throw new ConfigError(
        `${ENV_GPU_DEVICES} must be "all" or device indices like 0,1; got ${describe(env[ENV_GPU_DEVICES])}`,
      );
    }
    return Number(entry);
  });
}

function otlpProtocol(env: Environment, signalVariable: string): OtlpProtocol {
  const variable = env[signalVariable]?.trim() ? signalVariable : ENV_OTLP_PROTOCOL;
  return readChoice(env, variable, OTLP_PROTOCOLS, 'http/protobuf');
}

function withoutNone<T extends string>(names: readonly (T | 'none')[]): T[] {
  return names.filter((name): name is T => name !== 'none');
}

function spanKinds(env: Environment): ResourceSpanProcessorOptions['spanKinds'] {
  const names = readChoices(env, ENV_SPAN_KINDS, SPAN_KIND_NAMES, DEFAULT_SPAN_KINDS, ['all']);
  if (names.includes('all')) return undefined;
  return names.map((name) =>
    name === 'local_root' || name === 'manual' ? name : KIND_VALUES[name as keyof typeof KIND_VALUES],
  );
}

const MAX_TIMER_MS = 2_147_483_647;

/** The periodic metric export; a timeout longer than the interval is cut to it, as the SDK does. */
function metricExport(env: Environment): MetricExportTiming {
  const intervalMs = readNumber(env, ENV_METRIC_EXPORT_INTERVAL, 1, MAX_TIMER_MS, 60_000);
  const timeoutMs = readNumber(env, ENV_METRIC_EXPORT_TIMEOUT, 1, MAX_TIMER_MS, 30_000);
  return { intervalMs, timeoutMs: Math.min(timeoutMs, intervalMs) };
}

/** Reads and checks every variable the zero-code entry uses; a bad one is a ConfigError naming it. */
export function readZeroCodeConfig(env: Environment): ZeroCodeConfig {
  const metricsOn = readBoolean(env, ENV_METRICS, true);
  const metricsExporters = metricsOn
    ? withoutNone(
        readChoices<(typeof METRICS_EXPORTERS)[number]>(
          env,
          ENV_METRICS_EXPORTER,
          METRICS_EXPORTERS,
          ['prometheus'],
          ['none'],
        ),
      )
    : [];
  const cpuAttribution: CpuAttribution = readChoice(
    env,
    ENV_CPU_ATTRIBUTION,
    CPU_ATTRIBUTIONS,
    'async-context',
  );
  if (metricsExporters.includes('prometheus')) {
    // The endpoint's variables too: a bad one must stop everything now, not leave tracing without metrics.
    resolveHost({}, env);
    resolvePort({}, env);
  }
  // The GPU sampler reads its own variables when it starts; check them now so a typo is reported at start-up.
  gpuProviderConfigFromEnv(env);
  gpuSamplingFromEnv(env);
  const names = spanNames(env);
  const devices = gpuDevices(env);
  const attributes = spanAttributes(env);
  const detectors = readChoices(env, ENV_RESOURCE_DETECTORS, RESOURCE_DETECTORS, [], ['all', 'none']);
  // Naming spans is choosing them: without OTEL_RESOURCE_TRACKER_SPAN_KINDS, the default kinds do not filter them too.
  const kinds =
    names !== undefined && readList(env, ENV_SPAN_KINDS) === undefined ? undefined : spanKinds(env);
  return {
    tracesExporters: withoutNone(readChoices(env, ENV_TRACES_EXPORTER, TRACES_EXPORTERS, ['otlp'], ['none'])),
    otlpProtocol: otlpProtocol(env, ENV_OTLP_TRACES_PROTOCOL),
    metricsExporters,
    otlpMetricsProtocol: otlpProtocol(env, ENV_OTLP_METRICS_PROTOCOL),
    otlpExponentialHistograms:
      readChoice(
        env,
        ENV_OTLP_METRICS_HISTOGRAM_AGGREGATION,
        ['explicit_bucket_histogram', 'base2_exponential_bucket_histogram'],
        'explicit_bucket_histogram',
      ) === 'base2_exponential_bucket_histogram',
    metricExport: metricExport(env),
    logs: withoutNone(readChoices(env, ENV_LOGS_EXPORTER, LOGS_EXPORTERS, ['none'], ['none'])).length > 0,
    resourceDetectors: detectors.length === 0 ? undefined : detectors,
    spanHistograms: metricsExporters.length > 0 ? spanHistograms(env) : [],
    reportFile: reportFile(env),
    spanLogFile: readString(env, ENV_SPAN_LOG),
    processor: {
      ...(kinds === undefined ? {} : { spanKinds: kinds }),
      cpuAttribution,
      childProcesses: readBoolean(env, ENV_CHILD_PROCESSES, false),
      exactMemory: readBoolean(env, ENV_EXACT_MEMORY, false),
      ...(names === undefined ? {} : { spanNames: names }),
      ...(devices === undefined ? {} : { gpuDevices: devices }),
      ...(attributes === undefined ? {} : { attributes }),
    },
  };
}
