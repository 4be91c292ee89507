import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

function runExample(name: string): string {
  const script = fileURLToPath(new URL(`../examples/${name}.js`, import.meta.url));
  return execFileSync(process.execPath, ['--expose-gc', script], { encoding: 'utf8', timeout: 60_000 });
}

describe('examples', () => {
  it('npm run demo: prints every traced task with its resource figures', () => {
    const output = runExample('traced-tasks');
    const rows = new Map(
      output
        .split('\n')
        .filter((line) => /^(cpu-heavy|memory-heavy|concurrent-|nested-)/.test(line))
        .map((line) => {
          const cells = line.trim().split(/\s{2,}/);
          return [cells[0] as string, cells];
        }),
    );
    assert.deepEqual([...rows.keys()].sort(), [
      'concurrent-a',
      'concurrent-b',
      'cpu-heavy',
      'memory-heavy',
      'nested-child-1',
      'nested-child-2',
      'nested-parent',
    ]);
    const mib = (name: string, column: number) => Number.parseFloat(rows.get(name)?.[column] ?? 'NaN');
    // memory-heavy filled 200 MiB and freed it before its end: its peak column (8) sees it, its end (7) does not.
    assert.ok(mib('memory-heavy', 8) - mib('memory-heavy', 6) > 190, output);
    assert.ok(mib('memory-heavy', 7) - mib('memory-heavy', 6) < 50, output);
  });

  it('npm run demo:standalone: prints the usage and the audit record of a tracked task', () => {
    const output = runExample('track-task');
    const record = JSON.parse(output.trim().split('\n').at(-1) ?? '{}') as Record<string, number>;
    assert.deepEqual(Object.keys(record), [
      'cpu_time_seconds',
      'wall_clock_seconds',
      'peak_memory_mb',
      'gpu_vram_used_mb',
    ]);
    assert.ok((record.peak_memory_mb ?? 0) > 256, output);
  });
});
