import type { Attributes, MeterProvider as MeterProviderApi } from '@opentelemetry/api';
import { ConfigError, type Environment } from '../config/env.js';
import { importPeers } from '../internal/optional-peer.js';
import { assertPlainOptions, booleanOption, describe, orDefault } from '../internal/validate.js';
import { type ResourceMetricsOptions, registerResourceMetrics } from '../metrics/resource-metrics.js';
import { processResource, type ResourcesModule, type SdkResource } from '../resource/process-resource.js';
import { resolveHost, resolvePort } from './endpoint-address.js';
import type { ExpositionOptions } from './exposition.js';
import { type ExpositionServer, serveExposition } from './exposition-server.js';

/** An OpenTelemetry Resource (from @opentelemetry/resources, either line), described by what the endpoint uses. */
export interface EndpointResource {
  readonly attributes: Attributes;
  merge(other: EndpointResource | null): EndpointResource;
}

export interface PrometheusEndpointOptions extends ExpositionOptions {
  /** Interface to bind. Default OTEL_EXPORTER_PROMETHEUS_HOST, else 127.0.0.1 (this machine only). */
  host?: string;
  /** Port; 0 picks a free one (the returned URL names it). Default OTEL_EXPORTER_PROMETHEUS_PORT, else 9464. */
  port?: number;
  /** Path of the exposition. Default /metrics. */
  path?: string;
  /** Register the resource gauges (true, the default), with options, or not (false). */
  resourceMetrics?: boolean | ResourceMetricsOptions;
  /**
   * Resource of the meter provider (target_info). Default: the environment's (OTEL_SERVICE_NAME,
   * OTEL_RESOURCE_ATTRIBUTES) over the SDK's defaults, with this process's service.instance.id.
   */
  resource?: EndpointResource;
  /** Where to read the OTEL_EXPORTER_PROMETHEUS_* variables. Default process.env. */
  env?: Environment;
}

export interface PrometheusEndpoint {
  /** e.g. http://127.0.0.1:9464/metrics, with the real port when 0 was asked for. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The meter provider whose metrics the endpoint serves: pass it to ResourceSpanProcessor({ meterProvider }). */
  readonly meterProvider: MeterProviderApi;
  /** The exposition text, exactly as a scrape gets it. */
  render(): Promise<string>;
  /** Stops serving and shuts the meter provider down; safe to call more than once. */
  shutdown(): Promise<void>;
}

const WHAT = 'startPrometheusEndpoint';

/** The exposition options, checked: booleans and a RegExp, each refused by name otherwise. */
function expositionOptions(options: PrometheusEndpointOptions): ExpositionOptions {
  const { withResourceConstantLabels } = options;
  if (withResourceConstantLabels !== undefined && !(withResourceConstantLabels instanceof RegExp)) {
    throw new ConfigError(
      `${WHAT} options.withResourceConstantLabels must be a RegExp matching resource attribute keys (e.g. /service\\./), got ${describe(withResourceConstantLabels)}`,
    );
  }
  return {
    withoutScopeInfo: booleanOption(options.withoutScopeInfo, `${WHAT} options.withoutScopeInfo`, false),
    withoutTargetInfo: booleanOption(options.withoutTargetInfo, `${WHAT} options.withoutTargetInfo`, false),
    withoutUnitSuffixes: booleanOption(
      options.withoutUnitSuffixes,
      `${WHAT} options.withoutUnitSuffixes`,
      false,
    ),
    ...(withResourceConstantLabels === undefined ? {} : { withResourceConstantLabels }),
  };
}

type ExporterModule = typeof import('@opentelemetry/exporter-prometheus');
type MetricsModule = typeof import('@opentelemetry/sdk-metrics');

/**
 * Serves the metrics over HTTP for Prometheus: @opentelemetry/exporter-prometheus's exporter collects (it is the
 * meter provider's MetricReader; it and @opentelemetry/sdk-metrics are the application's copies, optional peer
 * dependencies loaded only here, so that the library itself needs neither), our own `http` server serves (so that
 * port 0 means a free port, and a bad port or host is a rejected promise rather than an uncaught exception), and
 * our serializer writes the text (the exporter's stalls the event loop for milliseconds per scrape with span
 * histograms). Binds 127.0.0.1 unless told otherwise. The server is unref'd: it never keeps the process alive on
 * its own — a process with nothing else to do exits, endpoint or not.
 */
export async function startPrometheusEndpoint(
  options: PrometheusEndpointOptions = {},
): Promise<PrometheusEndpoint> {
  assertPlainOptions(options, `${WHAT} options`, [
    'host',
    'port',
    'path',
    'resourceMetrics',
    'resource',
    'env',
    'withoutScopeInfo',
    'withoutTargetInfo',
    'withResourceConstantLabels',
    'withoutUnitSuffixes',
  ]);
  const exposition = expositionOptions(options);
  const env = options.env ?? process.env;
  const host = resolveHost(options, env);
  const port = resolvePort(options, env);
  const path = orDefault(options.path, '/metrics');
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw new ConfigError(`${WHAT} options.path must start with "/", got ${describe(path)}`);
  }
  if (
    options.resource !== undefined &&
    (options.resource === null || typeof (options.resource as Partial<EndpointResource>).merge !== 'function')
  ) {
    throw new ConfigError(
      `${WHAT} options.resource must be an OpenTelemetry Resource (e.g. resourceFromAttributes(...)), got ${describe(options.resource)}`,
    );
  }
  const [{ PrometheusExporter }, { MeterProvider }, resources] = await importPeers<
    [ExporterModule, MetricsModule, ResourcesModule]
  >(
    WHAT,
    ['@opentelemetry/exporter-prometheus', '@opentelemetry/sdk-metrics', '@opentelemetry/resources'],
    () => [
      import('@opentelemetry/exporter-prometheus'),
      import('@opentelemetry/sdk-metrics'),
      import('@opentelemetry/resources'),
    ],
  );
  const exporter = new PrometheusExporter({ preventServerStart: true, endpoint: path });
  const meterProvider = new MeterProvider({
    readers: [exporter],
    resource:
      options.resource === undefined
        ? processResource(resources, [resources.envDetector])
        : (options.resource as unknown as SdkResource),
  });
  if (options.resourceMetrics !== false) {
    registerResourceMetrics(
      meterProvider,
      options.resourceMetrics === true ? undefined : options.resourceMetrics,
    );
  }
  let server: ExpositionServer;
  try {
    server = await serveExposition(exporter, { host, port, path, what: WHAT, exposition });
  } catch (error) {
    await meterProvider.shutdown().catch(() => undefined);
    throw error;
  }
  return {
    url: server.url,
    host: server.host,
    port: server.port,
    meterProvider,
    render: server.render,
    shutdown: () => server.close().then(() => meterProvider.shutdown().catch(() => undefined)),
  };
}
