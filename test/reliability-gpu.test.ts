import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { BasicTracerProvider, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { noGpuMemorySource, setGpuMemorySource } from '../src/gpu/gpu-memory-source.js';
import { NvidiaSmiProvider } from '../src/gpu/nvidia-smi/nvidia-smi-provider.js';
import { NvmlProvider } from '../src/gpu/nvml/nvml-provider.js';
import type { GpuProvider } from '../src/gpu/provider.js';
import {
  captureResourceSnapshot,
  SpanAttributes as keys,
  ResourceSpanProcessor,
  ResourceTracker,
} from '../src/index.js';
import { captureDiag } from './helpers/diag-capture.js';
import {
  type FakeNvmlScript,
  fakeNvmlLibrary,
  GiB,
  manualGpuSampler,
  scratchDir,
  writeNvmlControl,
} from './helpers/fake-gpu.js';
import { measured, recordFigure } from './helpers/figures.js';

/** Collects the attributes of every ended span without keeping the spans. */
class AttributeCheck implements SpanProcessor {
  readonly seen: Array<Record<string, unknown>> = [];
  onStart(): void {}
  onEnd(span: ReadableSpan): void {
    this.seen.push(span.attributes);
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

describe('reliability: GPU faults', function () {
  this.timeout(120_000);
  afterEach(() => setGpuMemorySource(noGpuMemorySource));

  it('NVML storm: failing calls, no permission, unsupported, a GPU lost, values changing under open spans', async () => {
    const control = join(scratchDir(), 'control');
    const device = (used: number, extra: Partial<FakeNvmlScript['devices'][number]> = {}) => ({
      uuid: `GPU-${extra.name ?? 'a'}`,
      totalBytes: 80 * GiB,
      used: [used, used + GiB, used + 2 * GiB],
      utilizationPercent: 50,
      processes: [
        { pid: process.pid, bytes: GiB },
        { pid: 1, bytes: 9 * GiB },
      ],
      ...extra,
    });
    const phases: Array<{ name: string; script: FakeNvmlScript }> = [
      { name: 'healthy', script: { devices: [device(10 * GiB), device(20 * GiB, { name: 'b' })] } },
      {
        name: 'every memory call fails (999)',
        script: { devices: [device(10 * GiB), device(20 * GiB, { name: 'b' })], fail: { memory: 999 } },
      },
      {
        name: 'process list: no permission (4)',
        script: { devices: [device(11 * GiB), device(21 * GiB, { name: 'b' })], fail: { processes: 4 } },
      },
      {
        name: 'utilization not supported (3)',
        script: { devices: [device(12 * GiB), device(22 * GiB, { name: 'b' })], fail: { util: 3 } },
      },
      {
        name: 'GPU b lost',
        script: { devices: [device(13 * GiB), device(23 * GiB, { name: 'b', lostAfterReads: 0 })] },
      },
      { name: 'healthy again', script: { devices: [device(14 * GiB), device(24 * GiB, { name: 'b' })] } },
    ];
    writeNvmlControl(control, phases[0]?.script as FakeNvmlScript);
    process.env.FAKE_NVML_CONTROL = control;
    const sampler = manualGpuSampler(new NvmlProvider(fakeNvmlLibrary()));
    await sampler.start();
    setGpuMemorySource(sampler);
    const check = new AttributeCheck();
    const tracer = new BasicTracerProvider({
      spanProcessors: [new ResourceSpanProcessor({ gpuDevices: [0, 1], attributes: 'full' }), check],
    }).getTracer('storm');
    const diag = captureDiag();
    const delay = monitorEventLoopDelay({ resolution: 1 });
    let thrown = 0;
    let ticks = 0;
    delay.enable();
    try {
      for (const phase of phases) {
        await sleep(5);
        writeNvmlControl(control, phase.script);
        for (let i = 0; i < 100; i++) {
          try {
            const span = tracer.startSpan(`${phase.name} ${i}`, {}, ROOT_CONTEXT);
            await sampler.tick(); // the device's values change while the span is open
            ticks++;
            captureResourceSnapshot({ gpuIndex: i % 2 });
            ResourceTracker.track(() => undefined);
            span.end();
          } catch {
            thrown++;
          }
        }
      }
    } finally {
      delay.disable();
      diag.restore();
      sampler.shutdown();
    }
    const maxDelayMs = delay.max / 1e6;
    const byMessage = new Map<string, number>();
    // The GPU's diagnostics only: the once-a-process line about a missing context manager (this provider has
    // none) appears here or in whichever test met it first, and would make the count depend on the order.
    for (const line of diag.lines.filter(
      (entry) => entry.message.startsWith('otel-resource-tracker') && /GPU|NVML/.test(entry.message),
    ))
      byMessage.set(line.message, (byMessage.get(line.message) ?? 0) + 1);
    assert.equal(thrown, 0, 'nothing thrown into the application');
    assert.ok(
      [...byMessage.values()].every((count) => count === 1),
      `one line per kind: ${JSON.stringify([...byMessage])}`,
    );
    assert.ok(byMessage.size >= 2 && byMessage.size <= 6, `${byMessage.size} kinds reported`);
    // NVML calls are microseconds; a stall of this size would mean the package blocked the loop.
    assert.ok(maxDelayMs < 100, `event loop delay max ${maxDelayMs.toFixed(1)} ms`);
    // No wrong number: GPU attributes are either absent or consistent with the scripted device(s).
    let withGpu = 0;
    for (const attributes of check.seen) {
      const end = attributes[keys.ATTR_GPU_MEMORY_END] as number | undefined;
      if (end === undefined) continue;
      withGpu++;
      const limit = attributes[keys.ATTR_GPU_MEMORY_LIMIT] as number;
      assert.ok(limit === 80 * GiB || limit === 160 * GiB, `limit ${limit}`);
      // Exactly a scripted value: one device reads 10–16 GiB (each phase's curve), two read a sum of 30–42 GiB.
      const [low, high] = limit === 80 * GiB ? [10, 16] : [30, 42];
      assert.ok(Number.isInteger(end / GiB) && end >= low * GiB && end <= high * GiB, `end ${end / GiB} GiB`);
      const own = attributes[keys.ATTR_GPU_PROCESS_MEMORY] as number | undefined;
      assert.ok(
        own === undefined || own === GiB || own === 2 * GiB,
        `own ${own}: pid 1's memory is never ours`,
      );
    }
    assert.equal(check.seen.length, 600);
    assert.ok(
      withGpu >= 300 && withGpu < 600,
      `${withGpu} spans had GPU figures (none while every call failed)`,
    );
    recordFigure({
      area: 'GPU (NVML, fake library)',
      injected: 'failing calls, no permission, not supported, GPU lost, values changing under open spans',
      times: ticks,
      outcome: `${byMessage.size} diagnostics (one per kind), health 0 while failing, GPU keys omitted then; max event-loop delay ${measured(maxDelayMs.toFixed(1))} ms`,
      lost: `nothing: ${check.seen.length} of 600 spans exported, 0 exceptions`,
    });
  });

  it('NVML missing, init failing, a symbol missing: a documented fallback, never an exception', async () => {
    const dir = scratchDir();
    const control = join(dir, 'control');
    writeNvmlControl(control, {
      devices: [{ uuid: 'GPU-x', totalBytes: 8 * GiB, used: [GiB] }],
      fail: { init: 9 },
    });
    process.env.FAKE_NVML_CONTROL = control;
    const cases: Array<[string, GpuProvider]> = [
      ['library missing', new NvmlProvider(join(dir, 'missing', 'libnvidia-ml.so.1'))],
      ['init failing (9)', new NvmlProvider(fakeNvmlLibrary())],
    ];
    let handled = 0;
    const diag = captureDiag();
    try {
      for (const [, provider] of cases) {
        const sampler = manualGpuSampler(provider);
        await sampler.start().catch(() => undefined);
        setGpuMemorySource(sampler);
        assert.equal(captureResourceSnapshot().gpuVramUsedBytes, undefined);
        assert.equal(ResourceTracker.track(() => undefined).gpuVramUsedBytes, 0);
        assert.equal(sampler.currentHealth.up, false);
        sampler.shutdown();
        handled++;
      }
      writeNvmlControl(control, {
        devices: [
          { uuid: 'GPU-x', totalBytes: 8 * GiB, used: [GiB], processes: [{ pid: process.pid, bytes: GiB }] },
        ],
      });
      const noProcesses = manualGpuSampler(new NvmlProvider(fakeNvmlLibrary('no-processes')));
      await noProcesses.start();
      assert.equal(noProcesses.latest(0)?.usedBytes, GiB);
      assert.equal(noProcesses.latest(0)?.processUsedBytes, undefined);
      noProcesses.shutdown();
      handled++;
    } finally {
      diag.restore();
    }
    assert.equal(
      diag.lines.filter((line) => line.level === 'error').length,
      2,
      'one error per provider that cannot start',
    );
    recordFigure({
      area: 'GPU (NVML, fake library)',
      injected:
        'library missing; nvmlInit failing (driver not loaded); nvmlDeviceGetComputeRunningProcesses_v3 missing',
      times: handled,
      outcome:
        'GPU figures absent (spans) / 0 (standalone API), health 0, one diagnostic each; without the symbol: memory read, per-process memory unavailable',
      lost: 'nothing else',
    });
  });

  it('nvidia-smi missing, hanging, slow, printing garbage, exiting non-zero: the loop never blocks, runs back off', async () => {
    const dir = scratchDir();
    const mode = join(dir, 'mode');
    const calls = join(dir, 'calls');
    const binary = join(dir, 'nvidia-smi');
    writeFileSync(
      binary,
      [
        '#!/bin/sh',
        `echo "$1" >> '${calls}'`,
        `case "$(cat '${mode}')" in`,
        '  hang) exec sleep 30 ;;',
        '  slow) sleep 0.3 ;;',
        "  garbage) echo 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver'; exit 0 ;;",
        "  fail) echo 'Failed to initialize NVML: Driver/library version mismatch' >&2; exit 18 ;;",
        'esac',
        'case "$1" in',
        "  --query-gpu=*) echo '0, GPU-smi, Fake T4, 15360, 1024, 14336, 12, 535.104.05' ;;",
        "  --query-compute-apps=*) echo 'GPU-smi, 1, 512' ;;",
        'esac',
        '',
      ].join('\n'),
    );
    chmodSync(binary, 0o755);
    writeFileSync(mode, 'normal');
    const missing = new NvidiaSmiProvider(500, undefined);
    await assert.rejects(missing.start(), /not found on PATH/);
    const sampler = manualGpuSampler(new NvidiaSmiProvider(400, binary, 100));
    await sampler.start();
    const diag = captureDiag();
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const health: string[] = [];
    const callCount = () => readFileSync(calls, 'utf8').split('\n').filter(Boolean).length;
    let attempts = 0;
    try {
      // Failures in a row back off 100, 200, 400 ms: each phase starts once the previous backoff is over, then
      // asks three times in quick succession (only the first may run nvidia-smi after a failure).
      for (const [phase, waitMs] of [
        ['slow', 0],
        ['hang', 0],
        ['garbage', 150],
        ['fail', 250],
        ['normal', 450],
      ] as const) {
        writeFileSync(mode, phase);
        await sleep(waitMs);
        for (let i = 0; i < 3; i++) {
          await sampler.tick();
          attempts++;
        }
        health.push(`${phase}:${sampler.currentHealth.up ? 1 : 0}`);
      }
    } finally {
      delay.disable();
      diag.restore();
      sampler.shutdown();
    }
    const maxDelayMs = delay.max / 1e6;
    assert.deepEqual(health, ['slow:1', 'hang:0', 'garbage:0', 'fail:0', 'normal:1']);
    // start() runs --query-gpu once; every reading after is two invocations (GPUs, processes): the first reading,
    // 3 per healthy phase, 1 per failing phase (then backoff).
    await sleep(300);
    assert.equal(callCount(), 1 + 2 * (1 + 3 + 1 + 1 + 1 + 3));
    // A run that blocked would stall the loop for the 400 ms timeout; a quarter of it leaves room for noise.
    assert.ok(maxDelayMs < 100, `event loop delay max ${maxDelayMs.toFixed(1)} ms`);
    const ours = diag.lines.filter((line) => line.message.startsWith('otel-resource-tracker'));
    const kinds = new Set(ours.map((line) => line.message));
    assert.ok(ours.length === kinds.size, 'no message twice');
    assert.equal(ours.length, 3, JSON.stringify(ours));
    assert.match(
      ours.map((line) => line.message).join('\n'),
      /did not answer within 400 ms[\s\S]*unexpected output format[\s\S]*failed \(18\)/,
    );
    assert.equal(sampler.latest(0), undefined, 'shut down: nothing served');
    recordFigure({
      area: 'GPU (nvidia-smi, fake binary)',
      injected: 'missing, slow (0.3 s), hanging (killed at 0.4 s), garbage output, exit 18',
      times: attempts + 1,
      outcome: `health 1/0/0/0/1 across the phases, 3 diagnostics (one per kind), one run per failing phase then backoff; max event-loop delay ${measured(maxDelayMs.toFixed(1))} ms`,
      lost: 'nothing: no wrong number served (readings absent while failing)',
    });
  });
});
