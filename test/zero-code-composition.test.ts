import assert from 'node:assert/strict';
import { SpanAttributes as keys } from '../src/index.js';
import { receiverPerTest } from './helpers/otlp-receiver.js';
import { app, runNode, waitForUrl } from './helpers/zero-code.js';

const ENTRY = 'otel-resource-tracker/register';
const UPSTREAM = '@opentelemetry/auto-instrumentations-node/register';
const SERVER = 2;

describe('zero-code entry beside another OpenTelemetry set-up: one SDK, no lost spans, one line', function () {
  this.timeout(60_000);
  const otlp = receiverPerTest();

  for (const [title, preloads, line] of [
    [
      'upstream register first',
      ['--require', UPSTREAM, '--require', ENTRY],
      /auto-instrumentations-node\/register is loaded too/,
    ],
    [
      'upstream register after ours',
      ['--require', ENTRY, '--require', UPSTREAM],
      /auto-instrumentations-node\/register is loaded too/,
    ],
    [
      "the application's own SDK first",
      ['--require', app('own-sdk.cjs'), '--require', ENTRY],
      /an OpenTelemetry SDK is already registered/,
    ],
  ] as const) {
    it(`${title}: the other SDK traces alone (each request once), and our line says what to change`, async () => {
      const { child, done } = runNode([...preloads, app('express-app.cjs')], {
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_METRICS_EXPORTER: 'none',
        OTEL_LOGS_EXPORTER: 'none',
        EXIT_AFTER: '1',
      });
      const url = await waitForUrl(child);
      assert.equal((await fetch(`${url}/cpu?ms=5`)).status, 200);
      const finished = await done;
      assert.equal(finished.code, 0, finished.stderr);
      const ours = finished.stderr.split('\n').filter((entry) => entry.startsWith('otel-resource-tracker:'));
      assert.equal(ours.length, 1, finished.stderr);
      assert.match(ours[0] as string, line);
      const servers = otlp.receiver.spans.filter((span) => span.kind === SERVER);
      assert.equal(servers.length, 1, 'one SERVER span: one SDK, instrumentations enabled once');
      assert.equal(servers[0]?.attributes[keys.ATTR_CPU_TIME], undefined);
    });
  }
});
