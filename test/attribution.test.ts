import assert from 'node:assert/strict';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { cpuBetween } from '../src/attribution/cpu-clock.js';
import { type CpuAttribution, SpanAttributes as keys, ResourceSpanProcessor } from '../src/index.js';
import { captureDiag } from './helpers/diag-capture.js';
import {
  createTracing,
  inSpan,
  numberAttribute,
  type TestTracing,
  withoutContextManager,
} from './helpers/tracing.js';
import { burnCpu, cpuSecondsSince } from './helpers/workload.js';

/** Burns `chunks` × `chunkMs` of CPU, yielding to the event loop between chunks so that spans interleave. */
async function burnInChunks(chunks: number, chunkMs: number): Promise<void> {
  for (let i = 0; i < chunks; i++) {
    burnCpu(chunkMs);
    await nextTurn();
  }
}

function attributed(tracing: TestTracing, name: string): number {
  return numberAttribute(tracing.attributesOf(name), keys.ATTR_CPU_ATTRIBUTED_TIME);
}

function close(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= tolerance * expected,
    `${what}: ${actual.toFixed(4)} s vs ${expected.toFixed(4)} s (±${tolerance * 100}%)`,
  );
}

for (const mode of ['async-context', 'fair-share'] as CpuAttribution[]) {
  describe(`CPU attribution across concurrent spans (${mode})`, () => {
    let tracing: TestTracing;
    beforeEach(() => {
      tracing = createTracing({ cpuAttribution: mode, attributes: 'full' });
    });
    afterEach(() => tracing.shutdown());

    it('splits two interleaved busy spans about in half; the shares add up to the process total', async () => {
      const before = process.cpuUsage();
      await Promise.all([
        inSpan(tracing.tracer, 'a', () => burnInChunks(10, 15)),
        inSpan(tracing.tracer, 'b', () => burnInChunks(10, 15)),
      ]);
      const total = cpuSecondsSince(before);
      const a = attributed(tracing, 'a');
      const b = attributed(tracing, 'b');
      close(a, total / 2, 0.15, 'span a');
      close(b, total / 2, 0.15, 'span b');
      close(a + b, total, 0.1, 'a + b');
      assert.ok(a + b <= total + 1e-3, 'never more than the process used');
      for (const name of ['a', 'b']) {
        close(
          numberAttribute(tracing.attributesOf(name), keys.ATTR_CPU_TIME),
          total,
          0.15,
          `${name} process time`,
        );
        assert.equal(tracing.attributesOf(name)[keys.ATTR_CONCURRENT_SPANS], 1);
      }
    });

    it('charges an idle span open beside them as the split rule says', async () => {
      const before = process.cpuUsage();
      await inSpan(tracing.tracer, 'outer-idle', async () => {
        // Not a parent: the busy spans are started from the root context, as independent requests are.
        await Promise.all([
          tracing.tracer.startActiveSpan('busy-1', {}, rootContext(), (span) =>
            burnInChunks(10, 15).finally(() => span.end()),
          ),
          tracing.tracer.startActiveSpan('busy-2', {}, rootContext(), (span) =>
            burnInChunks(10, 15).finally(() => span.end()),
          ),
        ]);
        await sleep(5);
      });
      const total = cpuSecondsSince(before);
      const idle = attributed(tracing, 'outer-idle');
      const busy1 = attributed(tracing, 'busy-1');
      const busy2 = attributed(tracing, 'busy-2');
      close(idle + busy1 + busy2, total, 0.1, 'the three shares');
      if (mode === 'fair-share') {
        // Three independent spans open together: a third each, the idle one included.
        close(idle, total / 3, 0.2, 'idle span');
        close(busy1, total / 3, 0.2, 'busy span 1');
      } else {
        // Each is charged what its own callbacks used: the idle span next to nothing.
        assert.ok(idle < 0.05 * total, `idle span ${idle} of ${total}`);
        close(busy1, total / 2, 0.15, 'busy span 1');
        close(busy2, total / 2, 0.15, 'busy span 2');
      }
      assert.equal(tracing.attributesOf('outer-idle')[keys.ATTR_CONCURRENT_SPANS], 2);
    });

    it('gives a parent at least the sum of its children, and a lone child its own burn', async () => {
      const childBurn = new Map<string, number>();
      await inSpan(tracing.tracer, 'parent', async () => {
        burnCpu(30);
        for (const name of ['child-1', 'child-2']) {
          const before = process.cpuUsage();
          await inSpan(tracing.tracer, name, () => burnInChunks(4, 15));
          childBurn.set(name, cpuSecondsSince(before));
        }
      });
      const parent = attributed(tracing, 'parent');
      const children = attributed(tracing, 'child-1') + attributed(tracing, 'child-2');
      assert.ok(parent >= children, `parent ${parent} >= children ${children}`);
      close(parent - children, 0.03, 0.5, "the parent's own burn");
      for (const [name, burnt] of childBurn) close(attributed(tracing, name), burnt, 0.1, name);
      // Its parent is of its own request: no other request ran beside it.
      assert.equal(tracing.attributesOf('child-1')[keys.ATTR_CONCURRENT_SPANS], 0);
    });

    it("charges a span the synchronous work in its context right after its start (the http SERVER span's handler)", async () => {
      await nextTurn();
      // Another request's span, open and idle all along: the split has to decide who gets the handler's CPU.
      const bystander = tracing.tracer.startSpan('bystander', {}, ROOT_CONTEXT);
      const before = process.cpuUsage();
      // As the http instrumentation does: start the span, then run the request's handlers in its context.
      const span = tracing.tracer.startSpan('server', {}, ROOT_CONTEXT);
      context.with(trace.setSpan(ROOT_CONTEXT, span), () => burnCpu(30));
      span.end();
      const handler = cpuSecondsSince(before);
      bystander.end();
      const server = attributed(tracing, 'server');
      const idle = attributed(tracing, 'bystander');
      if (mode === 'fair-share') {
        // Two independent spans open together while the handler ran: half each.
        close(server, handler / 2, 0.2, 'the server span');
        close(idle, handler / 2, 0.2, 'the bystander');
      } else {
        close(server, handler, 0.15, 'the handler');
        assert.ok(idle < 0.1 * handler, `the bystander got ${idle} s of ${handler} s`);
      }
    });

    it('never charges a span the work before its start: the shares in its window add up to at most its CPU', async () => {
      await nextTurn();
      // A timer of no span burns 40 ms, then starts `flush` (2 ms of CPU, then 40 ms asleep); `busy`, another
      // timer's span, starts inside flush's window and burns 20 ms.
      const flushWindowCpu = await new Promise<number>((resolve) => {
        setTimeout(() => {
          burnCpu(40);
          const flush = tracing.tracer.startSpan('flush', {}, ROOT_CONTEXT);
          const before = process.cpuUsage();
          void context.with(trace.setSpan(ROOT_CONTEXT, flush), async () => {
            burnCpu(2);
            await sleep(40);
            flush.end();
            resolve(cpuSecondsSince(before));
          });
        }, 1);
        setTimeout(() => {
          tracing.tracer.startActiveSpan('busy', {}, ROOT_CONTEXT, (span) => {
            burnCpu(20);
            span.end();
          });
        }, 2);
      });
      const flush = tracing.attributesOf('flush');
      const flushCpu = numberAttribute(flush, keys.ATTR_CPU_TIME);
      const flushShare = attributed(tracing, 'flush');
      const busyShare = attributed(tracing, 'busy');
      const figures = `flush: window ${flushWindowCpu} s, cpu.time ${flushCpu} s, share ${flushShare} s; busy share ${busyShare} s`;
      // flush's window starts at its start: the 40 ms burnt before it are in neither its time nor its share.
      assert.ok(flushCpu <= flushWindowCpu * 1.1 + 0.002, figures);
      // busy's window lies inside flush's: the two shares together are at most flush's window CPU.
      assert.ok(flushShare + busyShare <= flushCpu * 1.02 + 0.001, figures);
      if (mode === 'async-context') {
        assert.ok(flushShare < 0.01, `flush ran 2 ms of its own; ${figures}`);
        close(busyShare, 0.02, 0.2, 'busy');
      }
    });

    it('splits a parent between concurrent children, never beyond it', async () => {
      await inSpan(tracing.tracer, 'fan-out', () =>
        Promise.all([
          inSpan(tracing.tracer, 'leg-1', () => burnInChunks(8, 15)),
          inSpan(tracing.tracer, 'leg-2', () => burnInChunks(8, 15)),
        ]),
      );
      const parent = attributed(tracing, 'fan-out');
      const leg1 = attributed(tracing, 'leg-1');
      const leg2 = attributed(tracing, 'leg-2');
      // (Each figure spreads the CPU of other threads over its own window: equal within 1 %, not to the µs.)
      assert.ok(parent >= 0.99 * (leg1 + leg2), `parent ${parent} >= ${leg1} + ${leg2}`);
      close(leg1, leg2, 0.2, 'the two legs');
    });
  });
}

