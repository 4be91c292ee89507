/**
 * Zero-code entry: `node --import otel-resource-tracker/register app.js` (or NODE_OPTIONS=--import=…) starts
 * tracing with ResourceSpanProcessor and the Prometheus endpoint, configured by environment variables only.
 */
import { startZeroCode } from './zero-code/start.js';

try {
  await startZeroCode();
} catch (error) {
  // A preload must never take the application down with it.
  console.error(`otel-resource-tracker: zero-code start failed: ${String(error)}. Tracing is not started.`);
}
