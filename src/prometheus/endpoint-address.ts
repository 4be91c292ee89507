import {
  ConfigError,
  ENV_PROMETHEUS_HOST,
  ENV_PROMETHEUS_PORT,
  type Environment,
  readInteger,
} from '../config/env.js';
import { describe, orDefault } from '../internal/validate.js';

/*
 * Where the endpoint listens, from options and the environment: apart from the endpoint itself, so that checking the
 * zero-code entry's variables at start-up does not load the exporter, the serializer and the server.
 */

export const DEFAULT_PROMETHEUS_HOST = '127.0.0.1';
export const DEFAULT_PROMETHEUS_PORT = 9464;

/** Host and port as given to startPrometheusEndpoint (the rest of its options are not read here). */
export interface EndpointAddressOptions {
  host?: string;
  port?: number;
}

const WHAT = 'startPrometheusEndpoint';

/** The interface to bind: options, else OTEL_EXPORTER_PROMETHEUS_HOST, else 127.0.0.1; a bad one is a ConfigError. */
export function resolveHost(options: EndpointAddressOptions, env: Environment): string {
  const fromEnv = env[ENV_PROMETHEUS_HOST]?.trim();
  const host = orDefault(
    options.host,
    fromEnv === undefined || fromEnv === '' ? DEFAULT_PROMETHEUS_HOST : fromEnv,
  );
  if (typeof host !== 'string' || host === '' || /[\s/]/.test(host)) {
    const from = options.host === undefined ? ENV_PROMETHEUS_HOST : `${WHAT} options.host`;
    throw new ConfigError(`${from} must be a host name or IP address, got ${describe(host)}`);
  }
  return host;
}

/** The port: options, else OTEL_EXPORTER_PROMETHEUS_PORT, else 9464; a bad one is a ConfigError. */
export function resolvePort(options: EndpointAddressOptions, env: Environment): number {
  if (options.port === undefined) {
    return readInteger(env, ENV_PROMETHEUS_PORT, 0, 65535, DEFAULT_PROMETHEUS_PORT);
  }
  if (
    typeof options.port !== 'number' ||
    !Number.isInteger(options.port) ||
    options.port < 0 ||
    options.port > 65535
  ) {
    throw new ConfigError(
      `${WHAT} options.port must be an integer from 0 to 65535, got ${describe(options.port)}`,
    );
  }
  return options.port;
}
