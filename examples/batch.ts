/**
 * The batch with no tracing set-up of its own: run it under the zero-code entry,
 *   node --import otel-resource-tracker/register build/examples/batch.js
 */
import { runBatch } from './batch-tasks.js';

await runBatch();
console.log('batch done');
