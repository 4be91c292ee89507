import { createRequire } from 'node:module';
import { isNotFound, MissingPeerError } from '../internal/optional-peer.js';

export type SdkNodeModule = typeof import('@opentelemetry/sdk-node');
export type AutoInstrumentationsModule = typeof import('@opentelemetry/auto-instrumentations-node');
export type SdkTraceModule = typeof import('@opentelemetry/sdk-trace');
export type SdkMetricsModule = typeof import('@opentelemetry/sdk-metrics');
export type PrometheusExporterModule = typeof import('@opentelemetry/exporter-prometheus');

/** The application's OpenTelemetry packages, as the zero-code entry uses them. */
export interface SdkPackages {
  readonly sdkNode: SdkNodeModule;
  /** Undefined when the application has not installed it: only its own spans are traced then. */
  readonly autoInstrumentations: AutoInstrumentationsModule | undefined;
  /** Where @opentelemetry/auto-instrumentations-node lives (its ESM loader hook resolves from there). */
  readonly autoInstrumentationsPath: string | undefined;
  readonly sdkTrace: SdkTraceModule;
  readonly sdkMetrics: SdkMetricsModule;
  /** Loads another package that @opentelemetry/sdk-node depends on (exporters), from sdk-node's own tree. */
  requireFromSdk<T>(name: string): T;
}

const AUTO = '@opentelemetry/auto-instrumentations-node';
const SDK_NODE = '@opentelemetry/sdk-node';
const WHAT = 'the zero-code entry';
/** The release of the auto-instrumentations for each OpenTelemetry line, with the pins that keep one copy of each. */
export const AUTO_VERSIONS =
  '0.81.x on 2.x, with @opentelemetry/core@2.12.0 and @opentelemetry/resources@2.12.0 pinned beside it; ' +
  '0.82.x on 3.x, with @opentelemetry/sdk-node@0.300 and core, resources 3.0.0 pinned beside it';

/**
 * Loads the SDK synchronously with `require`: a `--require` preload (and the instrumentations' require hooks) must
 * be in place before the application's first line runs, so nothing here may wait for a promise. Every package is
 * resolved from the one above it — sdk-node from auto-instrumentations-node, the exporters from sdk-node — so the
 * entry uses exactly the copies the instrumentations were built against, wherever npm put them.
 */
export function loadSdkPackages(): SdkPackages {
  const fromHere = createRequire(import.meta.url);
  let autoInstrumentationsPath: string | undefined;
  try {
    autoInstrumentationsPath = fromHere.resolve(AUTO);
  } catch (error) {
    if (!isNotFound(error, AUTO)) throw error;
  }
  const sdkNodeOwner =
    autoInstrumentationsPath === undefined ? fromHere : createRequire(autoInstrumentationsPath);
  let sdkNodePath: string;
  try {
    sdkNodePath = sdkNodeOwner.resolve(SDK_NODE);
  } catch (error) {
    if (isNotFound(error, SDK_NODE)) throw new MissingPeerError([AUTO], WHAT, AUTO_VERSIONS);
    throw error;
  }
  const fromSdk = createRequire(sdkNodePath);
  return {
    sdkNode: fromSdk(sdkNodePath) as SdkNodeModule,
    autoInstrumentations:
      autoInstrumentationsPath === undefined
        ? undefined
        : (fromHere(autoInstrumentationsPath) as AutoInstrumentationsModule),
    autoInstrumentationsPath,
    sdkTrace: fromSdk('@opentelemetry/sdk-trace') as SdkTraceModule,
    sdkMetrics: fromSdk('@opentelemetry/sdk-metrics') as SdkMetricsModule,
    requireFromSdk: <T>(name: string) => fromSdk(name) as T,
  };
}
