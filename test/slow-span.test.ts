import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type PerformanceEntry, PerformanceObserver, performance } from 'node:perf_hooks';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { ENV_PROCFS_ROOT, ENV_SYSFS_ROOT } from '../src/config/env.js';
import { SpanAttributes as keys, startPrometheusEndpoint } from '../src/index.js';
import {
  findCgroupDirectories,
  readCpuLimitCores,
  readMemoryLimitBytes,
  readThrottledSeconds,
} from '../src/probes/cgroup-limits.js';
import { REUSE_RENDER_MS } from '../src/prometheus/shared-render.js';
import { CounterSeries } from '../src/sampler/counter-series.js';
import { GcPauses, gcPauses } from '../src/sampler/gc-pauses.js';
import { captureDiag } from './helpers/diag-capture.js';
import { promtoolCheckMetrics } from './helpers/prometheus.js';
import { createTracing, inSpan, numberAttribute } from './helpers/tracing.js';

const SLOW_KEYS = [
  keys.ATTR_GC_PAUSE_TIME,
  keys.ATTR_GC_COUNT,
  keys.ATTR_EVENT_LOOP_UTILIZATION,
  keys.ATTR_CPU_THROTTLED_TIME,
  keys.ATTR_CPU_WAIT_TIME,
  keys.ATTR_CPU_LIMIT,
  keys.ATTR_MEMORY_LIMIT,
];

