import { importPeers } from '../internal/optional-peer.js';
import type { SdkSpanProcessor } from '../span-processor/sdk-span.js';
import type { OtlpProtocol, TracesExporterName } from './zero-code-config.js';

type SdkTrace = typeof import('@opentelemetry/sdk-trace');
type OtlpExporterModule = {
  OTLPTraceExporter: new () => ConstructorParameters<SdkTrace['BatchSpanProcessor']>[0]['exporter'];
};

const OTLP_PACKAGES: Record<OtlpProtocol, string> = {
  grpc: '@opentelemetry/exporter-trace-otlp-grpc',
  'http/json': '@opentelemetry/exporter-trace-otlp-http',
  'http/protobuf': '@opentelemetry/exporter-trace-otlp-proto',
};

/** Only the exporter of the protocol in use is loaded (the gRPC one alone takes ~100 ms to import). */
function importOtlp(protocol: OtlpProtocol): Promise<OtlpExporterModule> {
  switch (protocol) {
    case 'grpc':
      return import('@opentelemetry/exporter-trace-otlp-grpc');
    case 'http/json':
      return import('@opentelemetry/exporter-trace-otlp-http');
    case 'http/protobuf':
      return import('@opentelemetry/exporter-trace-otlp-proto');
  }
}

/**
 * The exporting span processors for OTEL_TRACES_EXPORTER, as NodeSDK would build them (it does not when it is
 * given span processors, and we must give it ours): OTLP in a BatchSpanProcessor (which reads OTEL_BSP_* and whose
 * exporter reads OTEL_EXPORTER_OTLP_*), console in a SimpleSpanProcessor. They come from the application's
 * @opentelemetry/sdk-trace (2.12 and 3.x take the same `{ exporter }` options) and OTLP exporter packages, which
 * @opentelemetry/sdk-node brings along on either line.
 */
export async function exportingProcessors(
  exporters: readonly TracesExporterName[],
  protocol: OtlpProtocol,
): Promise<SdkSpanProcessor[]> {
  const otlp = exporters.includes('otlp');
  const names = ['@opentelemetry/sdk-trace', ...(otlp ? [OTLP_PACKAGES[protocol]] : [])];
  const [trace, exporterModule] = await importPeers<[SdkTrace, OtlpExporterModule | undefined]>(
    'the zero-code entry',
    names,
    () => [import('@opentelemetry/sdk-trace'), otlp ? importOtlp(protocol) : Promise.resolve(undefined)],
  );
  return exporters.map((name) =>
    name === 'console' || exporterModule === undefined
      ? new trace.SimpleSpanProcessor({ exporter: new trace.ConsoleSpanExporter() })
      : new trace.BatchSpanProcessor({ exporter: new exporterModule.OTLPTraceExporter() }),
  );
}
