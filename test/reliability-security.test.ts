import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
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
import { repoRoot } from './helpers/zero-code.js';

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