/** The test's own record of GC pauses, apart from the package's. */
function ownGcObserver(): { entries: PerformanceEntry[]; stop: () => void } {
  const entries: PerformanceEntry[] = [];
  const observer = new PerformanceObserver((list) => entries.push(...list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  return { entries, stop: () => observer.disconnect() };
}

/** Pause ms inside [from, to], a pause across an edge counted for its part inside. */
function pauseMsInWindow(entries: readonly PerformanceEntry[], from: number, to: number): number {
  let total = 0;
  for (const entry of entries) {
    const overlap = Math.min(entry.startTime + entry.duration, to) - Math.max(entry.startTime, from);
    if (overlap > 0) total += overlap;
  }
  return total;
}

/** Allocates short-lived objects in chunks, yielding between them (a request handler's pattern). */
async function allocate(chunks: number): Promise<void> {
  let keep: object[] = [];
  for (let chunk = 0; chunk < chunks; chunk++) {
    for (let i = 0; i < 20_000; i++) keep.push({ i, text: `item ${i}` });
    if (keep.length > 200_000) keep = [];
    await nextTurn();
  }
}

function within(actual: number, expected: number, share: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= share * Math.abs(expected),
    `${what}: ${actual} is not within ${share * 100} % of ${expected}`,
  );
}

describe('Why a span was slow: GC pauses and the event loop, for real', () => {
  it('a span that allocates gets the GC pauses of its window; a span without collection gets 0', async () => {
    const tracing = createTracing({ attributes: 'full' });
    const own = ownGcObserver();
    try {
      let from = 0;
      let to = 0;
      await inSpan(tracing.tracer, 'allocating', async () => {
        from = performance.now();
        while (performance.now() - from < 1000) await allocate(10);
        // A span ends after its last I/O: the entries of its last collections have been delivered by then.
        await sleep(5);
        to = performance.now();
      });
      await sleep(20);
      const attributes = tracing.attributesOf('allocating');
      const expectedMs = pauseMsInWindow(own.entries, from, to);
      const expectedCount = own.entries.filter(
        (entry) => entry.startTime + entry.duration > from && entry.startTime < to,
      ).length;
      assert.ok(expectedCount > 3, `the workload forced collections (${expectedCount})`);
      within(numberAttribute(attributes, keys.ATTR_GC_PAUSE_TIME) * 1000, expectedMs, 0.15, 'GC pause ms');
      within(numberAttribute(attributes, keys.ATTR_GC_COUNT), expectedCount, 0.15, 'GC count');

      (globalThis as { gc?: () => void }).gc?.();
      await sleep(20);
      const quietFrom = performance.now();
      await inSpan(tracing.tracer, 'quiet', () => sleep(50));
      await sleep(20);
      assert.equal(
        pauseMsInWindow(own.entries, quietFrom, performance.now()),
        0,
        'no collection in the window',
      );
      assert.equal(tracing.attributesOf('quiet')[keys.ATTR_GC_PAUSE_TIME], 0);
      assert.equal(tracing.attributesOf('quiet')[keys.ATTR_GC_COUNT], 0);
    } finally {
      own.stop();
      await tracing.shutdown();
    }
  });

  it('event loop: a span awaiting 300 ms while another callback blocks the loop 200 ms reads ≈ 0.67; alone ≈ 0', async () => {
    const tracing = createTracing({ attributes: 'full' });
    try {
      await sleep(10);
      const before = performance.eventLoopUtilization();
      await inSpan(tracing.tracer, 'waiting-on-busy-loop', async () => {
        setTimeout(() => {
          const start = performance.now();
          while (performance.now() - start < 200) {
            // Another request's synchronous work.
          }
        }, 20);
        await sleep(300);
      });
      const own = performance.eventLoopUtilization(before).utilization;
      const busy = numberAttribute(
        tracing.attributesOf('waiting-on-busy-loop'),
        keys.ATTR_EVENT_LOOP_UTILIZATION,
      );
      within(busy, own, 0.15, 'utilization against the test bracket');
      within(busy, 200 / 300, 0.15, 'utilization against 200 ms of 300');
      await inSpan(tracing.tracer, 'waiting-alone', () => sleep(300));
      const alone = numberAttribute(tracing.attributesOf('waiting-alone'), keys.ATTR_EVENT_LOOP_UTILIZATION);
      assert.ok(alone < 0.05, `an idle loop reads ≈ 0, not ${alone}`);
    } finally {
      await tracing.shutdown();
    }
  });

  it('the default set carries none of these keys and starts no GC observer; a GC key starts one until shutdown', async () => {
    const users = gcPauses.userCount;
    const lean = createTracing();
    try {
      assert.equal(gcPauses.userCount, users, 'no GC observer for the lean default');
      await inSpan(lean.tracer, 'lean', () => allocate(5));
      const attributes = lean.attributesOf('lean');
      for (const key of SLOW_KEYS) assert.equal(attributes[key], undefined, key);
    } finally {
      await lean.shutdown();
    }
    const withGc = createTracing({ attributes: [keys.ATTR_CPU_TIME, keys.ATTR_GC_PAUSE_TIME] });
    assert.equal(gcPauses.userCount, users + 1);
    assert.equal(gcPauses.observing, true);
    await withGc.shutdown();
    assert.equal(gcPauses.userCount, users);
  });
});

describe('GC ring and counter series', () => {
  it('a pause across the window edges counts in proportion; the ring forgets its oldest', () => {
    const ring = new GcPauses(4);
    ring.add({ startTime: 90, duration: 20 });
    ring.add({ startTime: 150, duration: 10 });
    ring.add({ startTime: 195, duration: 10 });
    const window = ring.inWindow(100, 200);
    assert.equal(window.pauseMs, 10 + 10 + 5);
    assert.equal(window.count, 3);
    for (let i = 0; i < 10; i++) ring.add({ startTime: 300 + i, duration: 0.5 });
    assert.equal(ring.inWindow(0, 1000).count, 4);
  });

  it('a counter is interpolated between the readings around a moment', () => {
    const series = new CounterSeries(8);
    assert.equal(series.valueAt(5), undefined);
    series.push(0, 1);
    series.push(10, 2);
    series.push(20, 4);
    assert.equal(series.valueAt(15), 3);
    assert.equal(series.valueAt(25), 4);
    assert.equal(series.valueAt(-1), undefined);
  });
});

/** A cgroup v2 container's view (a kubepods path), and a thread's schedstat, under fake procfs / sysfs roots. */
class FakeCgroupTree {
  readonly root = mkdtempSync(join(tmpdir(), 'fake-cgroup-'));
  readonly proc = join(this.root, 'proc');
  readonly sys = join(this.root, 'sys');
  readonly group = join(this.sys, 'fs', 'cgroup', 'kubepods', 'burstable', 'pod1234', 'c0ffee');

  constructor() {
    this.write(join(this.proc, 'self', 'cgroup'), '0::/kubepods/burstable/pod1234/c0ffee\n');
    this.write(
      join(this.proc, 'self', 'mountinfo'),
      '22 1 0:21 / /proc rw,nosuid - proc proc rw\n' +
        '30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate\n',
    );
    this.cpuStat(0);
    this.write(join(this.group, 'cpu.max'), '150000 100000\n');
    this.write(join(this.group, 'memory.max'), `${512 * 1024 * 1024}\n`);
    this.schedstat(0);
  }

  write(path: string, text: string): void {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }

  cpuStat(throttledUsec: number): void {
    this.write(
      join(this.group, 'cpu.stat'),
      `usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\nnr_periods 10\nnr_throttled 2\nthrottled_usec ${throttledUsec}\n`,
    );
  }

  schedstat(waitNs: number): void {
    this.write(join(this.proc, 'thread-self', 'schedstat'), `987654321 ${waitNs} 4321\n`);
  }

  environment(): () => void {
    process.env[ENV_PROCFS_ROOT] = this.proc;
    process.env[ENV_SYSFS_ROOT] = this.sys;
    return () => {
      delete process.env[ENV_PROCFS_ROOT];
      delete process.env[ENV_SYSFS_ROOT];
    };
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

describe('Why a span was slow: cgroup throttling, limits and run-queue wait on fake trees', () => {
  it('cgroup v2: the span gets the throttled time its window saw, the limits, and the run-queue wait', async () => {
    const tree = new FakeCgroupTree();
    const restore = tree.environment();
    const tracing = createTracing({ attributes: 'full' });
    try {
      // A first span starts the background sampler; the counters then move while it reads them, as they would.
      await inSpan(tracing.tracer, 'first', () => sleep(10));
      tree.cpuStat(2_000_000);
      tree.schedstat(5_000_000);
      await sleep(60);
      await inSpan(tracing.tracer, 'throttled', async () => {
        // A child span's start reads the counters again (they are 20 ms stale): the window's start is fixed here.
        await sleep(20);
        tracing.tracer.startSpan('child').end();
        tree.cpuStat(2_000_000 + 350_000);
        tree.schedstat(5_000_000 + 40_000_000);
        await sleep(50);
      });
      const attributes = tracing.attributesOf('throttled');
      assert.ok(Math.abs(numberAttribute(attributes, keys.ATTR_CPU_THROTTLED_TIME) - 0.35) < 1e-9);
      assert.ok(Math.abs(numberAttribute(attributes, keys.ATTR_CPU_WAIT_TIME) - 0.04) < 1e-9);
      assert.equal(attributes[keys.ATTR_CPU_LIMIT], 1.5);
      assert.equal(attributes[keys.ATTR_MEMORY_LIMIT], 512 * 1024 * 1024);

      await inSpan(tracing.tracer, 'calm', () => sleep(30));
      assert.equal(tracing.attributesOf('calm')[keys.ATTR_CPU_THROTTLED_TIME], 0);
      assert.equal(tracing.attributesOf('calm')[keys.ATTR_CPU_WAIT_TIME], 0);
    } finally {
      await tracing.shutdown();
      restore();
      tree.remove();
    }
  });

  it('unlimited limits are absent; a schedstat that reads zeros (schedstats off) leaves the wait absent', async () => {
    const tree = new FakeCgroupTree();
    tree.write(join(tree.group, 'cpu.max'), 'max 100000\n');
    tree.write(join(tree.group, 'memory.max'), 'max\n');
    const restore = tree.environment();
    const tracing = createTracing({ attributes: 'full' });
    try {
      await inSpan(tracing.tracer, 'unlimited', () => sleep(30));
      const attributes = tracing.attributesOf('unlimited');
      assert.equal(attributes[keys.ATTR_CPU_LIMIT], undefined);
      assert.equal(attributes[keys.ATTR_MEMORY_LIMIT], undefined);
      assert.equal(attributes[keys.ATTR_CPU_WAIT_TIME], undefined);
      assert.equal(attributes[keys.ATTR_CPU_THROTTLED_TIME], 0);
    } finally {
      await tracing.shutdown();
      restore();
      tree.remove();
    }
  });

  it('missing, unreadable or malformed cgroup files: the figure is absent, one diagnostic per kind, nothing thrown', async () => {
    const tree = new FakeCgroupTree();
    tree.write(join(tree.group, 'cpu.stat'), 'usage_usec 1\nthrottled_usec lots\n');
    rmSync(join(tree.group, 'cpu.max'));
    tree.write(join(tree.group, 'memory.max'), '-5\n');
    const restore = tree.environment();
    const diagnostics = captureDiag();
    const tracing = createTracing({ attributes: 'full' });
    try {
      for (let i = 0; i < 3; i++) await inSpan(tracing.tracer, `bad-${i}`, () => sleep(20));
      for (let i = 0; i < 3; i++) {
        const attributes = tracing.attributesOf(`bad-${i}`);
        assert.equal(attributes[keys.ATTR_CPU_THROTTLED_TIME], undefined);
        assert.equal(attributes[keys.ATTR_CPU_LIMIT], undefined);
        assert.equal(attributes[keys.ATTR_MEMORY_LIMIT], undefined);
        assert.equal(typeof attributes[keys.ATTR_CPU_TIME], 'number', 'the other figures stay');
      }
      const ours = diagnostics.lines.filter((line) => line.message.includes(tree.root));
      const count = (text: string): number => ours.filter((line) => line.message.includes(text)).length;
      assert.equal(count('cpu.stat'), 1, JSON.stringify(ours));
      assert.equal(count('cpu.max'), 1, JSON.stringify(ours));
      assert.equal(count('memory.max'), 1, JSON.stringify(ours));
    } finally {
      diagnostics.restore();
      await tracing.shutdown();
      restore();
      tree.remove();
    }
  });

  it('no cgroup files at all (not Linux, no procfs): the keys are absent and one diagnostic says why', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'no-proc-'));
    process.env[ENV_PROCFS_ROOT] = join(empty, 'proc');
    process.env[ENV_SYSFS_ROOT] = join(empty, 'sys');
    const diagnostics = captureDiag();
    const tracing = createTracing({ attributes: 'full' });
    try {
      await inSpan(tracing.tracer, 'nowhere', () => sleep(20));
      const attributes = tracing.attributesOf('nowhere');
      for (const key of [
        keys.ATTR_CPU_THROTTLED_TIME,
        keys.ATTR_CPU_LIMIT,
        keys.ATTR_MEMORY_LIMIT,
        keys.ATTR_CPU_WAIT_TIME,
      ])
        assert.equal(attributes[key], undefined, key);
      assert.equal(
        diagnostics.lines.filter((line) => line.message.includes('cgroup of this process')).length,
        1,
      );
    } finally {
      diagnostics.restore();
      await tracing.shutdown();
      delete process.env[ENV_PROCFS_ROOT];
      delete process.env[ENV_SYSFS_ROOT];
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('cgroup v1 in a container: the path is taken relative to the mount root; v1 wins on a hybrid host', () => {
    const tree = new FakeCgroupTree();
    try {
      tree.write(
        join(tree.proc, 'self', 'cgroup'),
        '4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n0::/docker/abc\n',
      );
      tree.write(
        join(tree.proc, 'self', 'mountinfo'),
        '32 31 0:29 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,nosuid - cgroup cgroup rw,cpu,cpuacct\n' +
          '35 31 0:32 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory\n' +
          '41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n',
      );
      const found = findCgroupDirectories({ procfsRoot: tree.proc, sysfsRoot: tree.sys });
      assert.deepEqual(found.cpu, { version: 1, path: join(tree.sys, 'fs', 'cgroup', 'cpu,cpuacct') });
      assert.deepEqual(found.memory, { version: 1, path: join(tree.sys, 'fs', 'cgroup', 'memory') });
      const cpu = found.cpu as NonNullable<typeof found.cpu>;
      const memory = found.memory as NonNullable<typeof found.memory>;
      const problems: string[] = [];
      const problem = (kind: string) => problems.push(kind);
      tree.write(join(cpu.path, 'cpu.cfs_quota_us'), '-1\n');
      tree.write(join(cpu.path, 'cpu.cfs_period_us'), '100000\n');
      tree.write(join(cpu.path, 'cpu.stat'), 'nr_periods 5\nnr_throttled 1\nthrottled_time 250000000\n');
      // v1 writes "no limit" as the largest page-aligned 63-bit number.
      tree.write(join(memory.path, 'memory.limit_in_bytes'), '9223372036854771712\n');
      assert.equal(readCpuLimitCores(cpu, problem), 'unlimited');
      assert.equal(readMemoryLimitBytes(memory, problem), 'unlimited');
      assert.equal(readThrottledSeconds(cpu, problem), 0.25);
      tree.write(join(cpu.path, 'cpu.cfs_quota_us'), '50000\n');
      tree.write(join(memory.path, 'memory.limit_in_bytes'), '268435456\n');
      assert.equal(readCpuLimitCores(cpu, problem), 0.5);
      assert.equal(readMemoryLimitBytes(memory, problem), 268435456);
      assert.deepEqual(problems, []);
    } finally {
      tree.remove();
    }
  });

  it('the Prometheus endpoint serves the throttled-time counter and both limits, and follows the counter', async () => {
    const tree = new FakeCgroupTree();
    tree.cpuStat(1_500_000);
    const restore = tree.environment();
    const endpoint = await startPrometheusEndpoint({ port: 0 });
    try {
      const scrape = async (): Promise<string> => (await fetch(endpoint.url)).text();
      const sample = (text: string, name: string): number | undefined => {
        const line = text
          .split('\n')
          .find((candidate) => candidate.startsWith(`${name}{`) || candidate.startsWith(`${name} `));
        return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
      };
      let text = await scrape();
      assert.equal(sample(text, 'resource_tracker_cgroup_cpu_throttled_time_seconds_total'), 1.5);
      assert.equal(sample(text, 'resource_tracker_cgroup_cpu_limit'), 1.5);
      assert.equal(sample(text, 'resource_tracker_cgroup_memory_limit_bytes'), 512 * 1024 * 1024);
      promtoolCheckMetrics(text);
      tree.cpuStat(2_250_000);
      // A scrape right after another gets that render: wait past the reuse window.
      await sleep(REUSE_RENDER_MS + 50);
      text = await scrape();
      assert.equal(sample(text, 'resource_tracker_cgroup_cpu_throttled_time_seconds_total'), 2.25);
    } finally {
      await endpoint.shutdown();
      restore();
      tree.remove();
    }
  });
});
