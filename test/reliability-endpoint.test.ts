import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent, get as httpGet } from 'node:http';
import { createServer } from 'node:net';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { ResourceSpanProcessor, startPrometheusEndpoint } from '../src/index.js';
import { measured, recordFigure } from './helpers/figures.js';
import { MiB } from './helpers/workload.js';

/** Peak and current RSS of a process, from /proc (VmHWM, VmRSS), in bytes. */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kib('VmRSS') * 1024, peak: kib('VmHWM') * 1024 };
}

/** One GET as Prometheus sends it (gzip accepted): the status and the decompressed body. */
function scrape(url: string, agent: Agent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    httpGet(url, { agent, headers: { 'Accept-Encoding': 'gzip' } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const raw = Buffer.concat(chunks);
        const body = response.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
        resolve({ status: response.statusCode ?? 0, body: body.toString() });
      });
      response.on('error', reject);
    }).on('error', reject);
  });
}

/**
 * An application in its own process (so that its memory is its own): the endpoint, 100 span names of histograms,
 * a gauge whose callback counts the collections, and the event loop's delay measured between 'start' and 'report'.
 */
const SCRAPE_TARGET = `
  import { monitorEventLoopDelay } from 'node:perf_hooks';
  import { ROOT_CONTEXT } from '@opentelemetry/api';
  import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
  import { ResourceSpanProcessor, startPrometheusEndpoint } from ${JSON.stringify(new URL('../src/index.js', import.meta.url).href)};
  const endpoint = await startPrometheusEndpoint({ port: 0 });
  let collections = 0;
  endpoint.meterProvider.getMeter('probe').createObservableGauge('probe.collections').addCallback((result) => {
    collections++;
    result.observe(collections);
  });
  const tracer = new BasicTracerProvider({
    spanProcessors: [new ResourceSpanProcessor({ meterProvider: endpoint.meterProvider })],
  }).getTracer('load');
  for (let i = 0; i < 1000; i++) tracer.startSpan('name-' + (i % 100), {}, ROOT_CONTEXT).end();
  const delay = monitorEventLoopDelay({ resolution: 1 });
  setInterval(() => {}, 1000); // the endpoint is unref'd: something must keep this application alive
  process.on('message', (message) => {
    if (message === 'start') {
      collections = 0;
      delay.reset();
      delay.enable();
      process.send({ started: true });
    } else {
      delay.disable();
      process.send({ collections, maxStallMs: delay.max / 1e6 });
    }
  });
  process.send({ url: endpoint.url });
`;

async function startScrapeTarget(): Promise<{
  child: ChildProcess;
  url: string;
  ask: (message: string) => Promise<Record<string, number>>;
}> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', SCRAPE_TARGET], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = () =>
    new Promise<Record<string, number | string>>((resolve, reject) => {
      child.once('message', (message) => resolve(message as Record<string, number | string>));
      child.once('exit', (code) => reject(new Error(`the scrape target exited (${code})`)));
    });
  const { url } = await next();
  return {
    child,
    url: String(url),
    ask: async (message) => {
      const answer = next();
      child.send(message);
      return (await answer) as Record<string, number>;
    },
  };
}

