import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ProcessMemoryProbe } from '../src/probes/process-memory.js';
import { CURVE_POINTS, TreeMeasurement } from '../src/report/tree-measurement.js';
import { DownsampledSeries } from '../src/sampler/downsampled-series.js';
import { MaxRing } from '../src/sampler/max-ring.js';
import { MemorySampler } from '../src/sampler/memory-sampler.js';
import { ProcessTreeSampler } from '../src/sampler/process-tree-sampler.js';
import { SampleHistory } from '../src/sampler/sample-history.js';
import { scratchDir } from './helpers/fake-gpu.js';
import { collectGarbage } from './helpers/workload.js';

/** A small deterministic generator, so that a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

function bruteMax(values: number[], from: number, to: number): number | undefined {
  const slice = values.slice(from - 1, to);
  return slice.length === 0 ? undefined : Math.max(...slice);
}

describe('MaxRing', () => {
  it('answers range maxima like a scan over what it still holds', () => {
    const next = random(7);
    const ring = new MaxRing(64);
    const values: number[] = [];
    for (let i = 0; i < 500; i++) {
      const value = Math.floor(next() * 1000);
      values.push(value);
      ring.push(value);
      const to = 1 + Math.floor(next() * values.length);
      const from = Math.max(1, to - Math.floor(next() * 80));
      const held = Math.max(from, values.length - 63);
      assert.equal(ring.max(from, to), bruteMax(values, held, to), `after ${i + 1} pushes, [${from}, ${to}]`);
    }
  });

  it('rejects a capacity that is not a power of two', () => {
    assert.throws(() => new MaxRing(100), /power of two/);
  });
});

describe('SampleHistory', () => {
  it('is exact for recent windows and counts whole blocks for old ones', () => {
    const history = new SampleHistory({ fineCapacity: 32, blockSize: 8, coarseCapacity: 16 });
    const values: number[] = [];
    const next = random(11);
    for (let i = 0; i < 100; i++) {
      const value = Math.floor(next() * 1000);
      values.push(value);
      history.push(value);
    }
    assert.deepEqual(history.max(80, 95), { value: bruteMax(values, 80, 95), complete: true });
    // Window 30..100: samples 69..100 are held one by one, blocks 5..12 (samples 33..96) lie wholly inside;
    // samples 30..32 share block 4 with samples before the window and are not counted.
    const expected = bruteMax(values, 33, 100);
    assert.deepEqual(history.max(30, 100), { value: expected, complete: false });
    assert.equal(history.max(5, 4), undefined);
  });
});

describe('MemorySampler interval', () => {
  it('backs off while RSS holds still and ticks fast again once it moves', async () => {
    let rss = 100 * 2 ** 20;
    const probe = { read: () => ({ rssBytes: rss, vmsBytes: undefined }) } as unknown as ProcessMemoryProbe;
    const sampler = new MemorySampler(probe, 5, 40);
    const intervals: number[] = [];
    sampler.addTickListener(() => intervals.push(sampler.interval));
    sampler.acquire();
    try {
      const ticks = async (count: number) => {
        for (let waited = 0; intervals.length < count && waited < 5000; waited += 5) await sleep(5);
      };
      await ticks(5); // the first reading is news; then 5 → 10 → 20 → 40 ms while nothing moves
      assert.deepEqual(intervals.slice(0, 5), [5, 10, 20, 40, 40]);
      intervals.length = 0;
      rss += 2 * 2 ** 20;
      await ticks(1);
      assert.equal(intervals[0], 5, `back to fast ticks after a move: ${intervals.join(', ')}`);
      await ticks(5);
      intervals.length = 0;
      rss += 512 * 1024; // less than 1 MiB: holding still
      await ticks(2);
      assert.deepEqual(intervals.slice(0, 2), [40, 40], 'not fast for a small step');
    } finally {
      sampler.release();
    }
  });
});

/** A /proc with one process, `pid`, whose RSS (pages) the test sets: the sampler reads it like the real one. */
function fakeProc(pid: number): { root: string; setRssPages(pages: number): void } {
  const root = scratchDir('fake-proc-');
  mkdirSync(join(root, String(pid), 'task', String(pid)), { recursive: true });
  writeFileSync(join(root, String(pid), 'task', String(pid), 'children'), '');
  const setRssPages = (pages: number) => {
    const fields = ['S', 1, 1, 1, 0, -1, 0, 0, 0, 0, 0, 10, 5, 0, 0, 20, 0, 1, 0, 100, 4096, pages];
    while (fields.length < 50) fields.push(0);
    writeFileSync(join(root, String(pid), 'stat'), `${pid} (fake job) ${fields.join(' ')}\n`);
  };
  setRssPages(100);
  return { root, setRssPages };
}

