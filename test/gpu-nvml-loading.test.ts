import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GpuSampler } from '../src/gpu/gpu-sampler.js';
import { NvmlProvider } from '../src/gpu/nvml/nvml-provider.js';
import { fakeNvmlLibrary, GiB, scratchDir, writeNvmlControl } from './helpers/fake-gpu.js';
import { type Finished, repoRoot, runNode } from './helpers/zero-code.js';

const NVML_LIBRARY = 'OTEL_RESOURCE_TRACKER_NVML_LIBRARY';
const LIBC = ['/lib/x86_64-linux-gnu/libc.so.6', '/lib/aarch64-linux-gnu/libc.so.6', '/lib64/libc.so.6'].find(
  (path) => existsSync(path),
);
const APP = join(repoRoot, 'build', 'test', 'fixtures', 'gpu-span-app.js');

/** Lines written to this process's stderr while `work` runs (the visible notices). */
async function stderrLinesDuring(work: () => Promise<unknown>): Promise<string[]> {
  const written: string[] = [];
  const original = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    await work();
  } finally {
    process.stderr.write = original;
  }
  return written.join('').split('\n').filter(Boolean);
}

/** A run of the span app with a deadline: a hung app is killed and reported as such. */
async function finished(run: ReturnType<typeof runNode>, deadlineMs = 30_000): Promise<Finished> {
  const timer = setTimeout(() => run.child.kill('SIGKILL'), deadlineMs);
  try {
    return await run.done;
  } finally {
    clearTimeout(timer);
  }
}

