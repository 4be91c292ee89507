import { OTLPTraceExporter as OtlpGrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { OtlpProtocol, TracesExporterName } from './zero-code-config.js';

/**
 * The exporting span processors for OTEL_TRACES_EXPORTER, as NodeSDK would build them (it does not when it is
 * given span processors, and we must give it ours): OTLP in a BatchSpanProcessor (which reads OTEL_BSP_* and whose
 * exporter reads OTEL_EXPORTER_OTLP_*), console in a SimpleSpanProcessor.
 */
export function exportingProcessors(
  exporters: readonly TracesExporterName[],
  protocol: OtlpProtocol,
): SpanProcessor[] {
  return exporters.map((name) => {
    if (name === 'console') return new SimpleSpanProcessor(new ConsoleSpanExporter());
    const exporter =
      protocol === 'grpc'
        ? new OtlpGrpcExporter()
        : protocol === 'http/json'
          ? new OtlpJsonExporter()
          : new OtlpProtobufExporter();
    return new BatchSpanProcessor(exporter);
  });
}
