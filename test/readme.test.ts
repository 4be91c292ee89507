import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The shell lines between <!-- quick-start --> and <!-- /quick-start --> in README.md, without the fence. */
function quickStartLines(): string[] {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const match = /<!-- quick-start -->\s*```sh\n([\s\S]*?)```\s*<!-- \/quick-start -->/.exec(readme);
  assert.ok(match?.[1], 'README.md has a marked quick start');
  return match[1].split('\n').filter((line) => line.trim() !== '');
}

describe("README's quick start", function () {
  this.timeout(300_000);

  it('works when copied line by line onto a clean clone', () => {
    const lines = quickStartLines();
    assert.ok(lines.length >= 2);
    const clone = mkdtempSync(join(tmpdir(), 'quick-start-'));
    try {
      execFileSync('git', ['clone', '--quiet', repoRoot, clone], { stdio: 'pipe' });
      let output = '';
      for (const line of lines) {
        output = execFileSync('bash', ['-e', '-c', line], {
          cwd: clone,
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? clone },
        });
      }
      // The last line runs the batch under the zero-code entry with the console exporter.
      assert.match(output, /batch done/);
      assert.match(output, /name: 'memory-heavy'/);
      for (const key of [
        // The default set.
        'resource_tracker.cpu.time',
        'resource_tracker.cpu.attributed_time',
        'resource_tracker.memory.peak',
      ]) {
        assert.ok(output.includes(`'${key}'`), `the console shows ${key}`);
      }
    } finally {
      rmSync(clone, { recursive: true, force: true });
    }
  });
});
