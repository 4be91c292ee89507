/**
 * Planted faults (`npm run test:mutants`, not part of `npm test`): each mutant changes one thing in the compiled
 * package under build/src — a validation dropped, a peak taken from the endpoints, raw CPU charged as attribution,
 * a GPU reading lost, … — and runs the tests that should notice. A mutant the tests do not turn red has survived,
 * and the run fails. The compiled file is restored after each mutant, whatever happens.
 *
 * Why planted faults rather than StrykerJS: the suite takes ~2.5 minutes on the project's 2-core machines and many
 * tests spawn processes or time real work; StrykerJS's per-test coverage cannot be used with them, so a run over the
 * figure-computing folders was estimated at many hours. Each mutant here runs only the test files that cover it.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Mutant {
  /** What the fault is, in words. */
  name: string;
  /** The compiled module, relative to build/src. */
  file: string;
  /** Text that must occur exactly once in it, and what replaces it. */
  find: string;
  replace: string;
  /** Test files (relative to build/test, without .test.js) that must fail. */
  tests: string[];
}

const MUTANTS: Mutant[] = [
  {
    name: 'drop a validation: calculateResourceUsage accepts any memoryRssBytes',
    file: 'snapshot/resource-usage.js',
    find: "    'memoryRssBytes',\n",
    replace: '',
    tests: ['reliability-config', 'usage'],
  },
  {
    name: 'validation accepts negative numbers',
    file: 'internal/validate.js',
    find: "typeof value !== 'number' || !Number.isFinite(value) || value < 0",
    replace: "typeof value !== 'number' || !Number.isFinite(value)",
    tests: ['reliability-config', 'usage'],
  },
  {
    name: 'a boolean variable takes any word as true',
    file: 'config/env.js',
    find: '    if (TRUE_SPELLINGS.includes(raw))',
    replace: '    if (!FALSE_SPELLINGS.includes(raw))',
    tests: ['reliability-config'],
  },
  {
    name: 'the peak is max(start, end) (the seed design), never the in-window peak',
    file: 'sampler/window-peak.js',
    find: '    if (endMaxRssBytes > startMaxRssBytes)',
    replace:
      "    return { bytes: endpoints, source: 'endpoints' };\n    if (endMaxRssBytes > startMaxRssBytes)",
    tests: ['usage', 'span-processor'],
  },
  {
    name: 'the in-window peak ignores the sampler (maxRSS or endpoints only)',
    file: 'sampler/window-peak.js',
    find: '    const sampled = memorySampler.maxRssBetween(afterTick, untilTick);',
    replace: '    const sampled = undefined;',
    tests: ['usage', 'span-processor'],
  },
  {
    name: 'a span start reads the sampler cache even when it is stale',
    file: 'sampler/memory-sampler.js',
    find: '        if (nowMs - this.latestAtMs > this.intervalMs)',
    replace: '        if (false)',
    tests: ['span-processor'],
  },
  {
    name: 'raw process CPU charged as attributed CPU',
    file: 'span-processor/resource-span-processor.js',
    find: '                attributes[keys.ATTR_CPU_ATTRIBUTED_TIME] = attributedMicros / 1e6;',
    replace: '                attributes[keys.ATTR_CPU_ATTRIBUTED_TIME] = userSeconds + systemSeconds;',
    tests: ['attribution'],
  },
  {
    name: "async context: the code after a span's start stays with whoever ran before (the SERVER span loses its handler)",
    file: 'attribution/async-context-ledger.js',
    find: '        if (this.current === undefined)\n            this.current = node;\n        this.chargeUntil(nowMs);\n        this.current = node;\n',
    replace: '        this.chargeUntil(nowMs);\n',
    tests: ['attribution'],
  },
  {
    name: "concurrency: a request's own children count as other requests",
    file: 'attribution/span-trees.js',
    find: '        const tree = parent ?? this.newTree(nowMs);',
    replace: '        const tree = this.newTree(nowMs);',
    tests: ['attribution'],
  },
  {
    name: 'the memory sampler never backs off',
    file: 'sampler/memory-sampler.js',
    find: '            ? Math.min(this.quietIntervalMs, this.currentIntervalMs * 2)',
    replace: '            ? this.intervalMs',
    tests: ['sample-history'],
  },
  {
    name: 'concurrent_spans always 0',
    file: 'span-processor/resource-span-processor.js',
    find: '            attributes[keys.ATTR_CONCURRENT_SPANS] = concurrent;',
    replace: '            attributes[keys.ATTR_CONCURRENT_SPANS] = 0;',
    tests: ['attribution', 'span-processor'],
  },
  {
    name: 'fair share: the shares of concurrent spans no longer add up to the process CPU',
    file: 'attribution/fair-share-ledger.js',
    find: '        return share;\n    }\n    /** Drops generations',
    replace: '        return share / 2;\n    }\n    /** Drops generations',
    tests: ['attribution'],
  },
  {
    name: 'a GPU reading dropped at span end',
    file: 'span-processor/gpu-figures.js',
    find: '        const last = readGpuMemory(device);',
    replace: '        const last = undefined;',
    tests: ['gpu-wiring'],
  },
  {
    name: 'NVML process records always read at 24 bytes',
    file: 'gpu/nvml/nvml-process-records.js',
    find: '    return PROCESS_RECORD_STRIDES.find((stride) => written === count * stride);',
    replace: '    return 24;',
    tests: ['gpu-nvml'],
  },
  {
    name: "NVML device memory counts the driver's reserve as used (v1 only)",
    file: 'gpu/nvml/nvml-provider.js',
    find: '        if (nvml.memoryInfoV2 !== undefined && !this.memoryV2Refused) {',
    replace: '        if (false) {',
    tests: ['gpu-nvml'],
  },
  {
    name: "another process's GPU memory counted as this process's",
    file: 'gpu/process-tree.js',
    find: '        return answer;',
    replace: '        return true;',
    tests: ['gpu-nvml', 'reliability-security'],
  },
  {
    name: 'Prometheus counters lose their _total suffix',
    file: 'prometheus/metric-name.js',
    find: "        result += '_total';",
    replace: "        result += '';",
    tests: ['exposition-equivalence', 'metrics-prometheus'],
  },
  {
    name: 'Prometheus names lose their unit suffix',
    file: 'prometheus/metric-name.js',
    find: "        if (suffix !== '' && !",
    replace: '        if (false && !',
    tests: ['exposition-equivalence', 'metrics-prometheus'],
  },
];

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'); // from build/scripts

