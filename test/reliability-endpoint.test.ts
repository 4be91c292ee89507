import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { ResourceSpanProcessor, startPrometheusEndpoint } from '../src/index.js';
import { measured, recordFigure } from './helpers/figures.js';
import { MiB } from './helpers/workload.js';

describe('reliability: the Prometheus endpoint under load and faults', function () {
  this.timeout(120_000);

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
    delay.enable();
    const started = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        for (let i = 0; i < scrapesEach; i++) {
          const response = await fetch(endpoint.url);
          await response.text();
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    delay.disable();
    const rssGrowth = process.memoryUsage.rss() - rssBefore;
    await endpoint.shutdown();
    assert.deepEqual([...statuses], [[200, clients * scrapesEach]]);
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
