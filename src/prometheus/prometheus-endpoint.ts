import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Attributes, diag, type MeterProvider as MeterProviderApi } from '@opentelemetry/api';
import type { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import {
  ConfigError,
  ENV_PROMETHEUS_HOST,
  ENV_PROMETHEUS_PORT,
  type Environment,
  readNumber,
} from '../config/env.js';
import { importPeers } from '../internal/optional-peer.js';
import { assertPlainOptions, describe, orDefault } from '../internal/validate.js';
import { type ResourceMetricsOptions, registerResourceMetrics } from '../metrics/resource-metrics.js';
import { serializeExposition } from './exposition.js';

export const DEFAULT_PROMETHEUS_HOST = '127.0.0.1';
export const DEFAULT_PROMETHEUS_PORT = 9464;

/** An OpenTelemetry Resource (from @opentelemetry/resources, either line), described by what the endpoint uses. */
export interface EndpointResource {
  readonly attributes: Attributes;
  merge(other: EndpointResource | null): EndpointResource;
}

export interface PrometheusEndpointOptions {
  /** Interface to bind. Default OTEL_EXPORTER_PROMETHEUS_HOST, else 127.0.0.1 (this machine only). */
  host?: string;
  /** Port; 0 picks a free one (the returned URL names it). Default OTEL_EXPORTER_PROMETHEUS_PORT, else 9464. */
  port?: number;
  /** Path of the exposition. Default /metrics. */
  path?: string;
  /** Register the resource gauges (true, the default), with options, or not (false). */
  resourceMetrics?: boolean | ResourceMetricsOptions;
  /** Resource of the meter provider (target_info). Default: the SDK's default resource. */
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

/** The interface to bind: options, else OTEL_EXPORTER_PROMETHEUS_HOST, else 127.0.0.1; a bad one is a ConfigError. */
export function resolveHost(options: PrometheusEndpointOptions, env: Environment): string {
  const fromEnv = env[ENV_PROMETHEUS_HOST]?.trim();
  const host = orDefault(
    options.host,
    fromEnv === undefined || fromEnv === '' ? DEFAULT_PROMETHEUS_HOST : fromEnv,
  );
  if (typeof host !== 'string' || host === '' || /[\s/]/.test(host)) {
    const from = options.host === undefined ? ENV_PROMETHEUS_HOST : `${WHAT} options.host`;
    throw new ConfigError(`${from} must be a host name or IP address, got ${describe(host)}`);
  }
  return host;
}

/** The port: options, else OTEL_EXPORTER_PROMETHEUS_PORT, else 9464; a bad one is a ConfigError. */
export function resolvePort(options: PrometheusEndpointOptions, env: Environment): number {
  if (options.port === undefined) {
    const port = readNumber(env, ENV_PROMETHEUS_PORT, 0, 65535, DEFAULT_PROMETHEUS_PORT);
    if (!Number.isInteger(port)) {
      throw new ConfigError(
        `${ENV_PROMETHEUS_PORT} must be an integer from 0 to 65535; got ${describe(env[ENV_PROMETHEUS_PORT])}`,
      );
    }
    return port;
  }
  if (
    typeof options.port !== 'number' ||
    !Number.isInteger(options.port) ||
    options.port < 0 ||
    options.port > 65535
  ) {
    throw new ConfigError(
      `${WHAT} options.port must be an integer from 0 to 65535, got ${describe(options.port)}`,
    );
  }
  return options.port;
}

function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.removeListener('listening', onListening);
      const reason =
        error.code === 'EADDRINUSE'
          ? `port ${port} on ${host} is already in use`
          : error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN'
            ? `${host} is not an address of this machine (${error.code})`
            : error.code === 'EACCES'
              ? `no permission to listen on port ${port}`
              : error.message;
      reject(new Error(`${WHAT}: cannot listen on ${host}:${port}: ${reason}`));
    };
    const onListening = () => {
      server.removeListener('error', onError);
      resolve(server.address() as AddressInfo);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host, port });
  });
}

/** Collects through the exporter (the SDK's MetricReader) and writes the exposition with our serializer. */
async function render(exporter: PrometheusExporter): Promise<string> {
  const { resourceMetrics, errors } = await exporter.collect();
  if (errors.length > 0) diag.debug('otel-resource-tracker: errors while collecting metrics', errors);
  return serializeExposition(resourceMetrics);
}

function serve(exporter: PrometheusExporter, response: ServerResponse, shuttingDown: () => boolean): void {
  render(exporter).then(
    (text) => {
      // Once shutting down, answer what is in flight and let the connection go, rather than keep it alive.
      if (shuttingDown()) response.setHeader('Connection', 'close');
      response.statusCode = 200;
      response.setHeader('Content-Type', 'text/plain; version=0.0.4; charset=utf-8');
      response.end(text);
    },
    (error: unknown) => {
      response.statusCode = 500;
      response.setHeader('Content-Type', 'text/plain; charset=utf-8');
      response.end(
        `# failed to collect metrics: ${error instanceof Error ? error.message : String(error)}\n`,
      );
    },
  );
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
  ]);
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
  const [{ PrometheusExporter }, { MeterProvider }] = await importPeers<[ExporterModule, MetricsModule]>(
    WHAT,
    ['@opentelemetry/exporter-prometheus', '@opentelemetry/sdk-metrics'],
    () => [import('@opentelemetry/exporter-prometheus'), import('@opentelemetry/sdk-metrics')],
  );
  const exporter = new PrometheusExporter({ preventServerStart: true, endpoint: path });
  type SdkResource = NonNullable<NonNullable<ConstructorParameters<typeof MeterProvider>[0]>['resource']>;
  const meterProvider = new MeterProvider({
    readers: [exporter],
    ...(options.resource === undefined ? {} : { resource: options.resource as unknown as SdkResource }),
  });
  if (options.resourceMetrics !== false) {
    registerResourceMetrics(
      meterProvider,
      options.resourceMetrics === true ? undefined : options.resourceMetrics,
    );
  }
  let closing: Promise<void> | undefined;
  const server = createServer((request, response) => {
    const requestPath = (request.url ?? '/').split('?')[0];
    if (requestPath === path && (request.method === 'GET' || request.method === 'HEAD')) {
      serve(exporter, response, () => closing !== undefined);
      return;
    }
    response.statusCode = 404;
    response.end(`Not found: metrics are at ${path}\n`);
  });
  let address: AddressInfo;
  try {
    address = await listen(server, host, port);
  } catch (error) {
    await meterProvider.shutdown().catch(() => undefined);
    throw error;
  }
  // Neither the listening socket nor a scraper's kept-alive connection may keep the application alive.
  server.unref();
  server.on('connection', (socket) => socket.unref());
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${urlHost}:${address.port}${path}`,
    host: address.address,
    port: address.port,
    meterProvider,
    render: () => render(exporter),
    shutdown: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }).then(() => meterProvider.shutdown().catch(() => undefined));
      return closing;
    },
  };
}