interface TestRun {
  /** The exit status of mocha (0: all green). */
  status: number | null;
  /** How many tests failed, as mocha counted them (undefined: it did not get to count, e.g. a file failed to load). */
  failing: string | undefined;
  stdout: string;
  seconds: string;
}

/**
 * Runs test files in one mocha, with the dot reporter: names relative to build/test without .test.js, or paths to a
 * .js file relative to the repository.
 */
function runTests(tests: readonly string[]): TestRun {
  const started = Date.now();
  const result = spawnSync(
    process.execPath,
    [
      join(root, 'node_modules', 'mocha', 'bin', 'mocha.js'),
      '--no-config',
      '--node-option',
      'expose-gc',
      '--timeout',
      '60000',
      '--reporter',
      'dot',
      ...tests.map((test) =>
        test.endsWith('.js') ? resolve(root, test) : join(root, 'build', 'test', `${test}.test.js`),
      ),
    ],
    { cwd: root, encoding: 'utf8', timeout: 300_000 },
  );
  return {
    status: result.status,
    failing: /(\d+) failing/.exec(String(result.stdout))?.[1],
    stdout: String(result.stdout),
    seconds: ((Date.now() - started) / 1000).toFixed(0),
  };
}

/*
 * First the tests as they are, unmutated: a test that already fails would "kill" every mutant it runs for, and the
 * run would report faults caught that nobody caught. `--baseline-only [test …]` stops after this check (and runs the
 * named test files instead of the mutants' own), which is how test/mutants-baseline.test.ts checks it cheaply.
 */
const args = process.argv.slice(2);
const baselineOnly = args[0] === '--baseline-only';
const baselineTests =
  baselineOnly && args.length > 1 ? args.slice(1) : [...new Set(MUTANTS.flatMap((mutant) => mutant.tests))];
const baseline = runTests(baselineTests);
if (baseline.status !== 0) {
  console.log(baseline.stdout.trimEnd());
  const how =
    baseline.failing === undefined
      ? `mocha exited with ${String(baseline.status)}`
      : `${baseline.failing} failing`;
  console.log(
    `the unmutated tests do not pass (${how} in ${baselineTests.join(', ')}): fix them first — planted faults ` +
      'would be counted as caught by tests that fail anyway. No fault was planted.',
  );
  process.exit(2);
}
console.log(`unmutated: ${baselineTests.join(', ')} pass (${baseline.seconds} s)`);
if (baselineOnly) process.exit(0);

let survived = 0;
let killed = 0;
for (const mutant of MUTANTS) {
  const path = join(root, 'build', 'src', mutant.file);
  const original = readFileSync(path, 'utf8');
  const occurrences = original.split(mutant.find).length - 1;
  if (occurrences !== 1) {
    console.log(`  BROKEN  ${mutant.name}: the text to change occurs ${occurrences} times in ${mutant.file}`);
    survived++;
    continue;
  }
  writeFileSync(path, original.replace(mutant.find, mutant.replace));
  let result: TestRun;
  try {
    result = runTests(mutant.tests);
  } finally {
    writeFileSync(path, original);
  }
  const { failing, seconds } = result;
  // Only failing tests count: a mutant that breaks loading (a syntax error) proves nothing about the tests.
  if (result.status !== 0 && failing !== undefined) {
    killed++;
    console.log(`  killed   ${mutant.name} (${failing} failing in ${mutant.tests.join(', ')}; ${seconds} s)`);
  } else {
    survived++;
    console.log(`  SURVIVED ${mutant.name} (${mutant.tests.join(', ')} stayed green; ${seconds} s)`);
  }
}
console.log(`planted faults: ${killed} passed, ${survived} failed`);
process.exitCode = survived === 0 ? 0 : 1;
