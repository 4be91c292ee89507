import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HelperShell } from '../src/gpu/helper-shell.js';
import { NvidiaSmiProvider } from '../src/gpu/nvidia-smi/nvidia-smi-provider.js';
import { NvmlProvider } from '../src/gpu/nvml/nvml-provider.js';
import { ChildrenCpuProbe } from '../src/probes/children-cpu.js';
import { fakeNvidiaSmi, fakeNvmlLibrary, GiB, scratchDir, writeNvmlControl } from './helpers/fake-gpu.js';
import { repoRoot } from './helpers/zero-code.js';

const GPUS = '0, GPU-aaaaaaaa-1111, NVIDIA H100 80GB HBM3, 81559, 1024, 80535, 37, 550.54.15\n';

/** Seconds of CPU the fake nvidia-smi runs say they spent (the shell's own `times` line, user + system). */
function cpuTheRunsSpent(cpuLog: string): number {
  let seconds = 0;
  const lines = readFileSync(cpuLog, 'utf8').trim().split('\n');
  for (const line of lines.filter((_, index) => index % 2 === 0)) {
    for (const [, minutes, secs] of line.matchAll(/(\d+)m([\d.]+)s/g))
      seconds += Number(minutes) * 60 + Number(secs);
  }
  return seconds;
}

/**
 * The package's own GPU polling is not the application's children: the CPU of every child a process waits for is
 * added to its RUSAGE_CHILDREN (cutime + cstime), which spans report as resource_tracker.children.cpu.time and
 * the `run` command as the measured tree's CPU.
 */
describe("GPU: the package's own helper processes are not charged to the application's children", () => {
  const children = new ChildrenCpuProbe();
  before(function () {
    if (!children.available) this.skip();
  });

  it("nvidia-smi runs: their CPU does not appear in this process's children CPU", async () => {
    const dir = scratchDir();
    const smi = fakeNvidiaSmi(dir, { gpus: GPUS, apps: '', burnLoops: 60_000 });
    const provider = new NvidiaSmiProvider(10_000, smi.binary);
    const before = children.readSeconds() ?? 0;
    try {
      await provider.start();
      for (let run = 0; run < 5; run++) await provider.sample();
    } finally {
      provider.shutdown();
    }
    const charged = (children.readSeconds() ?? 0) - before;
    const spent = cpuTheRunsSpent(smi.cpuLog);
    assert.ok(spent >= 0.2, `the runs must have cost measurable CPU (${spent} s)`);
    assert.ok(
      charged < spent / 4,
      `children CPU grew by ${charged.toFixed(3)} s while nvidia-smi runs spent ${spent.toFixed(3)} s`,
    );
  });

  it('the NVML load probe: starting NVML charges no probe process to the children CPU', async () => {
    const control = join(scratchDir(), 'control');
    writeNvmlControl(control, { devices: [{ totalBytes: 8 * GiB, used: [GiB] }] });
    process.env.FAKE_NVML_CONTROL = control;
    const libraries = [fakeNvmlLibrary(), fakeNvmlLibrary(), fakeNvmlLibrary()]; // built with gcc before measuring
    const before = children.readSeconds() ?? 0;
    for (const library of libraries) {
      const provider = new NvmlProvider(library);
      await provider.start();
      provider.shutdown();
    }
    const charged = (children.readSeconds() ?? 0) - before;
    // Each probe is a whole node process (tens of ms of CPU); what may remain is the starter shells' few ms.
    assert.ok(charged < 0.03, `children CPU grew by ${charged.toFixed(3)} s over three NVML starts`);
  });

  for (const useShell of [true, false]) {
    it(`the helper ${useShell ? 'shell' : 'without /bin/sh (direct children)'} passes arguments as data (nothing expanded or run), and says how a command ended`, async () => {
      const helper = new HelperShell(process.env, useShell);
      try {
        const hostile = ["it's", '$HOME', '`id`', '$(id)', 'a; touch /tmp/x', '  spaced  ', '\\n', '*', ''];
        const echoed = await helper.run(['printf', '%s|', ...hostile], 5000);
        assert.equal(echoed.code, 0);
        assert.equal(echoed.stdout, hostile.map((argument) => `${argument}|`).join(''));
        const bus = await helper.run(['sh', '-c', 'kill -BUS $$'], 5000);
        assert.equal(bus.signal, 'SIGBUS');
        const hung = await helper.run(['sleep', '30'], 300);
        assert.equal(hung.timedOut, true);
        const failed = await helper.run(['sh', '-c', 'echo oops >&2; exit 3'], 5000);
        assert.deepEqual([failed.code, failed.stderr], [3, 'oops\n']);
        await assert.rejects(helper.run(['echo', 'two\nlines'], 5000), /line break/);
      } finally {
        helper.close();
      }
    });
  }
});

describe('GPU: the helper shell leaves nothing behind', () => {
  it('removes its private directory at process exit, even when nobody closes it', () => {
    const tmp = scratchDir();
    const helper = join(repoRoot, 'build', 'src', 'gpu', 'helper-shell.js');
    // A process that starts a helper, runs one command and exits without close() (a provider never shut down).
    const script =
      `const { HelperShell } = await import(${JSON.stringify(helper)});` +
      "const shell = new HelperShell(); await shell.run(['true'], 5000);" +
      "console.log(process.getBuiltinModule('node:fs').readdirSync(process.env.TMPDIR).length); process.exit(0);";
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, TMPDIR: tmp },
      encoding: 'utf8',
    });
    assert.equal(out.trim(), '1', 'the helper had its directory while it ran');
    assert.deepEqual(readdirSync(tmp), [], 'nothing left in TMPDIR after exit');
  });
});
