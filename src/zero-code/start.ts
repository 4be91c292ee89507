import { diag, metrics as metricsApi } from '@opentelemetry/api';
import { ConfigProblems } from '../config/config-problems.js';
import {
  ConfigError,
  ENV_DISABLED_INSTRUMENTATIONS,
  ENV_ENABLED_INSTRUMENTATIONS,
  type Environment,
  unknownVariableWarningsOnce,
} from '../config/env.js';
import { registerResourceMetrics } from '../metrics/resource-metrics.js';
import type { ExpositionServer } from '../prometheus/exposition-server.js';
import { startProcessReport } from '../report/process-report.js';
import { SpanLogProcessor } from '../report/span-log-processor.js';
import {
  processResource,
  type ResourceDetector,
  type ResourcesModule,
} from '../resource/process-resource.js';
import { metricReaders } from '../sdk-setup/metric-readers.js';
import { resourceDetectors } from '../sdk-setup/resource-detectors.js';
import { readSdkConfig } from '../sdk-setup/sdk-config.js';
import { AUTO_VERSIONS, loadSdkPackages, type SdkPackages } from '../sdk-setup/sdk-packages.js';
import { exportingProcessors } from '../sdk-setup/trace-exporters.js';
import { ResourceSpanProcessor } from '../span-processor/resource-span-processor.js';
import { environmentParentContextManager } from './environment-parent.js';
import { type Loader, registerEsmHook } from './esm-hook.js';
import { installExitHooks } from './exit-hooks.js';
import { type Instrumentation, loadInstrumentations } from './instrumentations.js';
import { otherSdkSetup } from './other-sdk.js';
import { assertPrometheusHostUsable } from './prometheus-host.js';
import { servePrometheus } from './prometheus-port.js';
import { readZeroCodeConfig, type ZeroCodeConfig } from './zero-code-config.js';

/** The application's @opentelemetry/sdk-node NodeSDK, as far as we drive it. */
export interface StartedSdk {
  shutdown(): Promise<void>;
}

export interface ZeroCodeHandle {
  readonly sdk: StartedSdk;
  /** The Prometheus endpoint once it listens (undefined when OTEL_METRICS_EXPORTER leaves it out or it failed). */
  readonly prometheus: Promise<ExpositionServer | undefined>;
  /** Flushes and stops tracing and metrics (once; later calls return the same promise). */
  shutdown(): Promise<void>;
}

const PREFIX = 'otel-resource-tracker';
const AUTO = '@opentelemetry/auto-instrumentations-node';

/** One line on stderr: a preload has no other way to be seen, and must never be more than a line. */
function say(message: string): void {
  console.error(`${PREFIX}: ${message}`);
}

interface Prepared {
  readonly config: ZeroCodeConfig;
  readonly packages: SdkPackages;
  readonly instrumentations: Instrumentation[];
  readonly resources: ResourcesModule;
  readonly detectors: ResourceDetector[];
}

/**
 * Reads every variable and loads every package before anything starts: a bad variable starts nothing, and every bad
 * one is named (the instrumentation lists and the resource detectors are only known good once their packages are
 * loaded, so they are checked here too, with the rest).
 */
function prepare(env: Environment): Prepared | undefined {
  try {
    const problems = new ConfigProblems();
    const config = problems.read(() => readZeroCodeConfig(env), undefined);
    // (With the rest refused, the exporters as far as they could be read: every bad variable is named at once.)
    const metricsExporters = (config ?? readSdkConfig(env, new ConfigProblems())).metricsExporters;
    if (metricsExporters.includes('prometheus')) {
      problems.read(() => assertPrometheusHostUsable(env), undefined);
    }
    // The instrumentation lists are checked by building the instrumentations, which needs the SDK's packages
    // (about a second): with the configuration already refused, loaded only when a list is there to check.
    const lists = [ENV_ENABLED_INSTRUMENTATIONS, ENV_DISABLED_INSTRUMENTATIONS].some((name) =>
      env[name]?.trim(),
    );
    if (config === undefined && !lists) problems.throwIfAny();
    const packages = loadSdkPackages();
    const auto = packages.autoInstrumentations;
    const instrumentations = problems.read(
      () => (auto === undefined ? [] : loadInstrumentations(auto, env)),
      [],
    );
    const resources = packages.requireFromSdk<ResourcesModule>('@opentelemetry/resources');
    const detectors =
      config === undefined ? [] : problems.read(() => resourceDetectors(config, packages, resources), []);
    if (config === undefined || problems.any) {
      // An instrumentation enables itself when it is built: none may stay hooked into a refused configuration.
      for (const instrumentation of instrumentations) instrumentation.disable();
      problems.throwIfAny();
      return undefined;
    }
    return { config, packages, instrumentations, resources, detectors };
  } catch (error) {
    if (error instanceof ConfigError) {
      // Every bad variable on its own line, then what that means: the whole configuration is refused.
      for (const problem of error.problems) say(problem);
      const count = error.problems.length;
      say(
        `Tracing is not started: ${count === 1 ? 'the variable above is' : `the ${count} variables above are`} ` +
          'invalid, and the application runs untraced (fix it and restart).',
      );
      return undefined;
    }
    // A missing package (MissingPeerError says which to install) or one that fails to load.
    say(`${error instanceof Error ? error.message : String(error)}. Tracing is not started.`);
    return undefined;
  }
}

