import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  Label,
  Line,
  Location,
  Function as PprofFunction,
  Profile,
  Sample,
  StringTable,
  ValueType,
} from 'pprof-format';
import { SpanAttributes as keys } from '../src/index.js';
import { profileFileName, pruneProfileFiles, writeProfileFile } from '../src/profiler/profile-files.js';
import type { ProfilerBackendName } from '../src/profiler/profiler-settings.js';
import { lastStartedProfiler } from '../src/profiler/span-profiler.js';
import { spanFlames } from '../src/report/span-flames.js';
import { createTracing, inSpan, type TestTracing } from './helpers/tracing.js';

interface Workload {
  burnAlpha(ms: number): number;
  burnBeta(ms: number): number;
  burnOutside(ms: number): number;
}

let workloads = 0;

/**
 * Busy work under names of their own, compiled afresh for each test: once V8 has optimized a function it may
 * inline it into its caller, and the samples then name the caller; new source (V8 caches compiled source, hence
 * the counter) keeps every run's functions cold and their frames their own.
 */
function freshWorkload(): Workload {
  const burn = (name: string, step: string) =>
    `function ${name}(ms) { const end = performance.now() + ms; let x = 1;` +
    ` while (performance.now() < end) for (let i = 0; i < 20000; i++) x = ${step};` +
    ` return x; }`;
  return new Function(
    `// workload ${workloads++}
    ${burn('burnAlpha', '(x + Math.sqrt(i)) % 1e9')}
    ${burn('burnBeta', '(x * 1.000001 + Math.cbrt(i)) % 1e9')}
    ${burn('burnOutside', '(x + Math.log1p(i)) % 1e9')}
    return { burnAlpha, burnBeta, burnOutside };`,
  )() as Workload;
}

/** Two spans that take turns on the one thread: each burns its own function, then yields to the other. */
async function interleaved(tracing: TestTracing, work: Workload, chunks: number): Promise<void> {
  await Promise.all([
    inSpan(tracing.tracer, 'alpha', async () => {
      for (let i = 0; i < chunks; i++) {
        work.burnAlpha(15);
        await nextTurn();
      }
    }),
    inSpan(tracing.tracer, 'beta', async () => {
      for (let i = 0; i < chunks; i++) {
        work.burnBeta(15);
        await nextTurn();
      }
    }),
  ]);
}

interface DecodedSample {
  readonly labels: Record<string, string>;
  readonly frames: string[];
  readonly cpu: number;
}

function decode(file: string): {
  profile: Profile;
  samples: DecodedSample[];
  text: (i: number | bigint) => string;
} {
  const profile = Profile.decode(gunzipSync(readFileSync(file)));
  const text = (index: number | bigint) => profile.stringTable.strings[Number(index)] ?? '';
  const names = new Map(profile.function.map((fn) => [Number(fn.id), text(fn.name)]));
  const frameOf = new Map(
    profile.location.map((loc) => [Number(loc.id), names.get(Number(loc.line[0]?.functionId ?? 0)) ?? '']),
  );
  const types = profile.sampleType.map((type) => text(type.type));
  const cpuIndex = types.indexOf('cpu');
  const wallIndex = types.indexOf('wall');
  const samples = profile.sample.map((sample) => ({
    labels: Object.fromEntries(sample.label.map((label) => [text(label.key), text(label.str)])),
    frames: sample.locationId.map((id) => frameOf.get(Number(id)) ?? ''),
    cpu: Number(sample.value[cpuIndex >= 0 ? cpuIndex : wallIndex] ?? 0),
  }));
  return { profile, samples, text };
}

/** Sampled CPU of the samples that `match`, by whether their stack holds `fn`. */
function share(samples: DecodedSample[], match: (s: DecodedSample) => boolean, fn: string): number {
  const chosen = samples.filter((sample) => match(sample) && sample.cpu > 0);
  const total = chosen.reduce((sum, sample) => sum + sample.cpu, 0);
  const within = chosen.filter((s) => s.frames.includes(fn)).reduce((sum, sample) => sum + sample.cpu, 0);
  return total === 0 ? 0 : within / total;
}

