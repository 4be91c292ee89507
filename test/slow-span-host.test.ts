import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Attributes } from '@opentelemetry/api';
import { SpanAttributes as keys } from '../src/index.js';
import { numberAttribute } from './helpers/tracing.js';

const CHILD = fileURLToPath(new URL('./fixtures/slow-span-child.js', import.meta.url));
const V1_CPU = '/sys/fs/cgroup/cpu';

interface ChildResult {
  attributes: Attributes;
  own: number;
}

/** Starts the fixture; `place` runs once it is ready (to move it into a cgroup), then it is told to run its span. */
async function runChild(
  mode: string,
  file: (pid: number) => string,
  place?: (pid: number) => void,
): Promise<ChildResult> {
  const child: ChildProcess = spawn(process.execPath, [CHILD], { stdio: ['pipe', 'pipe', 'inherit'] });
  const pid = child.pid as number;
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const iterator = lines[Symbol.asyncIterator]();
  assert.equal((await iterator.next()).value, 'ready');
  place?.(pid);
  child.stdin?.write(`${mode} ${file(pid)}\n`);
  const result = JSON.parse((await iterator.next()).value as string) as ChildResult;
  if (process.env.SLOW_SPAN_VERBOSE) console.log(mode, result.own, result.attributes);
  await once(child, 'exit');
  return result;
}

function within(actual: number, expected: number, share: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= share * Math.abs(expected),
    `${what}: ${actual} is not within ${share * 100} % of ${expected}`,
  );
}

describe('Why a span was slow, on this host: real CPU throttling and run-queue waits', function () {
  this.timeout(60_000);

  it('a span burning CPU for 1 s under a 20 % quota gets its cgroup v1 throttled time, and the limit', async function () {
    const group = join(V1_CPU, `otel-rt-test-${process.pid}`);
    try {
      if (!existsSync(join(V1_CPU, 'cpu.cfs_quota_us')))
        throw new Error(`${V1_CPU} is not a cgroup v1 cpu hierarchy`);
      mkdirSync(group);
      writeFileSync(join(group, 'cpu.cfs_period_us'), '100000');
      writeFileSync(join(group, 'cpu.cfs_quota_us'), '20000');
    } catch (error) {
      console.log(`      skipped: a cpu cgroup cannot be made here (${(error as Error).message})`);
      if (existsSync(group)) rmdirSync(group);
      this.skip();
    }
    try {
      const result = await runChild(
        'throttle',
        () => join(group, 'cpu.stat'),
        (pid) => writeFileSync(join(group, 'cgroup.procs'), String(pid)),
      );
      assert.ok(result.own > 0.3, `the quota throttled the child (${result.own} s)`);
      within(
        numberAttribute(result.attributes, keys.ATTR_CPU_THROTTLED_TIME),
        result.own,
        0.15,
        'throttled s',
      );
      assert.equal(result.attributes[keys.ATTR_CPU_LIMIT], 0.2);
    } finally {
      rmdirSync(group);
    }
  });

  it("busy processes holding every core: the span's run-queue wait matches its thread's own schedstat", async function () {
    if (!existsSync('/proc/thread-self/schedstat')) {
      console.log('      skipped: no /proc/thread-self/schedstat');
      this.skip();
    }
    const cores = Number(spawnSync('nproc').stdout.toString().trim()) || 2;
    const burners = Array.from({ length: cores + 1 }, () =>
      spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }),
    );
    try {
      const result = await runChild('wait', () => '/proc/thread-self/schedstat');
      assert.ok(result.own > 0.05, `the span's thread waited for a CPU (${result.own} s)`);
      within(
        numberAttribute(result.attributes, keys.ATTR_CPU_WAIT_TIME),
        result.own,
        0.15,
        'run-queue wait s',
      );
    } finally {
      for (const burner of burners) burner.kill('SIGKILL');
    }
  });
});
