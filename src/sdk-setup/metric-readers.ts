import type { OtlpProtocol, SdkConfig } from './sdk-config.js';
import type { SdkPackages } from './sdk-packages.js';

type SdkMetrics = SdkPackages['sdkMetrics'];
export type MetricReader = InstanceType<SdkMetrics['MetricReader']>;
type PushMetricExporter = ConstructorParameters<SdkMetrics['PeriodicExportingMetricReader']>[0]['exporter'];
type PrometheusModule = typeof import('@opentelemetry/exporter-prometheus');
export type PrometheusReader = InstanceType<PrometheusModule['PrometheusExporter']>;

const OTLP_METRIC_PACKAGES: Record<OtlpProtocol, string> = {
  grpc: '@opentelemetry/exporter-metrics-otlp-grpc',
  'http/json': '@opentelemetry/exporter-metrics-otlp-http',
  'http/protobuf': '@opentelemetry/exporter-metrics-otlp-proto',
};

type AggregationSelector = (instrumentType: string) => { type: number };

/**
 * Histograms as base-2 exponential histograms, everything else as the reader's default: what the specification's
 * `base2_exponential_bucket_histogram` asks. Our span histograms' bucket boundaries are advice, which this replaces.
 */
function exponentialHistograms(sdkMetrics: SdkMetrics): AggregationSelector {
  const { AggregationType, InstrumentType } = sdkMetrics;
  return (instrumentType) =>
    instrumentType === InstrumentType.HISTOGRAM
      ? { type: AggregationType.EXPONENTIAL_HISTOGRAM }
      : { type: AggregationType.DEFAULT };
}

export interface MetricReaders {
  readonly readers: MetricReader[];
  /** The reader our Prometheus endpoint serves, when OTEL_METRICS_EXPORTER names prometheus. */
  readonly prometheus: PrometheusReader | undefined;
}

/**
 * One reader per OTEL_METRICS_EXPORTER entry, all on one meter provider, so that every exporter gets the same
 * instruments: `prometheus` is @opentelemetry/exporter-prometheus's reader without its server (ours serves it,
 * see prometheus/exposition-server.ts), `otlp` and `console` push every OTEL_METRIC_EXPORT_INTERVAL, the OTLP
 * exporter reading OTEL_EXPORTER_OTLP_METRICS_* / OTEL_EXPORTER_OTLP_* itself.
 */
export function metricReaders(packages: SdkPackages, config: SdkConfig): MetricReaders {
  const { sdkMetrics } = packages;
  const push = (exporter: PushMetricExporter) =>
    new sdkMetrics.PeriodicExportingMetricReader({
      exporter,
      exportIntervalMillis: config.metricExport.intervalMs,
      exportTimeoutMillis: config.metricExport.timeoutMs,
    });
  let prometheus: PrometheusReader | undefined;
  const readers = config.metricsExporters.map((name): MetricReader => {
    switch (name) {
      case 'prometheus': {
        const { PrometheusExporter } = packages.requireFromSdk<PrometheusModule>(
          '@opentelemetry/exporter-prometheus',
        );
        prometheus = new PrometheusExporter({ preventServerStart: true });
        return prometheus;
      }
      case 'otlp': {
        const { OTLPMetricExporter } = packages.requireFromSdk<{
          OTLPMetricExporter: new (options?: {
            aggregationPreference?: AggregationSelector;
          }) => PushMetricExporter;
        }>(OTLP_METRIC_PACKAGES[config.otlpMetricsProtocol]);
        return push(
          new OTLPMetricExporter(
            config.otlpExponentialHistograms
              ? { aggregationPreference: exponentialHistograms(sdkMetrics) }
              : {},
          ),
        );
      }
      default:
        return push(new sdkMetrics.ConsoleMetricExporter());
    }
  });
  return { readers, prometheus };
}
