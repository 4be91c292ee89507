/**
 * Demo: a few traced tasks — CPU-heavy, memory-heavy, two concurrent, one nested, one that shells out — measured by
 * ResourceSpanProcessor, printed as a table of each span's resource attributes. Run with `npm run demo`.
 */
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { SpanAttributes as keys, ResourceSpanProcessor } from '../src/index.js';
import { runBatch } from './batch-tasks.js';

const MiB = 1024 * 1024;
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({
  // Every key (attributes: 'full'): the table below shows the wall time, the RSS at both ends and the others open.
  spanProcessors: [
    new ResourceSpanProcessor({ childProcesses: true, attributes: 'full' }),
    new SimpleSpanProcessor(exporter),
  ],
});
trace.setGlobalTracerProvider(provider);

await runBatch();

await provider.forceFlush();

const seconds = (span: ReadableSpan, key: string) => `${(Number(span.attributes[key]) * 1000).toFixed(1)} ms`;
const mebibytes = (span: ReadableSpan, key: string) =>
  `${(Number(span.attributes[key]) / MiB).toFixed(1)} MiB`;
const columns: Array<[string, (span: ReadableSpan) => string]> = [
  ['span', (span) => span.name],
  ['wall', (span) => seconds(span, keys.ATTR_WALL_TIME)],
  ['process CPU', (span) => seconds(span, keys.ATTR_CPU_TIME)],
  ['attributed CPU', (span) => seconds(span, keys.ATTR_CPU_ATTRIBUTED_TIME)],
  ['util', (span) => `${(Number(span.attributes[keys.ATTR_CPU_AVERAGE_CORES]) * 100).toFixed(0)} %`],
  ['others open', (span) => String(span.attributes[keys.ATTR_CONCURRENT_SPANS])],
  ['RSS start', (span) => mebibytes(span, keys.ATTR_MEMORY_START)],
  ['RSS end', (span) => mebibytes(span, keys.ATTR_MEMORY_END)],
  ['RSS peak', (span) => mebibytes(span, keys.ATTR_MEMORY_PEAK)],
  ['child CPU', (span) => seconds(span, keys.ATTR_CHILDREN_CPU_TIME)],
];
const rows = exporter
  .getFinishedSpans()
  .sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1])
  .map((span) => columns.map(([, cell]) => cell(span)));
const widths = columns.map(([title], index) =>
  Math.max(title.length, ...rows.map((row) => (row[index] ?? '').length)),
);
const line = (cells: string[]) =>
  cells
    .map((cell, index) => (index === 0 ? cell.padEnd(widths[index] ?? 0) : cell.padStart(widths[index] ?? 0)))
    .join('  ');
console.log(line(columns.map(([title]) => title)));
console.log(widths.map((width) => '-'.repeat(width)).join('  '));
for (const row of rows) console.log(line(row));
console.log(
  '\nprocess CPU: everything the process used while the span was open; attributed CPU: the part of it that ran ' +
    "in the span's async context (its own code and its children's; concurrent spans each get what they ran, a " +
    'parent includes its children).',
);
await provider.shutdown();
