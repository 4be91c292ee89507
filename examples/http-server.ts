/**
 * A small Express job server with no tracing code at all: the zero-code entry instruments it (http, express) and
 * puts the resource figures on each request's SERVER span,
 *   PORT=8080 node --import otel-resource-tracker/register build/examples/http-server.js
 * then GET /jobs/cpu?ms=50, /jobs/memory?mb=100, /jobs/io?ms=20, /jobs/fan-out (calls /jobs/cpu twice over HTTP:
 * CLIENT spans under the request). Prints its URL; stops on SIGTERM / SIGINT.
 */
import { get } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';
import { spin } from './batch-tasks.js';

const MiB = 1024 * 1024;
const app = express();

function amount(value: unknown, fallback: number): number {
  return Math.min(10_000, Number(value ?? fallback) || fallback);
}

app.get('/jobs/cpu', (request, response) => {
  const ms = amount(request.query.ms, 10);
  spin(ms);
  response.send(`burnt ${ms} ms of CPU\n`);
});

app.get('/jobs/memory', async (request, response) => {
  const block = Buffer.alloc(amount(request.query.mb, 10) * MiB, 1);
  await sleep(20);
  response.send(`held ${block.length / MiB} MiB\n`);
});

app.get('/jobs/io', async (request, response) => {
  const ms = amount(request.query.ms, 10);
  await sleep(ms);
  response.send(`waited ${ms} ms\n`);
});

app.get('/jobs/fan-out', async (_request, response) => {
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const answers = await Promise.all([1, 2].map(() => fetchText(`${base}/jobs/cpu?ms=5`)));
  response.send(answers.join(''));
});

function fetchText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, (answer) => {
      let text = '';
      answer.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      answer.on('end', () => resolve(text));
    }).on('error', reject);
  });
}

const server = app.listen(Number(process.env.PORT ?? 8080), process.env.HOST ?? '127.0.0.1', () => {
  const address = server.address();
  if (typeof address === 'object' && address !== null) {
    console.log(`job server listening on http://${address.address}:${address.port}`);
  }
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => server.close(() => console.log('job server stopped')));
}
