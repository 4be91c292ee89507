import { SpanKind } from '@opentelemetry/api';
import { ConfigProblems } from '../config/config-problems.js';
import {
  BOOLEAN_SPELLINGS,
  booleanSpelling,
  ConfigError,
  ENV_ATTRIBUTES,
  ENV_CHILD_PROCESSES,
  ENV_CPU_ATTRIBUTION,
  ENV_EXACT_MEMORY,
  ENV_GPU_DEVICES,
  ENV_REPORT,
  ENV_SPAN_HISTOGRAMS,
  ENV_SPAN_KINDS,
  ENV_SPAN_LOG,
  ENV_SPAN_NAMES,
  type Environment,
  readBoolean,
  readChoice,
  readChoices,
  readList,
  readString,
} from '../config/env.js';
import { gpuProviderConfigFromEnv } from '../gpu/detect.js';
import { gpuSamplingFromEnv } from '../gpu/gpu-sampler.js';
import { describe, quoteForMessage } from '../internal/validate.js';
import {
  DEFAULT_SPAN_HISTOGRAMS,
  SPAN_HISTOGRAM_KINDS,
  type SpanHistogramKind,
} from '../metrics/span-histograms.js';
import { type ProfilerEnvironment, readProfilerEnvironment } from '../profiler/profiler-settings.js';
import { resolveHost, resolvePort } from '../prometheus/endpoint-address.js';
import { readSdkConfig, type SdkConfig } from '../sdk-setup/sdk-config.js';
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

/** Everything the zero-code entry needs, read from the environment in one go (so nothing starts half-way). */
export interface ZeroCodeConfig extends SdkConfig {
  /** The span histograms to record (none: empty). */
  readonly spanHistograms: readonly SpanHistogramKind[];
  /** OTEL_RESOURCE_TRACKER_REPORT: the HTML report of this process to write at exit. */
  readonly reportFile: string | undefined;
  /** OTEL_RESOURCE_TRACKER_SPAN_LOG (set by `run --report`): where to append each ended span for its report. */
  readonly spanLogFile: string | undefined;
  readonly processor: ResourceSpanProcessorOptions;
  /** OTEL_RESOURCE_TRACKER_PROFILER and its companions: the profiler's options, or the problem to say (it is off). */
  readonly profiler: ProfilerEnvironment;
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
      // The engine's message repeats the pattern raw ("Invalid regular expression: /…/: reason"): keep the reason.
      const reason = (error as Error).message.split(': ').pop() ?? '';
      throw new ConfigError(
        `${ENV_SPAN_NAMES} has an invalid pattern ${quoteForMessage(entry)} (${quoteForMessage(reason).slice(1, -1)}); entries are span names or /regular expressions/flags`,
      );
    }
  });
}

const MAX_GPU_INDEX = 1023;

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
    // A bound, so that 10^22 is an error rather than a device nobody has (NVML numbers at most a few dozen).
    if (!/^\d{1,4}$/.test(entry) || Number(entry) > MAX_GPU_INDEX) {
      throw new ConfigError(
        `${ENV_GPU_DEVICES} must be "all" or device indices from 0 to ${MAX_GPU_INDEX} like 0,1; got ${describe(env[ENV_GPU_DEVICES])}`,
      );
    }
    return Number(entry);
  });
}

function spanKinds(env: Environment): ResourceSpanProcessorOptions['spanKinds'] {
  const names = readChoices(env, ENV_SPAN_KINDS, SPAN_KIND_NAMES, DEFAULT_SPAN_KINDS, ['all']);
  if (names.includes('all')) return undefined;
  return names.map((name) =>
    name === 'local_root' || name === 'manual' ? name : KIND_VALUES[name as keyof typeof KIND_VALUES],
  );
}

/**
 * Reads and checks every variable the zero-code entry uses. Bad ones are one ConfigError with a line for each
 * (naming the variable, its value and what it accepts), so that the entry can refuse the whole configuration.
 */
export function readZeroCodeConfig(env: Environment): ZeroCodeConfig {
  const problems = new ConfigProblems();
  const sdk = readSdkConfig(env, problems);
  const cpuAttribution: CpuAttribution = problems.read(
    () => readChoice(env, ENV_CPU_ATTRIBUTION, CPU_ATTRIBUTIONS, 'async-context'),
    'async-context',
  );
  if (sdk.metricsExporters.includes('prometheus')) {
    // The endpoint's variables too: a bad one must stop everything now, not leave tracing without metrics.
    problems.read(() => resolveHost({}, env), undefined);
    problems.read(() => resolvePort({}, env), undefined);
  }
  // The GPU sampler reads its own variables when it starts; check them now so a typo is reported at start-up.
  problems.read(() => gpuProviderConfigFromEnv(env), undefined);
  problems.read(() => gpuSamplingFromEnv(env), undefined);
  const names = problems.read(() => spanNames(env), undefined);
  const devices = problems.read(() => gpuDevices(env), undefined);
  const attributes = problems.read(() => spanAttributes(env), undefined);
  // Naming spans is choosing them: without OTEL_RESOURCE_TRACKER_SPAN_KINDS, the default kinds do not filter them too.
  const kinds =
    names !== undefined && readList(env, ENV_SPAN_KINDS) === undefined
      ? undefined
      : problems.read(() => spanKinds(env), undefined);
  // A bad profiler variable turns the profiler off with its own line; tracing goes on (docs/profiler.md).
  const profiler = readProfilerEnvironment(env);
  const config: ZeroCodeConfig = {
    ...sdk,
    profiler,
    spanHistograms:
      sdk.metricsExporters.length > 0
        ? problems.read(() => spanHistograms(env), DEFAULT_SPAN_HISTOGRAMS)
        : [],
    reportFile: problems.read(() => reportFile(env), undefined),
    spanLogFile: readString(env, ENV_SPAN_LOG),
    processor: {
      ...(kinds === undefined ? {} : { spanKinds: kinds }),
      cpuAttribution,
      childProcesses: problems.read(() => readBoolean(env, ENV_CHILD_PROCESSES, false), false),
      exactMemory: problems.read(() => readBoolean(env, ENV_EXACT_MEMORY, false), false),
      ...(names === undefined ? {} : { spanNames: names }),
      ...(devices === undefined ? {} : { gpuDevices: devices }),
      ...profiler.options,
      ...(attributes === undefined ? {} : { attributes }),
    },
  };
  problems.throwIfAny();
  return config;
}
