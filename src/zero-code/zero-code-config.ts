import {
  ConfigError,
  ENV_CHILD_PROCESSES,
  ENV_CPU_ATTRIBUTION,
  ENV_EXACT_MEMORY,
  ENV_GPU_DEVICES,
  ENV_METRICS,
  ENV_OTLP_PROTOCOL,
  ENV_OTLP_TRACES_PROTOCOL,
  ENV_SPAN_HISTOGRAMS,
  ENV_SPAN_NAMES,
  ENV_TRACES_EXPORTER,
  type Environment,
  readBoolean,
  readChoice,
  readList,
} from '../config/env.js';
import { gpuProviderConfigFromEnv } from '../gpu/detect.js';
import { gpuSamplingFromEnv } from '../gpu/gpu-sampler.js';
import { describe } from '../internal/validate.js';
import { resolveHost, resolvePort } from '../prometheus/prometheus-endpoint.js';
import type { CpuAttribution, ResourceSpanProcessorOptions } from '../span-processor/options.js';

export const TRACES_EXPORTERS = ['otlp', 'console', 'none'] as const;
export type TracesExporterName = (typeof TRACES_EXPORTERS)[number];
export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

/** Everything the zero-code entry needs, read from the environment in one go (so nothing starts half-way). */
export interface ZeroCodeConfig {
  readonly tracesExporters: readonly TracesExporterName[];
  readonly otlpProtocol: OtlpProtocol;
  readonly metrics: boolean;
  readonly spanHistograms: boolean;
  readonly processor: ResourceSpanProcessorOptions;
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

function tracesExporters(env: Environment): TracesExporterName[] {
  const names = readList(env, ENV_TRACES_EXPORTER) ?? ['otlp'];
  const unknown = names.find((name) => !(TRACES_EXPORTERS as readonly string[]).includes(name));
  if (unknown !== undefined) {
    throw new ConfigError(
      `${ENV_TRACES_EXPORTER} must list some of ${TRACES_EXPORTERS.join(', ')}; got ${describe(unknown)}`,
    );
  }
  if (names.includes('none') && names.length > 1) {
    throw new ConfigError(
      `${ENV_TRACES_EXPORTER} cannot combine "none" with other exporters; got ${describe(env[ENV_TRACES_EXPORTER])}`,
    );
  }
  return names.includes('none') ? [] : [...new Set(names as TracesExporterName[])];
}

/** Reads and checks every variable the zero-code entry uses; a bad one is a ConfigError naming it. */
export function readZeroCodeConfig(env: Environment): ZeroCodeConfig {
  const protocolVariable = env[ENV_OTLP_TRACES_PROTOCOL]?.trim()
    ? ENV_OTLP_TRACES_PROTOCOL
    : ENV_OTLP_PROTOCOL;
  const otlpProtocol = readChoice(env, protocolVariable, OTLP_PROTOCOLS, 'http/protobuf');
  const cpuAttribution: CpuAttribution = readChoice(
    env,
    ENV_CPU_ATTRIBUTION,
    ['fair-share', 'exact'],
    'fair-share',
  );
  const metrics = readBoolean(env, ENV_METRICS, true);
  if (metrics) {
    // The endpoint's variables too: a bad one must stop everything now, not leave tracing without metrics.
    resolveHost({}, env);
    resolvePort({}, env);
  }
  // The GPU sampler reads its own variables when it starts; check them now so a typo is reported at start-up.
  gpuProviderConfigFromEnv(env);
  gpuSamplingFromEnv(env);
  const names = spanNames(env);
  const devices = gpuDevices(env);
  return {
    tracesExporters: tracesExporters(env),
    otlpProtocol,
    metrics,
    spanHistograms: metrics && readBoolean(env, ENV_SPAN_HISTOGRAMS, true),
    processor: {
      cpuAttribution,
      childProcesses: readBoolean(env, ENV_CHILD_PROCESSES, false),
      exactMemory: readBoolean(env, ENV_EXACT_MEMORY, false),
      ...(names === undefined ? {} : { spanNames: names }),
      ...(devices === undefined ? {} : { gpuDevices: devices }),
    },
  };
}
