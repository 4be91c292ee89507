import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './helpers/zero-code.js';

/** `npm run test:mutants` (scripts/mutants.ts), stopped after its first step: the unmutated tests must pass. */
function baselineOnly(...tests: string[]) {
  return spawnSync(
    process.execPath,
    [join(repoRoot, 'build', 'scripts', 'mutants.js'), '--baseline-only', ...tests],
    {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 120_000,
    },
  );
}

describe('the mutation check', function () {
  this.timeout(120_000);

  it('refuses to plant faults when the unmutated tests already fail, and says why', () => {
    const run = baselineOnly('build/test/fixtures/red-suite.js');
    assert.equal(run.status, 2, run.stdout + run.stderr);
    assert.match(
      run.stdout,
      /the unmutated tests do not pass \(1 failing in build\/test\/fixtures\/red-suite\.js\)/,
    );
    assert.match(run.stdout, /No fault was planted/);
    assert.doesNotMatch(run.stdout, /killed|SURVIVED|planted faults:/);
  });

  it('goes on when they pass', () => {
    const run = baselineOnly('sample-history');
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /unmutated: sample-history pass/);
  });
});
