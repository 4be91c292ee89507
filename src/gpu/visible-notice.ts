import { diag } from '@opentelemetry/api';
import type { Environment } from '../config/env.js';

const PREFIX = 'otel-resource-tracker';

/**
 * A problem with something the user asked for explicitly (a forced GPU provider, an NVML library path): a diag
 * line at `level`, and, where OTEL_LOG_LEVEL is not set (so that no diag logger shows it), the same line on
 * stderr — one line, never a silent failure of what was asked for. Where OTEL_LOG_LEVEL is set the diag logger
 * it installs shows the line, and it is not printed twice.
 */
export function noticeVisibly(
  level: 'error' | 'warn',
  message: string,
  env: Environment = process.env,
): void {
  diag[level](`${PREFIX}: ${message}`);
  if ((env.OTEL_LOG_LEVEL ?? process.env.OTEL_LOG_LEVEL ?? '').trim() === '') {
    process.stderr.write(`${PREFIX}: ${message}\n`);
  }
}
