import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const ENTRY = 'otel-resource-tracker/register';
const UPSTREAM = '@opentelemetry/auto-instrumentations-node/register';

interface Setup {
  readonly name: string;
  readonly args: readonly string[];
  readonly env?: Record<string, string>;
}

/** Same exporters everywhere: traces over OTLP to a sink, no metrics or logs export (upstream would push them). */
function environment(sink: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    OTEL_EXPORTER_OTLP_ENDPOINT: sink,
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
    OTEL_RESOURCE_TRACKER_GPU_PROVIDER: 'none',
    ...extra,
  };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** An OTLP receiver that takes everything and keeps nothing: the exporter's cost is in, the backend's is not. */
export async function startSink(): Promise<{ url: string; server: Server }> {
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => response.writeHead(200, { 'Content-Type': 'application/x-protobuf' }).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function benchStartup(repoRoot: string, sink: string): void {
  const empty = join(mkdtempSync(join(tmpdir(), 'bench-start-')), 'empty.js');
  writeFileSync(empty, '');
  const setups: Setup[] = [
    { name: 'node empty.js', args: [empty] },
    { name: `--import ${UPSTREAM}`, args: ['--import', UPSTREAM, empty] },
    { name: `--import ${ENTRY}`, args: ['--import', ENTRY, empty] },
    { name: `--require ${ENTRY}`, args: ['--require', ENTRY, empty] },
    {
      name: `--import ${ENTRY}, Prometheus endpoint on`,
      args: ['--import', ENTRY, empty],
      env: { OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_PROMETHEUS_PORT: '0' },
    },
  ];
  const times = new Map<string, number[]>(setups.map((setup) => [setup.name, []]));
  for (let round = 0; round < 9; round++) {
    for (const setup of setups) {
      const start = performance.now();
      const result = spawnSync(process.execPath, setup.args, {
        cwd: repoRoot,
        env: environment(sink, setup.env),
      });
      if (result.status !== 0) throw new Error(`${setup.name}: ${result.stderr.toString()}`);
      times.get(setup.name)?.push(performance.now() - start);
    }
  }
  const bare = median(times.get('node empty.js') ?? []);
  const upstream = median(times.get(`--import ${UPSTREAM}`) ?? []);
  console.log('\nZero-code start-up: wall time of a process that runs an empty script (median of 9)');
  console.log(`${'case'.padEnd(72)} ${'ms'.padStart(7)} ${'÷ bare'.padStart(7)} ${'÷ upstr.'.padStart(8)}`);
  for (const setup of setups) {
    const ms = median(times.get(setup.name) ?? []);
    console.log(
      `${setup.name.padEnd(72)} ${ms.toFixed(0).padStart(7)} ${(ms / bare).toFixed(2).padStart(7)} ${(ms / upstream).toFixed(2).padStart(8)}`,
    );
  }
}

export function waitForPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      const match = /127\.0\.0\.1:(\d+)/.exec(chunk.toString());
      if (match?.[1]) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
}

/** User + system CPU of a process so far, in ms (clock ticks of 10 ms). */
export function processCpuMs(pid: number): number {
  const fields = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Requests per second of `concurrency` keep-alive clients for `seconds` against GET `path`. */
export async function load(
  port: number,
  path: string,
  concurrency: number,
  seconds: number,
): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const end = performance.now() + seconds * 1000;
  let done = 0;
  const client = async () => {
    while (performance.now() < end) {
      await new Promise<void>((resolve, reject) => {
        get({ host: '127.0.0.1', port, path, agent }, (response) => {
          response.resume();
          response.on('end', resolve);
        }).on('error', reject);
      });
      done++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, client));
  agent.destroy();
  return done / ((performance.now() - started) / 1000);
}

async function benchThroughput(repoRoot: string, sink: string): Promise<void> {
  const app = join(repoRoot, 'test', 'fixtures', 'apps', 'express-app.cjs');
  const setups: Setup[] = [
    { name: 'no OpenTelemetry', args: [app] },
    { name: `upstream: --require ${UPSTREAM}`, args: ['--require', UPSTREAM, app] },
    { name: `--require ${ENTRY} (default span kinds)`, args: ['--require', ENTRY, app] },
    {
      name: `--require ${ENTRY}, no span measured (SPAN_KINDS=producer)`,
      args: ['--require', ENTRY, app],
      env: { OTEL_RESOURCE_TRACKER_SPAN_KINDS: 'producer' },
    },
    {
      name: `--require ${ENTRY}, OTEL_RESOURCE_TRACKER_SPAN_KINDS=all`,
      args: ['--require', ENTRY, app],
      env: { OTEL_RESOURCE_TRACKER_SPAN_KINDS: 'all' },
    },
  ];
  const rates = new Map<string, number[]>(setups.map((setup) => [setup.name, []]));
  const cpuPerRequest = new Map<string, number[]>(setups.map((setup) => [setup.name, []]));
  for (let round = 0; round < 5; round++) {
    for (const setup of setups) {
      const child = spawn(process.execPath, setup.args, {
        cwd: repoRoot,
        env: environment(sink, setup.env),
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const port = await waitForPort(child);
      await load(port, '/cpu?ms=0', 16, 0.5); // warm-up: JIT, connections
      const cpuBefore = processCpuMs(child.pid as number);
      const rate = await load(port, '/cpu?ms=0', 16, 3);
      rates.get(setup.name)?.push(rate);
      cpuPerRequest
        .get(setup.name)
        ?.push(((processCpuMs(child.pid as number) - cpuBefore) * 1000) / (rate * 3));
      // SIGKILL: upstream's register handles SIGTERM without exiting.
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }
  const bare = median(rates.get('no OpenTelemetry') ?? []);
  const upstream = median(rates.get(`upstream: --require ${UPSTREAM}`) ?? []);
  console.log(
    '\nInstrumented Express hello-world (http + express spans over OTLP), 16 keep-alive clients, median of 5 × 3 s' +
      ' (goal: ours ≥ 0.95 × upstream)',
  );
  console.log(
    '(server CPU per request read from /proc/PID/stat: steadier than req/s when the load generator shares',
  );
  console.log(' the cores; its "÷ upstr." is upstream\'s CPU ÷ the case\'s, so > 1 is cheaper, like req/s)');
  const upstreamCpu = median(cpuPerRequest.get(`upstream: --require ${UPSTREAM}`) ?? []);
  console.log(
    `${'case'.padEnd(70)} ${'req/s'.padStart(6)} ${'÷ upstr.'.padStart(8)} ${'CPU µs/req'.padStart(10)} ${'÷ upstr.'.padStart(8)}`,
  );
  for (const setup of setups) {
    const rate = median(rates.get(setup.name) ?? []);
    const cpu = median(cpuPerRequest.get(setup.name) ?? []);
    console.log(
      `${setup.name.padEnd(70)} ${rate.toFixed(0).padStart(6)} ${(rate / upstream).toFixed(2).padStart(8)} ${cpu.toFixed(0).padStart(10)} ${(upstreamCpu / cpu).toFixed(2).padStart(8)}`,
    );
  }
  console.log(`(no OpenTelemetry at all: ${bare.toFixed(0)} req/s)`);
}

/** Start-up and request throughput of the zero-code entry against upstream's register, in one run. */
export async function benchZeroCode(repoRoot: string): Promise<void> {
  const sink = await startSink();
  try {
    benchStartup(repoRoot, sink.url);
    await benchThroughput(repoRoot, sink.url);
  } finally {
    sink.server.close();
  }
}
