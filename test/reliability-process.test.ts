import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ResourceSpanProcessor } from '../src/index.js';
import { fakeNvmlLibrary, GiB, scratchDir, writeNvmlControl } from './helpers/fake-gpu.js';
import { measured, recordFigure } from './helpers/figures.js';
import { receiverPerTest } from './helpers/otlp-receiver.js';
import { repoRoot, underZeroCode, waitForUrl } from './helpers/zero-code.js';

const fixture = (name: string) => join(repoRoot, 'build', 'test', 'fixtures', `${name}.js`);

describe('reliability: process life', function () {
  this.timeout(60_000);
  const otlp = receiverPerTest();

  it('never keeps the process alive: every background piece started, the process still exits by itself', async () => {
    const control = join(scratchDir(), 'control');
    writeNvmlControl(control, { devices: [{ uuid: 'GPU-idle', totalBytes: 8 * GiB, used: [GiB] }] });
    const started = performance.now();
    const child = spawn(process.execPath, [fixture('everything-then-idle')], {
      cwd: repoRoot,
      env: {
        PATH: process.env.PATH ?? '',
        OTEL_RESOURCE_TRACKER_GPU_PROVIDER: 'nvml',
        OTEL_RESOURCE_TRACKER_NVML_LIBRARY: fakeNvmlLibrary(),
        FAKE_NVML_CONTROL: control,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) =>
      child.on('exit', (exitCode, exitSignal) => resolve([exitCode, exitSignal])),
    );
    clearTimeout(killer);
    const seconds = (performance.now() - started) / 1000;
    assert.equal(signal, null, 'it was not killed: it exited by itself');
    assert.equal(code, 0);
    assert.match(output, /started; GPU provider nvml/);
    recordFigure({
      area: 'Process life',
      injected:
        'span processor (exact mode, histograms), running tracker, GPU sampler, Prometheus endpoint, an unended span — then nothing to do',
      times: 1,
      outcome: `the process exited by itself in ${measured(seconds.toFixed(2))} s (timers and server unref'd)`,
      lost: 'nothing',
    });
  });

  it('gives back its descriptors: 300 span processors measuring child processes, created and shut down', async () => {
    const open = () => readdirSync('/proc/self/fd').length;
    const before = open();
    for (let i = 0; i < 300; i++) await new ResourceSpanProcessor({ childProcesses: true }).shutdown();
    // Each kept its /proc/self/stat descriptor for the life of the process before.
    assert.ok(open() - before < 10, `${open() - before} descriptors more than before`);
  });

  it('flushes on natural exit, on SIGTERM and on an uncaught exception', async () => {
    const common = {
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_RESOURCE_TRACKER_METRICS: 'false',
      OTEL_BSP_SCHEDULE_DELAY: '60000',
    };

    const crash = await underZeroCode(fixture('crash-after-span'), common).done;
    assert.equal(crash.code, 1, 'exits with 1, as Node does on an uncaught exception');
    assert.match(crash.stderr, /Error: boom: an uncaught exception in the application/);
    assert.ok(
      otlp.receiver.spans.some((span) => span.name === 'before-the-crash'),
      'the span before the crash arrived',
    );

    const { child, done } = underZeroCode(fixture('wait-for-signal'), common);
    await waitForUrl(child);
    child.kill('SIGTERM');
    const signalled = await done;
    assert.equal(
      signalled.signal,
      'SIGTERM',
      'with no handler of its own the application ends as SIGTERM would end it',
    );
    assert.ok(
      otlp.receiver.spans.some((span) => span.name === 'before-the-signal'),
      'the span before SIGTERM arrived',
    );

    const natural = await underZeroCode(join(repoRoot, 'build', 'examples', 'batch.js'), common).done;
    assert.equal(natural.code, 0);
    assert.ok(
      otlp.receiver.spans.some((span) => span.name === 'shell-out'),
      'the last span of the batch arrived',
    );
    recordFigure({
      area: 'Process life',
      injected:
        'natural exit, SIGTERM (no handler of the application), uncaught exception — with a 60 s batch delay',
      times: 3,
      outcome: 'spans flushed each time; exit code 0 / killed by SIGTERM / 1, as without the package',
      lost: 'nothing (a direct process.exit() cannot wait for an export: documented)',
    });
  });

  it('goes on when the OTLP receiver is down or slow: the application exits on time, the SDK drops the spans', async () => {
    const down = {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_RESOURCE_TRACKER_METRICS: 'false',
    };
    let started = performance.now();
    const refused = await underZeroCode(join(repoRoot, 'build', 'examples', 'batch.js'), down).done;
    const refusedSeconds = (performance.now() - started) / 1000;
    assert.equal(refused.code, 0);
    assert.match(refused.stdout, /batch done/);

    otlp.receiver.delayMs = 5000;
    started = performance.now();
    const slow = await underZeroCode(join(repoRoot, 'build', 'examples', 'batch.js'), {
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_TIMEOUT: '1000',
      OTEL_RESOURCE_TRACKER_METRICS: 'false',
    }).done;
    const slowSeconds = (performance.now() - started) / 1000;
    assert.equal(slow.code, 0);
    assert.match(slow.stdout, /batch done/);
    // Waiting for the slow receiver would take its 5 s; the exporter's 1 s timeout lets the application go.
    assert.ok(slowSeconds < 5, `exited after ${slowSeconds.toFixed(1)} s`);
    recordFigure({
      area: 'Exporters',
      injected:
        'OTLP receiver down (connection refused); OTLP receiver answering after 5 s (exporter timeout 1 s)',
      times: 2,
      outcome: `the batch finished and exited 0 in ${measured(refusedSeconds.toFixed(1))} s / ${measured(slowSeconds.toFixed(1))} s; the SDK dropped the spans as usual`,
      lost: "the spans the receiver never took (the SDK's choice, not ours); no exception",
    });
  });
});
