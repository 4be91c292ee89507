import {
  type Context,
  type ContextManager,
  defaultTextMapGetter,
  ROOT_CONTEXT,
  trace,
} from '@opentelemetry/api';
import type { Environment } from '../config/env.js';
import type { SdkPackages } from '../sdk-setup/sdk-packages.js';

type CoreModule = typeof import('@opentelemetry/core');
type AsyncHooksModule = typeof import('@opentelemetry/context-async-hooks');

/**
 * A context manager whose root is the trace context of the environment (TRACEPARENT / TRACESTATE, the
 * specification's environment-variable carriers): every span that would start a new trace becomes a child of the
 * span of whoever started this process — `otel-resource-tracker run`, a CI job, another instrumented program.
 * Undefined when the environment holds no valid trace context (NodeSDK then installs its default).
 */
export function environmentParentContextManager(
  env: Environment,
  packages: SdkPackages,
): ContextManager | undefined {
  const traceparent = env.TRACEPARENT?.trim();
  if (!traceparent) return undefined;
  const { W3CTraceContextPropagator } = packages.requireFromSdk<CoreModule>('@opentelemetry/core');
  const carrier: Record<string, string> = { traceparent };
  if (env.TRACESTATE) carrier.tracestate = env.TRACESTATE;
  const parent: Context = new W3CTraceContextPropagator().extract(
    ROOT_CONTEXT,
    carrier,
    defaultTextMapGetter,
  );
  if (trace.getSpanContext(parent) === undefined) return undefined;
  const { AsyncLocalStorageContextManager } = packages.requireFromSdk<AsyncHooksModule>(
    '@opentelemetry/context-async-hooks',
  );
  return new (class EnvironmentParentContextManager extends AsyncLocalStorageContextManager {
    override active(): Context {
      const active = super.active();
      return active === ROOT_CONTEXT ? parent : active;
    }
  })();
}
