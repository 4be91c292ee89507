/**
 * The zero-code entry: `node --import otel-resource-tracker/register app.js` (ESM or CommonJS applications);
 * `--require` loads register.cts instead. Starts tracing with the auto-instrumentations, ResourceSpanProcessor and
 * the metrics exporters, configured by environment variables only.
 */
import { startFromPreload } from './zero-code/preload.js';

startFromPreload('import');
