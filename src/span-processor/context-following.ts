import { context, createContextKey, ROOT_CONTEXT } from '@opentelemetry/api';

const PROBE_KEY = createContextKey('otel-resource-tracker.context-probe');
const PROBE_CONTEXT = ROOT_CONTEXT.setValue(PROBE_KEY, true);

/**
 * Whether a context manager is registered that follows contexts: inside `context.with(c, fn)`, `fn` sees `c` as
 * the active context. Without one (the API's no-op manager: a `BasicTracerProvider` used as is, as in many scripts
 * and tests) no span is ever active, so async-context attribution cannot tell whose code runs. One `with` and
 * one `active()`: cheap enough for a sampler tick, not meant for every span.
 */
export function contextsAreFollowed(): boolean {
  return context.with(PROBE_CONTEXT, () => context.active() === PROBE_CONTEXT);
}
