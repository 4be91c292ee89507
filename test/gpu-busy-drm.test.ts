import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseDrmFdinfo } from '../src/gpu/drm/fdinfo.js';
import { noGpuMemorySource, setGpuMemorySource } from '../src/gpu/gpu-memory-source.js';
import { GpuSampler } from '../src/gpu/gpu-sampler.js';
import { SpanAttributes as keys } from '../src/index.js';
import { FakeDrmTree, fdinfoText, GiB } from './helpers/fake-drm.js';
import { createTracing, type TestTracing } from './helpers/tracing.js';

const AMD_SLOT = '0000:03:00.0';
const XE_SLOT = '0000:00:02.0';
const UNRELATED_PID = 3_999_997;
const MS = 1_000_000;

function amdClient(id: string, engines: Record<string, number>): string {
  const lines: Record<string, string> = {
    'drm-driver': 'amdgpu',
    'drm-client-id': id,
    'drm-pdev': AMD_SLOT,
    'drm-memory-vram': '1024 KiB',
  };
  for (const [engine, ns] of Object.entries(engines)) lines[`drm-engine-${engine}`] = `${ns} ns`;
  // The number of engines of a kind: not a time, and never read as one.
  lines['drm-engine-capacity-compute'] = '4';
  return fdinfoText(lines);
}

function xeClient(busyCycles: number, totalCycles: number): string {
  return fdinfoText({
    'drm-driver': 'xe',
    'drm-client-id': '3',
    'drm-pdev': XE_SLOT,
    'drm-resident-system': '16 MiB',
    'drm-cycles-rcs': String(busyCycles),
    'drm-total-cycles-rcs': String(totalCycles),
  });
}

describe('GPU busy time per span: DRM fdinfo engine time (fake procfs and sysfs)', () => {
  let tree: FakeDrmTree;
  let child: ChildProcess;
  let sampler: GpuSampler;
  let tracing: TestTracing;

  beforeEach(async () => {
    tree = new FakeDrmTree();
    child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 120000)'], { stdio: 'ignore' });
    await once(child, 'spawn');
  });

  afterEach(async () => {
    setGpuMemorySource(noGpuMemorySource);
    sampler?.shutdown();
    await tracing?.shutdown();
    child.kill();
    tree.remove();
  });

  async function startSampler(): Promise<void> {
    sampler = new GpuSampler({ env: tree.env(), idleIntervalMs: 3_600_000, activeIntervalMs: 3_600_000 });
    await sampler.start();
    setGpuMemorySource(sampler);
    tracing = createTracing({});
  }

  function amdCard(): void {
    tree.addCard({
      card: 'card0',
      pciSlot: AMD_SLOT,
      vendor: '0x1002',
      device: '0x744c',
      driver: 'amdgpu',
      files: {
        mem_info_vram_used: `${6 * GiB}\n`,
        mem_info_vram_total: `${16 * GiB}\n`,
        gpu_busy_percent: '50\n',
      },
    });
  }

  /** Starts a span with a reading at its start (as the span's first GPU lease takes one). */
  async function startSpan(name: string) {
    const span = tracing.tracer.startSpan(name);
    await new Promise(setImmediate);
    await sampler.tick();
    return span;
  }

  it("gives the busiest engine's time of each client of this process tree, a descendant's included, not others'", async () => {
    amdCard();
    tree.addProcess(process.pid, process.ppid);
    tree.addFd(process.pid, 10, '/dev/dri/renderD128', amdClient('7', { gfx: 1000 * MS, compute: 50 * MS }));
    const childPid = child.pid as number;
    tree.addProcess(childPid, process.pid);
    tree.addFd(childPid, 4, '/dev/dri/renderD128', amdClient('9', { gfx: 0 }));
    tree.addProcess(UNRELATED_PID, 1, 'other');
    tree.addFd(UNRELATED_PID, 5, '/dev/dri/renderD128', amdClient('11', { gfx: 0 }));
    await startSampler();

    const span = await startSpan('train');
    // This process: gfx +300 ms, compute +100 ms (at the same time: the busiest, 300 ms, counts); the child +200 ms;
    // the unrelated process +5 s.
    tree.setFdinfo(process.pid, 10, amdClient('7', { gfx: 1300 * MS, compute: 150 * MS }));
    tree.setFdinfo(childPid, 4, amdClient('9', { gfx: 200 * MS }));
    tree.setFdinfo(UNRELATED_PID, 5, amdClient('11', { gfx: 5000 * MS }));
    await sleep(50);
    await sampler.tick();
    span.end();
    const busy = tracing.attributesOf('train')[keys.ATTR_GPU_PROCESS_BUSY_TIME] as number;
    assert.ok(Math.abs(busy - 0.5) < 1e-9, `busy time ${busy}, expected 0.5 s`);

    const idle = await startSpan('idle');
    await sleep(50);
    await sampler.tick();
    idle.end();
    assert.equal(tracing.attributesOf('idle')[keys.ATTR_GPU_PROCESS_BUSY_TIME], 0);
  });

  it("xe: the busiest class's cycles over the GPU's cycles, times the wall time between readings", async () => {
    tree.addCard({ card: 'card1', pciSlot: XE_SLOT, vendor: '0x8086', device: '0xa7a0', driver: 'xe' });
    tree.addProcess(process.pid, process.ppid);
    tree.addFd(process.pid, 12, '/dev/dri/renderD129', xeClient(1000, 10_000));
    await startSampler();
    const span = await startSpan('render');
    const from = Date.now();
    await sleep(400);
    // Half the cycles of the class since the last reading were this client's.
    tree.setFdinfo(process.pid, 12, xeClient(1000 + 5000, 20_000));
    await sampler.tick();
    const wall = (Date.now() - from) / 1000;
    span.end();
    const busy = tracing.attributesOf('render')[keys.ATTR_GPU_PROCESS_BUSY_TIME] as number;
    assert.ok(busy > 0.5 * wall - 0.05 && busy <= 0.5 * wall + 0.05, `busy ${busy}, wall ${wall}`);
  });

  it('a client without engine figures (a kernel before per-client engine stats): busy time absent, not 0', async () => {
    amdCard();
    tree.addProcess(process.pid, process.ppid);
    tree.addFd(
      process.pid,
      10,
      '/dev/dri/renderD128',
      fdinfoText({
        'drm-driver': 'amdgpu',
        'drm-client-id': '7',
        'drm-pdev': AMD_SLOT,
        'drm-memory-vram': '1 MiB',
      }),
    );
    await startSampler();
    const span = await startSpan('old-kernel');
    await sampler.tick();
    span.end();
    const attributes = tracing.attributesOf('old-kernel');
    assert.equal(attributes[keys.ATTR_GPU_PROCESS_BUSY_TIME], undefined);
    assert.equal(attributes[keys.ATTR_GPU_PROCESS_MEMORY], 1024 * 1024);
  });

  it('reads engine time and cycles from fdinfo, not the engine capacity', () => {
    const info = parseDrmFdinfo(
      `${amdClient('1', { gfx: 12, dec: 7 }).trimEnd()}\ndrm-cycles-bcs:\t5\ndrm-total-cycles-bcs:\t9\n`,
    );
    assert.deepEqual(
      [...(info?.engineNs ?? [])],
      [
        ['gfx', 12],
        ['dec', 7],
      ],
    );
    assert.deepEqual([...(info?.cycles ?? [])], [['bcs', { busy: 5, total: 9 }]]);
  });
});
