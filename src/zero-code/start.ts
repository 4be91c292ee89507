import { diag } from '@opentelemetry/api';
import type { Environment } from '../config/env.js';
import { importPeers } from '../internal/optional-peer.js';
import { type PrometheusEndpoint, startPrometheusEndpoint } from '../prometheus/prometheus-endpoint.js';
import { ResourceSpanProcessor } from '../span-processor/resource-span-processor.js';
import { exportingProcessors } from './trace-exporters.js';
import { readZeroCodeConfig, type ZeroCodeConfig } from './zero-code-config.js';

/** The application's @opentelemetry/sdk-node NodeSDK, as far as we drive it. */
export interface StartedSdk {
  shutdown(): Promise<void>;
}

export interface ZeroCodeHandle {
  readonly sdk: StartedSdk;
  readonly metrics: PrometheusEndpoint | undefined;
  /** Flushes and stops tracing and the endpoint (once; later calls return the same promise). */
  shutdown(): Promise<void>;
}

const PREFIX = 'otel-resource-tracker';

type SdkNode = typeof import('@opentelemetry/sdk-node');

/**
 * Starts tracing with the resource processor and the Prometheus endpoint, configured only by environment. A bad
 * variable is reported on stderr, naming it, and nothing is started: the application runs, untraced, rather than
 * half-traced or not at all. Spans are flushed when the event loop empties, on SIGTERM and on SIGINT.
 */
export async function startZeroCode(env: Environment = process.env): Promise<ZeroCodeHandle | undefined> {
  let config: ZeroCodeConfig;
  let sdkNode: SdkNode;
  let exporting: Awaited<ReturnType<typeof exportingProcessors>>;
  try {
    config = readZeroCodeConfig(env);
    // Everything the SDK needs is loaded before anything starts: a missing package starts nothing.
    [sdkNode] = await importPeers<[SdkNode]>('the zero-code entry', ['@opentelemetry/sdk-node'], () => [
      import('@opentelemetry/sdk-node'),
    ]);
    exporting = await exportingProcessors(config.tracesExporters, config.otlpProtocol);
  } catch (error) {
    // A bad variable, a missing package (MissingPeerError says which to install) or one that fails to load.
    console.error(
      `${PREFIX}: ${error instanceof Error ? error.message : String(error)}. Tracing is not started.`,
    );
    return undefined;
  }
  let metrics: PrometheusEndpoint | undefined;
  if (config.metrics) {
    try {
      metrics = await startPrometheusEndpoint({ env });
    } catch (error) {
      // Tracing is still worth having without the endpoint (a port in use is common when two copies run).
      console.error(`${PREFIX}: ${(error as Error).message}. Metrics are off; tracing goes on.`);
    }
  }
  const processor = new ResourceSpanProcessor({
    ...config.processor,
    ...(config.spanHistograms && metrics !== undefined ? { meterProvider: metrics.meterProvider } : {}),
  });
  let sdk: StartedSdk;
  try {
    const started = new sdkNode.NodeSDK({ spanProcessors: [processor, ...exporting], instrumentations: [] });
    started.start();
    sdk = started;
  } catch (error) {
    // Nothing half-started: the endpoint goes too.
    console.error(
      `${PREFIX}: the OpenTelemetry SDK did not start: ${(error as Error).message}. Tracing is not started.`,
    );
    await Promise.allSettled([processor.shutdown(), metrics?.shutdown()]);
    return undefined;
  }
  let stopping: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    stopping ??= Promise.allSettled([sdk.shutdown(), metrics?.shutdown()]).then((results) => {
      for (const result of results) {
        if (result.status === 'rejected') diag.warn(`${PREFIX}: shutting down: ${String(result.reason)}`);
      }
    });
    return stopping;
  };
  installExitHooks(shutdown);
  return { sdk, metrics, shutdown };
}

/**
 * Flush at the natural end (beforeExit) and on SIGTERM / SIGINT. A signal handler replaces Node's default of
 * exiting, so once flushed we re-raise the signal for the default to happen — unless the application listens to
 * it too, in which case its own handler decides when to exit.
 */
function installExitHooks(shutdown: () => Promise<void>): void {
  process.once('beforeExit', () => void shutdown());
  installUncaughtExceptionFlush(shutdown);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const onSignal = () => {
      // Asked now, while the application's own handlers for this signal (if any) are still registered.
      const applicationHandles = process.listenerCount(signal) > 0;
      shutdown().finally(() => {
        if (!applicationHandles) process.kill(process.pid, signal);
      });
    };
    process.once(signal, onSignal);
  }
}

/** How long a crash may wait for spans to be flushed before the process exits anyway. */
const CRASH_FLUSH_TIMEOUT_MS = 2000;

/**
 * An uncaught exception ends the process synchronously, before any export could happen, so the spans that explain
 * the crash would be lost. When the application has no handler of its own we take Node's place: print the error
 * as Node would, flush (at most 2 s), and exit with code 1. An application with its own 'uncaughtException'
 * handler keeps full control: we do nothing then.
 */
function installUncaughtExceptionFlush(shutdown: () => Promise<void>): void {
  const onUncaught = (error: unknown, origin: string) => {
    if (process.listenerCount('uncaughtException') > 1) return;
    process.removeListener('uncaughtException', onUncaught);
    process.exitCode = 1;
    const described = error instanceof Error ? (error.stack ?? String(error)) : String(error);
    process.stderr.write(
      `${described}\n${origin === 'unhandledRejection' ? '(from an unhandled promise rejection)\n' : ''}`,
    );
    const timeout = setTimeout(() => process.exit(1), CRASH_FLUSH_TIMEOUT_MS);
    timeout.unref();
    shutdown().finally(() => process.exit(1));
  };
  process.on('uncaughtException', onUncaught);
}
