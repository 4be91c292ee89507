import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { type Browser, chromium } from 'playwright-core';
import { Profile } from 'pprof-format';
import { SpanAttributes as keys } from '../src/index.js';
import { scratchDir } from './helpers/fake-gpu.js';
import { requireBinary } from './helpers/prometheus.js';
import { repoRoot, runNode } from './helpers/zero-code.js';

/** A Node application with two spans, each burning CPU in a function of its own. */
function writeApplication(dir: string): string {
  // Inside the repository, so that the application finds @opentelemetry/api as an installed one would.
  const script = join(repoRoot, 'build', `profiled-app-${dir.split('-').pop()}.mjs`);
  writeFileSync(
    script,
    [
      "import { trace } from '@opentelemetry/api';",
      "const tracer = trace.getTracer('profiled-app');",
      'function checksumWork(ms) { const end = performance.now() + ms; let h = 7; while (performance.now() < end) for (let i = 0; i < 50000; i++) h = (h * 31 + i) | 0; return h; }',
      'function sortingWork(ms) { const end = performance.now() + ms; let n = 0; while (performance.now() < end) { const a = Array.from({ length: 2000 }, (_, i) => (i * 7919) % 2003); a.sort((x, y) => x - y); n += a[0]; } return n; }',
      "tracer.startActiveSpan('checksum', (span) => { checksumWork(400); span.end(); });",
      "tracer.startActiveSpan('sorting', (span) => { sortingWork(400); span.end(); });",
    ].join('\n'),
  );
  return script;
}