for (const backend of ['pprof', 'inspector'] as ProfilerBackendName[]) {
  describe(`CPU profiles split by span (${backend})`, () => {
    let directory: string;
    let tracing: TestTracing;
    const problems: string[] = [];

    beforeEach(() => {
      directory = join(mkdtempSync(join(tmpdir(), 'profiler-')), 'profiles');
      problems.length = 0;
    });
    afterEach(async () => {
      await tracing?.shutdown();
      rmSync(join(directory, '..'), { recursive: true, force: true });
    });

    it('labels each span’s samples with its ids, and they are mostly its own function', async () => {
      tracing = createTracing({
        profiler: 'cpu',
        profile: { directory, backend, sampleIntervalMicros: 1000, onProblem: (m) => problems.push(m) },
      });
      const profiler = lastStartedProfiler();
      assert.equal(profiler?.backend, backend, `the ${backend} sampler runs (${problems.join('; ')})`);
      const work = freshWorkload();
      await interleaved(tracing, work, 12);
      work.burnOutside(60);
      // The processor's shutdown writes the last profile (the provider's would also clear the exported spans).
      await tracing.processor.shutdown();
      assert.deepEqual(problems, []);
      const files = readdirSync(directory);
      assert.equal(files.length, 1, `one file for the one period: ${files.join(', ')}`);
      assert.match(files[0] as string, new RegExp(`^cpu-${process.pid}-\\d{8}T\\d{9}Z\\.pb\\.gz$`));
      const { profile, samples, text } = decode(join(directory, files[0] as string));
      assert.equal(text(profile.periodType?.type ?? 0), 'wall');
      assert.equal(text(profile.periodType?.unit ?? 0), 'nanoseconds');
      assert.ok(Number(profile.period) > 0, 'the period is set');
      for (const [name, own, other] of [
        ['alpha', 'burnAlpha', 'burnBeta'],
        ['beta', 'burnBeta', 'burnAlpha'],
      ] as const) {
        const exported = tracing.finished(name).spanContext();
        const labelled = samples.filter((sample) => sample.labels.span_name === name);
        assert.ok(labelled.length > 0, `samples labelled ${name}`);
        for (const sample of labelled) {
          assert.equal(sample.labels.span_id, exported.spanId, `${name}'s samples carry its span id`);
          assert.equal(sample.labels.trace_id, exported.traceId, `${name}'s samples carry its trace id`);
        }
        const mine = share(samples, (s) => s.labels.span_name === name, own);
        const theirs = share(samples, (s) => s.labels.span_name === name, other);
        assert.ok(mine >= 0.8, `${name}: ${(mine * 100).toFixed(0)} % of its CPU samples are in ${own}`);
        assert.ok(
          theirs <= 0.1,
          `${name}: ${(theirs * 100).toFixed(0)} % of its CPU samples are in ${other}`,
        );
      }
      // V8 sometimes leaves the outside work's own frame out (inlined or on-stack-replaced code sampled as its
      // caller), so the check is on the labels: the 60 ms burnt outside any span are sampled unlabelled, and no
      // labelled sample is in the outside function.
      const unlabelledCpuMs =
        samples
          .filter((sample) => Object.keys(sample.labels).length === 0)
          .reduce((sum, s) => sum + s.cpu, 0) / 1e6;
      // (a sixth of it at least: on a loaded machine V8's sampler thread misses ticks)
      assert.ok(
        unlabelledCpuMs >= 10,
        `the work outside spans is sampled without labels (${unlabelledCpuMs} ms)`,
      );
      const labelledOutside = samples.filter(
        (sample) => sample.frames.includes('burnOutside') && Object.keys(sample.labels).length > 0,
      );
      assert.deepEqual(labelledOutside, [], 'no sample of the work outside spans carries labels');
    });
  });
}

