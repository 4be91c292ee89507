import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GpuBusyTimeline } from '../src/gpu/gpu-busy-timeline.js';
import { noGpuMemorySource, setGpuMemorySource } from '../src/gpu/gpu-memory-source.js';
import type { GpuSampler } from '../src/gpu/gpu-sampler.js';
import { NvmlProvider } from '../src/gpu/nvml/nvml-provider.js';
import { SpanAttributes as keys, startPrometheusEndpoint } from '../src/index.js';
import { captureDiag } from './helpers/diag-capture.js';
import {
  type FakeDevice,
  type FakeNvmlScript,
  type FakeNvmlVariant,
  fakeNvmlLibrary,
  GiB,
  manualGpuSampler,
  scratchDir,
  writeNvmlControl,
} from './helpers/fake-gpu.js';
import { promtoolCheckMetrics } from './helpers/prometheus.js';
import { createTracing, type TestTracing } from './helpers/tracing.js';

const UUID = 'GPU-cccccccc-0000-0000-0000-000000000003';
/** A long while around the test: "busy all along". */
const ALL_ALONG = { fromMs: Date.now() - 60_000, toMs: Date.now() + 3_600_000 };

describe('GPU busy time per span: NVML per-process utilization (fake NVML, scripted over time)', () => {
  let control: string;
  let sampler: GpuSampler | undefined;
  let provider: NvmlProvider | undefined;
  let tracing: TestTracing | undefined;
  let child: ChildProcess | undefined;

  function device(busy: FakeDevice['busy'], utilizationPercent?: number): FakeDevice {
    return {
      name: 'Fake H100',
      uuid: UUID,
      totalBytes: 80 * GiB,
      used: [10 * GiB],
      processes: [{ pid: process.pid, bytes: GiB }],
      ...(busy === undefined ? {} : { busy }),
      ...(utilizationPercent === undefined ? {} : { utilizationPercent }),
    };
  }

  async function start(
    script: Omit<FakeNvmlScript, 'devices'> & { devices: FakeDevice[] },
    variant: FakeNvmlVariant = 'full',
    attributes: 'default' | 'full' = 'default',
  ): Promise<void> {
    control = join(scratchDir(), 'control');
    writeNvmlControl(control, script);
    process.env.FAKE_NVML_CONTROL = control;
    provider = new NvmlProvider(fakeNvmlLibrary(variant));
    sampler = manualGpuSampler(provider);
    await sampler.start();
    setGpuMemorySource(sampler);
    tracing = createTracing({ attributes });
  }

  /** A span of `ms`, the sampler reading every 100 ms meanwhile (as it does while GPU spans are open). */
  async function spanOf(ms: number, name = 'work'): Promise<Record<string, unknown>> {
    const span = tracing?.tracer.startSpan(name);
    const end = performance.now() + ms;
    while (performance.now() < end) {
      await sleep(Math.min(100, Math.max(1, end - performance.now())));
      await sampler?.tick();
    }
    span?.end();
    return tracing?.attributesOf(name) ?? {};
  }

  afterEach(async () => {
    setGpuMemorySource(noGpuMemorySource);
    sampler?.shutdown();
    await tracing?.shutdown();
    child?.kill();
    sampler = undefined;
    provider = undefined;
    tracing = undefined;
    child = undefined;
  });

  it('a 2 s span with this process at 60 % SM gets about 1.2 s of GPU time; another process is not counted', async () => {
    await start({
      devices: [
        device([
          { pid: process.pid, sm: 60, ...ALL_ALONG },
          // The parent of the test runner: on the GPU, but not this process or a descendant.
          { pid: process.ppid, sm: 90, ...ALL_ALONG },
        ]),
      ],
    });
    const attributes = await spanOf(2000);
    const busy = attributes[keys.ATTR_GPU_PROCESS_BUSY_TIME];
    assert.equal(typeof busy, 'number');
    // The part after the last reading (up to one 100 ms interval plus the driver's 50 ms period) is not yet known.
    assert.ok(Math.abs((busy as number) - 1.2) < 0.12, `busy time ${busy}, expected about 1.2 s`);
    assert.equal(provider?.processUtilization.lastCall, 'info');
    // The default set carries busy time, not the device utilization (that one is in `full`).
    assert.equal(attributes[keys.ATTR_GPU_UTILIZATION], undefined);
  });

  it('an idle span gets 0 (known, not absent); work before it is not counted', async () => {
    const now = Date.now();
    await start({ devices: [device([{ pid: process.pid, sm: 100, fromMs: now - 5000, toMs: now - 1000 }])] });
    const attributes = await spanOf(500);
    assert.equal(attributes[keys.ATTR_GPU_PROCESS_BUSY_TIME], 0);
  });

  it('counts only the part of the work inside the span', async () => {
    await start({ devices: [device([])] });
    // Busy at 100 % from 300 ms into the span (about) to well after it.
    const now = Date.now();
    writeNvmlControl(control, {
      devices: [device([{ pid: process.pid, sm: 100, fromMs: now + 300, toMs: now + 60_000 }])],
    });
    const attributes = await spanOf(1000);
    const busy = attributes[keys.ATTR_GPU_PROCESS_BUSY_TIME] as number;
    assert.ok(busy > 0.45 && busy < 0.8, `busy time ${busy}, expected about 0.7 s minus the last interval`);
  });

  it('work that starts after an idle start is counted in full (the period is read off the driver, not our clock)', async () => {
    await start({ devices: [device([])] });
    await sleep(150);
    await sampler?.tick();
    const now = Date.now();
    writeNvmlControl(control, {
      devices: [
        device([
          { pid: process.pid, sm: 100, fromMs: now + 200, toMs: now + 700 },
          // Another process, busy since before the first reading: the driver hands its samples from just after
          // the first reading's clock on — the gap from that clock to its first sample is not a sample period.
          { pid: process.ppid, sm: 100, ...ALL_ALONG },
        ]),
      ],
    });
    const busy = (await spanOf(1000))[keys.ATTR_GPU_PROCESS_BUSY_TIME] as number;
    assert.ok(Math.abs(busy - 0.5) < 0.06, `busy time ${busy}, expected 0.5 s`);
  });

  it('counts a descendant process', async () => {
    child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const pid = child.pid as number;
    await start({ devices: [device([{ pid, sm: 50, ...ALL_ALONG }])] });
    const busy = (await spanOf(1000))[keys.ATTR_GPU_PROCESS_BUSY_TIME] as number;
    assert.ok(Math.abs(busy - 0.5) < 0.08, `busy time ${busy}, expected about 0.5 s`);
  });

  it('an older driver with only nvmlDeviceGetProcessUtilization is still measured', async () => {
    await start({ devices: [device([{ pid: process.pid, sm: 60, ...ALL_ALONG }])] }, 'no-utilization-info');
    const busy = (await spanOf(1000))[keys.ATTR_GPU_PROCESS_BUSY_TIME] as number;
    assert.ok(Math.abs(busy - 0.6) < 0.1, `busy time ${busy}, expected about 0.6 s`);
    assert.equal(provider?.processUtilization.lastCall, 'samples');
  });

  for (const [why, variant, processUtilization] of [
    ['a driver with neither call', 'no-process-utilization', undefined],
    ['a device that answers NVML_ERROR_NOT_SUPPORTED', 'full', 3],
  ] as const) {
    it(`${why}: busy time absent, memory still there, one diagnostic`, async () => {
      const diagnostics = captureDiag();
      try {
        await start(
          {
            devices: [device([{ pid: process.pid, sm: 60, ...ALL_ALONG }])],
            ...(processUtilization === undefined ? {} : { processUtilization }),
          },
          variant,
        );
        await spanOf(300, 'first');
        const attributes = await spanOf(300, 'second');
        assert.equal(attributes[keys.ATTR_GPU_PROCESS_BUSY_TIME], undefined);
        assert.equal(attributes[keys.ATTR_GPU_PROCESS_MEMORY], GiB);
        const lines = diagnostics.lines.filter((line) => line.message.includes('busy_time'));
        assert.equal(lines.length, 1, JSON.stringify(diagnostics.lines));
      } finally {
        diagnostics.restore();
      }
    });
  }

  it('a device in MIG mode: busy time absent, one diagnostic', async () => {
    const diagnostics = captureDiag();
    try {
      await start({
        devices: [{ ...device([{ pid: process.pid, sm: 60, ...ALL_ALONG }]), migInstances: 1 }],
      });
      const attributes = await spanOf(300);
      assert.equal(attributes[keys.ATTR_GPU_PROCESS_BUSY_TIME], undefined);
      const lines = diagnostics.lines.filter((line) => line.message.includes('MIG mode'));
      assert.equal(lines.length, 1, JSON.stringify(diagnostics.lines));
    } finally {
      diagnostics.restore();
    }
  });

  it('puts the device utilization (mean over the readings inside the span) in the full set', async () => {
    await start({ devices: [device([], 40)] }, 'full', 'full');
    const attributes = await spanOf(300);
    assert.equal(attributes[keys.ATTR_GPU_UTILIZATION], 0.4);
    assert.equal(attributes[keys.ATTR_GPU_PROCESS_BUSY_TIME], 0);
  });

  it("keeps this process tree's share of the device over the last interval, for the gauge", async () => {
    await start({ devices: [device([{ pid: process.pid, sm: 60, ...ALL_ALONG }])] });
    for (let i = 0; i < 4; i++) {
      await sleep(200);
      await sampler?.tick();
    }
    const share = sampler?.devices[0]?.processBusyFraction as number;
    assert.ok(Math.abs(share - 0.6) < 0.2, `share ${share}, expected about 0.6`);
    const endpoint = await startPrometheusEndpoint({ port: 0 });
    try {
      const text = await (await fetch(endpoint.url)).text();
      const line = text
        .split('\n')
        .find((candidate) => candidate.startsWith('resource_tracker_process_gpu_utilization_ratio{'));
      assert.ok(line?.includes(`hw_id="${UUID}"`) && line.includes('resource_tracker_gpu_index="0"'), line);
      assert.equal(Number(line?.slice(line.lastIndexOf(' ') + 1)), share);
      promtoolCheckMetrics(text);
    } finally {
      await endpoint.shutdown();
    }
  });

  it('no per-process utilization: no series of the share (absent, not 0)', async () => {
    await start({ devices: [device([])] }, 'no-process-utilization');
    await sampler?.tick();
    const endpoint = await startPrometheusEndpoint({ port: 0 });
    try {
      const text = await (await fetch(endpoint.url)).text();
      assert.ok(text.includes('hw_gpu_memory_usage_bytes{'), 'the device is served');
      assert.ok(!text.includes('resource_tracker_process_gpu_utilization_ratio{'));
    } finally {
      await endpoint.shutdown();
    }
  });
});

describe('GPU busy timeline (the running integral spans read)', () => {
  it('counts the readings that span either edge of a window in proportion', () => {
    const timeline = new GpuBusyTimeline();
    timeline.add(0, 100, 0.1);
    timeline.add(100, 200, 0.05);
    assert.ok(Math.abs((timeline.between(50, 150) as number) - 0.075) < 1e-12);
    assert.equal(timeline.between(200, 500), 0);
    assert.equal(timeline.between(-100, 0), 0);
  });

  it('says it does not know a moment older than what it still holds', () => {
    const timeline = new GpuBusyTimeline(4);
    for (let i = 0; i < 10; i++) timeline.add(i * 10, i * 10 + 10, 1);
    assert.equal(timeline.between(5, 100), undefined);
    assert.equal(timeline.between(75, 100), 2.5);
  });
});