describe('CPU profiler through the zero-code entry (OTEL_RESOURCE_TRACKER_PROFILER)', function () {
  this.timeout(120_000);
  let browser: Browser | undefined;
  after(() => browser?.close());

  it('writes this process’s profile, which go tool pprof -tagfocus splits by span, and the report draws a flame graph per span name', async () => {
    const dir = scratchDir('profiler-app-');
    const profiles = join(dir, 'profiles');
    const report = join(dir, 'app.html');
    const { child, done } = runNode(['--import', 'otel-resource-tracker/register', writeApplication(dir)], {
      OTEL_TRACES_EXPORTER: 'none',
      OTEL_RESOURCE_TRACKER_METRICS: 'false',
      OTEL_RESOURCE_TRACKER_PROFILER: 'cpu',
      OTEL_RESOURCE_TRACKER_PROFILE_DIR: profiles,
      OTEL_RESOURCE_TRACKER_PROFILE_SAMPLE_INTERVAL_US: '1000',
      OTEL_RESOURCE_TRACKER_REPORT: report,
    });
    const finished = await done;
    assert.equal(finished.code, 0, finished.stderr);
    assert.equal(finished.stderr, '', 'nothing to say');
    const files = readdirSync(profiles);
    assert.ok(files.length >= 1, 'a profile file');
    for (const file of files) assert.match(file, new RegExp(`^cpu-${child.pid}-\\d{8}T\\d{9}Z\\.pb\\.gz$`));
    // What a user runs (go from golang-go, installed by scripts/install-test-deps.sh): the span's own hot function.
    for (const [span, hot, other] of [
      ['checksum', 'checksumWork', 'sortingWork'],
      ['sorting', 'sortingWork', 'checksumWork'],
    ] as const) {
      const top = execFileSync(
        'go',
        ['tool', 'pprof', `-tagfocus=span_name=${span}`, '-top', ...files.map((f) => join(profiles, f))],
        { encoding: 'utf8', env: { ...process.env, HOME: dir, GOCACHE: join(dir, 'gocache') } },
      );
      assert.match(top, new RegExp(hot), `${span}: ${top}`);
      assert.doesNotMatch(top, new RegExp(other), `${span} has none of the other span's function: ${top}`);
    }

    requireBinary('chromium');
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
    const page = await browser.newPage({ viewport: { width: 1200, height: 1400 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    await page.goto(`file://${report}`);
    await page.waitForFunction('window.__report !== undefined');
    assert.deepEqual(errors, []);
    for (const [span, hot, other] of [
      ['checksum', 'checksumWork', 'sortingWork'],
      ['sorting', 'sortingWork', 'checksumWork'],
    ] as const) {
      const graph = page.locator(`svg.flame-graph[data-span-name="${span}"]`);
      assert.equal(await graph.count(), 1, `a flame graph for ${span}`);
      const frames = (await graph.locator('title').allTextContents()).map((title) => title.split(':')[0]);
      assert.ok(frames.includes(hot), `${span}'s graph holds ${hot}: ${frames.join(', ')}`);
      assert.ok(!frames.includes(other), `${span}'s graph holds none of ${other}`);
      assert.ok((await graph.locator('rect').count()) >= 2, 'frames are drawn');
    }
    mkdirSync(join(repoRoot, 'build', 'test-artefacts'), { recursive: true });
    await page.screenshot({
      path: join(repoRoot, 'build', 'test-artefacts', 'profiler-report.png'),
      fullPage: true,
    });
  });

  it('run -- node …: the Node command profiles itself through its own register, with the same variables', async () => {
    const dir = scratchDir('profiler-run-');
    const profiles = join(dir, 'profiles');
    const { child, done } = runNode(
      [
        join(repoRoot, 'dist', 'cli', 'main.js'),
        'run',
        '--',
        process.execPath,
        '--import',
        'otel-resource-tracker/register',
        writeApplication(dir),
      ],
      {
        OTEL_TRACES_EXPORTER: 'none',
        OTEL_RESOURCE_TRACKER_METRICS: 'false',
        OTEL_RESOURCE_TRACKER_PROFILER: 'cpu',
        OTEL_RESOURCE_TRACKER_PROFILE_DIR: profiles,
      },
    );
    const finished = await done;
    assert.equal(finished.code, 0, finished.stderr);
    const files = readdirSync(profiles);
    assert.ok(files.length >= 1, 'the command wrote its profile');
    assert.ok(
      files.every((file) => !file.startsWith(`cpu-${child.pid}-`)),
      'the run wrapper itself profiles nothing: the files are the command’s',
    );
    const spanNames = new Set(
      files.flatMap((file) => {
        const profile = Profile.decode(gunzipSync(readFileSync(join(profiles, file))));
        const text = (index: number | bigint) => profile.stringTable.strings[Number(index)] ?? '';
        return profile.sample.flatMap((sample) =>
          sample.label.filter((label) => text(label.key) === 'span_name').map((label) => text(label.str)),
        );
      }),
    );
    assert.deepEqual([...spanNames].sort(), ['checksum', 'sorting']);
  });

  it('an unknown OTEL_RESOURCE_TRACKER_PROFILER is one line naming it; the application and its spans go on', async () => {
    const dir = scratchDir('profiler-bad-');
    const { done } = runNode(['--import', 'otel-resource-tracker/register', writeApplication(dir)], {
      OTEL_TRACES_EXPORTER: 'console',
      OTEL_RESOURCE_TRACKER_METRICS: 'false',
      OTEL_RESOURCE_TRACKER_PROFILER: 'gpu',
    });
    const finished = await done;
    assert.equal(finished.code, 0, finished.stderr);
    const lines = finished.stderr.trim().split('\n');
    assert.equal(lines.length, 1, finished.stderr);
    assert.match(
      lines[0] as string,
      /OTEL_RESOURCE_TRACKER_PROFILER must be one of off, cpu; got the string "gpu"/,
    );
    assert.match(finished.stdout, new RegExp(keys.ATTR_CPU_ATTRIBUTED_TIME.replace(/\./g, '\\.')));
  });

  it('an unwritable directory is one line naming the path; the application and its spans go on', async () => {
    const dir = scratchDir('profiler-unwritable-');
    const blocked = join(dir, 'app.html', 'profiles');
    writeFileSync(join(dir, 'app.html'), 'a file, not a directory');
    const { done } = runNode(['--import', 'otel-resource-tracker/register', writeApplication(dir)], {
      OTEL_TRACES_EXPORTER: 'console',
      OTEL_RESOURCE_TRACKER_METRICS: 'false',
      OTEL_RESOURCE_TRACKER_PROFILER: 'cpu',
      OTEL_RESOURCE_TRACKER_PROFILE_DIR: blocked,
    });
    const finished = await done;
    assert.equal(finished.code, 0, finished.stderr);
    const lines = finished.stderr.trim().split('\n');
    assert.equal(lines.length, 1, finished.stderr);
    assert.ok(lines[0]?.includes(blocked), lines[0]);
    assert.match(finished.stdout, new RegExp(keys.ATTR_CPU_ATTRIBUTED_TIME.replace(/\./g, '\\.')));
  });
});
