import { type DiagLogger, DiagLogLevel, diag } from '@opentelemetry/api';

export interface CapturedLine {
  level: 'error' | 'warn' | 'info' | 'debug' | 'verbose';
  message: string;
}

/** Installs a diag logger that records every line, for tests that count diagnostics. */
export function captureDiag(): { lines: CapturedLine[]; restore: () => void } {
  const lines: CapturedLine[] = [];
  const record =
    (level: CapturedLine['level']) =>
    (message: string): void => {
      lines.push({ level, message });
    };
  const logger: DiagLogger = {
    error: record('error'),
    warn: record('warn'),
    info: record('info'),
    debug: record('debug'),
    verbose: record('verbose'),
  };
  diag.setLogger(logger, { logLevel: DiagLogLevel.ALL, suppressOverrideMessage: true });
  return { lines, restore: () => diag.disable() };
}