/**
 * Starts the OpenTelemetry Node SDK with the auto-instrumentations, the resource processor and the metrics
 * exporters, configured by environment only — synchronously, so that a `--require` preload has everything in
 * place before the application's first `require`. A bad variable is reported on stderr, naming it, and nothing is
 * started: the application runs, untraced, rather than half-traced or not at all. Telemetry is flushed when the
 * event loop empties, on SIGTERM and on SIGINT.
 */
export function startZeroCode(
  env: Environment = process.env,
  loader: Loader = 'import',
): ZeroCodeHandle | undefined {
  const other = otherSdkSetup(env);
  if (other !== undefined) {
    say(other);
    return undefined;
  }
  const prepared = prepare(env);
  if (prepared === undefined) return undefined;
  for (const warning of unknownVariableWarningsOnce(env)) say(warning);
  const { config, packages, instrumentations, resources, detectors } = prepared;
  if (config.profiler.problem !== undefined) say(config.profiler.problem);
  if (packages.autoInstrumentations === undefined) {
    say(
      `${AUTO} is not installed, so only the spans the application makes itself are traced: ` +
        `npm install ${AUTO} (${AUTO_VERSIONS})`,
    );
  }
  let shutdownAll: () => Promise<void>;
  let sdk: StartedSdk;
  let prometheus: Promise<ExpositionServer | undefined> = Promise.resolve(undefined);
  let meterProvider: InstanceType<SdkPackages['sdkMetrics']['MeterProvider']> | undefined;
  try {
    const resource = processResource(resources, detectors);
    const { readers, prometheus: prometheusReader } = metricReaders(packages, config);
    meterProvider =
      readers.length === 0 ? undefined : new packages.sdkMetrics.MeterProvider({ resource, readers });
    if (meterProvider !== undefined) {
      // Before the instrumentations are enabled: they take the global meter provider then.
      metricsApi.setGlobalMeterProvider(meterProvider);
      registerResourceMetrics(meterProvider);
    }
    const processor = new ResourceSpanProcessor({
      ...config.processor,
      // The profiler's problems (an unwritable directory, a full disk) are said on stderr like the others here.
      ...(config.processor.profile === undefined
        ? {}
        : { profile: { ...config.processor.profile, onProblem: say } }),
      ...(config.spanHistograms.length > 0 && meterProvider !== undefined
        ? { meterProvider, spanHistograms: config.spanHistograms }
        : {}),
    });
    const contextManager = environmentParentContextManager(env, packages);
    const nodeSdk = new packages.sdkNode.NodeSDK({
      resource,
      autoDetectResources: false,
      ...(contextManager === undefined ? {} : { contextManager }),
      spanProcessors: [
        processor,
        ...exportingProcessors(packages, config.tracesExporters, config.otlpProtocol, env, say),
        ...(config.spanLogFile === undefined ? [] : [new SpanLogProcessor(config.spanLogFile)]),
        ...(config.reportFile === undefined
          ? []
          : [startProcessReport(config.reportFile, say, config.processor.profile?.directory)]),
      ],
      instrumentations,
      // Our meter provider has the readers; an empty list keeps the SDK from building its default OTLP one.
      metricReaders: [],
      // No OTEL_LOGS_EXPORTER: no logs go anywhere (the SDK's default would be OTLP, which nobody asked for).
      ...(config.logs ? {} : { logRecordProcessors: [] }),
    });
    if (packages.autoInstrumentationsPath !== undefined) {
      try {
        const unhooked = registerEsmHook(packages.autoInstrumentationsPath, loader);
        if (unhooked !== undefined) say(unhooked);
      } catch (error) {
        // CommonJS modules are still instrumented: worth going on with, and saying why ESM is not.
        say(`ES modules are not instrumented: the loader hook failed: ${(error as Error).message}`);
      }
    }
    nodeSdk.start();
    sdk = nodeSdk;
    if (prometheusReader !== undefined) {
      prometheus = servePrometheus(prometheusReader, env).then(
        (server) => server,
        (error: unknown) => {
          say(`${(error as Error).message}. Metrics of this process are not served; tracing goes on.`);
          return undefined;
        },
      );
    }
    let stopping: Promise<void> | undefined;
    const started = meterProvider;
    shutdownAll = () => {
      stopping ??= Promise.allSettled([
        nodeSdk.shutdown(),
        prometheus.then((server) => server?.close()),
        started?.shutdown(),
      ]).then((results) => {
        for (const result of results) {
          if (result.status === 'rejected') diag.warn(`${PREFIX}: shutting down: ${String(result.reason)}`);
        }
      });
      return stopping;
    };
  } catch (error) {
    say(`the OpenTelemetry SDK did not start: ${(error as Error).message}. Tracing is not started.`);
    // Nothing half-started: the meter provider and its global registration go too.
    if (meterProvider !== undefined) {
      metricsApi.disable();
      void meterProvider.shutdown().catch(() => undefined);
    }
    return undefined;
  }
  installExitHooks(shutdownAll);
  return { sdk, prometheus, shutdown: shutdownAll };
}
