import type { Environment } from '../config/env.js';
import type { SdkSpanProcessor } from '../span-processor/sdk-span.js';
import { otlpTracesDestination, type TraceExporter, warnOnFirstFailure } from './export-failure-warning.js';
import type { OtlpProtocol, TracesExporterName } from './sdk-config.js';
import type { SdkPackages } from './sdk-packages.js';

type OtlpTraceExporterModule = { OTLPTraceExporter: new () => TraceExporter };

const OTLP_TRACE_PACKAGES: Record<OtlpProtocol, string> = {
  grpc: '@opentelemetry/exporter-trace-otlp-grpc',
  'http/json': '@opentelemetry/exporter-trace-otlp-http',
  'http/protobuf': '@opentelemetry/exporter-trace-otlp-proto',
};

/**
 * The exporting span processors for OTEL_TRACES_EXPORTER, as NodeSDK would build them (it does not when it is
 * given span processors, and we must give it ours): OTLP in a BatchSpanProcessor (which reads OTEL_BSP_* and whose
 * exporter reads OTEL_EXPORTER_OTLP_*), console in a SimpleSpanProcessor. Only the exporter of the protocol in use
 * is loaded (the gRPC one alone takes ~100 ms). The first failed OTLP export is said on one line (`say`).
 */
export function exportingProcessors(
  packages: SdkPackages,
  exporters: readonly TracesExporterName[],
  protocol: OtlpProtocol,
  env: Environment,
  say: (message: string) => void,
): SdkSpanProcessor[] {
  const { sdkTrace } = packages;
  return exporters.map((name) => {
    if (name === 'console') {
      return new sdkTrace.SimpleSpanProcessor({ exporter: new sdkTrace.ConsoleSpanExporter() });
    }
    const { OTLPTraceExporter } = packages.requireFromSdk<OtlpTraceExporterModule>(
      OTLP_TRACE_PACKAGES[protocol],
    );
    const exporter = warnOnFirstFailure(new OTLPTraceExporter(), otlpTracesDestination(env, protocol), say);
    return new sdkTrace.BatchSpanProcessor({ exporter });
  });
}
