import { createHook } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { context, ROOT_CONTEXT } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { type CpuAttribution, ResourceSpanProcessor, SpanAttributes } from '../src/index.js';
import { burnCpu } from '../test/helpers/workload.js';

type RequestType = 'cpu-bound' | 'io-bound' | 'mixed';
const TYPES: RequestType[] = ['cpu-bound', 'io-bound', 'mixed'];

/** Three request shapes: all CPU (yielding between chunks), mostly waiting, and half-and-half. */
async function request(type: RequestType): Promise<void> {
  switch (type) {
    case 'cpu-bound':
      for (let i = 0; i < 4; i++) {
        burnCpu(5);
        await nextTurn();
      }
      return;
    case 'io-bound':
      for (let i = 0; i < 4; i++) {
        burnCpu(0.25);
        await sleep(8);
      }
      return;
    case 'mixed':
      for (let i = 0; i < 2; i++) {
        burnCpu(4);
        await sleep(8);
      }
  }
}

async function cpuAlone(type: RequestType, runs: number): Promise<number> {
  let total = 0;
  for (let i = 0; i < runs; i++) {
    const before = process.cpuUsage();
    await request(type);
    const used = process.cpuUsage(before);
    total += (used.user + used.system) / 1e6;
  }
  return total / runs;
}

async function attributedUnderLoad(mode: CpuAttribution, requests: number, inFlight: number) {
  const exporter = new InMemorySpanExporter();
  const processor = new ResourceSpanProcessor({ cpuAttribution: mode });
  const provider = new BasicTracerProvider({
    spanProcessors: [processor, new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('bench');
  let next = 0;
  const worker = async () => {
    while (next < requests) {
      const type = TYPES[next % TYPES.length] as RequestType;
      next++;
      await tracer.startActiveSpan(type, {}, ROOT_CONTEXT, async (span) => {
        await request(type);
        span.end();
      });
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const sums = new Map<RequestType, { attributed: number; count: number }>();
  for (const span of exporter.getFinishedSpans()) {
    const entry = sums.get(span.name as RequestType) ?? { attributed: 0, count: 0 };
    entry.attributed += Number(span.attributes[SpanAttributes.ATTR_CPU_ATTRIBUTED_TIME]);
    entry.count++;
    sums.set(span.name as RequestType, entry);
  }
  await provider.shutdown();
  return new Map([...sums].map(([type, { attributed, count }]) => [type, attributed / count]));
}

/** ns per async continuation: a loop of `await` on setImmediate, with and without exact mode's hooks. */
async function continuationCost(
  setup: 'none' | 'empty-hooks' | 'exact',
  iterations: number,
): Promise<number> {
  const processor = setup === 'exact' ? new ResourceSpanProcessor({ cpuAttribution: 'exact' }) : undefined;
  const emptyHooks =
    setup === 'empty-hooks' ? createHook({ before() {}, after() {}, init() {} }).enable() : undefined;
  const provider = new BasicTracerProvider({ spanProcessors: processor ? [processor] : [] });
  const tracer = provider.getTracer('bench');
  const elapsed = await tracer.startActiveSpan('loop', async (span) => {
    const start = performance.now();
    for (let i = 0; i < iterations; i++) await nextTurn();
    const ms = performance.now() - start;
    span.end();
    return ms;
  });
  await provider.shutdown();
  emptyHooks?.disable();
  return (elapsed * 1e6) / iterations;
}

export async function benchAttribution(): Promise<void> {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const alone = new Map<RequestType, number>();
  for (const type of TYPES) alone.set(type, await cpuAlone(type, 20));
  const fair = await attributedUnderLoad('fair-share', 240, 8);
  const exact = await attributedUnderLoad('exact', 240, 8);
  console.log(
    '\nCPU attribution under load: 8 requests in flight, 240 requests, mean attributed CPU per request',
  );
  console.log(
    `${'type'.padEnd(12)} ${'alone (ms)'.padStart(11)} ${'fair-share'.padStart(18)} ${'exact'.padStart(18)}`,
  );
  for (const type of TYPES) {
    const base = alone.get(type) ?? 0;
    const cell = (value: number | undefined) =>
      `${((value ?? 0) * 1000).toFixed(2)} (${((value ?? 0) / base).toFixed(2)}x)`.padStart(18);
    console.log(
      `${type.padEnd(12)} ${(base * 1000).toFixed(2).padStart(11)} ${cell(fair.get(type))} ${cell(exact.get(type))}`,
    );
  }
  const rounds = 5;
  const samples = { none: [] as number[], 'empty-hooks': [] as number[], exact: [] as number[] };
  for (let i = 0; i < rounds; i++) {
    for (const setup of ['none', 'empty-hooks', 'exact'] as const)
      samples[setup].push(await continuationCost(setup, 20_000));
  }
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
  const none = median(samples.none);
  console.log('\nCost per async continuation (await setImmediate loop, median of 5)');
  for (const setup of ['none', 'empty-hooks', 'exact'] as const) {
    const value = median(samples[setup]);
    console.log(
      `${setup.padEnd(12)} ${value.toFixed(0).padStart(6)} ns  +${(value - none).toFixed(0)} ns  ${(value / none).toFixed(2)}x`,
    );
  }
}
