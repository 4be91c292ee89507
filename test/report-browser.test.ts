import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { scratchDir } from './helpers/fake-gpu.js';
import { requireBinary } from './helpers/prometheus.js';
import { repoRoot } from './helpers/zero-code.js';

const CLI = join(repoRoot, 'dist', 'cli', 'main.js');
/** Kept after the run: CI and people can look at what the report looked like. */
const ARTEFACTS = join(repoRoot, 'build', 'test-artefacts');

describe('the run report in a real browser (Debian chromium, DevTools protocol)', function () {
  this.timeout(120_000);

  it('opens with no console errors and no network request, and draws every sample and the spans', async () => {
    requireBinary('chromium');
    const dir = scratchDir('report-');
    const report = join(dir, 'report.html');
    const json = join(dir, 'run.json');
    // A Node command under the zero-code entry that burns CPU, allocates, and makes nested spans.
    const script = join(repoRoot, 'build', 'report-child.mjs');
    writeFileSync(
      script,
      [
        "import { trace } from '@opentelemetry/api';",
        "const tracer = trace.getTracer('report-child');",
        "await tracer.startActiveSpan('load', async (load) => {",
        '  const s = process.cpuUsage(); while (process.cpuUsage(s).user < 300000);',
        "  tracer.startActiveSpan('parse', (parse) => { const b = Buffer.alloc(120 * 1024 * 1024, 1); parse.end(); return b.length; });",
        '  load.end();',
        '});',
        "await tracer.startActiveSpan('train', async (train) => { await new Promise((r) => setTimeout(r, 300)); train.end(); });",
      ].join('\n'),
    );
    const result = spawnSync(
      process.execPath,
      [
        CLI,
        'run',
        '--report',
        report,
        '--json',
        json,
        '--interval',
        '50',
        '--',
        process.execPath,
        '--import',
        'otel-resource-tracker/register',
        script,
      ],
      {
        cwd: repoRoot,
        env: {
          PATH: process.env.PATH ?? '',
          OTEL_TRACES_EXPORTER: 'none',
          OTEL_RESOURCE_TRACKER_METRICS: 'false',
          OTEL_RESOURCE_TRACKER_GPU_PROVIDER: 'none',
        },
        encoding: 'utf8',
      },
    );
    assert.equal(result.status, 0, result.stderr);
    const html = readFileSync(report, 'utf8');
    const samples = (
      JSON.parse(
        html.match(/<script id="report-data" type="application\/json">(.*?)<\/script>/s)?.[1] ?? '{}',
      ) as { seconds: number[] }
    ).seconds.length;
    assert.ok(samples > 10, `${samples} samples`);
    assert.doesNotMatch(
      html,
      /<(script|link|img)[^>]+(src|href)=["']?https?:/i,
      'nothing loaded from elsewhere',
    );

    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 1100 } });
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error') errors.push(message.text());
      });
      page.on('pageerror', (error) => errors.push(error.message));
      page.on('request', (request) => {
        if (!request.url().startsWith('file:') && !request.url().startsWith('data:'))
          requests.push(request.url());
      });
      await page.goto(`file://${report}`);
      await page.waitForFunction('window.__report !== undefined');
      const drawn = (await page.evaluate('window.__report.drawn')) as Record<
        string,
        { points: number; series: number }
      >;
      assert.deepEqual(errors, []);
      assert.deepEqual(requests, []);
      assert.equal(drawn.cpu?.points, samples, 'the CPU chart has a point per sample');
      assert.equal(drawn.rss?.points, samples, 'the memory chart has a point per sample');
      assert.equal(await page.locator('canvas').count(), 2, 'two charts (no GPU here)');
      const spanNames = await page.locator('#timeline text').allTextContents();
      assert.deepEqual([...spanNames].sort(), ['load', 'parse', 'train']);
      mkdirSync(ARTEFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTEFACTS, 'report.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  });

  it('OTEL_RESOURCE_TRACKER_REPORT: the zero-code entry writes the same report for a Node application at exit', async () => {
    requireBinary('chromium');
    const report = join(scratchDir('app-report-'), 'app.html');
    const result = spawnSync(
      process.execPath,
      [
        '--expose-gc',
        '--import',
        'otel-resource-tracker/register',
        join(repoRoot, 'build', 'examples', 'batch.js'),
      ],
      {
        cwd: repoRoot,
        env: {
          PATH: process.env.PATH ?? '',
          OTEL_TRACES_EXPORTER: 'none',
          OTEL_RESOURCE_TRACKER_METRICS: 'false',
          OTEL_RESOURCE_TRACKER_GPU_PROVIDER: 'none',
          OTEL_RESOURCE_TRACKER_REPORT: report,
        },
        encoding: 'utf8',
      },
    );
    assert.equal(result.status, 0, result.stderr);
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      page.on('console', (message) => {
        if (message.type() === 'error') errors.push(message.text());
      });
      await page.goto(`file://${report}`);
      await page.waitForFunction('window.__report !== undefined');
      assert.deepEqual(errors, []);
      const spanNames = new Set(await page.locator('#timeline text').allTextContents());
      for (const name of ['cpu-heavy', 'memory-heavy', 'concurrent-a', 'concurrent-b', 'nested-parent']) {
        assert.ok(spanNames.has(name), `${name} on the timeline; got ${[...spanNames].join(', ')}`);
      }
      assert.match((await page.locator('pre.summary').textContent()) ?? '', /batch\.js \(exit code 0\)/);
    } finally {
      await browser.close();
    }
  });
});