/** The heap after a full collection. */
function heapUsed(): number {
  collectGarbage();
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

describe("a long run keeps flat memory (the tree sampler and the run's curve)", function () {
  this.timeout(120_000);
  const MiB = 1024 * 1024;

  it('the tree sampler keeps no sample: 100 000 ticks (2.8 h at 100 ms) leave the heap where it was', () => {
    const proc = fakeProc(4242);
    const sampler = new ProcessTreeSampler(4242, undefined, 100, proc.root);
    for (let i = 0; i < 5_000; i++) sampler.tick();
    const before = heapUsed();
    for (let i = 0; i < 100_000; i++) sampler.tick();
    const grown = heapUsed() - before;
    sampler.stop();
    // Every sample kept (the fault) is ~6 MiB here.
    assert.ok(grown < 1.5 * MiB, `heap grew ${(grown / MiB).toFixed(1)} MiB over 100 000 ticks`);
  });

  it('the tree sampler closes the descriptors of a process that left the tree between two ticks', () => {
    const proc = fakeProc(4444);
    const sampler = new ProcessTreeSampler(4444, undefined, 100, proc.root);
    const children = join(proc.root, '4444', 'task', '4444', 'children');
    const open = () => readdirSync('/proc/self/fd').length;
    sampler.tick();
    const before = open();
    // 300 short-lived children, each seen at one tick and reaped by its parent before the next.
    for (let child = 5000; child < 5300; child++) {
      mkdirSync(join(proc.root, String(child), 'task', String(child)), { recursive: true });
      writeFileSync(join(proc.root, String(child), 'task', String(child), 'children'), '');
      writeFileSync(join(proc.root, String(child), 'stat'), `${child} (short) S 4444 ${'0 '.repeat(48)}0\n`);
      writeFileSync(children, `${child} `);
      sampler.tick();
    }
    writeFileSync(children, '');
    sampler.tick();
    // The fault kept two descriptors (stat, children) per child: 600 here.
    assert.ok(open() - before <= 2, `${open() - before} descriptors more than before`);
    sampler.stop();
  });

  it("the run's curve stays at a fixed number of points over 150 000 ticks, heap flat, the peak kept", () => {
    const proc = fakeProc(4343);
    const measurement = new TreeMeasurement(4343, undefined, 100, proc.root);
    for (let i = 0; i < 10_000; i++) measurement.tick();
    const before = heapUsed();
    for (let i = 0; i < 140_000; i++) {
      // One sample of 1 000 000 pages in the middle of the run: the highest RSS, for one tick only.
      if (i === 70_000) proc.setRssPages(1_000_000);
      if (i === 70_001) proc.setRssPages(100);
      measurement.tick();
    }
    const grown = heapUsed() - before;
    const points = measurement.samples;
    assert.ok(grown < 1.5 * MiB, `heap grew ${(grown / MiB).toFixed(1)} MiB over 140 000 ticks`);
    assert.ok(
      points.length <= CURVE_POINTS + 1 && points.length >= CURVE_POINTS / 2,
      `${points.length} points`,
    );
    assert.equal(measurement.samplesTaken, 150_000);
    const pageSize = points[0] === undefined ? 0 : points[0].rssBytes / 100;
    assert.equal(
      Math.max(...points.map((point) => point.rssBytes)),
      1_000_000 * pageSize,
      'the one-tick peak',
    );
    // Fixed resolution: every whole point stands for the same number of ticks, in time order.
    for (let i = 1; i < points.length; i++) {
      assert.ok((points[i]?.atMs ?? 0) >= (points[i - 1]?.atMs ?? 0), 'time order');
    }
    assert.equal(measurement.finish().peakTreeRssBytes, 1_000_000 * pageSize);
  });
});

describe('DownsampledSeries', () => {
  const keepPeak = (a: number, b: number) => Math.max(a, b);

  it('keeps every reading until full, then merges pairs: at most `capacity` points, each the peak of its readings', () => {
    const series = new DownsampledSeries<number>(8, keepPeak);
    const next = random(7);
    const readings: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const value = Math.round(next() * 1000);
      readings.push(value);
      series.push(value);
      const points = series.points();
      assert.ok(points.length <= 9, `${points.length} points after ${i + 1} readings`);
      // Point k is the peak of readings k*n .. (k+1)*n - 1, n = readingsPerPoint: a scan says the same.
      const n = series.readingsPerPoint;
      points.forEach((point, k) => {
        assert.equal(
          point,
          Math.max(...readings.slice(k * n, (k + 1) * n)),
          `point ${k} of ${points.length}, n ${n}`,
        );
      });
    }
    assert.equal(series.readings, 1000);
    assert.equal(Math.max(...series.points()), Math.max(...readings));
  });

  it('refuses a capacity it cannot halve', () => {
    assert.throws(() => new DownsampledSeries<number>(7, keepPeak), /even whole number/);
  });
});
