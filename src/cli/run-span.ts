import {
  type Attributes,
  type HrTime,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type trace,
} from '@opentelemetry/api';
import type { Environment } from '../config/env.js';
import { METER_NAME, METER_VERSION } from '../metrics/meter-scope.js';
import { cgroupSpanAttributes } from '../report/run-figures.js';
import { processResource, type ResourcesModule } from '../resource/process-resource.js';
import { sharedContentionSampler } from '../sampler/contention-sampler.js';
import { otlpTracesDestination } from '../sdk-setup/export-failure-warning.js';
import { sdkConfigFromEnv } from '../sdk-setup/sdk-config.js';
import { loadSdkPackages } from '../sdk-setup/sdk-packages.js';
import { exportingProcessors } from '../sdk-setup/trace-exporters.js';

/** The run's span: started before the command, ended with its figures, exported before the wrapper exits. */
export interface RunSpan {
  /** W3C traceparent of the span, for the command's environment (TRACEPARENT). */
  readonly traceparent: string;
  end(attributes: Attributes, failed: string | undefined): Promise<void>;
}

/** The longest the wrapper waits for its span to be exported before it exits. */
const EXPORT_WAIT_MS = 3000;

function hrTime(epochMs: number): HrTime {
  const seconds = Math.floor(epochMs / 1000);
  return [seconds, Math.round((epochMs - seconds * 1000) * 1e6)];
}

/**
 * Starts the run's span through the application-side OpenTelemetry SDK, configured by the same variables as the
 * zero-code entry (OTEL_TRACES_EXPORTER: otlp, console, none; OTEL_EXPORTER_OTLP_*; OTEL_SERVICE_NAME, default the
 * command's name). Undefined when tracing is off or cannot start (one line on stderr says why): the command still
 * runs and the summary is still printed.
 */
export function startRunSpan(
  name: string,
  serviceName: string,
  startEpochMs: number,
  env: Environment,
  say: (message: string) => void,
): RunSpan | undefined {
  let provider: {
    getTracer(name: string, version?: string): ReturnType<typeof trace.getTracer>;
    shutdown(): Promise<void>;
  };
  let span: Span;
  let destination = '';
  try {
    const config = sdkConfigFromEnv(env);
    if (config.tracesExporters.length === 0) return undefined;
    const packages = loadSdkPackages();
    const resources = packages.requireFromSdk<ResourcesModule>('@opentelemetry/resources');
    const resource = processResource(resources, [resources.envDetector]);
    const named = env.OTEL_SERVICE_NAME
      ? resource
      : resource.merge(resources.resourceFromAttributes({ 'service.name': serviceName }));
    provider = new packages.sdkTrace.TracerProvider({
      resource: named,
      spanProcessors: exportingProcessors(packages, config.tracesExporters, config.otlpProtocol, env, say),
    });
    destination = config.tracesExporters.includes('otlp')
      ? `to ${otlpTracesDestination(env, config.otlpProtocol)}`
      : '';
    span = provider
      .getTracer(METER_NAME, METER_VERSION)
      .startSpan(name, { kind: SpanKind.INTERNAL, startTime: hrTime(startEpochMs) }, ROOT_CONTEXT);
  } catch (error) {
    say(`${error instanceof Error ? error.message : String(error)}. The run is not traced.`);
    return undefined;
  }
  // The command runs in the wrapper's cgroup: its throttling over the span's window, and its limits (Linux).
  const cgroup = process.platform === 'linux' ? sharedContentionSampler(env) : undefined;
  const cgroupAtStart = cgroup?.cgroupNow();
  const { traceId, spanId, traceFlags } = span.spanContext();
  return {
    traceparent: `00-${traceId}-${spanId}-${traceFlags.toString(16).padStart(2, '0')}`,
    async end(attributes, failed) {
      span.setAttributes(attributes);
      if (cgroup !== undefined && cgroupAtStart !== undefined)
        span.setAttributes(cgroupSpanAttributes(cgroupAtStart, cgroup.cgroupNow()));
      if (failed !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: failed });
      span.end();
      // The exporter retries an unreachable receiver for up to OTEL_EXPORTER_OTLP_TIMEOUT (10 s by default): a
      // wrapper must not hold up a shell script that long, so the wait is bounded (the exporter has said why).
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), EXPORT_WAIT_MS);
      });
      const outcome = await Promise.race([
        provider.shutdown().then(
          () => 'done' as const,
          () => 'done' as const,
        ),
        gaveUp,
      ]);
      clearTimeout(timer);
      if (outcome === 'timeout')
        say(
          `the run's span was not exported ${destination} within ${EXPORT_WAIT_MS / 1000} s; exiting without it`,
        );
    },
  };
}
