import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Attributes } from '@opentelemetry/api';
import { SpanAttributes as keys } from '../src/index.js';
import { receiverPerTest } from './helpers/otlp-receiver.js';
import { numberAttribute } from './helpers/tracing.js';
import { repoRoot } from './helpers/zero-code.js';

const CHILD = fileURLToPath(new URL('./fixtures/slow-span-child.js', import.meta.url));
const V1_CPU = '/sys/fs/cgroup/cpu';
const CLI = join(repoRoot, 'dist', 'cli', 'main.js');

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

/** A new cgroup v1 `cpu` group with a 20 % quota (20 ms per 100 ms), or undefined (said why) where none can be made. */
function quotaGroup(suffix: string): string | undefined {
  const group = join(V1_CPU, `otel-rt-test-${process.pid}-${suffix}`);
  try {
    if (!existsSync(join(V1_CPU, 'cpu.cfs_quota_us')))
      throw new Error(`${V1_CPU} is not a cgroup v1 cpu hierarchy`);
    mkdirSync(group);
    writeFileSync(join(group, 'cpu.cfs_period_us'), '100000');
    writeFileSync(join(group, 'cpu.cfs_quota_us'), '20000');
    return group;
  } catch (error) {
    console.log(`      skipped: a cpu cgroup cannot be made here (${(error as Error).message})`);
    if (existsSync(group)) rmdirSync(group);
    return undefined;
  }
}

/** The throttled seconds in a v1 group's cpu.stat, read by the test itself. */
function throttledSeconds(group: string): number {
  const match = /^throttled_time (\d+)$/m.exec(readFileSync(join(group, 'cpu.stat'), 'utf8'));
  assert.ok(match !== null, 'cpu.stat has throttled_time');
  return Number(match[1]) / 1e9;
}

/** A command for `run`: records its group's throttled time at its start, burns 600 ms of CPU, records it again. */
const THROTTLED_COMMAND = `
const fs = require('node:fs');
const read = () => Number(/^throttled_time (\\d+)$/m.exec(fs.readFileSync(process.env.GROUP + '/cpu.stat', 'utf8'))[1]) / 1e9;
const before = read();
const start = process.cpuUsage();
for (;;) { const used = process.cpuUsage(start); if (used.user + used.system >= 600000) break; }
fs.writeFileSync(process.env.OWN_FILE, String(read() - before));
`;

describe('Why a span was slow, on this host: real CPU throttling and run-queue waits', function () {
  this.timeout(60_000);
  const otlp = receiverPerTest();

  it('a span burning CPU for 1 s under a 20 % quota gets its cgroup v1 throttled time, and the limit', async function () {
    const group = quotaGroup('span');
    if (group === undefined) return this.skip();
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

  it("the run command's span: the throttled time of its cgroup over the run, and the limit", async function () {
    const group = quotaGroup('run');
    if (group === undefined) return this.skip();
    const dir = mkdtempSync(join(tmpdir(), 'run-throttled-'));
    const ownFile = join(dir, 'own');
    try {
      const before = throttledSeconds(group);
      // The shell moves itself into the group, then becomes the wrapper: the wrapper and its command run there.
      const wrapper = spawn(
        'sh',
        [
          '-c',
          'echo $$ > "$GROUP/cgroup.procs" && exec "$NODE" "$CLI" run --name throttled -- "$NODE" -e "$COMMAND"',
        ],
        {
          stdio: ['ignore', 'ignore', 'pipe'],
          env: {
            PATH: process.env.PATH ?? '',
            GROUP: group,
            NODE: process.execPath,
            CLI,
            COMMAND: THROTTLED_COMMAND,
            OWN_FILE: ownFile,
            OTEL_RESOURCE_TRACKER_GPU_PROVIDER: 'none',
            OTEL_TRACES_EXPORTER: 'otlp',
            OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
          },
        },
      );
      let stderr = '';
      wrapper.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const [code] = (await once(wrapper, 'exit')) as [number | null];
      assert.equal(code, 0, stderr);
      const whole = throttledSeconds(group) - before;
      const own = Number(readFileSync(ownFile, 'utf8'));
      const span = otlp.receiver.span('throttled');
      const figure = span.attributes[keys.ATTR_CPU_THROTTLED_TIME] as number;
      if (process.env.SLOW_SPAN_VERBOSE) console.log('run', { own, figure, whole });
      assert.ok(own > 1, `the quota throttled the command (${own} s)`);
      // The span's window holds the command's life and lies inside the wrapper's.
      assert.ok(figure >= own && figure <= whole, `${own} ≤ ${figure} ≤ ${whole}`);
      // Beyond the command's life the window holds only the wrapper's spawn and exit: little CPU, little throttling.
      within(figure, own, 0.15, "the run span's throttled s against the command's own reading");
      assert.equal(span.attributes[keys.ATTR_CPU_LIMIT], 0.2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
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
