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
import { memorySampler } from '../src/sampler/memory-sampler.js';
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

async function attributedUnderLoad(
  mode: CpuAttribution,
  requests: number,
  inFlight: number,
): Promise<{ perType: Map<RequestType, number>; sumShare: number }> {
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
  const before = process.cpuUsage();
  await Promise.all(Array.from({ length: inFlight }, worker));
  const used = process.cpuUsage(before);
  const sums = new Map<RequestType, { attributed: number; count: number }>();
  for (const span of exporter.getFinishedSpans()) {
    const entry = sums.get(span.name as RequestType) ?? { attributed: 0, count: 0 };
    entry.attributed += Number(span.attributes[SpanAttributes.ATTR_CPU_ATTRIBUTED_TIME]);
    entry.count++;
    sums.set(span.name as RequestType, entry);
  }
  await provider.shutdown();
  let total = 0;
  for (const { attributed } of sums.values()) total += attributed;
  return {
    perType: new Map([...sums].map(([type, { attributed, count }]) => [type, attributed / count])),
    sumShare: total / ((used.user + used.system) / 1e6),
  };
}

type ContinuationSetup = 'none' | 'empty-hooks' | 'async-context' | 'fair-share';
const CONTINUATION_SETUPS: ContinuationSetup[] = ['none', 'empty-hooks', 'async-context', 'fair-share'];

/** ns per async continuation inside a measured span: a loop of `await` on setImmediate. */
async function continuationCost(setup: ContinuationSetup, iterations: number): Promise<number> {
  const processor =
    setup === 'async-context' || setup === 'fair-share'
      ? new ResourceSpanProcessor({ cpuAttribution: setup })
      : undefined;
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
  for (const inFlight of [8, 64]) {
    const requests = inFlight * 30;
    const asyncContext = await attributedUnderLoad('async-context', requests, inFlight);
    const fair = await attributedUnderLoad('fair-share', requests, inFlight);
    console.log(
      `\nCPU attribution under load: ${inFlight} requests in flight, ${requests} requests, mean attributed CPU per request` +
        ' ÷ the same request alone (goal for async-context: ×0.9–1.1 CPU-bound and mixed, ×0.5–1.5 I/O-bound)',
    );
    console.log(
      `${'type'.padEnd(12)} ${'alone (ms)'.padStart(11)} ${'async-context'.padStart(18)} ${'fair-share'.padStart(18)}`,
    );
    for (const type of TYPES) {
      const base = alone.get(type) ?? 0;
      const cell = (value: number | undefined) =>
        `${((value ?? 0) * 1000).toFixed(2)} (${((value ?? 0) / base).toFixed(2)}x)`.padStart(18);
      console.log(
        `${type.padEnd(12)} ${(base * 1000).toFixed(2).padStart(11)} ${cell(asyncContext.perType.get(type))} ${cell(fair.perType.get(type))}`,
      );
    }
    console.log(
      `${'Σ ÷ process'.padEnd(12)} ${''.padStart(11)} ${asyncContext.sumShare.toFixed(3).padStart(18)} ${fair.sumShare.toFixed(3).padStart(18)}  (goal 0.95–1.0)`,
    );
  }
  const rounds = 5;
  const samples = new Map<ContinuationSetup, number[]>(CONTINUATION_SETUPS.map((setup) => [setup, []]));
  for (let i = 0; i < rounds; i++) {
    for (const setup of CONTINUATION_SETUPS) samples.get(setup)?.push(await continuationCost(setup, 20_000));
  }
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
  const none = median(samples.get('none') ?? []);
  const emptyAdds = median(samples.get('empty-hooks') ?? []) - none;
  console.log(
    '\nCost per async continuation (await setImmediate loop inside a measured span, median of 5; goal: async-context adds ≤ 3× what empty hooks add)',
  );
  for (const setup of CONTINUATION_SETUPS) {
    const value = median(samples.get(setup) ?? []);
    const adds = value - none;
    const versusHooks =
      setup === 'none' || setup === 'empty-hooks'
        ? ''
        : `  ${(adds / emptyAdds).toFixed(1)}× empty hooks' cost`;
    console.log(
      `${setup.padEnd(14)} ${value.toFixed(0).padStart(6)} ns  +${adds.toFixed(0)} ns  ${(value / none).toFixed(2)}x${versusHooks}`,
    );
  }
  await benchSamplerCost();
}

/**
 * The background sampler's own CPU while a span is open on an otherwise idle process, against the same process
 * with no span and against a bare `setInterval` at the rate the sampler settled at (the cost of a timer wake-up
 * alone, which on a VM is most of it). Rounds interleave; the lowest of each is kept (the quietest moment).
 */
export async function benchSamplerCost(): Promise<void> {
  const cpuPerSecond = async (seconds: number) => {
    const before = process.cpuUsage();
    await sleep(seconds * 1000);
    const used = process.cpuUsage(before);
    return (used.user + used.system) / 1000 / seconds;
  };
  const idle: number[] = [];
  const sampling: number[] = [];
  const bareTimer: number[] = [];
  let ticks = 0;
  await sleep(3000); // what ran before (collections, the other benchmarks' timers) settles first
  for (let round = 0; round < 3; round++) {
    idle.push(await cpuPerSecond(2));
    const processor = new ResourceSpanProcessor();
    const provider = new BasicTracerProvider({ spanProcessors: [processor] });
    const span = provider.getTracer('bench').startSpan('open-while-idle');
    await sleep(1000); // the sampler backs off while memory holds still
    const tickBefore = memorySampler.tick;
    sampling.push(await cpuPerSecond(2));
    ticks = (memorySampler.tick - tickBefore) / 2;
    span.end();
    await provider.shutdown();
    await sleep(1500);
    const timer = setInterval(() => {}, 1000 / Math.max(1, ticks));
    bareTimer.push(await cpuPerSecond(2));
    clearInterval(timer);
  }
  const least = (values: number[]) => Math.min(...values);
  const percent = (msPerSecond: number) => `${(msPerSecond / 10).toFixed(2)} %`;
  console.log(
    `\nSampler cost while a span is open on an idle process (lowest of 3 × 2 s; goal < 0.5 % of one core): ${ticks.toFixed(0)} ticks/s,` +
      ` ${percent(least(sampling) - least(idle))} of one core over the idle process; a bare setInterval at that rate costs` +
      ` ${percent(least(bareTimer) - least(idle))} on this machine`,
  );
}
