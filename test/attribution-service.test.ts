import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { Agent, createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { SpanAttributes as keys } from '../src/index.js';
import type { ReceivedSpan } from './helpers/otlp-receiver.js';
import { receiverPerTest } from './helpers/otlp-receiver.js';
import { app, runNode, waitForUrl } from './helpers/zero-code.js';

const SERVER = 2;
const ROUTES = ['/cpu?ms=4', '/io', '/mixed?ms=2'] as const;
type Route = (typeof ROUTES)[number];

/** CPU of every thread of a process, in ms, from the scheduler's nanosecond counts: independent of our figures. */
function processCpuMs(pid: number): number {
  let nanos = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      nanos += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // A thread that ended between the listing and the read: its time is in the process's reaped total no more.
    }
  }
  return nanos / 1e6;
}

function request(url: string, agent: Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    get(url, { agent }, (response) => {
      response.resume();
      response.on('end', resolve);
    }).on('error', reject);
  });
}

/** Runs `count` requests of the given routes (round robin), `inFlight` at a time. */
async function load(
  base: string,
  routes: readonly Route[],
  count: number,
  inFlight: number,
  tag = 'warm-up',
): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: inFlight });
  let next = 0;
  const client = async () => {
    while (next < count) {
      const route = routes[next++ % routes.length] as Route;
      await request(`${base}${route}${route.includes('?') ? '&' : '?'}phase=${tag}`, agent);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, client));
  agent.destroy();
}

/** A server of the test process (not instrumented) that answers after 5 ms: the I/O the requests wait on. */
async function startCallee(): Promise<Server> {
  const server = createServer((_request, response) => {
    setTimeout(() => response.end('ok\n'), 5);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

function routeOf(span: ReceivedSpan): Route | undefined {
  const path = span.attributes['url.path'];
  return ROUTES.find((route) => route.split('?')[0] === path);
}

describe('async-context attribution on an auto-instrumented Express service (real http/express spans)', function () {
  this.timeout(120_000);
  const otlp = receiverPerTest();
  let callee: Server;
  before(async () => {
    callee = await startCallee();
  });
  after(() => callee.close());

  for (const inFlight of [8, 64]) {
    it(`${inFlight} requests in flight: each SERVER span gets about its own CPU, and together the process's`, async () => {
      const { child, done } = runNode(
        ['--import', 'otel-resource-tracker/register', app('express-app.mjs')],
        {
          OTEL_SERVICE_NAME: 'attribution',
          OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
          OTEL_METRICS_EXPORTER: 'none',
          OTEL_BSP_SCHEDULE_DELAY: '100',
          OTEL_BSP_MAX_QUEUE_SIZE: '20000',
          // user + system against cpu.time is checked too: every key.
          OTEL_RESOURCE_TRACKER_ATTRIBUTES: 'full',
          CALLEE_URL: `http://127.0.0.1:${(callee.address() as AddressInfo).port}/`,
        },
      );
      const base = await waitForUrl(child);
      const pid = child.pid as number;
      await load(base, ROUTES, 60, 4); // warm-up: JIT, connections

      // Each route alone, one request at a time: the process's CPU from the request to its answer (schedstat),
      // median of 30 (the batch exporter's work, later and in the background, lands in a few of them).
      const alone = new Map<Route, number>();
      for (const route of ROUTES) {
        const each: number[] = [];
        for (let i = 0; i < 30; i++) {
          const before = processCpuMs(pid);
          await load(base, [route], 1, 1);
          each.push(processCpuMs(pid) - before);
        }
        alone.set(route, each.sort((a, b) => a - b)[15] as number);
      }
      const before = processCpuMs(pid);
      const requests = 90 * ROUTES.length;
      await load(base, ROUTES, requests, inFlight, 'measured');
      const processMs = processCpuMs(pid) - before;
      const measured = () =>
        otlp.receiver.spans.filter(
          (span) => span.kind === SERVER && /phase=measured/.test(String(span.attributes['url.query'])),
        );
      for (let i = 0; i < 100 && measured().length < requests; i++) await sleep(100);
      child.kill('SIGTERM');
      await done;

      const servers = measured();
      assert.equal(servers.length, requests);
      const sums = new Map<Route, { ms: number; count: number }>();
      let attributedMs = 0;
      for (const span of servers) {
        const route = routeOf(span) as Route;
        const ms = (span.attributes[keys.ATTR_CPU_ATTRIBUTED_TIME] as number) * 1000;
        attributedMs += ms;
        const sum = sums.get(route) ?? { ms: 0, count: 0 };
        sum.ms += ms;
        sum.count++;
        sums.set(route, sum);
      }
      const ratios = ROUTES.map((route) => {
        const sum = sums.get(route) ?? { ms: 0, count: 1 };
        return sum.ms / sum.count / (alone.get(route) ?? 1);
      });
      const table = ROUTES.map(
        (route, index) =>
          `${route}: alone ${(alone.get(route) ?? 0).toFixed(2)} ms, ×${(ratios[index] as number).toFixed(2)}`,
      ).join('; ');
      const total = attributedMs / processMs;
      if (process.env.SHOW_FIGURES) console.log(`${inFlight} in flight: ${table}; Σ ${total.toFixed(3)}`);
      // Goals (bench): ×0.9–1.1 CPU-bound and mixed, ×0.5–1.5 I/O-bound, Σ 0.95–1.0; the bounds here leave
      // room for a loaded CI machine (the requests alone are measured in a few seconds) and still fail on what
      // was wrong before: the SERVER span got ×0.02 of /cpu (its handler ends after it), fair-share ×4 for /io.
      assert.ok(ratios[0] !== undefined && ratios[0] > 0.7 && ratios[0] < 1.3, `CPU-bound: ${table}`);
      assert.ok(ratios[2] !== undefined && ratios[2] > 0.6 && ratios[2] < 1.4, `mixed: ${table}`);
      assert.ok(ratios[1] !== undefined && ratios[1] > 0.2 && ratios[1] < 2.5, `I/O-bound: ${table}`);
      assert.ok(total > 0.8 && total <= 1.02, `Σ attributed ÷ process CPU = ${total.toFixed(3)}; ${table}`);
      // The express handler span (a child of the SERVER span) ends after it: the case this must get right.
      const byId = new Map(otlp.receiver.spans.map((span) => [span.spanId, span]));
      const outlived = otlp.receiver.spans.filter((span) => {
        const parent = byId.get(span.parentSpanId ?? '');
        return parent?.kind === SERVER && span.endMs > parent.endMs;
      });
      assert.ok(outlived.length > 0, 'children that end after their SERVER span');
      for (const span of servers) assert.equal(typeof span.attributes[keys.ATTR_CONCURRENT_SPANS], 'number');
      // Every span, SERVER or not: its share is at most the CPU of its own window, and that window's CPU is its
      // user plus its system time (a share holding work from before the span's start, or parts clamped apart,
      // break these).
      for (const span of otlp.receiver.spans) {
        const cpu = span.attributes[keys.ATTR_CPU_TIME];
        if (typeof cpu !== 'number') continue;
        const share = span.attributes[keys.ATTR_CPU_ATTRIBUTED_TIME] as number;
        const user = span.attributes[keys.ATTR_CPU_USER_TIME] as number;
        const system = span.attributes[keys.ATTR_CPU_SYSTEM_TIME] as number;
        const figures = `${span.name}: share ${share}, cpu.time ${cpu}, user ${user}, system ${system}`;
        assert.ok(share <= cpu * (1 + 1e-9) + 1e-9, figures);
        assert.ok(Math.abs(user + system - cpu) <= 1e-9, figures);
      }
    });
  }
});
