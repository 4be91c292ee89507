import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SpanAttributes as keys } from '../src/index.js';
import { fakeNvmlLibrary, GiB, scratchDir, writeNvmlControl } from './helpers/fake-gpu.js';
import { receiverPerTest } from './helpers/otlp-receiver.js';
import { repoRoot, runNode } from './helpers/zero-code.js';

const CLI = join(repoRoot, 'dist', 'cli', 'main.js');
const FIXTURES = join(repoRoot, 'test', 'fixtures', 'cli');

describe('GPU busy time on the run span (the whole tree: a training job)', function () {
  this.timeout(60_000);
  const otlp = receiverPerTest();

  it("counts a grandchild's GPU time (fake NVML at 50 % SM for 1 s), not another process's", async () => {
    const dir = scratchDir('cli-busy-');
    const control = join(dir, 'control');
    const pidFile = join(dir, 'pid');
    const go = join(dir, 'go');
    const device = (busy: Array<{ pid: number; sm: number; fromMs: number; toMs: number }>) => ({
      devices: [{ name: 'Fake H100', uuid: 'GPU-run', totalBytes: 80 * GiB, used: [10 * GiB], busy }],
    });
    writeNvmlControl(control, device([]));
    const { done } = runNode(
      [
        CLI,
        'run',
        '--name',
        'train-run',
        '--',
        'sh',
        '-c',
        `sh -c '"${process.execPath}" "${join(FIXTURES, 'alloc.cjs')}" 8'`,
      ],
      {
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_RESOURCE_TRACKER_METRICS: 'false',
        OTEL_RESOURCE_TRACKER_GPU_PROVIDER: 'nvml',
        OTEL_RESOURCE_TRACKER_NVML_LIBRARY: fakeNvmlLibrary(),
        FAKE_NVML_CONTROL: control,
        PID_FILE: pidFile,
        GO_FILE: go,
        REPORT_DIR: dir,
      },
    );
    for (let i = 0; i < 800 && !existsSync(pidFile); i++) await sleep(25);
    const grandchild = Number(readFileSync(pidFile, 'utf8'));
    await sleep(300);
    const now = Date.now();
    writeNvmlControl(
      control,
      device([
        { pid: grandchild, sm: 50, fromMs: now, toMs: now + 1000 },
        { pid: 1, sm: 100, fromMs: now - 60_000, toMs: now + 60_000 },
      ]),
    );
    await sleep(1600);
    writeFileSync(go, 'go');
    const finished = await done;
    assert.equal(finished.code, 0, finished.stderr);
    const busy = otlp.receiver.span('train-run').attributes[keys.ATTR_GPU_PROCESS_BUSY_TIME] as number;
    assert.ok(Math.abs(busy - 0.5) < 0.08, `run span busy time ${busy}, expected about 0.5 s`);
  });
});
