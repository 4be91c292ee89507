import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ProcessMemoryProbe } from '../src/probes/process-memory.js';
import { MaxRing } from '../src/sampler/max-ring.js';
import { MemorySampler } from '../src/sampler/memory-sampler.js';
import { SampleHistory } from '../src/sampler/sample-history.js';

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