describe('CPU profiler: bad input and profiler off', () => {
  it('an unwritable directory is one diagnostic naming it; spans keep their figures', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'profiler-bad-'));
    const notADirectory = join(parent, 'a-file');
    writeFileSync(notADirectory, 'x');
    const problems: string[] = [];
    const tracing = createTracing({
      profiler: 'cpu',
      profile: { directory: join(notADirectory, 'profiles'), onProblem: (m) => problems.push(m) },
    });
    assert.equal(lastStartedProfiler(), undefined);
    await inSpan(tracing.tracer, 'still-measured', async () => freshWorkload().burnAlpha(5));
    await tracing.processor.shutdown();
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.ok(problems[0]?.includes(join(notADirectory, 'profiles')), problems[0]);
    assert.equal(typeof tracing.attributesOf('still-measured')[keys.ATTR_CPU_ATTRIBUTED_TIME], 'number');
    await tracing.shutdown();
    rmSync(parent, { recursive: true, force: true });
  });

  it('one profiler per process: a second processor asking for one is told so, once, and measures on', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'profiler-twice-'));
    const problems: string[] = [];
    const profile = { directory, backend: 'inspector' as const, onProblem: (m: string) => problems.push(m) };
    const first = createTracing({ profiler: 'cpu', profile });
    const second = createTracing({ profiler: 'cpu', profile });
    await inSpan(second.tracer, 'on-the-second', async () => freshWorkload().burnAlpha(5));
    assert.equal(typeof second.attributesOf('on-the-second')[keys.ATTR_CPU_ATTRIBUTED_TIME], 'number');
    await second.shutdown();
    await first.shutdown();
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0] as string, /a profiler already runs in this process/);
    rmSync(directory, { recursive: true, force: true });
  });

  it('a span the filters leave out is labelled as its nearest measured ancestor', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'profiler-filter-'));
    const tracing = createTracing({
      spanNames: ['measured-parent'],
      profiler: 'cpu',
      profile: { directory, backend: 'inspector', sampleIntervalMicros: 1000 },
    });
    const work = freshWorkload();
    await inSpan(tracing.tracer, 'measured-parent', () =>
      inSpan(tracing.tracer, 'left-out-child', async () => work.burnBeta(80)),
    );
    await tracing.processor.shutdown();
    const parentId = tracing.finished('measured-parent').spanContext().spanId;
    const [file] = readdirSync(directory);
    const { samples } = decode(join(directory, file as string));
    const names = new Set(
      samples.map((sample) => sample.labels.span_name).filter((name) => name !== undefined),
    );
    assert.deepEqual([...names], ['measured-parent']);
    const inChild = samples.filter((sample) => sample.frames.includes('burnBeta'));
    assert.ok(inChild.length > 0, 'the child’s work was sampled');
    assert.ok(inChild.every((sample) => sample.labels.span_id === parentId));
    await tracing.shutdown();
    rmSync(directory, { recursive: true, force: true });
  });

  it('off: no directory, no sampler module loaded', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'profiler-off-'));
    const index = fileURLToPath(new URL('../src/index.js', import.meta.url));
    const script = `
      import { createRequire } from 'node:module';
      const { ResourceSpanProcessor } = await import(${JSON.stringify(index)});
      const { BasicTracerProvider } = await import(${JSON.stringify(createRequireTarget())});
      const provider = new BasicTracerProvider({ spanProcessors: [new ResourceSpanProcessor()] });
      provider.getTracer('t').startActiveSpan('s', (span) => span.end());
      await provider.shutdown();
      const require = createRequire(import.meta.url);
      const loaded = Object.keys(require.cache).filter((m) => /pprof/.test(m));
      console.log(JSON.stringify({ loaded, inspector: process.moduleLoadList.filter((m) => m === 'NativeModule inspector') }));
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd,
      encoding: 'utf8',
    });
    const result = JSON.parse(out.trim().split('\n').pop() as string) as {
      loaded: string[];
      inspector: string[];
    };
    assert.deepEqual(result.loaded, []);
    assert.deepEqual(result.inspector, []);
    assert.equal(existsSync(join(cwd, 'profiles')), false, 'no profile directory');
    rmSync(cwd, { recursive: true, force: true });
  });
});

/** The SDK the test suite uses, resolved from here (the child runs in a temporary directory). */
function createRequireTarget(): string {
  return fileURLToPath(import.meta.resolve('@opentelemetry/sdk-trace-base'));
}

describe('CPU profiler: the files', () => {
  let directory: string;
  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'profiler-files-'));
  });
  afterEach(() => rmSync(directory, { recursive: true, force: true }));

  it('never opens a name that exists: a FIFO or a link planted there is left alone, the next name is taken', () => {
    const name = profileFileName(4242, Date.UTC(2026, 11, 7, 11, 46, 0, 123));
    assert.equal(name, 'cpu-4242-20261207T114600123Z.pb.gz');
    execFileSync('mkfifo', [join(directory, name)]);
    const target = join(directory, 'target');
    writeFileSync(target, 'untouched');
    symlinkSync(target, join(directory, name.replace('.pb.gz', '-1.pb.gz')));
    const written = writeProfileFile(directory, name, new Uint8Array([1, 2, 3]));
    assert.equal(written, join(directory, name.replace('.pb.gz', '-2.pb.gz')));
    assert.equal(readFileSync(target, 'utf8'), 'untouched');
    assert.deepEqual([...readFileSync(written)], [1, 2, 3]);
  });

  it('keeps the newest files within the count and the bytes; only our regular files are touched', () => {
    const names = [0, 1, 2, 3, 4].map((second) => profileFileName(7, Date.UTC(2026, 0, 1, 0, 0, second)));
    names.forEach((name, index) => {
      writeFileSync(join(directory, name), Buffer.alloc(1000));
      const at = new Date(Date.UTC(2026, 0, 1, 0, 0, index));
      utimesSync(join(directory, name), at, at);
    });
    writeFileSync(join(directory, 'notes.txt'), 'mine');
    pruneProfileFiles(directory, 3, 1_000_000, join(directory, names[4] as string));
    assert.deepEqual(readdirSync(directory).sort(), ['notes.txt', ...names.slice(2)].sort());
    pruneProfileFiles(directory, 100, 1500, join(directory, names[4] as string));
    assert.deepEqual(readdirSync(directory).sort(), ['notes.txt', names[4]].sort());
  });

  it('a profile that cannot be written is one diagnostic naming the directory; the spans go on', async () => {
    const profiles = join(directory, 'profiles');
    const problems: string[] = [];
    const tracing = createTracing({
      profiler: 'cpu',
      profile: { directory: profiles, backend: 'inspector', onProblem: (m) => problems.push(m) },
    });
    assert.ok(lastStartedProfiler() !== undefined);
    // The directory goes away under the profiler, as a full disk would fail the write.
    rmSync(profiles, { recursive: true });
    await inSpan(tracing.tracer, 'after-the-loss', async () => freshWorkload().burnAlpha(5));
    await tracing.processor.shutdown();
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0] as string, new RegExp(`cannot write a profile to ${profiles}`));
    assert.equal(typeof tracing.attributesOf('after-the-loss')[keys.ATTR_CPU_ATTRIBUTED_TIME], 'number');
    await tracing.shutdown();
  });
});

describe('CPU profiler: the report’s flame graphs', () => {
  /** A one-sample profile: `fn` ran 5 ms of CPU in a span named `spanName`. */
  function tinyProfile(spanName: string, fn: string): Uint8Array {
    const strings = new StringTable();
    const nanos = strings.dedup('nanoseconds');
    const cpu = new ValueType({ type: strings.dedup('cpu'), unit: nanos });
    const profile = new Profile({
      sampleType: [cpu],
      function: [new PprofFunction({ id: 1, name: strings.dedup(fn) })],
      location: [new Location({ id: 1, line: [new Line({ functionId: 1 })] })],
      sample: [
        new Sample({
          locationId: [1],
          value: [5_000_000],
          label: [new Label({ key: strings.dedup('span_name'), str: strings.dedup(spanName) })],
        }),
      ],
      stringTable: strings,
      periodType: cpu,
      period: 10_000_000,
    });
    return gzipSync(profile.encode());
  }

  it('take this process’s files written since it started, not an earlier process’s with the same pid', () => {
    const directory = mkdtempSync(join(tmpdir(), 'profiler-flames-'));
    const startedMs = Date.now();
    const old = join(directory, profileFileName(1, startedMs - 60_000));
    writeFileSync(old, tinyProfile('yesterday', 'oldWork'));
    utimesSync(old, new Date(startedMs - 60_000), new Date(startedMs - 60_000));
    writeFileSync(join(directory, profileFileName(1, startedMs)), tinyProfile('today', 'newWork'));
    writeFileSync(join(directory, profileFileName(2, startedMs)), tinyProfile('other-process', 'theirWork'));
    const flames = spanFlames(directory, 1, startedMs - 1000);
    assert.deepEqual(
      flames.map((flame) => [flame.spanName, flame.totalNanos, flame.hottest[0]?.name]),
      [['today', 5_000_000, 'newWork']],
    );
    rmSync(directory, { recursive: true, force: true });
  });
});