describe('CPU attribution without a context manager (a BasicTracerProvider used as is)', () => {
  it('splits by fair share, the only honest figure there, and says so once', async () => {
    const diag = captureDiag();
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      spanProcessors: [new ResourceSpanProcessor(), new SimpleSpanProcessor(exporter)],
    });
    let total = 0;
    try {
      await withoutContextManager(async () => {
        const tracer = provider.getTracer('manual');
        // Two manual spans (never made active: nothing could), then equal chunks of work for each, interleaved.
        const before = process.cpuUsage();
        const a = tracer.startSpan('a', {}, ROOT_CONTEXT);
        const b = tracer.startSpan('b', {}, ROOT_CONTEXT);
        await Promise.all([
          burnInChunks(10, 10).then(() => a.end()),
          burnInChunks(10, 10).then(() => b.end()),
        ]);
        total = cpuSecondsSince(before);
      });
    } finally {
      diag.restore();
    }
    const share = (name: string) =>
      numberAttribute(
        exporter.getFinishedSpans().find((span) => span.name === name)?.attributes ?? {},
        keys.ATTR_CPU_ATTRIBUTED_TIME,
      );
    const a = share('a');
    const b = share('b');
    await provider.shutdown();
    close(a, total / 2, 0.15, 'span a');
    close(b, total / 2, 0.15, 'span b');
    close(a + b, total, 0.1, 'a + b');
    const notes = diag.lines.filter((line) => /no OpenTelemetry context manager/.test(line.message));
    assert.equal(notes.length, 1, JSON.stringify(diag.lines));
  });
});

describe('CPU between two readings', () => {
  it('keeps user + system equal to the total when a part moved back (an estimated split), never below 0', () => {
    // Clamping each part at 0 on its own gave user 0 + system 5 µs for a total of 2 µs.
    assert.deepEqual(
      cpuBetween({ userMicros: 1000, systemMicros: 500 }, { userMicros: 997, systemMicros: 505 }),
      {
        userMicros: 0,
        systemMicros: 2,
      },
    );
    assert.deepEqual(
      cpuBetween({ userMicros: 1000, systemMicros: 500 }, { userMicros: 1010, systemMicros: 480 }),
      {
        userMicros: 0,
        systemMicros: 0,
      },
    );
    assert.deepEqual(
      cpuBetween({ userMicros: 1000, systemMicros: 500 }, { userMicros: 1010, systemMicros: 496 }),
      {
        userMicros: 6,
        systemMicros: 0,
      },
    );
  });
});

function rootContext() {
  return ROOT_CONTEXT;
}

import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
