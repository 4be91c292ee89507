/**
 * Zero-code entry: `node --import otel-resource-tracker/register app.js` (or NODE_OPTIONS=--import=…) starts
 * tracing with ResourceSpanProcessor and the Prometheus endpoint, configured by environment variables only.
 */
import { startZeroCode } from './zero-code/start.js';

await startZeroCode();
