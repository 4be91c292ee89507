import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPageSize } from '../src/probes/auxv.js';
import { ProcessMemoryProbe } from '../src/probes/process-memory.js';

/** The fallback's reading lies between two reads of the same source around it (a few pages of slack). */
function assertBracketed(value: number, before: number, after: number): void {
  const slack = 16 * 4096;
  assert.ok(
    value >= Math.min(before, after) - slack && value <= Math.max(before, after) + slack,
    `${value} B against ${before}–${after} B`,
  );
}

describe('process probes', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'probes-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the page size the kernel reports (as getconf does)', () => {
    assert.equal(readPageSize(), Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim()));
  });

  it('turns statm pages into bytes with the page size the kernel reports', function () {
    if (process.platform !== 'linux') this.skip();
    const statm = join(dir, 'statm-known');
    // "size resident shared text lib data dt", in pages.
    writeFileSync(statm, '3000 1234 100 10 0 500 0\n');
    const probe = new ProcessMemoryProbe(statm);
    const page = Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim());
    assert.deepEqual(probe.read(), { rssBytes: 1234 * page, vmsBytes: 3000 * page });
    probe.close();
  });

  it("reads this process's RSS as the kernel's VmRSS says it, to the page", function () {
    if (process.platform !== 'linux') this.skip();
    const probe = new ProcessMemoryProbe();
    const vmRss = () =>
      Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) * 1024;
    const before = vmRss();
    const reading = probe.read();
    const after = vmRss();
    // Bracketed by two reads of the kernel's own figure; a few pages of slack for what the reads themselves touch.
    const slack = 16 * 4096;
    assert.ok(
      reading.rssBytes >= Math.min(before, after) - slack &&
        reading.rssBytes <= Math.max(before, after) + slack,
      `${reading.rssBytes} B against VmRSS ${before}–${after} B`,
    );
    probe.close();
  });

  it('falls back to process.memoryUsage.rss() without VMS when statm is missing', () => {
    const probe = new ProcessMemoryProbe(join(dir, 'missing'));
    const before = process.memoryUsage.rss();
    const reading = probe.read();
    const after = process.memoryUsage.rss();
    assert.equal(reading.vmsBytes, undefined);
    assertBracketed(reading.rssBytes, before, after);
  });

  it('falls back rather than report a wrong number when statm holds garbage', () => {
    const garbage = join(dir, 'statm');
    writeFileSync(garbage, 'not numbers at all\n');
    const probe = new ProcessMemoryProbe(garbage);
    const before = process.memoryUsage.rss();
    const reading = probe.read();
    const after = process.memoryUsage.rss();
    assert.equal(reading.vmsBytes, undefined);
    assertBracketed(reading.rssBytes, before, after);
    probe.close();
  });
});
