import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { scratchDir } from './helpers/fake-gpu.js';
import { requireBinary } from './helpers/prometheus.js';
import { repoRoot } from './helpers/zero-code.js';

const CLI = join(repoRoot, 'dist', 'cli', 'main.js');
/** Kept after the run: CI and people can look at what the report looked like. */
const ARTEFACTS = join(repoRoot, 'build', 'test-artefacts');

/** Runs node with `args` from the repository root in a bare environment (no tracing export, no GPU) plus `env`. */
function node(args: readonly string[], env: Record<string, string> = {}): void {
  const result = spawnSync(process.execPath, args, {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? '',
      OTEL_TRACES_EXPORTER: 'none',
      OTEL_RESOURCE_TRACKER_METRICS: 'false',
      OTEL_RESOURCE_TRACKER_GPU_PROVIDER: 'none',
      ...env,
    },
    encoding: 'utf8',
  });
  assert.equal(result.status, 0, result.stderr);
}

interface OpenedReport {
  readonly page: Page;
  /** Console errors and page errors. */
  readonly errors: string[];
  /** Every request that is not the file itself (or a data: URL). */
  readonly requests: string[];
}

/** Opens a report in Debian's chromium over the DevTools protocol, once its charts and spans are drawn. */
async function openReport(browser: Browser, file: string): Promise<OpenedReport> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 1100 } });
  const opened: OpenedReport = { page, errors: [], requests: [] };
  page.on('console', (message) => {
    if (message.type() === 'error') opened.errors.push(message.text());
  });
  page.on('pageerror', (error) => opened.errors.push(error.message));
  page.on('request', (request) => {
    if (!request.url().startsWith('file:') && !request.url().startsWith('data:'))
      opened.requests.push(request.url());
  });
  await page.goto(`file://${file}`);
  await page.waitForFunction('window.__report !== undefined');
  return opened;
}

describe('the run report in a real browser (Debian chromium, DevTools protocol)', function () {
  this.timeout(120_000);
  let browser: Browser;
  before(async () => {
    requireBinary('chromium');
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  });
  after(() => browser?.close());

  it('opens with no console errors and no network request, and draws every sample and the spans', async () => {
    const dir = scratchDir('report-');
    const report = join(dir, 'report.html');
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
    node([
      CLI,
      'run',
      '--report',
      report,
      '--interval',
      '50',
      '--',
      process.execPath,
      '--import',
      'otel-resource-tracker/register',
      script,
    ]);
    const html = readFileSync(report, 'utf8');
    const data = /<script id="report-data" type="application\/json">(.*?)<\/script>/s.exec(html)?.[1] ?? '{}';
    const samples = (JSON.parse(data) as { seconds: number[] }).seconds.length;
    assert.ok(samples > 10, `${samples} samples`);
    assert.doesNotMatch(
      html,
      /<(script|link|img)[^>]+(src|href)=["']?https?:/i,
      'nothing loaded from elsewhere',
    );

    const { page, errors, requests } = await openReport(browser, report);
    const drawn = (await page.evaluate('window.__report.drawn')) as Record<string, { points: number }>;
    assert.deepEqual(errors, []);
    assert.deepEqual(requests, []);
    assert.equal(drawn.cpu?.points, samples, 'the CPU chart has a point per sample');
    assert.equal(drawn.rss?.points, samples, 'the memory chart has a point per sample');
    assert.equal(await page.locator('canvas').count(), 2, 'two charts (no GPU here)');
    assert.deepEqual((await page.locator('#timeline text').allTextContents()).sort(), [
      'load',
      'parse',
      'train',
    ]);
    mkdirSync(ARTEFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTEFACTS, 'report.png'), fullPage: true });
  });

  it('OTEL_RESOURCE_TRACKER_REPORT: the zero-code entry writes the same report for a Node application at exit', async () => {
    const report = join(scratchDir('app-report-'), 'app.html');
    node(
      [
        '--expose-gc',
        '--import',
        'otel-resource-tracker/register',
        join(repoRoot, 'build', 'examples', 'batch.js'),
      ],
      {
        OTEL_RESOURCE_TRACKER_REPORT: report,
      },
    );
    const { page, errors, requests } = await openReport(browser, report);
    assert.deepEqual(errors, []);
    assert.deepEqual(requests, []);
    const spanNames = new Set(await page.locator('#timeline text').allTextContents());
    for (const name of ['cpu-heavy', 'memory-heavy', 'concurrent-a', 'concurrent-b', 'nested-parent']) {
      assert.ok(spanNames.has(name), `${name} on the timeline; got ${[...spanNames].join(', ')}`);
    }
    assert.match((await page.locator('pre.summary').textContent()) ?? '', /batch\.js \(exit code 0\)/);
  });
});
