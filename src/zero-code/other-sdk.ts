import type { Environment } from '../config/env.js';

/** How @opentelemetry/api keeps its registered globals (one slot per major version of the API). */
const API_GLOBALS = Symbol.for('opentelemetry.js.api.1');
const UPSTREAM_REGISTER = /auto-instrumentations-node\/(?:build\/src\/|dist\/)?register/;

/**
 * Another OpenTelemetry set-up in this process, described as the line that tells the user what to change; undefined
 * when there is none. Two SDKs cannot share the API's globals: the second one's providers are dropped (with an
 * error only OTEL_LOG_LEVEL shows) while its instrumentations are enabled a second time. So when another set-up is
 * there — or is about to be, because upstream's register comes after us on the command line — we start nothing
 * and leave the process to it, traced but without resource figures, rather than run a second SDK.
 */
export function otherSdkSetup(env: Environment): string | undefined {
  const preloads = [...process.execArgv, env.NODE_OPTIONS ?? ''].join(' ');
  if (UPSTREAM_REGISTER.test(preloads)) {
    return (
      '@opentelemetry/auto-instrumentations-node/register is loaded too, and one process can run only one ' +
      'OpenTelemetry SDK: it traces alone, without resource figures. Remove it: otel-resource-tracker/register ' +
      'starts the same instrumentations, with the resource processor'
    );
  }
  const registered = (globalThis as { [API_GLOBALS]?: { trace?: unknown } })[API_GLOBALS]?.trace;
  if (registered !== undefined) {
    return (
      'an OpenTelemetry SDK is already registered in this process (by an earlier --import or --require), and ' +
      'one process can run only one: this entry starts nothing. Add `new ResourceSpanProcessor()` to that ' +
      "SDK's spanProcessors instead, or remove the other set-up"
    );
  }
  return undefined;
}
