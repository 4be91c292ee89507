import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { diag } from '@opentelemetry/api';
import { acceptsGzip } from './accept-encoding.js';
import type { CollectedResourceMetrics } from './collected-metrics.js';
import { type ExpositionOptions, serializeExposition } from './exposition.js';
import { type Rendered, SharedRender } from './shared-render.js';

/** What the server needs of a MetricReader (the Prometheus exporter with `preventServerStart`). */
export interface CollectingReader {
  collect(): Promise<{ resourceMetrics: CollectedResourceMetrics; errors: unknown[] }>;
}

export interface ExpositionServer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  render(): Promise<string>;
  /** Stops serving (answers what is in flight first); safe to call more than once. */
  close(): Promise<void>;
}

export interface ServeOptions {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  /** Also try this many following ports when the port is taken (several processes of one service). Default 0. */
  readonly nextPorts?: number;
  /** Names the caller in error messages. */
  readonly what: string;
  /** The exposition's shape (scope labels, target_info, unit suffixes). Default: the specification's. */
  readonly exposition?: ExpositionOptions;
}

/** Thrown when the port is taken (after the following ones too, when asked to try them). */
export class PortInUseError extends Error {
  readonly code = 'EADDRINUSE';
}

function listen(server: Server, host: string, port: number, what: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.removeListener('listening', onListening);
      const where = `${what}: cannot listen on ${host}:${port}`;
      if (error.code === 'EADDRINUSE') {
        reject(new PortInUseError(`${where}: port ${port} on ${host} is already in use`));
        return;
      }
      const reason =
        error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN'
          ? `${host} is not an address of this machine (${error.code})`
          : error.code === 'EACCES'
            ? `no permission to listen on port ${port}`
            : error.message;
      reject(new Error(`${where}: ${reason}`));
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

/** Collects through the reader and writes the exposition with our serializer, once the resource is complete. */
async function render(reader: CollectingReader, options: ExpositionOptions): Promise<string> {
  const { resourceMetrics, errors } = await reader.collect();
  if (errors.length > 0) diag.debug('otel-resource-tracker: errors while collecting metrics', errors);
  // Detectors may still be answering (container, cloud): target_info must not be written half-known.
  await resourceMetrics.resource.waitForAsyncAttributes?.();
  return serializeExposition(resourceMetrics, options);
}

/** Worth compressing: below this, gzip's header and the thread-pool hop cost more than they save. */
const GZIP_FROM_BYTES = 4096;

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * Gzipped when the scraper accepts it (Prometheus always does): span histograms make the text a few hundred KB and
 * it compresses ~20×. The render compresses once, whatever the number of scrapes it answers.
 */
async function send(request: IncomingMessage, response: ServerResponse, rendered: Rendered): Promise<void> {
  const compressed =
    rendered.body.length >= GZIP_FROM_BYTES && acceptsGzip(request.headers['accept-encoding'])
      ? await rendered.gzipped()
      : undefined;
  if (compressed !== undefined) response.setHeader('Content-Encoding', 'gzip');
  const body = compressed ?? rendered.body;
  response.setHeader('Content-Length', body.length);
  response.end(body);
}

function respond(
  renders: SharedRender,
  request: IncomingMessage,
  response: ServerResponse,
  closing: () => boolean,
): void {
  renders
    .get()
    .then(
      async (rendered) => {
        // Once shutting down, answer what is in flight and let the connection go, rather than keep it alive.
        if (closing()) response.setHeader('Connection', 'close');
        response.statusCode = 200;
        response.setHeader('Content-Type', CONTENT_TYPE);
        response.setHeader('Vary', 'Accept-Encoding');
        await send(request, response, rendered);
      },
      (error: unknown) => {
        response.statusCode = 500;
        response.setHeader('Content-Type', 'text/plain; charset=utf-8');
        response.end(
          `# failed to collect metrics: ${error instanceof Error ? error.message : String(error)}\n`,
        );
      },
    )
    .catch((error: unknown) => diag.debug('otel-resource-tracker: a scrape could not be answered', error));
}

/** HEAD: the headers a GET would get, without collecting (a HEAD is a liveness probe, not a scrape). */
function respondToHead(response: ServerResponse): void {
  response.statusCode = 200;
  response.setHeader('Content-Type', CONTENT_TYPE);
  response.setHeader('Vary', 'Accept-Encoding');
  response.end();
}

/**
 * Serves a reader's metrics over HTTP for Prometheus: our own `http` server (so that port 0 means a free port, and
 * a bad port or host is a rejected promise rather than an uncaught exception), unref'd — it never keeps the
 * process alive on its own, and neither does a scraper's kept-alive connection.
 */
export async function serveExposition(
  reader: CollectingReader,
  options: ServeOptions,
): Promise<ExpositionServer> {
  const { host, path, what } = options;
  const exposition = options.exposition ?? {};
  const renderNow = () => render(reader, exposition);
  // Scrapes share collections (one in flight, reused briefly); render() collects anew, for a caller that wants now.
  const renders = new SharedRender(renderNow);
  let closing: Promise<void> | undefined;
  const server = createServer((request, response) => {
    const requestPath = (request.url ?? '/').split('?')[0];
    if (requestPath !== path) {
      response.statusCode = 404;
      response.end(`Not found: metrics are at ${path}\n`);
    } else if (request.method === 'GET') {
      respond(renders, request, response, () => closing !== undefined);
    } else if (request.method === 'HEAD') {
      respondToHead(response);
    } else {
      response.statusCode = 405;
      response.setHeader('Allow', 'GET, HEAD');
      response.end(`Method not allowed: ${path} answers GET and HEAD\n`);
    }
  });
  const lastPort = options.port === 0 ? 0 : Math.min(65535, options.port + (options.nextPorts ?? 0));
  let address: AddressInfo | undefined;
  for (let port = options.port; address === undefined; port++) {
    try {
      address = await listen(server, host, port, what);
    } catch (error) {
      if (!(error instanceof PortInUseError)) throw error;
      if (port >= lastPort) {
        if (lastPort === options.port) throw error;
        throw new PortInUseError(
          `${what}: cannot listen on ${host}: ports ${options.port} to ${lastPort} are all in use`,
        );
      }
    }
  }
  server.unref();
  server.on('connection', (socket) => socket.unref());
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${urlHost}:${address.port}${path}`,
    host: address.address,
    port: address.port,
    render: renderNow,
    close: () => {
      renders.clear();
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
