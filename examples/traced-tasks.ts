/**
 * Demo: a few traced tasks — CPU-heavy, memory-heavy, two concurrent, one nested — measured by
 * ResourceSpanProcessor, printed as a table of each span's resource attributes. Run with `npm run demo`.
 */
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { SpanAttributes as keys, ResourceSpanProcessor } from '../src/index.js';

const MiB = 1024 * 1024;

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({
  spanProcessors: [new ResourceSpanProcessor(), new SimpleSpanProcessor(exporter)],
});
trace.setGlobalTracerProvider(provider);
const tracer = trace.getTracer('demo');

function spin(ms: number): void {
  const start = process.cpuUsage();
  let x = 0;
  while (process.cpuUsage(start).user / 1000 < ms) for (let i = 0; i < 10_000; i++) x += Math.sqrt(i);
  if (x < 0) console.log(x);
}

/** Runs `work` in an active span named `name`, ended when `work` settles. */
function traced<T>(name: string, work: () => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, (span) => work().finally(() => span.end()));
}

async function cpuChunks(totalMs: number): Promise<void> {
  for (let done = 0; done < totalMs; done += 20) {
    spin(20);
    await nextTurn();
  }
}

await traced('cpu-heavy', () => cpuChunks(300));

await traced('memory-heavy', async () => {
  let table: Float64Array | undefined = new Float64Array((200 * MiB) / 8).fill(1);
  await sleep(50);
  table = undefined; // freed before the span ends: process.memory.peak still sees it
  (globalThis as { gc?: () => void }).gc?.();
  await sleep(30);
  return table;
});

await Promise.all([
  traced('concurrent-a', () => cpuChunks(200)),
  traced('concurrent-b', () => cpuChunks(200)),
]);

await traced('nested-parent', async () => {
  spin(50);
  await traced('nested-child-1', () => cpuChunks(100));
  await traced('nested-child-2', () => cpuChunks(60));
});

await provider.forceFlush();

const seconds = (span: ReadableSpan, key: string) => `${(Number(span.attributes[key]) * 1000).toFixed(1)} ms`;
const mebibytes = (span: ReadableSpan, key: string) =>
  `${(Number(span.attributes[key]) / MiB).toFixed(1)} MiB`;
const columns: Array<[string, (span: ReadableSpan) => string]> = [
  ['span', (span) => span.name],
  ['wall', (span) => seconds(span, keys.ATTR_WALL_TIME)],
  ['process CPU', (span) => seconds(span, keys.ATTR_CPU_TIME)],
  ['attributed CPU', (span) => seconds(span, keys.ATTR_CPU_ATTRIBUTED_TIME)],
  ['util', (span) => `${(Number(span.attributes[keys.ATTR_CPU_UTILIZATION]) * 100).toFixed(0)} %`],
  ['others open', (span) => String(span.attributes[keys.ATTR_CONCURRENT_SPANS])],
  ['RSS start', (span) => mebibytes(span, keys.ATTR_MEMORY_START)],
  ['RSS end', (span) => mebibytes(span, keys.ATTR_MEMORY_END)],
  ['RSS peak', (span) => mebibytes(span, keys.ATTR_MEMORY_PEAK)],
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
  "\nprocess CPU: everything the process used while the span was open; attributed CPU: the span's fair share " +
    'of it (concurrent spans split it; a parent includes its children).',
);
await provider.shutdown();
