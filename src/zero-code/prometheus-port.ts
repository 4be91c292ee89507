import cluster from 'node:cluster';
import { ENV_PROMETHEUS_HOST, ENV_PROMETHEUS_PORT, type Environment } from '../config/env.js';
import { quoteForMessage } from '../internal/validate.js';
import { resolveHost, resolvePort } from '../prometheus/endpoint-address.js';
import { type ExpositionServer, PortInUseError, serveExposition } from '../prometheus/exposition-server.js';
import type { PrometheusReader } from '../sdk-setup/metric-readers.js';

/** How many ports after the first a process tries before it gives up (replicas of one service on a host). */
export const PORT_SEARCH = 20;

/**
 * Each process serves its own metrics: a cluster worker on the configured port plus its worker id (9465 for
 * worker 1 beside the primary's 9464), so that a scrape config can list them; any other process on the configured
 * port, or, when another process holds it, on the next free one of the following PORT_SEARCH. A process that is
 * not on the port it was configured with says where it is, in one line — never a process whose metrics are
 * silently off. (Aggregating workers in the primary would need IPC on every scrape and would merge their series;
 * for many processes OTEL_METRICS_EXPORTER=otlp, one push per process, is the simpler path.)
 */
export async function servePrometheus(reader: PrometheusReader, env: Environment): Promise<ExpositionServer> {
  const host = resolveHost({}, env);
  const configured = resolvePort({}, env);
  const workerId = cluster.isWorker ? cluster.worker?.id : undefined;
  const port =
    configured === 0 || workerId === undefined ? configured : Math.min(65535, configured + workerId);
  let server: ExpositionServer;
  try {
    server = await serveExposition(reader, {
      host,
      port,
      path: '/metrics',
      nextPorts: PORT_SEARCH,
      what: 'otel-resource-tracker metrics',
    });
  } catch (error) {
    if (error instanceof PortInUseError) throw error;
    // The host was checked at start, but a lookup that did not answer in time, or an address that went away, fails
    // only here: say which variable chose it.
    throw new Error(
      `${(error as Error).message} (${ENV_PROMETHEUS_HOST}=${quoteForMessage(host)}, ${ENV_PROMETHEUS_PORT}=${port})`,
    );
  }
  if (server.port !== configured) {
    const who =
      workerId === undefined ? `process ${process.pid}` : `cluster worker ${workerId} (pid ${process.pid})`;
    const why = server.port === port || port === 0 ? '' : ` (port ${port} was taken)`;
    console.error(`otel-resource-tracker: metrics of ${who} are at ${server.url}${why}`);
  }
  return server;
}
