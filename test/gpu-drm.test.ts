import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGpuProvider } from '../src/gpu/detect.js';
import { DRM_SCAN_INTERVAL_MS } from '../src/gpu/drm/drm-clients.js';
import { noGpuMemorySource, setGpuMemorySource } from '../src/gpu/gpu-memory-source.js';
import { GpuSampler } from '../src/gpu/gpu-sampler.js';
import {
  captureResourceSnapshot,
  SpanAttributes as keys,
  type PrometheusEndpoint,
  startPrometheusEndpoint,
} from '../src/index.js';
import { captureDiag } from './helpers/diag-capture.js';
import { FakeDrmTree, fdinfoText, GiB, MiB } from './helpers/fake-drm.js';
import { promtoolCheckMetrics } from './helpers/prometheus.js';
import { createTracing } from './helpers/tracing.js';

const AMD_SLOT = '0000:03:00.0';
const XE_SLOT = '0000:00:02.0';
const AMD_ID = '3a1b2c3d4e5f6071';
const UNRELATED_PID = 3_999_999;
/** A grandchild that exists only in the fake procfs: found only by walking the tree there, not in the real /proc. */
const GRANDCHILD_PID = 3_999_998;

/** Value of the sample line of metric `name` that has all of `labels`. */
function sampleValue(
  exposition: string,
  name: string,
  labels: Record<string, string | number>,
): number | undefined {
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`)))
      return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

/** An idle real child process: its PID is a real descendant of ours, as the process tree walker will see. */
async function startChild(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 120000)'], { stdio: 'ignore' });
  await once(child, 'spawn');
  return child;
}

/**
 * A machine with an AMD card (amdgpu, unique_id, product name), an Intel integrated GPU on xe (no device memory in
 * sysfs), an NVIDIA card and a connector (both not ours to read). This process holds one amdgpu client through two
 * fds (dup) that its child inherited, plus an xe client; the child opened its own amdgpu client; an unrelated
 * process holds a lot on the AMD card.
 */
function buildMachine(tree: FakeDrmTree, childPid: number): void {
  tree.addCard({
    card: 'card0',
    pciSlot: AMD_SLOT,
    vendor: '0x1002',
    device: '0x744c',
    driver: 'amdgpu',
    files: {
      mem_info_vram_used: `${6 * GiB}\n`,
      mem_info_vram_total: `${16 * GiB}\n`,
      gpu_busy_percent: '37\n',
      unique_id: `${AMD_ID}\n`,
      product_name: 'Radeon RX 7900 XTX\n',
    },
  });
  tree.addConnector('card0-DP-1');
  tree.addCard({ card: 'card1', pciSlot: XE_SLOT, vendor: '0x8086', device: '0xa7a0', driver: 'xe' });
  tree.addCard({ card: 'card2', pciSlot: '0000:41:00.0', vendor: '0x10de', driver: 'nvidia' });

  const sharedAmdClient = fdinfoText({
    'drm-driver': 'amdgpu',
    'drm-client-id': '7',
    'drm-pdev': AMD_SLOT,
    'drm-memory-vram': `${1024 * 1024} KiB`,
    'drm-memory-gtt': `${256 * 1024} KiB`,
    'drm-memory-cpu': '0 KiB',
    'amd-evicted-vram': '0 KiB',
  });
  tree.addProcess(process.pid, process.ppid);
  tree.addFd(process.pid, 0, '/dev/null', 'pos:\t0\nflags:\t02\n');
  tree.addFd(process.pid, 3, 'socket:[12345]', 'pos:\t0\n');
  tree.addFd(process.pid, 10, '/dev/dri/renderD128', sharedAmdClient);
  tree.addFd(process.pid, 11, '/dev/dri/renderD128', sharedAmdClient);
  tree.addFd(
    process.pid,
    12,
    '/dev/dri/renderD129',
    fdinfoText({
      'drm-driver': 'xe',
      'drm-client-id': '3',
      'drm-pdev': XE_SLOT,
      'drm-total-system': '24576 MiB',
      'drm-shared-system': '0',
      'drm-resident-system': '24576 MiB',
      'drm-active-system': '0',
      'drm-total-stolen': '0',
      'drm-resident-stolen': '8 MiB',
      'drm-total-gtt': '4 MiB',
      'drm-resident-gtt': '4 MiB',
      'drm-engine-rcs': '123456 ns',
    }),
  );

  tree.addProcess(childPid, process.pid);
  tree.addFd(childPid, 10, '/dev/dri/renderD128', sharedAmdClient);
  tree.addFd(
    childPid,
    4,
    '/dev/dri/card0',
    fdinfoText({
      'drm-driver': 'amdgpu',
      'drm-client-id': '9',
      'drm-pdev': AMD_SLOT,
      'drm-total-vram': '600 MiB',
      'drm-resident-vram': '512 MiB',
      'drm-total-gtt': '64 MiB',
      'drm-resident-gtt': '64 MiB',
    }),
  );

  tree.addProcess(GRANDCHILD_PID, childPid, 'python3');
  tree.addFd(
    GRANDCHILD_PID,
    7,
    '/dev/dri/renderD128',
    fdinfoText({
      'drm-driver': 'amdgpu',
      'drm-client-id': '12',
      'drm-pdev': AMD_SLOT,
      'drm-memory-vram': '32 MiB',
    }),
  );

  tree.addProcess(UNRELATED_PID, 1, 'other (user)');
  tree.addFd(
    UNRELATED_PID,
    5,
    '/dev/dri/renderD128',
    fdinfoText({
      'drm-driver': 'amdgpu',
      'drm-client-id': '11',
      'drm-pdev': AMD_SLOT,
      'drm-memory-vram': `${4 * GiB}`,
    }),
  );
}

/**
 * What this process tree holds on the AMD card: client 7 once (1 GiB VRAM + 256 MiB GTT), client 9 (512 + 64 MiB
 * resident), the grandchild's client 12 (32 MiB).
 */
const TREE_ON_AMD = GiB + 256 * MiB + 512 * MiB + 64 * MiB + 32 * MiB;
/** The xe client: system 24 GiB + stolen 8 MiB + gtt 4 MiB (resident). */
const TREE_ON_XE = 24 * GiB + 8 * MiB + 4 * MiB;

describe('GPU: DRM provider (AMD, Intel) on a fake procfs and sysfs, through detection, sampler, spans and Prometheus', () => {
  let tree: FakeDrmTree;
  let child: ChildProcess;
  let sampler: GpuSampler;

  beforeEach(async () => {
    tree = new FakeDrmTree();
    child = await startChild();
    buildMachine(tree, child.pid as number);
  });

  afterEach(async () => {
    setGpuMemorySource(noGpuMemorySource);
    sampler?.shutdown();
    child.kill();
    tree.remove();
  });

  /** The sampler as the environment configures it, with a timer that leaves the ticks to the test. */
  async function startSampler(env: Record<string, string>): Promise<GpuSampler> {
    sampler = new GpuSampler({ env, idleIntervalMs: 3_600_000, activeIntervalMs: 3_600_000 });
    await sampler.start();
    setGpuMemorySource(sampler);
    return sampler;
  }

  it("a span shows the AMD card's memory and this process tree's GPU memory (every region, each client once)", async () => {
    await startSampler(tree.env());
    assert.equal(sampler.currentHealth.provider, 'drm');
    assert.deepEqual(
      sampler.devices.map((state) => [state.device.uuid, state.device.name, state.device.vendor]),
      [
        [AMD_ID, 'Radeon RX 7900 XTX', 'AMD'],
        [XE_SLOT, 'Intel GPU 0xa7a0 (xe)', 'Intel'],
      ],
    );
    const tracing = createTracing({ gpuDevices: [0], attributes: 'full' });
    try {
      const span = tracing.tracer.startSpan('train');
      // The span's first GPU lease starts a reading of its own: let it finish before the card changes.
      await new Promise(setImmediate);
      tree.setCardFile(AMD_SLOT, 'mem_info_vram_used', `${7 * GiB}\n`);
      await sampler.tick();
      span.end();
      const attributes = tracing.attributesOf('train');
      assert.equal(attributes[keys.ATTR_GPU_MEMORY_START], 6 * GiB);
      assert.equal(attributes[keys.ATTR_GPU_MEMORY_END], 7 * GiB);
      assert.equal(attributes[keys.ATTR_GPU_MEMORY_PEAK], 7 * GiB);
      assert.equal(attributes[keys.ATTR_GPU_MEMORY_LIMIT], 16 * GiB);
      assert.equal(
        attributes[keys.ATTR_GPU_PROCESS_MEMORY],
        TREE_ON_AMD,
        'not the unrelated 4 GiB, client 7 once',
      );
      assert.equal(attributes[keys.ATTR_HW_ID], AMD_ID);
      assert.equal(attributes[keys.ATTR_HW_MODEL], 'Radeon RX 7900 XTX');
    } finally {
      await tracing.shutdown();
    }
    assert.equal(captureResourceSnapshot().gpuVramUsedBytes, 7 * GiB);
  });

  it("an Intel integrated GPU (xe): the client's memory from fdinfo, no device memory (absent, never 0)", async () => {
    await startSampler(tree.env());
    const tracing = createTracing({ gpuDevices: [1], attributes: 'full' });
    try {
      tracing.tracer.startSpan('infer').end();
      const attributes = tracing.attributesOf('infer');
      assert.equal(attributes[keys.ATTR_GPU_PROCESS_MEMORY], TREE_ON_XE);
      assert.equal(attributes[keys.ATTR_HW_ID], XE_SLOT);
      for (const key of [keys.ATTR_GPU_MEMORY_START, keys.ATTR_GPU_MEMORY_END, keys.ATTR_GPU_MEMORY_LIMIT])
        assert.equal(attributes[key], undefined, key);
    } finally {
      await tracing.shutdown();
    }
    const snapshot = captureResourceSnapshot({ gpuIndex: 1 });
    assert.equal('gpuVramUsedBytes' in snapshot, false);
    assert.equal('gpuVramTotalBytes' in snapshot, false);
  });

  it('the Prometheus endpoint serves both cards with their vendors, utilization and the tree memory', async () => {
    await startSampler(tree.env());
    let endpoint: PrometheusEndpoint | undefined;
    try {
      endpoint = await startPrometheusEndpoint({ port: 0 });
      const text = await (await fetch(endpoint.url)).text();
      const amd = {
        hw_id: AMD_ID,
        hw_vendor: 'AMD',
        hw_model: 'Radeon RX 7900 XTX',
        resource_tracker_gpu_index: 0,
      };
      const xe = { hw_id: XE_SLOT, hw_vendor: 'Intel', resource_tracker_gpu_index: 1 };
      assert.equal(sampleValue(text, 'hw_gpu_memory_usage_bytes', amd), 6 * GiB);
      assert.equal(sampleValue(text, 'hw_gpu_memory_limit_bytes', amd), 16 * GiB);
      assert.equal(sampleValue(text, 'hw_gpu_utilization_ratio', amd), 0.37);
      assert.equal(sampleValue(text, 'resource_tracker_process_gpu_memory_usage_bytes', amd), TREE_ON_AMD);
      assert.equal(sampleValue(text, 'resource_tracker_process_gpu_memory_usage_bytes', xe), TREE_ON_XE);
      assert.equal(sampleValue(text, 'hw_gpu_memory_usage_bytes', xe), undefined, 'no series, not 0');
      assert.equal(sampleValue(text, 'hw_gpu_memory_limit_bytes', xe), undefined, 'no series, not 0');
      assert.equal(sampleValue(text, 'hw_gpu_utilization_ratio', xe), undefined);
      assert.equal(sampleValue(text, 'resource_tracker_gpu_up', { resource_tracker_gpu_provider: 'drm' }), 1);
      promtoolCheckMetrics(text);
    } finally {
      await endpoint?.shutdown();
    }
  });

  it('garbage leaves that figure absent, one diagnostic per kind; the other figures and devices go on', async () => {
    const diagnostics = captureDiag();
    try {
      tree.setCardFile(AMD_SLOT, 'mem_info_vram_used', 'abc\n');
      tree.removeCardFile(AMD_SLOT, 'gpu_busy_percent');
      tree.setFdinfo(
        process.pid,
        12,
        `${fdinfoText({ 'drm-driver': 'xe', 'drm-client-id': '3', 'drm-pdev': XE_SLOT, 'drm-resident-system': '24576 MiB' })}drm-resident-sto`,
      );
      await startSampler(tree.env());
      await sampler.tick();
      await sampler.tick();
      const amd = sampler.latest(0);
      assert.equal(amd?.usedBytes, undefined);
      assert.equal(amd?.totalBytes, 16 * GiB);
      assert.equal(amd?.processUsedBytes, TREE_ON_AMD);
      assert.equal(sampler.devices[0]?.latest?.utilization, undefined);
      assert.equal(
        sampler.latest(1)?.processUsedBytes,
        undefined,
        'a truncated fdinfo line: unknown, not a smaller sum',
      );
      assert.equal(sampler.currentHealth.up, true);
      const said = (text: string) => diagnostics.lines.filter((line) => line.message.includes(text));
      assert.equal(said('mem_info_vram_used').length, 1, JSON.stringify(diagnostics.lines));
      assert.equal(said('gpu_busy_percent').length, 1);
      assert.equal(said('cannot be read').length, 1);
      // A span over the broken AMD card: no device memory keys, the tree's memory still there.
      const tracing = createTracing({ gpuDevices: [0], attributes: 'full' });
      try {
        tracing.tracer.startSpan('broken').end();
        const attributes = tracing.attributesOf('broken');
        assert.equal(attributes[keys.ATTR_GPU_MEMORY_START], undefined);
        assert.equal(attributes[keys.ATTR_GPU_PROCESS_MEMORY], TREE_ON_AMD);
      } finally {
        await tracing.shutdown();
      }
    } finally {
      diagnostics.restore();
    }
  });

  it('a fd closed (and its number reused) between scans drops its client; a new one is found at the next scan', async () => {
    await startSampler(tree.env());
    assert.equal(sampler.latest(0)?.processUsedBytes, TREE_ON_AMD);
    // The child closes its own client, and the number is reused for a log file before the next listing.
    tree.closeFd(child.pid as number, 4);
    tree.addFd(child.pid as number, 4, '/var/log/app.log', 'pos:\t0\nflags:\t02102001\n');
    await sampler.tick();
    assert.equal(sampler.latest(0)?.processUsedBytes, TREE_ON_AMD - 512 * MiB - 64 * MiB);
    // A client opened since: read once the descriptors are listed again (DRM_SCAN_INTERVAL_MS).
    tree.addFd(
      process.pid,
      13,
      '/dev/dri/renderD128',
      fdinfoText({
        'drm-driver': 'amdgpu',
        'drm-client-id': '20',
        'drm-pdev': AMD_SLOT,
        'drm-resident-vram': '1 MiB',
      }),
    );
    await sleep(DRM_SCAN_INTERVAL_MS + 50);
    await sampler.tick();
    assert.equal(sampler.latest(0)?.processUsedBytes, TREE_ON_AMD - 512 * MiB - 64 * MiB + MiB);
  });

  it('Intel i915 and a discrete xe card: i915 clients per region, xe VRAM size from its tiles, i915 lmem where published', async () => {
    tree.addCard({
      card: 'card3',
      pciSlot: '0000:05:00.0',
      vendor: '0x8086',
      device: '0x56a0',
      driver: 'i915',
    });
    tree.addCard({
      card: 'card4',
      pciSlot: '0000:06:00.0',
      vendor: '0x8086',
      device: '0xe20b',
      driver: 'xe',
      files: {
        'tile0/physical_vram_size_bytes': `${12 * GiB}\n`,
        'tile1/physical_vram_size_bytes': `${12 * GiB}\n`,
      },
    });
    tree.addCard({
      card: 'card5',
      pciSlot: '0000:07:00.0',
      vendor: '0x8086',
      device: '0x56c0',
      driver: 'i915',
      cardFiles: { lmem_total_bytes: `${16 * GiB}\n`, lmem_avail_bytes: `${15 * GiB}\n` },
    });
    tree.addFd(
      process.pid,
      14,
      '/dev/dri/renderD130',
      fdinfoText({
        'drm-driver': 'i915',
        'drm-client-id': '5',
        'drm-pdev': '0000:05:00.0',
        'drm-total-system0': '20 MiB',
        'drm-resident-system0': '16 MiB',
        'drm-total-local0': '300 MiB',
        'drm-resident-local0': '256 MiB',
        'drm-total-stolen-system0': '0',
      }),
    );
    await startSampler(tree.env());
    assert.deepEqual(
      sampler.devices.map((state) => state.device.uuid),
      [AMD_ID, XE_SLOT, '0000:05:00.0', '0000:06:00.0', '0000:07:00.0'],
    );
    const i915 = sampler.latest(2);
    assert.equal(i915?.processUsedBytes, 16 * MiB + 256 * MiB);
    assert.equal(i915?.usedBytes, undefined);
    assert.equal(i915?.totalBytes, undefined);
    const discrete = sampler.latest(3);
    assert.equal(discrete?.totalBytes, 24 * GiB);
    assert.equal(discrete?.usedBytes, undefined);
    assert.equal(discrete?.processUsedBytes, 0, 'this tree holds no client there: a known 0');
    // Intel's out-of-tree i915 (backports for Arc, Flex, Max) publishes local memory on the card.
    const backports = sampler.latest(4);
    assert.equal(backports?.totalBytes, 16 * GiB);
    assert.equal(backports?.usedBytes, GiB);
  });

  it('a process whose descriptors cannot be listed is skipped; the rest of the tree is counted', async () => {
    // As for another user's process without CAP_SYS_PTRACE (the tests run as root, so a mode would not stop them).
    rmSync(`${tree.proc}/${GRANDCHILD_PID}/fd`, { recursive: true });
    writeFileSync(`${tree.proc}/${GRANDCHILD_PID}/fd`, '');
    const diagnostics = captureDiag();
    try {
      await startSampler(tree.env());
      await sampler.tick();
      assert.equal(sampler.latest(0)?.processUsedBytes, TREE_ON_AMD - 32 * MiB);
      const said = diagnostics.lines.filter((line) => line.message.includes(`process ${GRANDCHILD_PID}`));
      assert.equal(said.length, 1, JSON.stringify(diagnostics.lines));
      assert.equal(said[0]?.level, 'warn');
    } finally {
      diagnostics.restore();
    }
  });

  it("a kernel without DRM usage stats (amdgpu's 5.14 fdinfo): the tree's GPU memory is unknown, not 0", async () => {
    const diagnostics = captureDiag();
    try {
      // What amdgpu printed before the common format: no drm-driver, no drm- keys at all.
      tree.setFdinfo(
        child.pid as number,
        4,
        'pos:\t0\nflags:\t02\npdev:\t0000:03:00.0\npasid:\t32769\nvram mem:\t524288 kB\n',
      );
      await startSampler(tree.env());
      assert.equal(sampler.latest(0)?.processUsedBytes, undefined, 'not the sum without that client');
      assert.equal(
        sampler.latest(1)?.processUsedBytes,
        undefined,
        "its device is unknown: so is every card's figure",
      );
      assert.equal(sampler.latest(0)?.usedBytes, 6 * GiB, 'device figures go on');
      assert.equal(diagnostics.lines.filter((line) => line.message.includes('no drm-driver line')).length, 1);
    } finally {
      diagnostics.restore();
    }
  });

  describe('detection', () => {
    it('auto: NVML, then nvidia-smi, then DRM', async () => {
      const savedPath = process.env.PATH;
      process.env.PATH = tree.root; // no nvidia-smi there
      const started = await startGpuProvider({
        provider: 'auto',
        nvmlLibrary: `${tree.root}/no-such-libnvidia-ml.so.1`,
        nvidiaSmiTimeoutMs: 500,
        procfsRoot: tree.proc,
        sysfsRoot: tree.sys,
      }).finally(() => {
        process.env.PATH = savedPath;
      });
      try {
        assert.equal(started.provider.name, 'drm');
        assert.equal(started.passedOver.length, 2);
        assert.equal(started.devices.length, 2);
      } finally {
        started.provider.shutdown();
      }
    });

    it('a forced drm provider without an AMD or Intel card is a clear error naming where it looked', async () => {
      const empty = new FakeDrmTree();
      try {
        await assert.rejects(
          startGpuProvider({
            provider: 'drm',
            nvmlLibrary: '',
            nvidiaSmiTimeoutMs: 500,
            procfsRoot: empty.proc,
            sysfsRoot: empty.sys,
          }),
          /OTEL_RESOURCE_TRACKER_GPU_PROVIDER=drm, but that provider cannot start: no AMD \(amdgpu\) or Intel \(i915, xe\) GPU under .*\/sys\/class\/drm/,
        );
      } finally {
        empty.remove();
      }
    });
  });
});
