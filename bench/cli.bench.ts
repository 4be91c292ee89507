import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { scratchDir } from '../test/helpers/fake-gpu.js';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

function wallMs(command: string, args: string[], env: NodeJS.ProcessEnv): number {
  const start = performance.now();
  const result = spawnSync(command, args, { env, stdio: 'ignore' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status}`);
  return performance.now() - start;
}

/**
 * The run command's own costs: what sampling a tree of 50 processes at 100 ms costs the wrapper (its CPU ÷ wall,
 * from two runs of different lengths, so that start-up cancels out), and the wall time `run -- true` adds to
 * `true` alone and to GNU `/usr/bin/time -v true`.
 */
export function benchCli(repoRoot: string): void {
  const cli = join(repoRoot, 'dist', 'cli', 'main.js');
  const env = {
    PATH: process.env.PATH ?? '',
    OTEL_TRACES_EXPORTER: 'none',
    OTEL_RESOURCE_TRACKER_GPU_PROVIDER: 'none',
  };
  const dir = scratchDir('cli-bench-');
  const wrapperCpu = (seconds: number): number => {
    const json = join(dir, `tree-${seconds}.json`);
    const tree = `for i in $(seq 50); do sleep ${seconds} & done; wait`;
    spawnSync(process.execPath, [cli, 'run', '--json', json, '--interval', '100', '--', 'sh', '-c', tree], {
      env,
      stdio: 'ignore',
    });
    const figures = JSON.parse(readFileSync(json, 'utf8')) as {
      wrapper_cpu_seconds: number;
      processes_seen: number;
    };
    if (figures.processes_seen < 51) throw new Error(`only ${figures.processes_seen} processes seen`);
    return figures.wrapper_cpu_seconds;
  };
  const short = median([1, 2, 3].map(() => wrapperCpu(1)));
  const long = median([1, 2, 3].map(() => wrapperCpu(6)));
  const share = ((long - short) / 5) * 100;
  console.log(
    `\nrun: sampling a tree of 51 processes every 100 ms costs the wrapper ${share.toFixed(2)} % of one core ` +
      `(its CPU over a 6 s run minus a 1 s run, ÷ 5 s; median of 3 each; goal < 1 %)`,
  );
  const rounds = 15;
  const bare = median(Array.from({ length: rounds }, () => wallMs('true', [], env)));
  const gnuTime = median(Array.from({ length: rounds }, () => wallMs('/usr/bin/time', ['-v', 'true'], env)));
  const node = median(Array.from({ length: rounds }, () => wallMs(process.execPath, ['-e', '0'], env)));
  const wrapped = median(
    Array.from({ length: rounds }, () => wallMs(process.execPath, [cli, 'run', '--', 'true'], env)),
  );
  console.log(`wall time of true (median of ${rounds}; ratios against true alone)`);
  for (const [name, ms] of [
    ['true [baseline]', bare],
    ['/usr/bin/time -v true', gnuTime],
    ['node -e 0 (Node start-up alone)', node],
    ['otel-resource-tracker run -- true (OTEL_TRACES_EXPORTER=none)', wrapped],
  ] as const) {
    console.log(
      `${name.padEnd(64)} ${ms.toFixed(1).padStart(7)} ms ${(ms / bare).toFixed(1).padStart(7)}x  +${(ms - bare).toFixed(1)} ms`,
    );
  }
  console.log(
    `goal: run adds < 50 ms to true; it adds ${(wrapped - bare).toFixed(1)} ms, ${(node - bare).toFixed(1)} of which Node's own start-up`,
  );
}
