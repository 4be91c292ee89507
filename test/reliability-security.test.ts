import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type DiagLogger, DiagLogLevel, diag, ROOT_CONTEXT } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { noGpuMemorySource, setGpuMemorySource } from '../src/gpu/gpu-memory-source.js';
import { NvmlProvider } from '../src/gpu/nvml/nvml-provider.js';
import { ResourceSpanProcessor, startPrometheusEndpoint } from '../src/index.js';
import { fakeNvmlLibrary, GiB, manualGpuSampler, scratchDir, writeNvmlControl } from './helpers/fake-gpu.js';
import { recordFigure, writeFigures } from './helpers/figures.js';
import { repoRoot, runNode } from './helpers/zero-code.js';

after(() => writeFigures());

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

describe('reliability: security', function () {
  this.timeout(120_000);

  it('runs no command through a shell that interprets input, and no command with interpolated input', () => {
    const files = sourceFiles(join(repoRoot, 'src'));
    const spawning = files.filter((file) => readFileSync(file, 'utf8').includes('node:child_process'));
    assert.deepEqual(spawning.map((file) => file.slice(repoRoot.length + 1)).sort(), [
      'src/cli/run-command.ts',
      'src/gpu/helper-shell.ts',
    ]);
    // The GPU helper shell runs one constant script, which reads each command's arguments as data (no eval).
    const helper = readFileSync(join(repoRoot, 'src', 'gpu', 'helper-shell.ts'), 'utf8');
    const spawns = [...helper.matchAll(/(?<![.\w])spawn\(([^,]*),\s*\[([^\]]*)\]/g)];
    assert.equal(spawns.length, 1);
    assert.equal(spawns[0]?.[1]?.trim(), "'/bin/sh'");
    // The script is the constant LOOP in the background, then cat on the lifeline pipe: nothing else is interpolated.
    assert.match(
      spawns[0]?.[2]?.trim() ?? '',
      /^'-c', `exec 4<&0 <\/dev\/null; \(\$\{LOOP\}\\n\) <&4 4<&- 3<&- & exec 4<&-; exec cat <&3 >\/dev\/null`$/,
    );
    const loop = helper.slice(helper.indexOf('const LOOP = ['), helper.indexOf("].join('\\n')"));
    assert.match(loop, /read -r argument/);
    assert.doesNotMatch(loop, /\beval\b|\bsh -c\b/);
    // The run command starts the user's command as given, without a shell: exactly one spawn, of that.
    const run = readFileSync(join(repoRoot, 'src', 'cli', 'run-command.ts'), 'utf8');
    assert.deepEqual(
      [...run.matchAll(/(?<![.\w])spawn\(([^,]*),/g)].map((match) => match[1]),
      ['options.command'],
    );
    for (const file of files) {
      const text = readFileSync(file, 'utf8')
        .replace(/(?<![.\w])spawn\(options\.command,/, '')
        .replace(/(?<![.\w])spawn\(\s*'\/bin\/sh',/, '');
      assert.doesNotMatch(
        text,
        /(?<![.\w])(exec|execSync|spawn|spawnSync)\(|shell:\s*true|\beval\(|new Function\(/,
        file,
      );
    }
    const provider = readFileSync(
      join(repoRoot, 'src', 'gpu', 'nvidia-smi', 'nvidia-smi-provider.ts'),
      'utf8',
    );
    const calls = [...provider.matchAll(/this\.run\(([^)]*)\)/g)].map((match) => match[1]);
    assert.deepEqual(
      calls.sort(),
      ['APPS_QUERY_ARGS', 'GPU_QUERY_ARGS', 'GPU_QUERY_ARGS'],
      'only the two fixed command lines',
    );
    recordFigure({
      area: 'Security',
      injected: `static check of ${files.length} source files`,
      times: files.length,
      outcome:
        "two files spawn processes: the GPU helper shell (one constant script; nvidia-smi's fixed arguments and the NVML probe passed as data), and the run command the user's command as given; no eval",
      lost: '–',
    });
  });

  it('the library entry reaches neither the command-line tool nor the report (nor the zero-code entry)', () => {
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const [, target] of readFileSync(file, 'utf8').matchAll(/from '(\.{1,2}\/[^']+)\.js'/g)) {
        visit(resolve(dirname(file), `${target}.ts`));
      }
    };
    visit(join(repoRoot, 'src', 'index.ts'));
    const reached = [...seen].map((file) => file.slice(repoRoot.length + 1));
    assert.ok(reached.length > 20, `${reached.length} files reached`);
    assert.deepEqual(
      reached.filter((file) => /^src\/(cli|report|zero-code)\//.test(file)),
      [],
    );
  });

  it("puts no other process's PID or command line in any output", async () => {
    // pid 1 exists but is not ours; the other two exist nowhere. Distinctive numbers, so that a leak would show.
    const foreign = [1, 424_242, 515_151];
    const control = join(scratchDir(), 'control');
    writeNvmlControl(control, {
      devices: [
        {
          uuid: 'GPU-privacy',
          name: 'Fake H100',
          totalBytes: 80 * GiB,
          used: [40 * GiB],
          processes: [{ pid: process.pid, bytes: GiB }, ...foreign.map((pid) => ({ pid, bytes: 7 * GiB }))],
        },
      ],
    });
    process.env.FAKE_NVML_CONTROL = control;
    const provider = new NvmlProvider(fakeNvmlLibrary());
    const sampler = manualGpuSampler(provider);
    const lines: string[] = [];
    const record = (message: string, ...args: unknown[]) =>
      lines.push([message, ...args.map(String)].join(' '));
    const logger: DiagLogger = { error: record, warn: record, info: record, debug: record, verbose: record };
    diag.setLogger(logger, { logLevel: DiagLogLevel.ALL, suppressOverrideMessage: true });
    const endpoint = await startPrometheusEndpoint({ port: 0 });
    try {
      await sampler.start();
      setGpuMemorySource(sampler);
      const exporter = new InMemorySpanExporter();
      const tracer = new BasicTracerProvider({
        spanProcessors: [
          new ResourceSpanProcessor({ meterProvider: endpoint.meterProvider, childProcesses: true }),
          new SimpleSpanProcessor(exporter),
        ],
      }).getTracer('privacy');
      tracer.startSpan('job', {}, ROOT_CONTEXT).end();
      await sleep(10);
      const outputs = [
        JSON.stringify(exporter.getFinishedSpans().map((span) => span.attributes)),
        await endpoint.render(),
        lines.join('\n'),
      ].join('\n');
      assert.ok(outputs.includes(String(GiB)), 'our own GPU memory is there');
      for (const pid of foreign.filter((pid) => pid > 1))
        assert.ok(!outputs.includes(String(pid)), `pid ${pid} appears nowhere`);
      assert.doesNotMatch(outputs, /pid\W{1,3}1\b/, 'pid 1 appears in no pid label or attribute');
      assert.ok(
        ![7, 14, 15, 21, 22].some((n) => outputs.includes(String(n * GiB))),
        'their memory is not ours',
      );
      assert.doesNotMatch(outputs, /cmdline|command_line|process\.command/);
      recordFigure({
        area: 'Security',
        injected: 'a GPU process list with other PIDs (1, 424242, 515151) holding memory',
        times: foreign.length,
        outcome:
          "no foreign PID, command line or memory figure in span attributes, the exposition or diagnostics; only this process tree's sum",
        lost: '–',
      });
    } finally {
      diag.disable();
      await endpoint.shutdown();
      setGpuMemorySource(noGpuMemorySource);
      sampler.shutdown();
    }
  });

  it('binds 127.0.0.1 by default', async () => {
    const endpoint = await startPrometheusEndpoint({ port: 0, env: {} });
    await endpoint.shutdown();
    assert.equal(endpoint.host, '127.0.0.1');
    recordFigure({
      area: 'Security',
      injected: 'startPrometheusEndpoint() without host',
      times: 1,
      outcome: 'listens on 127.0.0.1 only (0.0.0.0 must be asked for)',
      lost: '–',
    });
  });

  it('packs only what users need, and audits the production dependencies', () => {
    const packed = JSON.parse(
      execFileSync('npm', ['pack', '--dry-run', '--json'], {
        cwd: repoRoot,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }),
    ) as Array<{ files: Array<{ path: string }> }>;
    const paths = packed[0]?.files.map((file) => file.path) ?? [];
    const unexpected = paths.filter(
      (path) => !/^(dist\/.*\.(c?js|d\.c?ts)|package\.json|README\.md|LICENSE)$/.test(path),
    );
    assert.deepEqual(unexpected, []);
    assert.ok(!paths.some((path) => /test|fixture|\.env|\.pem|\.key/i.test(path)));
    let audit: string;
    try {
      const report = JSON.parse(
        execFileSync('npm', ['audit', '--omit=dev', '--json'], {
          cwd: repoRoot,
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        }),
      ) as { metadata?: { vulnerabilities?: Record<string, number> } };
      const counts = report.metadata?.vulnerabilities ?? {};
      assert.equal((counts.high ?? 0) + (counts.critical ?? 0), 0, `npm audit: ${JSON.stringify(counts)}`);
      audit = `npm audit --omit=dev: ${JSON.stringify(counts)}`;
    } catch (error) {
      const output = `${(error as { stdout?: string }).stdout ?? ''}${(error as { stderr?: string }).stderr ?? ''}`;
      // The registry mirror of the project's machines does not serve the advisory endpoint: say so, do not pass silently.
      assert.match(
        output,
        /audit endpoint returned an error|405|ENOTFOUND|EAI_AGAIN|ECONNREFUSED/,
        output.slice(0, 500),
      );
      audit =
        'npm audit --omit=dev could not reach the advisory endpoint from this machine (registry answered 405)';
    }
    recordFigure({
      area: 'Security',
      injected: 'npm pack; npm audit --omit=dev',
      times: paths.length,
      outcome: `${paths.length} files packed, all under dist/ plus package.json and README.md; ${audit}`,
      lost: '–',
    });
  });
});

describe('reliability: security of the files `run` writes', function () {
  this.timeout(120_000);
  const CLI = join(repoRoot, 'dist', 'cli', 'main.js');
  const FIXTURES = join(repoRoot, 'test', 'fixtures', 'cli');

  function run(args: readonly string[], env: Record<string, string> = {}) {
    return runNode([CLI, 'run', ...args], { OTEL_TRACES_EXPORTER: 'none', ...env });
  }

  /** Ends `child` if it has not ended by itself within `ms` (a hang must fail the test, not the suite). */
  function bounded(child: ChildProcess, ms: number): { hung: () => boolean } {
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, ms);
    child.once('exit', () => clearTimeout(timer));
    return { hung: () => hung };
  }

  async function waitFor(file: string): Promise<void> {
    for (let i = 0; i < 800 && !existsSync(file); i++) await sleep(25);
    assert.ok(existsSync(file), `${file} appeared`);
  }

  it('the span log of `run --report` is private (0700 directory, 0600 file, unpredictable) and removed at the end', async () => {
    const dir = scratchDir('run-private-');
    const seen = join(dir, 'seen');
    const { child, done } = run([
      '--report',
      join(dir, 'report.html'),
      '--',
      'sh',
      '-c',
      `log="$OTEL_RESOURCE_TRACKER_SPAN_LOG"; echo "$log" > "${seen}"; stat -c '%a %F' "$log" "$(dirname "$log")" >> "${seen}"`,
    ]);
    const finished = await done;
    assert.equal(finished.code, 0, finished.stderr);
    const [log, fileMode, dirMode] = readFileSync(seen, 'utf8').trim().split('\n');
    assert.equal(fileMode, '600 regular empty file', 'the file exists before the command runs, 0600');
    assert.equal(dirMode, '700 directory');
    assert.ok(log !== undefined && dirname(log) !== tmpdir(), `${log} is in a directory of its own`);
    // Named by mkdtemp (random), not after the wrapper's pid and the time as before.
    assert.match(basename(dirname(log)), /^otel-resource-tracker-[A-Za-z0-9]{6}$/);
    assert.ok(!log.includes(String(child.pid)), `${log} holds the wrapper's pid`);
    assert.equal(existsSync(dirname(log)), false, 'its directory is removed');
  });

  it('the span log is removed on every exit path the wrapper survives: command killed, SIGTERM and SIGINT to the wrapper', async () => {
    const dir = scratchDir('run-cleanup-');
    const report = join(dir, 'report.html');
    const seen = join(dir, 'seen');
    const remember = `echo "$OTEL_RESOURCE_TRACKER_SPAN_LOG" > "${seen}"; echo '{}' >> "$OTEL_RESOURCE_TRACKER_SPAN_LOG"`;
    const logDir = () => dirname(readFileSync(seen, 'utf8').trim());

    const killed = await run(['--report', report, '--', 'sh', '-c', `${remember}; kill -9 $$`]).done;
    assert.equal(killed.signal, 'SIGKILL');
    assert.equal(existsSync(logDir()), false, 'command killed: removed');

    for (const [signal, fixture] of [
      ['SIGTERM', 'wait-term.cjs'],
      ['SIGINT', 'count-sigint.cjs'],
    ] as const) {
      const ready = join(dir, `ready-${signal}`);
      const { child, done } = run(
        [
          '--report',
          report,
          '--',
          'sh',
          '-c',
          `${remember}; exec "${process.execPath}" "${join(FIXTURES, fixture)}"`,
        ],
        { READY: ready, MARKER: join(dir, 'marker'), COUNT: join(dir, 'count') },
      );
      await waitFor(ready);
      child.kill(signal);
      const finished = await done;
      assert.equal(finished.code, 0, `${signal}: the command handled it (${finished.stderr})`);
      assert.equal(existsSync(logDir()), false, `${signal} to the wrapper: removed`);
    }
  });

  it('the span log is bounded, and the summary and the report say what was left out', async () => {
    const dir = scratchDir('run-bound-');
    const report = join(dir, 'report.html');
    // 20 MB of span lines, more than the 16 MiB bound (a writer that ignores it, as a killed one would leave it).
    const line = '{"name":"s","spanId":"a","startEpochMs":0,"endEpochMs":1,"pid":1}';
    const finished = await run([
      '--report',
      report,
      '--',
      'sh',
      '-c',
      `yes '${line}' | head -n 300000 >> "$OTEL_RESOURCE_TRACKER_SPAN_LOG"`,
    ]).done;
    assert.equal(finished.code, 0, finished.stderr);
    assert.match(finished.stderr, /note +some spans not logged past the 16 MiB bound of the span log/);
    assert.match(finished.stderr, /the timeline shows the first 5000 of \d+ spans logged/);
    const page = readFileSync(report, 'utf8');
    assert.match(page, /spans not logged past the 16 MiB bound/);
    assert.equal((page.match(/"name":"s"/g) ?? []).length, 5000, 'the first 5000 on the timeline');
  });

  it('files the user names are written as named, but never into a FIFO or through a dangling link', async () => {
    const dir = scratchDir('run-named-');
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const json = run(['--json', fifo, '--', 'true']);
    const jsonHang = bounded(json.child, 20_000);
    const intoFifo = await json.done;
    assert.equal(jsonHang.hung(), false, 'the wrapper did not hang on the FIFO');
    assert.equal(intoFifo.code, 0, "the exit code is still the command's");
    assert.ok(intoFifo.stderr.includes(`cannot write ${fifo}: ${fifo} is a FIFO`), intoFifo.stderr);

    const target = join(dir, 'elsewhere.html');
    const dangling = join(dir, 'report.html');
    symlinkSync(target, dangling);
    const throughLink = await run(['--report', dangling, '--', 'true']).done;
    assert.equal(throughLink.code, 0);
    assert.ok(
      throughLink.stderr.includes(`${dangling} is a link to a file that does not exist`),
      throughLink.stderr,
    );
    assert.equal(existsSync(target), false, 'nothing created where the link points');

    // A link to an existing file is the user's choice: written through, as named.
    const real = join(dir, 'real.json');
    writeFileSync(real, 'old');
    const linked = join(dir, 'linked.json');
    symlinkSync(real, linked);
    assert.equal((await run(['--json', linked, '--', 'true']).done).code, 0);
    assert.ok(lstatSync(linked).isSymbolicLink());
    assert.equal(JSON.parse(readFileSync(real, 'utf8')).exit_code, 0);

    // OTEL_RESOURCE_TRACKER_SPAN_LOG in a service: a FIFO is refused by name, the process neither hangs nor fails.
    const script = join(repoRoot, 'build', 'span-log-fifo-child.mjs');
    writeFileSync(
      script,
      "import { trace } from '@opentelemetry/api';\ntrace.getTracer('t').startSpan('s').end();\n",
    );
    const service = runNode(['--import', 'otel-resource-tracker/register', script], {
      OTEL_TRACES_EXPORTER: 'none',
      OTEL_RESOURCE_TRACKER_METRICS: 'false',
      OTEL_RESOURCE_TRACKER_SPAN_LOG: fifo,
    });
    const serviceHang = bounded(service.child, 20_000);
    const served = await service.done;
    assert.equal(serviceHang.hung(), false, 'the service did not hang on the FIFO');
    assert.equal(served.code, 0, served.stderr);
    assert.ok(served.stderr.includes(`the span log is not written: ${fifo} is a FIFO`), served.stderr);
  });
});