const QUIET = { OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none', APP_MILLISECONDS: '1500' };

/**
 * Nothing the package is given as an NVML library may crash or hang the application: the file is checked, then
 * loaded first in a probe process; every unloadable value says so in one line, on stderr as well when the user
 * named the library. And the library is always loaded by the absolute path found, never from the working directory.
 */
describe('GPU: loading the NVML library safely', function () {
  this.timeout(120_000);
  let dir: string;
  beforeEach(() => {
    dir = scratchDir('nvml-loading-');
  });

  /** Files no NVML library can be loaded from, each as a user could name it. */
  function unloadableValues(): Array<[string, string]> {
    const fifo = join(dir, 'fifo.so');
    execFileSync('mkfifo', [fifo]);
    const text = join(dir, 'text.so');
    writeFileSync(text, 'not a library\n');
    const empty = join(dir, 'empty.so');
    writeFileSync(empty, '');
    const foreign = join(dir, 'foreign.so');
    copyFileSync(fakeNvmlLibrary(), foreign);
    const bytes = readFileSync(foreign);
    bytes.writeUInt16LE(bytes.readUInt16LE(18) === 62 ? 183 : 62, 18); // built for the other machine
    writeFileSync(foreign, bytes);
    const values: Array<[string, string]> = [
      ['a path to nothing', join(dir, 'missing', 'libnvidia-ml.so.1')],
      ['a relative path to nothing', './nothing/libnvidia-ml.so.1'],
      ['a bare name found nowhere', 'libnvidia-ml-nowhere.so.1'],
      ['a directory', dir],
      ['a FIFO', fifo],
      ['/dev/null', '/dev/null'],
      ['a text file', text],
      ['an empty file', empty],
      ['an ELF for another machine', foreign],
      ['an executable', process.execPath],
      ['a name with a terminal escape', 'lib\u001b[31mred.so'],
    ];
    if (LIBC !== undefined) {
      const truncated = join(dir, 'truncated.so');
      writeFileSync(truncated, readFileSync(LIBC).subarray(0, 3000));
      values.push(['the first 3000 bytes of libc', truncated]);
      values.push(['a library without NVML (libc)', LIBC]);
    }
    return values;
  }

  it('every unloadable value: GPU figures absent, one line on stderr naming it (auto and forced nvml)', async () => {
    const values = unloadableValues();
    assert.ok(values.length >= 12);
    for (const provider of ['auto', 'nvml']) {
      for (const [what, value] of values) {
        const sampler = new GpuSampler({
          env: { [NVML_LIBRARY]: value, OTEL_RESOURCE_TRACKER_GPU_PROVIDER: provider, PATH: '/nonexistent' },
        });
        const lines = await stderrLinesDuring(() => sampler.start().catch(() => undefined));
        sampler.shutdown();
        assert.equal(sampler.latest(0), undefined, what);
        assert.equal(lines.length, 1, `${provider}, ${what}: ${JSON.stringify(lines)}`);
        assert.match(lines[0] ?? '', /cannot load the NVML library/, `${provider}, ${what}`);
        // biome-ignore lint/suspicious/noControlCharactersInRegex: no escape sequence may reach the terminal
        assert.doesNotMatch(lines[0] ?? '', /[\u0000-\u001f\u007f-\u009f]/, what);
      }
    }
  });

  it('a library that crashes in nvmlInit (SIGBUS) or hangs there: only the probe process dies or is killed', async () => {
    const control = join(dir, 'control');
    process.env.FAKE_NVML_CONTROL = control;
    writeNvmlControl(control, { devices: [{ totalBytes: 8 * GiB, used: [GiB] }], initBehaviour: 'crash' });
    await assert.rejects(
      new NvmlProvider(fakeNvmlLibrary()).start(),
      /probe process loading it was killed by SIGBUS/,
    );
    writeNvmlControl(control, { devices: [{ totalBytes: 8 * GiB, used: [GiB] }], initBehaviour: 'hang' });
    await assert.rejects(
      new NvmlProvider(fakeNvmlLibrary(), true, 1500).start(),
      /did not finish within 1500 ms in a probe process/,
    );
    // The same library, healthy: the probe passes and NVML is used.
    writeNvmlControl(control, { devices: [{ totalBytes: 8 * GiB, used: [GiB] }] });
    const provider = new NvmlProvider(fakeNvmlLibrary());
    assert.equal((await provider.start()).length, 1);
    provider.shutdown();
  });

  describe('the application lives on, as users start it', () => {
    const ways: Array<[string, (env: Record<string, string>) => ReturnType<typeof runNode>]> = [
      ['zero-code entry', (env) => runNode(['--import', 'otel-resource-tracker/register', APP], env)],
      ['processor in code', (env) => runNode([APP, 'in-code'], env)],
      [
        'run command',
        (env) => runNode([join(repoRoot, 'dist', 'cli', 'main.js'), 'run', '--', process.execPath, APP], env),
      ],
    ];
    for (const [way, start] of ways) {
      it(`${way}: the first 3000 bytes of libc as the NVML library — no SIGBUS, one line`, async function () {
        if (LIBC === undefined) this.skip();
        const truncated = join(dir, 'truncated.so');
        writeFileSync(truncated, readFileSync(LIBC as string).subarray(0, 3000));
        const result = await finished(
          start({ ...QUIET, OTEL_RESOURCE_TRACKER_GPU_PROVIDER: 'auto', [NVML_LIBRARY]: truncated }),
        );
        assert.equal(result.signal, null, result.stderr);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /alive/);
        const lines = result.stderr.split('\n').filter((line) => line.includes('NVML library'));
        assert.equal(lines.length, 1, result.stderr);
        assert.match(lines[0] ?? '', /truncated/);
      });
    }

    it('zero-code entry: a FIFO as the NVML library — the application does not block, one line', async () => {
      const fifo = join(dir, 'libnvidia-ml.so.1');
      execFileSync('mkfifo', [fifo]);
      const result = await finished(
        runNode(['--import', 'otel-resource-tracker/register', APP], {
          ...QUIET,
          OTEL_RESOURCE_TRACKER_GPU_PROVIDER: 'nvml',
          [NVML_LIBRARY]: fifo,
        }),
        20_000,
      );
      assert.equal(result.code, 0, `killed after 20 s? ${result.signal} ${result.stderr}`);
      const lines = result.stderr.split('\n').filter((line) => line.includes('NVML library'));
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0] ?? '', /not a regular file/);
    });
  });

  it('LD_LIBRARY_PATH with an empty element: a libnvidia-ml.so.1 planted in the working directory never runs', async () => {
    const planted = join(dir, 'cwd');
    const trusted = join(dir, 'trusted');
    mkdirSync(planted);
    mkdirSync(trusted);
    const marker = join(dir, 'planted-constructor-ran');
    const source = join(dir, 'planted.c');
    writeFileSync(
      source,
      [
        '#include <stdio.h>',
        `__attribute__((constructor)) static void planted(void) { FILE *f = fopen("${marker}", "w"); if (f) fclose(f); }`,
        'int nvmlInit_v2(void) { return 0; }',
        '',
      ].join('\n'),
    );
    execFileSync('gcc', ['-shared', '-fPIC', '-o', join(planted, 'libnvidia-ml.so.1'), source]);
    copyFileSync(fakeNvmlLibrary(), join(trusted, 'libnvidia-ml.so.1'));
    const control = join(dir, 'control');
    writeNvmlControl(control, { devices: [{ uuid: 'GPU-trusted', totalBytes: 8 * GiB, used: [GiB] }] });
    const script = [
      `import { gpuProviderConfigFromEnv, startGpuProvider } from ${JSON.stringify(join(repoRoot, 'build', 'src', 'gpu', 'detect.js'))};`,
      'const started = await startGpuProvider(gpuProviderConfigFromEnv());',
      'console.log(JSON.stringify(started.devices.map((device) => device.uuid)));',
      'started.provider.shutdown();',
    ].join('\n');
    const child = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: planted,
      env: {
        PATH: process.env.PATH ?? '',
        LD_LIBRARY_PATH: `:${trusted}`,
        FAKE_NVML_CONTROL: control,
        OTEL_RESOURCE_TRACKER_GPU_PROVIDER: 'nvml',
      },
      encoding: 'utf8',
    });
    assert.equal(existsSync(marker), false, 'the planted library was loaded: its constructor ran');
    assert.deepEqual(
      JSON.parse(child),
      ['GPU-trusted'],
      'the library in the absolute directory is the one used',
    );
  });
});
