import { type DiagLogger, DiagLogLevel, diag } from '@opentelemetry/api';
import {
  ConfigError,
  ENV_DISABLED_INSTRUMENTATIONS,
  ENV_ENABLED_INSTRUMENTATIONS,
  type Environment,
  readList,
} from '../config/env.js';
import { describe, quoteForMessage } from '../internal/validate.js';
import type { AutoInstrumentationsModule } from '../sdk-setup/sdk-packages.js';

export type Instrumentation = ReturnType<AutoInstrumentationsModule['getNodeAutoInstrumentations']>[number];

const PACKAGE_PREFIX = '@opentelemetry/instrumentation-';

/**
 * The instrumentations upstream's register would enable: @opentelemetry/auto-instrumentations-node reads
 * OTEL_NODE_ENABLED_INSTRUMENTATIONS / OTEL_NODE_DISABLED_INSTRUMENTATIONS itself, so the defaults and meanings are
 * exactly its own (all but fs and host-metrics unless the enabled list is given). Upstream only reports a name it
 * does not know through `diag`, which nobody sees by default; we listen for that report while it reads the lists
 * and refuse the variable by name, like any other bad variable.
 */
export function loadInstrumentations(
  module: AutoInstrumentationsModule,
  env: Environment,
): Instrumentation[] {
  const unknown: string[] = [];
  const listener: DiagLogger = {
    error: (message: string) => {
      const name = /instrumentation name "([^"]+)" not found/.exec(message)?.[1];
      if (name !== undefined) unknown.push(name);
    },
    warn: () => undefined,
    info: () => undefined,
    debug: () => undefined,
    verbose: () => undefined,
  };
  diag.setLogger(listener, { logLevel: DiagLogLevel.ERROR, suppressOverrideMessage: true });
  let instrumentations: Instrumentation[];
  try {
    instrumentations = module.getNodeAutoInstrumentations();
  } finally {
    // The SDK sets the logger OTEL_LOG_LEVEL asks for when it is built, just after this.
    diag.disable();
  }
  // An empty entry ("http,," or a trailing comma) names nothing: upstream reports it too, but it changes nothing,
  // and every other list variable drops empty entries.
  const unknownNames = new Set(
    unknown.map((name) => (name.startsWith(PACKAGE_PREFIX) ? name.slice(PACKAGE_PREFIX.length) : name)),
  );
  unknownNames.delete('');
  const problems: string[] = [];
  for (const variable of [ENV_ENABLED_INSTRUMENTATIONS, ENV_DISABLED_INSTRUMENTATIONS]) {
    const unknownHere = [
      ...new Set((readList(env, variable) ?? []).filter((name) => unknownNames.has(name))),
    ];
    if (unknownHere.length === 0) continue;
    problems.push(
      `${variable} names ${unknownHere.map(quoteForMessage).join(', ')}, which @opentelemetry/auto-instrumentations-node ` +
        `does not have (names are package names without "@opentelemetry/instrumentation-": http, express, pg, …); got ${describe(env[variable])}`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return instrumentations;
}
