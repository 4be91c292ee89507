import type { Environment } from '../config/env.js';
import type { OtlpProtocol } from './sdk-config.js';
import type { SdkTraceModule } from './sdk-packages.js';

export type TraceExporter = ConstructorParameters<SdkTraceModule['BatchSpanProcessor']>[0]['exporter'];
type ExportResult = Parameters<Parameters<TraceExporter['export']>[1]>[0];

const FAILED = 1; // ExportResultCode.FAILED in @opentelemetry/core, both lines

/**
 * Where the OTLP trace exporter sends spans, worked out from the same variables it reads (its own URL is not
 * public): the traces endpoint as given, else the general endpoint plus /v1/traces for HTTP, else the default.
 */
export function otlpTracesDestination(env: Environment, protocol: OtlpProtocol): string {
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  if (traces) return traces;
  const general = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (protocol === 'grpc') return general || 'http://localhost:4317';
  return `${(general || 'http://localhost:4318').replace(/\/+$/, '')}/v1/traces`;
}

/**
 * The exporter, saying on one line the first time an export fails where the spans were going and why: without
 * it a missing receiver is silence (the SDK reports export errors through `diag`, off by default), and saying it
 * for every batch would flood a service's log.
 */
export function warnOnFirstFailure(
  exporter: TraceExporter,
  destination: string,
  say: (message: string) => void,
): TraceExporter {
  let warned = false;
  const wrapped: TraceExporter = {
    export(spans, resultCallback) {
      exporter.export(spans, (result: ExportResult) => {
        if (result.code === FAILED && !warned) {
          warned = true;
          say(
            `spans cannot be exported to ${destination}: ${result.error?.message ?? 'the export failed'} ` +
              '(said once; spans are dropped while it does not answer)',
          );
        }
        resultCallback(result);
      });
    },
    shutdown: () => exporter.shutdown(),
  };
  if (exporter.forceFlush !== undefined)
    wrapped.forceFlush = () => exporter.forceFlush?.() ?? Promise.resolve();
  return wrapped;
}
