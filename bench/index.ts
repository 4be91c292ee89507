import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { format } from 'node:util';
import { benchAttribution, benchSamplerCost } from './attribution.bench.js';
import { benchCli } from './cli.bench.js';
import { benchGpu } from './gpu.bench.js';
import { benchHistograms } from './histograms.bench.js';
import { benchMetrics } from './metrics.bench.js';
import { benchProfiler } from './profiler.bench.js';
import { benchSnapshot } from './snapshot.bench.js';
import { benchSpanProcessor } from './span-processor.bench.js';
import { benchZeroCode } from './zero-code.bench.js';

const only = process.argv[2];
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'); // from build/bench

// Everything printed is also kept: a full run writes it to docs/benchmarks.md, the only place the docs take
// benchmark figures from.
const output: string[] = [];
const print = console.log;
console.log = (...args: unknown[]) => {
  output.push(format(...args));
  print(...args);
};

let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
} catch {
  // not a git checkout
}
console.log(
  `otel-resource-tracker benchmarks: node ${process.version}, ${process.platform}/${process.arch}, ` +
    `${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown CPU'}), commit ${commit}`,
);
if (only === undefined || only === 'snapshot') benchSnapshot();
if (only === undefined || only === 'span') benchSpanProcessor();
if (only === undefined || only === 'attribution') await benchAttribution();
if (only === 'sampler') await benchSamplerCost();
if (only === undefined || only === 'gpu') await benchGpu();
if (only === undefined || only === 'metrics') await benchMetrics();
if (only === undefined || only === 'histograms') await benchHistograms();
if (only === undefined || only === 'zero-code') await benchZeroCode(repoRoot);
if (only === undefined || only === 'cli') benchCli(repoRoot);
if (only === undefined || only === 'profiler') await benchProfiler(repoRoot);

if (only === undefined) {
  const page = [
    '# Benchmarks',
    '',
    `Written by \`npm run bench\` (all sections) on ${new Date().toISOString().slice(0, 10)}; do not edit by hand.`,
    'Absolute times vary between machines and runs: read the ratios, each against a baseline measured in the',
    'same run. Goals are stated beside the figures they apply to.',
    '',
    '```',
    ...output,
    '```',
    '',
  ];
  writeFileSync(join(repoRoot, 'docs', 'benchmarks.md'), page.join('\n'));
  print('\nwritten to docs/benchmarks.md');
}
