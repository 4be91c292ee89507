import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Attributes, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { BasicTracerProvider, SimpleSpanProcessor, type Span } from '@opentelemetry/sdk-trace-base';
import { noGpuMemorySource, setGpuMemorySource } from '../src/gpu/gpu-memory-source.js';
import {
  SpanAttributes as keys,
  ResourceSpanProcessor,
  type ResourceSpanProcessorOptions,
} from '../src/index.js';
import { captureDiag } from './helpers/diag-capture.js';
import { createTracing, inSpan, numberAttribute } from './helpers/tracing.js';
import { burnCpu, collectGarbage, MiB } from './helpers/workload.js';

const resourceKeys = (attributes: object) =>
  Object.keys(attributes).filter((key) => key.startsWith('resource_tracker.') || key.startsWith('hw.'));

describe('ResourceSpanProcessor: selection, faults and bounds', () => {
  it('measures only the spans the filters select', async () => {
    const tracing = createTracing({
      spanNames: ['job', /^batch:/],
      spanKinds: [SpanKind.INTERNAL, SpanKind.CONSUMER],
      spanFilter: (span) => span.attributes['skip.me'] !== true,
    });
    tracing.tracer.startSpan('job').end();
    tracing.tracer.startSpan('batch:42', { kind: SpanKind.CONSUMER }).end();
    tracing.tracer.startSpan('other').end();
    tracing.tracer.startSpan('job', { kind: SpanKind.SERVER }).end();
    tracing.tracer.startSpan('batch:7', { attributes: { 'skip.me': true } }).end();
    const measured = tracing.exporter
      .getFinishedSpans()
      .map((span) => `${span.name}/${span.kind}:${resourceKeys(span.attributes).length > 0}`);
    assert.deepEqual(measured, [
      'job/0:true',
      'batch:42/4:true',
      'other/0:false',
      'job/1:false',
      'batch:7/0:false',
    ]);
    await tracing.shutdown();
  });

  it("selects by role: local roots (no parent here, or a remote one) and the application's own spans", async () => {
    const tracing = createTracing({ spanKinds: [SpanKind.SERVER, 'local_root', 'manual'] });
    const instrumentation = tracing.provider.getTracer('@opentelemetry/instrumentation-express');
    const remote = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: 1,
      isRemote: true,
    });
    const root = instrumentation.startSpan('incoming', { kind: SpanKind.CLIENT }, remote);
    const rootContext = trace.setSpan(ROOT_CONTEXT, root);
    instrumentation.startSpan('middleware', {}, rootContext).end();
    instrumentation.startSpan('handler', { kind: SpanKind.SERVER }, rootContext).end();
    tracing.tracer.startSpan('own work', {}, rootContext).end();
    root.end();
    const measured = tracing.exporter
      .getFinishedSpans()
      .map((span) => `${span.name}:${resourceKeys(span.attributes).length > 0}`);
    assert.deepEqual(measured, ['middleware:false', 'handler:true', 'own work:true', 'incoming:true']);
    await tracing.shutdown();
  });

  it('gives the CPU run in an unmeasured span to its nearest measured ancestor (exact attribution)', async () => {
    const tracing = createTracing({ spanKinds: ['local_root'], cpuAttribution: 'async-context' });
    const other = tracing.tracer.startSpan('other request');
    await inSpan(tracing.tracer, 'request', async () => {
      await inSpan(tracing.tracer, 'unmeasured middleware', async () => {
        await sleep(1);
        burnCpu(80);
      });
    });
    other.end();
    const request = numberAttribute(tracing.attributesOf('request'), keys.ATTR_CPU_ATTRIBUTED_TIME);
    const bystander = numberAttribute(tracing.attributesOf('other request'), keys.ATTR_CPU_ATTRIBUTED_TIME);
    assert.ok(request >= 0.075, `the request got ${request} s of the 0.08 s burnt in its child's context`);
    assert.ok(bystander < 0.02, `the other request got ${bystander} s`);
    assert.equal(resourceKeys(tracing.attributesOf('unmeasured middleware')).length, 0);
    await tracing.shutdown();
  });

  it('sets the lean default set: CPU, the attributed share and peak memory, not what the span already says', async () => {
    const tracing = createTracing();
    tracing.tracer.startSpan('default-set').end();
    assert.deepEqual(resourceKeys(tracing.attributesOf('default-set')).sort(), [
      keys.ATTR_CPU_ATTRIBUTED_TIME,
      keys.ATTR_CPU_TIME,
      keys.ATTR_MEMORY_PEAK,
    ]);
    await tracing.shutdown();
  });

  it('sets every key with attributes: "full", and exactly the keys listed otherwise', async () => {
    const full = createTracing({ attributes: 'full' });
    full.tracer.startSpan('full-set').end();
    // The cgroup and schedstat keys depend on the host (Linux, a readable cgroup, a limit, schedstats on).
    const hostDependent = [
      keys.ATTR_CPU_THROTTLED_TIME,
      keys.ATTR_CPU_WAIT_TIME,
      keys.ATTR_CPU_LIMIT,
      keys.ATTR_MEMORY_LIMIT,
    ];
    const fullKeys = resourceKeys(full.attributesOf('full-set')).filter(
      (key) => !hostDependent.includes(key),
    );
    assert.deepEqual(fullKeys.sort(), [
      keys.ATTR_CONCURRENT_SPANS,
      keys.ATTR_CPU_ATTRIBUTED_TIME,
      keys.ATTR_CPU_AVERAGE_CORES,
      keys.ATTR_CPU_SYSTEM_TIME,
      keys.ATTR_CPU_TIME,
      keys.ATTR_CPU_USER_TIME,
      keys.ATTR_EVENT_LOOP_UTILIZATION,
      keys.ATTR_GC_COUNT,
      keys.ATTR_GC_PAUSE_TIME,
      keys.ATTR_MEMORY_DELTA,
      keys.ATTR_MEMORY_END,
      keys.ATTR_MEMORY_PEAK,
      keys.ATTR_MEMORY_START,
      keys.ATTR_WALL_TIME,
    ]);
    await full.shutdown();
    const listed = createTracing({ attributes: [keys.ATTR_WALL_TIME, keys.ATTR_MEMORY_DELTA] });
    listed.tracer.startSpan('listed-set').end();
    assert.deepEqual(resourceKeys(listed.attributesOf('listed-set')).sort(), [
      keys.ATTR_MEMORY_DELTA,
      keys.ATTR_WALL_TIME,
    ]);
    await listed.shutdown();
  });

  it('sets only the attribute groups asked for', async () => {
    const tracing = createTracing({ attributeGroups: ['memory'], attributes: 'full' });
    tracing.tracer.startSpan('memory-only').end();
    // The memory cgroup's limit is set only where there is one (a container).
    const memoryKeys = resourceKeys(tracing.attributesOf('memory-only')).filter(
      (key) => key !== keys.ATTR_MEMORY_LIMIT,
    );
    assert.deepEqual(memoryKeys.sort(), [
      keys.ATTR_MEMORY_DELTA,
      keys.ATTR_MEMORY_END,
      keys.ATTR_MEMORY_PEAK,
      keys.ATTR_MEMORY_START,
    ]);
    await tracing.shutdown();
  });

  it('sets its attributes before every exporter sees the span, whatever the processor order', async () => {
    // Exporters that serialize the span when it is handed to them (OTLP, console), placed before and after ours:
    // a copy taken at export time, not a reference that later writes would still reach.
    const seen = new Map<string, Attributes>();
    const snapshotting = (tag: string) =>
      new SimpleSpanProcessor({
        export(spans, done) {
          for (const span of spans) seen.set(`${tag}:${span.name}`, { ...span.attributes });
          done({ code: ExportResultCode.SUCCESS });
        },
        shutdown: () => Promise.resolve(),
      });
    const provider = new BasicTracerProvider({
      spanProcessors: [snapshotting('before'), new ResourceSpanProcessor(), snapshotting('after')],
    });
    const span = provider.getTracer('order').startSpan('ordered', {}, ROOT_CONTEXT);
    burnCpu(10);
    span.end();
    for (const tag of ['before', 'after']) {
      const attributes = seen.get(`${tag}:ordered`) ?? {};
      // Set and non-trivial is what this test is about; accuracy is span-processor.test.ts's and attribution.test.ts's.
      assert.ok(
        numberAttribute(attributes, keys.ATTR_CPU_TIME) > 0,
        `exporter ${tag} ours: ${JSON.stringify(attributes)}`,
      );
      assert.ok(numberAttribute(attributes, keys.ATTR_MEMORY_PEAK) > 0, `exporter ${tag} ours`);
    }
    await provider.shutdown();
  });

  it('never throws into the application when a probe fails: the span ends without attributes, one diagnostic', async () => {
    const diag = captureDiag();
    const tracing = createTracing();
    const original = process.resourceUsage;
    try {
      process.resourceUsage = () => {
        throw new Error('getrusage failed');
      };
      for (let i = 0; i < 3; i++) tracing.tracer.startSpan(`broken-${i}`).end();
    } finally {
      process.resourceUsage = original;
      diag.restore();
    }
    assert.equal(tracing.exporter.getFinishedSpans().length, 3);
    assert.deepEqual(resourceKeys(tracing.attributesOf('broken-0')), []);
    const errors = diag.lines.filter((line) => line.level === 'error');
    assert.equal(errors.length, 1, JSON.stringify(diag.lines));
    assert.match(errors[0]?.message ?? '', /span start failed/);
    tracing.tracer.startSpan('healthy-again').end();
    assert.ok(resourceKeys(tracing.attributesOf('healthy-again')).length > 0);
    await tracing.shutdown();
  });

  it('survives a span filter and a GPU source that throw', async () => {
    const diag = captureDiag();
    const tracing = createTracing({
      spanFilter: (span) => {
        if (span.name === 'bad') throw new Error('filter bug');
        return true;
      },
    });
    try {
      setGpuMemorySource({
        name: 'broken',
        latest: () => {
          throw new Error('GPU lost');
        },
      });
      tracing.tracer.startSpan('bad').end();
      const good = tracing.tracer.startSpan('good');
      burnCpu(10);
      good.end();
    } finally {
      setGpuMemorySource(noGpuMemorySource);
      diag.restore();
    }
    assert.deepEqual(resourceKeys(tracing.attributesOf('bad')), []);
    const good = tracing.attributesOf('good');
    assert.ok(numberAttribute(good, keys.ATTR_CPU_TIME) >= 0.009, 'the 10 ms it burned');
    assert.deepEqual(
      Object.keys(good).filter((key) => key.startsWith('resource_tracker.gpu.') || key.startsWith('hw.')),
      [],
    );
    assert.equal(diag.lines.filter((line) => /span filter threw/.test(line.message)).length, 1);
    await tracing.shutdown();
  });

  it('leaks nothing for 100 000 spans that are started and never ended', async () => {
    const tracing = createTracing();
    collectGarbage();
    const baseline = process.memoryUsage().heapUsed;
    let held: unknown[] | undefined = [];
    for (let i = 0; i < 100_000; i++) held.push(tracing.tracer.startSpan('never-ended', {}, ROOT_CONTEXT));
    collectGarbage();
    const withSpans = process.memoryUsage().heapUsed;
    assert.equal(held.length, 100_000);
    held = undefined; // the application drops them without ending them
    await sleep(10);
    collectGarbage();
    await sleep(10); // the finalizer that stops counting the dropped spans' trees runs after a collection
    collectGarbage();
    const after = process.memoryUsage().heapUsed;
    assert.ok(withSpans - baseline > 20 * MiB, 'the spans themselves took room (the test can see a leak)');
    assert.ok(after - baseline < 4 * MiB, `heap grew by ${((after - baseline) / MiB).toFixed(1)} MiB`);
    await tracing.shutdown();
  });

  it('lets the samplers go idle once leaked spans are garbage: a leak does not keep the process waking', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/leaked-spans-idle.js', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', fixture]);
    const result = JSON.parse(stdout) as {
      count: number;
      heldWhileReferenced: number;
      ticks: number;
      leases: number;
    };
    assert.equal(result.count, 1000);
    assert.ok(result.heldWhileReferenced > 0, `the sampler ran while the spans were referenced: ${stdout}`);
    assert.equal(result.leases, 0, `nothing holds the sampler once the spans are garbage: ${stdout}`);
    assert.equal(result.ticks, 0, `no sampler wake-up in 2 s of idleness: ${stdout}`);
  });

  it('forgets 100 000 leaked spans once they are garbage: a span alone after them is alone again', async () => {
    const tracing = createTracing({ attributes: 'full' });
    let leaked: unknown[] | undefined = [];
    for (let i = 0; i < 100_000; i++) leaked.push(tracing.tracer.startSpan('leaked', {}, ROOT_CONTEXT));
    await sleep(30); // sampler ticks: the trees still open are handed to the finalizer
    await inSpan(tracing.tracer, 'beside-leaks', async () => burnCpu(5));
    assert.equal(
      tracing.attributesOf('beside-leaks')[keys.ATTR_CONCURRENT_SPANS],
      100_000,
      'while referenced',
    );
    assert.equal(leaked.length, 100_000);
    leaked = undefined;
    collectGarbage();
    await sleep(200); // finalizers run after the collection (100 000 of them, in the background of no span)
    const before = process.cpuUsage();
    await inSpan(tracing.tracer, 'after-leaks', async () => burnCpu(60));
    const used = process.cpuUsage(before);
    const attributes = tracing.attributesOf('after-leaks');
    assert.equal(attributes[keys.ATTR_CONCURRENT_SPANS], 0);
    assert.ok(
      numberAttribute(attributes, keys.ATTR_CPU_ATTRIBUTED_TIME) >= (0.9 * (used.user + used.system)) / 1e6,
      `its whole CPU: ${JSON.stringify(attributes)} vs ${(used.user + used.system) / 1e6}`,
    );
    await tracing.shutdown();
  });

  it("stops counting spans that stay open past maxSpanOpenSeconds in everybody else's split", async () => {
    const tracing = createTracing({ maxSpanOpenSeconds: 0.05, attributes: 'full' });
    for (let i = 0; i < 3; i++) tracing.tracer.startSpan('forgotten', {}, ROOT_CONTEXT);
    await sleep(120);
    const before = process.cpuUsage();
    await inSpan(tracing.tracer, 'alone-again', async () => burnCpu(60));
    const used = process.cpuUsage(before);
    const attributes = tracing.attributesOf('alone-again');
    const total = (used.user + used.system) / 1e6;
    assert.ok(
      numberAttribute(attributes, keys.ATTR_CPU_ATTRIBUTED_TIME) >= 0.9 * total,
      'the whole share again',
    );
    assert.equal(attributes[keys.ATTR_CONCURRENT_SPANS], 0);
    await tracing.shutdown();
  });

  it('warns once and throws nothing on an SDK that never calls onEnding', () => {
    const diag = captureDiag();
    const processor = new ResourceSpanProcessor();
    try {
      const tracing = createTracing();
      // A span whose SDK calls onStart and onEnd only, as SDKs before onEnding did.
      const span = tracing.tracer.startSpan('legacy') as unknown as Span;
      processor.onStart(span, ROOT_CONTEXT);
      processor.onEnd(span);
      processor.onStart(span, ROOT_CONTEXT);
      processor.onEnd(span);
    } finally {
      diag.restore();
    }
    const warnings = diag.lines.filter((line) => line.level === 'warn');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]?.message ?? '', /does not call SpanProcessor\.onEnding/);
  });

  it('rejects bad options with errors that name them', () => {
    const cases: Array<[unknown, RegExp]> = [
      ['all', /options must be an object, got the string "all"/],
      [{ spanNames: 'job' }, /spanNames must be an array of a string or a RegExp, got the string "job"/],
      [{ spanNames: [42] }, /spanNames\[0\] must be a string or a RegExp, got number 42/],
      [
        { spanKinds: [9] },
        /spanKinds\[0\] must be a SpanKind or one of "local_root", "manual", got number 9/,
      ],
      [{ spanFilter: true }, /spanFilter must be a function, got boolean true/],
      [
        { attributeGroups: ['cpu', 'disk'] },
        /attributeGroups\[1\] must be one of "cpu", "attribution", "memory", "gpu"/,
      ],
      [
        { cpuAttribution: 'precise' },
        /cpuAttribution must be one of "async-context", "fair-share", "exact", got the string "precise"/,
      ],
      [{ exactMemory: 'yes' }, /exactMemory must be true or false/],
      [
        { attributes: 'all' },
        /options.attributes must be "default", "full" or a list of keys among resource_tracker.cpu.time, .*; got the string "all"/,
      ],
      [
        { attributes: ['resource_tracker.cpu.time', 'resource_tracker.wall'] },
        /options.attributes must be .*; got the string "resource_tracker.wall"/,
      ],
      [{ gpuDevices: [-1] }, /gpuDevices\[0\] must be a non-negative integer, got number -1/],
      [{ gpuDevices: [] }, /gpuDevices must name at least one device/],
      [
        { gpuDevices: 0 },
        /gpuDevices must be 'all' or an array of non-negative integers \(CUDA indices\), got number 0/,
      ],
      [
        { spanHistograms: ['cpu', 'latency'] },
        /spanHistograms\[1\] must be one of 'cpu', 'memory', 'wall', got the string "latency"/,
      ],
      [{ maxSpanOpenSeconds: 0 }, /maxSpanOpenSeconds must be a number of seconds > 0/],
      [{ spanname: ['x'] }, /unknown option "spanname"/],
    ];
    for (const [options, message] of cases) {
      assert.throws(() => new ResourceSpanProcessor(options as ResourceSpanProcessorOptions), message);
    }
  });
});