describe('reliability: the Prometheus endpoint under load and faults', function () {
  this.timeout(120_000);

  it('answers 1 000 parallel scrapes on 127.0.0.1 from a few collections, its memory bounded', async () => {
    const target = await startScrapeTarget();
    const pid = target.child.pid ?? 0;
    const agent = new Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
    try {
      await scrape(target.url, agent); // the first collection (and the code it runs) before measuring
      await sleep(300);
      const before = memoryOf(pid);
      try {
        writeFileSync(`/proc/${pid}/clear_refs`, '5'); // resets VmHWM, so that the peak is this burst's
      } catch {
        // not allowed here: VmHWM then also holds the start-up's peak, which only makes the bound stricter
      }
      await target.ask('start');
      const scrapes = 1000;
      const results = await Promise.all(Array.from({ length: scrapes }, () => scrape(target.url, agent)));
      const { collections = Number.NaN, maxStallMs = Number.NaN } = await target.ask('report');
      const after = memoryOf(pid);
      const peakGrowth = after.peak - before.rss;
      console.log(
        `      1 000 parallel scrapes: ${collections} collections, peak RSS +${(peakGrowth / MiB).toFixed(0)} MiB, RSS after +${((after.rss - before.rss) / MiB).toFixed(0)} MiB, longest event-loop stall ${maxStallMs.toFixed(0)} ms`,
      );
      const statuses = new Map<number, number>();
      for (const { status } of results) statuses.set(status, (statuses.get(status) ?? 0) + 1);
      assert.deepEqual([...statuses], [[200, scrapes]]);
      // Each answer is a whole exposition, not a cut or an error text.
      const whole = results.filter(
        ({ body }) =>
          body.startsWith('# HELP target_info') &&
          body.includes('resource_tracker_span_cpu_time_seconds_count{span_name="name-99"') &&
          body.endsWith('\n'),
      );
      assert.equal(whole.length, scrapes);
      // Before: one collection per scrape (1 000), each rendering and gzipping its own copy.
      assert.ok(collections <= scrapes / 10, `${collections} collections for ${scrapes} scrapes`);
      assert.ok(peakGrowth < 96 * MiB, `peak RSS grew by ${(peakGrowth / MiB).toFixed(0)} MiB`);
    } finally {
      agent.destroy();
      target.child.kill();
    }
  });

  it('serves scrapes in a tight loop from many clients at once (bounded, on 127.0.0.1)', async () => {
    const endpoint = await startPrometheusEndpoint({ port: 0 });
    const tracer = new BasicTracerProvider({
      spanProcessors: [new ResourceSpanProcessor({ meterProvider: endpoint.meterProvider })],
    }).getTracer('load');
    for (let i = 0; i < 2000; i++) tracer.startSpan(`name-${i % 50}`, {}, ROOT_CONTEXT).end();
    const clients = 16;
    const scrapesEach = 150;
    const rssBefore = process.memoryUsage.rss();
    const delay = monitorEventLoopDelay({ resolution: 1 });
    const statuses = new Map<number, number>();
    let whole = 0;
    delay.enable();
    const started = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        for (let i = 0; i < scrapesEach; i++) {
          const response = await fetch(endpoint.url);
          const text = await response.text();
          // A 200 must carry the exposition, whole: the series of every span name, to the last line.
          if (text.includes('_count{span_name="name-49"') && text.endsWith('\n')) whole++;
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    delay.disable();
    const rssGrowth = process.memoryUsage.rss() - rssBefore;
    await endpoint.shutdown();
    assert.deepEqual([...statuses], [[200, clients * scrapesEach]]);
    assert.equal(whole, clients * scrapesEach, 'every answer a whole exposition');
    assert.ok(rssGrowth < 200 * MiB, `RSS grew by ${(rssGrowth / MiB).toFixed(0)} MiB`);
    recordFigure({
      area: 'Prometheus endpoint',
      injected: `${clients} clients scraping in a tight loop (50 span names of histograms)`,
      times: clients * scrapesEach,
      outcome: `all answered 200 in ${measured(seconds.toFixed(1))} s (${measured(((clients * scrapesEach) / seconds).toFixed(0))} scrapes/s, client in the same process); longest event-loop stall ${measured((delay.max / 1e6).toFixed(1))} ms; RSS ${measured(`${rssGrowth >= 0 ? '+' : '−'}${Math.abs(rssGrowth / MiB).toFixed(0)}`)} MiB`,
      lost: 'nothing',
    });
  });

  it('shuts down during scrapes without an error escaping, and twice', async () => {
    const endpoint = await startPrometheusEndpoint({ port: 0 });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const scrapes = Array.from({ length: 50 }, () =>
      fetch(endpoint.url).then(
        (response) => response.text().then(() => 'answered'),
        () => 'refused',
      ),
    );
    // Let some scrapes reach the server, so that the shutdown lands in the middle of them.
    await new Promise((resolve) => setTimeout(resolve, 15));
    const shutdownStarted = performance.now();
    await Promise.all([endpoint.shutdown(), endpoint.shutdown()]);
    const shutdownMs = performance.now() - shutdownStarted;
    const outcomes = await Promise.all(scrapes);
    await endpoint.shutdown();
    process.removeListener('unhandledRejection', onUnhandled);
    assert.deepEqual(unhandled, []);
    assert.equal(outcomes.length, 50);
    const answered = outcomes.filter((outcome) => outcome === 'answered').length;
    assert.ok(answered > 0, 'some scrapes were in flight when the shutdown came');
    recordFigure({
      area: 'Prometheus endpoint',
      injected: 'shutdown (called twice at once, then again) while 50 scrapes were in flight',
      times: 50,
      outcome: `${measured(answered)} scrapes answered, ${measured(50 - answered)} refused cleanly; shutdown resolved in ${measured(shutdownMs.toFixed(0))} ms`,
      lost: 'nothing: no error escaped',
    });
  });

  it('rejects a port in use, again and again, without leaking or throwing', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const servers = () =>
      process.getActiveResourcesInfo().filter((resource) => resource === 'TCPServerWrap').length;
    const serversBefore = servers();
    let rejected = 0;
    for (let i = 0; i < 50; i++) {
      await startPrometheusEndpoint({ port }).then(
        () => assert.fail('a port in use must be refused'),
        (error: Error) => {
          assert.match(error.message, /is already in use/);
          rejected++;
        },
      );
    }
    // Nothing left listening: no server handle of ours outlives a refused start (Node closes a server that failed
    // to listen on a later turn of the loop).
    for (let wait = 0; wait < 100 && servers() > serversBefore; wait++) await sleep(10);
    assert.equal(servers(), serversBefore);
    blocker.close();
    recordFigure({
      area: 'Prometheus endpoint',
      injected: 'port already in use',
      times: rejected,
      outcome: 'a rejected promise naming host and port each time; nothing left listening',
      lost: 'nothing',
    });
  });
});
