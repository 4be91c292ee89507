import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fakeNvmlLibrary, GiB, scratchDir, writeNvmlControl } from './helpers/fake-gpu.js';
import { receiverPerTest } from './helpers/otlp-receiver.js';
import { freePort } from './helpers/prometheus.js';
import { repoRoot, runNode } from './helpers/zero-code.js';

const CLI = join(repoRoot, 'dist', 'cli', 'main.js');
const FIXTURES = join(repoRoot, 'test', 'fixtures', 'cli');
const MiB = 1024 * 1024;

/** `otel-resource-tracker run <args>` as a user runs it (the built bin), with a bare environment plus `env`. */
function run(args: readonly string[], env: Record<string, string> = {}) {
  return runNode([CLI, 'run', ...args], { OTEL_TRACES_EXPORTER: 'none', ...env });
}

/** What each fixture process wrote about itself, by kind (cpu, maxrss): its own measurement. */
function reported(dir: string, kind: string): number[] {
  return readdirSync(dir)
    .filter((name) => name.startsWith(`${kind}-`))
    .map((name) => Number(readFileSync(join(dir, name), 'utf8')));
}

describe('otel-resource-tracker run -- <command>', function () {
  this.timeout(60_000);
  const otlp = receiverPerTest();

  it('measures the whole tree: CPU of two parallel children, peak RSS, the largest process as GNU time does', async () => {
    const dir = scratchDir('cli-tree-');
    const json = join(dir, 'run.json');
    const { done } = run(['--json', json, '--interval', '20', '--', join(FIXTURES, 'tree.sh')], {
      NODE: process.execPath,
      FIXTURES,
      BURN_MS: '400',
      ALLOC_MIB: '160',
      REPORT_DIR: dir,
    });
    const finished = await done;
    assert.equal(finished.code, 0, finished.stderr);
    const figures = JSON.parse(readFileSync(json, 'utf8')) as Record<string, number>;
    // Independent measurements: each Node process's own CPU (process.cpuUsage at its end) and maxRSS.
    const cpu = reported(dir, 'cpu');
    assert.equal(cpu.length, 3, 'two burners and the allocating grandchild reported');
    const expected = cpu.reduce((sum, seconds) => sum + seconds, 0);
    const measured = (figures.cpu_user_seconds ?? 0) + (figures.cpu_system_seconds ?? 0);
    assert.ok(
      Math.abs(measured - expected) <= 0.1 * expected,
      `tree CPU ${measured.toFixed(3)} s, the processes' own sum ${expected.toFixed(3)} s`,
    );
    assert.equal(figures.cpu_time_seconds, Number(measured.toFixed(3)), 'the seed key');
    const [grandchildMaxRss] = reported(dir, 'maxrss');
    // The tree's peak lies between the grandchild's 160 MiB and what every process held at its own peak at once
    // (each Node process's maxRSS, and 8 MiB for each of the two shells).
    const everyPeak =
      reported(dir, 'burnrss').reduce((sum, bytes) => sum + bytes, 0) + (grandchildMaxRss ?? 0) + 2 * 8 * MiB;
    assert.equal(reported(dir, 'burnrss').length, 2);
    assert.ok(
      (figures.peak_tree_rss_bytes ?? 0) >= 160 * MiB && (figures.peak_tree_rss_bytes ?? 0) <= everyPeak,
      `peak tree RSS ${figures.peak_tree_rss_bytes}, every process's own peak together ${everyPeak}`,
    );
    assert.ok(
      (figures.peak_tree_rss_at_seconds ?? -1) >= 0 &&
        (figures.peak_tree_rss_at_seconds ?? 0) <= (figures.wall_clock_seconds ?? 0),
      `peak at ${figures.peak_tree_rss_at_seconds} s of ${figures.wall_clock_seconds} s`,
    );
    assert.ok(grandchildMaxRss !== undefined && grandchildMaxRss >= 160 * MiB);
    // GNU time's figure: the kernel's maxRSS of the largest waited-for descendant, here the grandchild.
    assert.ok(
      Math.abs((figures.largest_process_peak_rss_bytes ?? 0) - grandchildMaxRss) <= 2 * MiB,
      `largest process ${figures.largest_process_peak_rss_bytes}, the grandchild's own maxRSS ${grandchildMaxRss}`,
    );
    // The script's shell, two burners and the grandchild (its inner shell execs it, or is a fifth process).
    assert.ok(
      (figures.processes_seen ?? 0) >= 4 && (figures.processes_seen ?? 0) <= 5,
      `${figures.processes_seen} processes seen`,
    );
    for (const key of ['cpu_time_seconds', 'wall_clock_seconds', 'peak_memory_mb', 'gpu_vram_used_mb']) {
      assert.equal(typeof figures[key], 'number', key);
    }
    assert.match(finished.stderr, /peak tree RSS +\d+\.\d MiB/);
    assert.match(finished.stderr, /largest process +\d+\.\d MiB/);
  });

  it('passes stdio through and exits as the command did: 0, 3, killed by SIGKILL', async () => {
    const ok = await run(['--', 'sh', '-c', 'echo out; echo err >&2; exit 0']).done;
    assert.equal(ok.code, 0);
    assert.equal(ok.stdout, 'out\n');
    assert.match(ok.stderr, /^err\n/);
    assert.equal((await run(['--', 'sh', '-c', 'exit 3']).done).code, 3);
    const killed = await run(['--', 'sh', '-c', 'kill -9 $$']).done;
    assert.equal(killed.signal, 'SIGKILL', `the wrapper ends by the same signal (code ${killed.code})`);
    assert.match(killed.stderr, /killed by SIGKILL/);
  });

  it('forwards SIGTERM to the command and exits with its code', async () => {
    const dir = scratchDir('cli-term-');
    const marker = join(dir, 'marker');
    const ready = join(dir, 'ready');
    const { child, done } = run(['--', process.execPath, join(FIXTURES, 'wait-term.cjs')], {
      MARKER: marker,
      READY: ready,
    });
    for (let i = 0; i < 800 && !existsSync(ready); i++) await sleep(25);
    assert.ok(existsSync(ready), 'the command started');
    child.kill('SIGTERM');
    const finished = await done;
    assert.equal(readFileSync(marker, 'utf8'), 'SIGTERM');
    assert.equal(finished.code, 0, 'the command handled it and exited 0');
  });

  it('a command that does not exist or cannot be run: 127 / 126, a clear message, nothing else', async () => {
    const missing = await run(['--json', join(scratchDir(), 'never.json'), '--', 'no-such-command-here'], {
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    }).done;
    assert.equal(missing.code, 127);
    assert.equal(
      missing.stderr,
      'otel-resource-tracker: cannot run "no-such-command-here": command not found\n',
    );
    const dir = scratchDir();
    const script = join(dir, 'not-executable.sh');
    writeFileSync(script, '#!/bin/sh\necho never\n');
    chmodSync(script, 0o644);
    const denied = await run(['--', script]).done;
    assert.equal(denied.code, 126);
    assert.match(denied.stderr, /cannot run ".*not-executable\.sh": not executable/);
    await sleep(200);
    assert.equal(otlp.receiver.spans.length, 0, 'no span for a command that never ran');
  });

  it('refuses bad options by name, before running anything', async () => {
    const bad = await run(['--interval', '5', '--', 'true']).done;
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--interval must be a whole number of milliseconds from 10 to 60000, got "5"/);
    const unknown = await run(['--nmae', 'x', '--', 'true']).done;
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown option "--nmae"/);
  });

  it('exports one span with the figures, semconv process keys (arguments only when asked), and the status', async () => {
    const env = {
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'nightly',
    };
    const dir = scratchDir('cli-span-');
    const json = join(dir, 'run.json');
    const burner = join(FIXTURES, 'burn.cjs');
    const burnt = await run(
      ['--name', 'sh', '--json', json, '--', process.execPath, burner, '300', 'secret-token'],
      {
        ...env,
        REPORT_DIR: dir,
      },
    ).done;
    assert.equal(burnt.code, 0, burnt.stderr);
    assert.equal(
      (await run(['--name', 'with-args', '--record-args', '--', 'sh', '-c', 'exit 4'], env).done).code,
      4,
    );
    const plain = otlp.receiver.span('sh');
    assert.equal(plain.attributes['process.command'], process.execPath);
    assert.equal(plain.attributes['process.command_args'], undefined, 'no arguments unless --record-args');
    assert.equal(plain.attributes['process.exit.code'], 0);
    // The span's figures against the burner's own measurements (its CPU, its maxRSS) and the JSON of the same run.
    const figures = JSON.parse(readFileSync(json, 'utf8')) as Record<string, number>;
    const [ownCpu] = reported(dir, 'cpu');
    const [ownMaxRss] = reported(dir, 'burnrss');
    const cpu = plain.attributes['resource_tracker.cpu.time'] as number;
    assert.ok(
      ownCpu !== undefined && Math.abs(cpu - ownCpu) <= 0.1 * ownCpu,
      `span CPU ${cpu}, its own ${ownCpu}`,
    );
    assert.equal(cpu, (figures.cpu_user_seconds ?? 0) + (figures.cpu_system_seconds ?? 0));
    assert.equal(plain.attributes['process.pid'], figures.pid);
    assert.ok(
      Math.abs(
        (plain.attributes['resource_tracker.wall_time'] as number) - (figures.wall_clock_seconds ?? 0),
      ) < 0.001,
    );
    const largest = plain.attributes['resource_tracker.process_tree.memory.largest_process_peak'] as number;
    assert.ok(
      ownMaxRss !== undefined && Math.abs(largest - ownMaxRss) <= 2 * MiB,
      `largest process ${largest}, the burner's own maxRSS ${ownMaxRss}`,
    );
    const peak = plain.attributes['resource_tracker.process_tree.memory.peak'] as number;
    // Sampled RSS never exceeds the process's own high-water mark (1 MiB for what it touched after reading it).
    assert.ok(
      peak >= 0.5 * (ownMaxRss ?? 0) && peak <= (ownMaxRss ?? 0) + MiB,
      `tree peak ${peak}, the only process's maxRSS ${ownMaxRss}`,
    );
    assert.equal(peak, figures.peak_tree_rss_bytes);
    // One span per job: it keeps the full set, whatever the default for measured spans.
    for (const key of [
      'resource_tracker.cpu.user_time',
      'resource_tracker.cpu.system_time',
      'resource_tracker.cpu.average_cores',
      'resource_tracker.wall_time',
    ]) {
      assert.equal(typeof plain.attributes[key], 'number', key);
    }
    assert.equal(plain.resource['service.name'], 'nightly');
    const named = otlp.receiver.span('with-args');
    assert.deepEqual(named.attributes['process.command_args'], ['sh', '-c', 'exit 4']);
    assert.equal(named.attributes['process.exit.code'], 4);
  });

  it('never waits long for a receiver that is not there: the span is given up after 3 s, the exit code stays', async () => {
    const started = Date.now();
    const finished = await run(['--', 'sh', '-c', 'exit 5'], {
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${await freePort()}`,
    }).done;
    assert.equal(finished.code, 5);
    // The exporter alone would retry for 10 s (OTEL_EXPORTER_OTLP_TIMEOUT's default).
    assert.ok(Date.now() - started < 10_000, `${Date.now() - started} ms`);
    assert.match(
      finished.stderr,
      /the run's span was not exported to http:\/\/127\.0\.0\.1:\d+\/v1\/traces within 3 s/,
    );
  });

  it('--progress: a live line on a terminal, nothing of it when stderr is a pipe', async () => {
    const piped = await run(['--progress', '--interval', '50', '--', 'sleep', '0.5']).done;
    assert.equal(piped.code, 0);
    assert.doesNotMatch(piped.stderr, /\r/);
    // On a terminal (a pseudo-terminal from util-linux `script`): the line is rewritten in place, then cleared.
    const tty = spawnSync(
      'script',
      ['-qec', `${process.execPath} ${CLI} run --progress --interval 50 -- sleep 0.6`, '/dev/null'],
      {
        cwd: repoRoot,
        env: {
          PATH: process.env.PATH ?? '',
          OTEL_TRACES_EXPORTER: 'none',
          OTEL_RESOURCE_TRACKER_GPU_PROVIDER: 'none',
          TERM: 'dumb',
        },
        encoding: 'utf8',
      },
    );
    assert.equal(tty.status, 0, tty.stderr);
    assert.match(tty.stdout, /\r {2}0\.\d s {2}CPU \d+ % {2}RSS \d+ MiB/);
    assert.ok(tty.stdout.includes('\r\u001b[K'), 'the line is cleared at the end');
  });

  it("puts a Node child's spans under the run span (TRACEPARENT to the zero-code entry)", async () => {
    // Inside the repository, so that the child resolves @opentelemetry/api as an application would.
    const script = join(repoRoot, 'build', 'cli-trace-child.mjs');
    writeFileSync(
      script,
      "import { trace } from '@opentelemetry/api';\ntrace.getTracer('child').startSpan('child-work').end();\n",
    );
    const finished = await run(
      ['--name', 'parent-run', '--', process.execPath, '--import', 'otel-resource-tracker/register', script],
      {
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_RESOURCE_TRACKER_METRICS: 'false',
      },
    ).done;
    assert.equal(finished.code, 0, finished.stderr);
    const parent = otlp.receiver.span('parent-run');
    const child = otlp.receiver.span('child-work');
    assert.equal(child.traceId, parent.traceId);
    assert.equal(child.parentSpanId, parent.spanId);
  });

  it("reports a grandchild's GPU memory (fake NVML): the tree's peak per device", async () => {
    const dir = scratchDir('cli-gpu-');
    const control = join(dir, 'control');
    const pidFile = join(dir, 'pid');
    const go = join(dir, 'go');
    const json = join(dir, 'run.json');
    const device = (processes: Array<{ pid: number; bytes: number }>) => ({
      devices: [{ name: 'Fake H100', uuid: 'GPU-cli', totalBytes: 80 * GiB, used: [10 * GiB], processes }],
    });
    writeNvmlControl(control, device([]));
    const { done } = run(
      ['--json', json, '--', 'sh', '-c', `sh -c '"${process.execPath}" "${join(FIXTURES, 'alloc.cjs')}" 8'`],
      {
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
    writeNvmlControl(
      control,
      device([
        { pid: grandchild, bytes: 3 * GiB },
        { pid: 1, bytes: 5 * GiB },
      ]),
    );
    await sleep(600); // several GPU samples (100 ms while a run measures)
    writeNvmlControl(control, device([]));
    await sleep(300);
    writeFileSync(go, 'go');
    const finished = await done;
    assert.equal(finished.code, 0, finished.stderr);
    const figures = JSON.parse(readFileSync(json, 'utf8')) as {
      gpus: Array<{ tree_peak_bytes: number; tree_end_bytes: number; uuid: string; total_bytes: number }>;
      gpu_vram_used_mb: number;
    };
    assert.equal(figures.gpus[0]?.uuid, 'GPU-cli');
    assert.equal(figures.gpus[0]?.tree_peak_bytes, 3 * GiB, "the grandchild's 3 GiB, not PID 1's 5 GiB");
    assert.equal(figures.gpus[0]?.tree_end_bytes, 0);
    assert.equal(figures.gpu_vram_used_mb, 3 * 1024);
    assert.match(finished.stderr, /GPU 0 +tree peak 3072\.0 MiB/);
  });

  it('holds no descriptor of a process that has ended: 2 000 short-lived children, the wrapper stays under 100 fds', async () => {
    const { child, done } = run([
      '--interval',
      '10',
      '--',
      'sh',
      '-c',
      'i=0; while [ $i -lt 2000 ]; do /bin/true; i=$((i+1)); done',
    ]);
    let most = 0;
    const watch = setInterval(() => {
      try {
        most = Math.max(most, readdirSync(`/proc/${child.pid}/fd`).length);
      } catch {
        // the wrapper has ended
      }
    }, 10);
    const finished = await done;
    clearInterval(watch);
    assert.equal(finished.code, 0, finished.stderr);
    // A wrapper that kept the /proc descriptors of every child it sampled held 500+ here.
    assert.ok(most > 0 && most < 100, `the wrapper held up to ${most} descriptors`);
  });

  /** The wrapper started as a group leader (as a shell starts a job), and the command's SIGINT count file. */
  async function startInGroup(dir: string) {
    const count = join(dir, 'count');
    const ready = join(dir, 'ready');
    const wrapper = spawn(
      process.execPath,
      [CLI, 'run', '--', process.execPath, join(FIXTURES, 'count-sigint.cjs')],
      {
        cwd: repoRoot,
        detached: true,
        stdio: 'ignore',
        env: {
          PATH: process.env.PATH ?? '',
          OTEL_TRACES_EXPORTER: 'none',
          OTEL_RESOURCE_TRACKER_GPU_PROVIDER: 'none',
          COUNT: count,
          READY: ready,
        },
      },
    );
    const exited = new Promise<number | null>((resolve) => wrapper.once('exit', (code) => resolve(code)));
    for (let i = 0; i < 800 && !existsSync(ready); i++) await sleep(25);
    assert.ok(existsSync(ready), 'the command started');
    return { pid: wrapper.pid as number, exited, count: () => Number(readFileSync(count, 'utf8')) };
  }

  it('one Ctrl-C reaches the command once: SIGINT to the whole process group is not forwarded again', async () => {
    const job = await startInGroup(scratchDir('cli-group-'));
    // What a terminal does on Ctrl-C: SIGINT to every process of the foreground group.
    process.kill(-job.pid, 'SIGINT');
    assert.equal(await job.exited, 0, 'the command handled it and exited 0');
    assert.equal(job.count(), 1, 'SIGINTs the command got');
  });

  it('Ctrl-C typed on a terminal (a pseudo-terminal from util-linux `script`): the command gets one SIGINT', async () => {
    const dir = scratchDir('cli-ctrl-c-');
    const count = join(dir, 'count');
    const ready = join(dir, 'ready');
    const terminal = spawn(
      'script',
      [
        '-qec',
        `${process.execPath} ${CLI} run -- ${process.execPath} ${join(FIXTURES, 'count-sigint.cjs')}`,
        '/dev/null',
      ],
      {
        cwd: repoRoot,
        env: {
          PATH: process.env.PATH ?? '',
          OTEL_TRACES_EXPORTER: 'none',
          OTEL_RESOURCE_TRACKER_GPU_PROVIDER: 'none',
          TERM: 'dumb',
          COUNT: count,
          READY: ready,
        },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let output = '';
    terminal.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const ended = new Promise<void>((resolve) => terminal.once('exit', () => resolve()));
    for (let i = 0; i < 800 && !existsSync(ready); i++) await sleep(25);
    assert.ok(existsSync(ready), 'the command started');
    // ETX typed into the terminal: its line discipline sends SIGINT to the foreground process group.
    terminal.stdin.write('\u0003');
    await ended;
    assert.match(output, /\(exit code 0\)/, 'the command handled it and exited 0');
    assert.equal(Number(readFileSync(count, 'utf8')), 1, 'SIGINTs the command got');
  });

  it('a command in its own process group still reads the terminal it was started on', async () => {
    const terminal = spawnSync(
      'script',
      [
        '-qec',
        `${process.execPath} ${CLI} run -- sh -c 'read line; echo "got [$line]"; test -t 0 && echo on-a-tty'`,
        '/dev/null',
      ],
      {
        cwd: repoRoot,
        env: {
          PATH: process.env.PATH ?? '',
          OTEL_TRACES_EXPORTER: 'none',
          OTEL_RESOURCE_TRACKER_GPU_PROVIDER: 'none',
          TERM: 'dumb',
        },
        input: 'typed\n',
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    assert.equal(terminal.status, 0, terminal.stderr);
    assert.match(terminal.stdout, /got \[typed\]\r?\non-a-tty/);
  });

  it('a SIGINT sent to the wrapper alone is forwarded, once', async () => {
    const job = await startInGroup(scratchDir('cli-group-'));
    process.kill(job.pid, 'SIGINT');
    assert.equal(await job.exited, 0);
    assert.equal(job.count(), 1, 'SIGINTs the command got');
  });

  it('a command killed by SIGUSR1: exit 138, and no inspector opened in the wrapper', async () => {
    const finished = await run(['--', 'sh', '-c', 'kill -USR1 $$']).done;
    assert.doesNotMatch(finished.stderr, /Debugger listening/);
    assert.match(finished.stderr, /killed by SIGUSR1/);
    assert.equal(finished.code, 128 + 10);
  });

  it('an executable file that is no program (no #! line) exits 126, and /bin/sh is not asked to run it', async () => {
    const dir = scratchDir('cli-noexec-');
    const marker = join(dir, 'ran');
    const data = join(dir, 'data.txt');
    writeFileSync(data, `touch "${marker}"\n`);
    chmodSync(data, 0o755);
    const finished = await run(['--', data]).done;
    assert.equal(finished.code, 126, finished.stderr);
    assert.match(
      finished.stderr,
      /cannot run ".*data\.txt": not a program \(no "#!" line, not an ELF binary\)/,
    );
    assert.equal(existsSync(marker), false, 'its lines were run by a shell');
    // Not found stays 127; a real script and a binary still run.
    assert.equal((await run(['--', join(dir, 'missing')]).done).code, 127);
    const script = join(dir, 'script.sh');
    writeFileSync(script, `#!/bin/sh\ntouch "${marker}"\n`);
    chmodSync(script, 0o755);
    assert.equal((await run(['--', script]).done).code, 0);
    assert.ok(existsSync(marker));
  });

  it('prints no escape sequence from a command name: control characters are shown escaped', async () => {
    const hostile = 'x\u001b]0;owned\u0007\u001b[2J';
    const missing = await run(['--', hostile]).done;
    assert.equal(missing.code, 127);
    assert.equal(
      missing.stderr,
      'otel-resource-tracker: cannot run "x\\x1b]0;owned\\x07\\x1b[2J": command not found\n',
    );
    const dir = scratchDir('cli-escape-');
    const script = join(dir, `job\u001b[31m`);
    writeFileSync(script, '#!/bin/sh\nexit 0\n');
    chmodSync(script, 0o755);
    const found = await run(['--', script]).done;
    assert.equal(found.code, 0, found.stderr);
    assert.ok(!found.stderr.includes('\u001b'), 'no raw ESC on the terminal');
    assert.match(found.stderr, /job\\x1b\[31m \(exit code 0\)/);
    const unknown = await runNode([CLI, 'rnu\u001b[2J'], {}).done;
    assert.ok(!unknown.stderr.includes('\u001b'), 'no raw ESC on the terminal');
    assert.match(unknown.stderr, /unknown command "rnu\\x1b\[2J"/);
  });
});
