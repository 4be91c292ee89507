/**
 * A small HTTP job server, one span per request, with nothing but the OpenTelemetry API: run it under the
 * zero-code entry,
 *   PORT=8080 node --import otel-resource-tracker/register build/examples/http-server.js
 * then GET /jobs/cpu?ms=50, /jobs/memory?mb=100, /jobs/io?ms=20. Prints its URL; stops on SIGTERM / SIGINT.
 */
import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { spin } from './batch-tasks.js';

const tracer = trace.getTracer('example-http-server');
const MiB = 1024 * 1024;

async function runJob(kind: string, amount: number): Promise<string> {
  switch (kind) {
    case 'cpu':
      spin(amount);
      return `burnt ${amount} ms of CPU`;
    case 'memory': {
      const block = Buffer.alloc(amount * MiB, 1);
      await sleep(20);
      return `held ${block.length / MiB} MiB`;
    }
    case 'io':
      await sleep(amount);
      return `waited ${amount} ms`;
    default:
      throw new Error(`unknown job kind ${kind}`);
  }
}

const server = createServer((request, response) => {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const match = /^\/jobs\/(\w+)$/.exec(url.pathname);
  if (match === null) {
    response.writeHead(404).end('try /jobs/cpu?ms=50, /jobs/memory?mb=100 or /jobs/io?ms=20\n');
    return;
  }
  const kind = match[1] as string;
  const amount = Math.min(10_000, Number(url.searchParams.get(kind === 'memory' ? 'mb' : 'ms') ?? 10) || 10);
  tracer.startActiveSpan(
    `job ${kind}`,
    { kind: SpanKind.SERVER, attributes: { 'job.kind': kind } },
    (span) => {
      runJob(kind, amount)
        .then((result) => response.writeHead(200).end(`${result}\n`))
        .catch((error: unknown) => {
          span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
          response.writeHead(400).end(`${String(error)}\n`);
        })
        .finally(() => span.end());
    },
  );
});

server.listen(Number(process.env.PORT ?? 8080), process.env.HOST ?? '127.0.0.1', () => {
  const address = server.address();
  if (typeof address === 'object' && address !== null) {
    console.log(`job server listening on http://${address.address}:${address.port}`);
  }
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => server.close(() => console.log('job server stopped')));
}
