/**
 * The instrumentation scope of every meter the package creates: the package's name and version, which the
 * Prometheus exposition carries as otel_scope_name / otel_scope_version labels (the specification's default).
 * The version is written here, as OpenTelemetry's own packages do (version.ts), rather than read from
 * package.json at run time; test/package.test.ts keeps the two equal.
 */
export const METER_NAME = 'otel-resource-tracker';
export const METER_VERSION = '0.2.0';
