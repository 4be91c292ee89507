import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPageSize } from '../src/probes/auxv.js';
import { ProcessMemoryProbe } from '../src/probes/process-memory.js';
import { MiB } from './helpers/workload.js';

describe('process probes', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'probes-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the page size the kernel reports (as getconf does)', () => {
    assert.equal(readPageSize(), Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim()));
  });

  it('falls back to process.memoryUsage.rss() without VMS when statm is missing', () => {
    const probe = new ProcessMemoryProbe(join(dir, 'missing'));
    const reading = probe.read();
    assert.equal(reading.vmsBytes, undefined);
    assert.ok(Math.abs(reading.rssBytes - process.memoryUsage.rss()) < 8 * MiB);
  });

  it('falls back rather than report a wrong number when statm holds garbage', () => {
    const garbage = join(dir, 'statm');
    writeFileSync(garbage, 'not numbers at all\n');
    const probe = new ProcessMemoryProbe(garbage);
    const reading = probe.read();
    assert.equal(reading.vmsBytes, undefined);
    assert.ok(Math.abs(reading.rssBytes - process.memoryUsage.rss()) < 8 * MiB);
    probe.close();
  });
});
