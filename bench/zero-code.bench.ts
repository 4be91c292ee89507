import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Agent, get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { printProfileSummary } from './cpu-profile.js';
import { type SinkTally, startOtlpSink } from './otlp-sink.js';

const ENTRY = 'otel-resource-tracker/register';
const UPSTREAM = '@opentelemetry/auto-instrumentations-node/register';
/** Upstream's documented way to instrument ES modules: without it, ESM Express is not instrumented at all. */
const UPSTREAM_ESM_LOADER = '--experimental-loader=@opentelemetry/instrumentation/hook.mjs';

interface Setup {
  readonly name: string;
  readonly args: readonly string[];
  readonly env?: Record<string, string>;
}

/**
 * Same exporters everywhere: traces over OTLP/HTTP protobuf to a sink, no metrics or logs export (upstream would
 * push them).
 */
function environment(sink: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    OTEL_EXPORTER_OTLP_ENDPOINT: sink,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
    OTEL_RESOURCE_TRACKER_GPU_PROVIDER: 'none',
    ...extra,
  };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
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

/**
 * CPU time of every thread of a process so far, in ms: the per-thread scheduler figures (nanoseconds), else
 * /proc/PID/stat's clock ticks (10 ms: too coarse for a few-percent comparison over seconds).
 */
export function processCpuMs(pid: number): number {
  try {
    let nanos = 0;
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      nanos += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    }
    if (nanos > 0) return nanos / 1e6;
  } catch {
    // a thread ended between the listing and the read, or no schedstat: the coarse figure
  }
  const fields = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * `concurrency` keep-alive clients (on `agent`) sending GET `path` for `seconds` (or until `maxRequests` were
 * sent): requests done and per second.
 */
export async function load(
  agent: Agent,
  port: number,
  path: string,
  concurrency: number,
  seconds: number,
  maxRequests = Number.POSITIVE_INFINITY,
): Promise<{ done: number; perSecond: number }> {
  const end = performance.now() + seconds * 1000;
  let sent = 0;
  let done = 0;
  const client = async () => {
    while (performance.now() < end && sent < maxRequests) {
      sent++;
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
  return { done, perSecond: done / ((performance.now() - started) / 1000) };
}

interface ServerSetup extends Setup {
  /** The sink path this configuration exports to. */
  readonly sender: string;
  /** Exports spans (every configuration but the bare one). */
  readonly instrumented: boolean;
}

/** What the comparison reports: ours against upstream's register, same module system. */
const COMPARISONS: ReadonlyArray<{ ours: string; upstream: string }> = [
  // The same configuration twice: what the method itself reads as a difference (its bias and noise).
  { ours: 'esm-upstream-again', upstream: 'esm-upstream' },
  { ours: 'esm-ours', upstream: 'esm-upstream' },
  { ours: 'esm-ours-nometrics', upstream: 'esm-upstream' },
  { ours: 'esm-ours-full', upstream: 'esm-upstream' },
  { ours: 'cjs-ours', upstream: 'cjs-upstream' },
  { ours: 'cjs-ours-nometrics', upstream: 'cjs-upstream' },
];

function serverSetups(repoRoot: string): ServerSetup[] {
  const esm = join(repoRoot, 'test', 'fixtures', 'apps', 'express-app.mjs');
  const cjs = join(repoRoot, 'test', 'fixtures', 'apps', 'express-app.cjs');
  const noMetrics = { OTEL_RESOURCE_TRACKER_METRICS: 'false' };
  return [
    { sender: 'bare', instrumented: false, name: 'no OpenTelemetry (ESM)', args: [esm] },
    {
      sender: 'esm-upstream',
      instrumented: true,
      name: `ESM upstream: ${UPSTREAM_ESM_LOADER} --import ${UPSTREAM}`,
      args: [UPSTREAM_ESM_LOADER, '--import', UPSTREAM, esm],
    },
    {
      sender: 'esm-upstream-again',
      instrumented: true,
      name: 'ESM upstream again, a second process (A/A: the noise floor)',
      args: [UPSTREAM_ESM_LOADER, '--import', UPSTREAM, esm],
    },
    {
      sender: 'esm-ours',
      instrumented: true,
      name: `ESM ours: --import ${ENTRY}`,
      args: ['--import', ENTRY, esm],
    },
    {
      sender: 'esm-ours-nometrics',
      instrumented: true,
      name: 'ESM ours, OTEL_RESOURCE_TRACKER_METRICS=false',
      args: ['--import', ENTRY, esm],
      env: noMetrics,
    },
    {
      sender: 'esm-ours-full',
      instrumented: true,
      name: 'ESM ours, OTEL_RESOURCE_TRACKER_ATTRIBUTES=full (0.2.0 set)',
      args: ['--import', ENTRY, esm],
      env: { OTEL_RESOURCE_TRACKER_ATTRIBUTES: 'full' },
    },
    {
      sender: 'cjs-upstream',
      instrumented: true,
      name: `CJS upstream: --require ${UPSTREAM}`,
      args: ['--require', UPSTREAM, cjs],
    },
    {
      sender: 'cjs-ours',
      instrumented: true,
      name: `CJS ours: --require ${ENTRY}`,
      args: ['--require', ENTRY, cjs],
    },
    {
      sender: 'cjs-ours-nometrics',
      instrumented: true,
      name: 'CJS ours, OTEL_RESOURCE_TRACKER_METRICS=false',
      args: ['--require', ENTRY, cjs],
      env: noMetrics,
    },
  ];
}

const ROUTE = '/cpu?ms=0';
const CONCURRENCY = 8;
/** Rounds served by one generation of server processes before fresh ones start. */
const ROUNDS_PER_GENERATION = 3;
/** A pause before each window, for the previous configuration's leftovers (a last export) to settle. */
const PAUSE_MS = 250;

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  // SIGTERM first: both registers flush their spans on it (the span count check wants them); upstream's then
  // stays up, so SIGKILL after a moment.
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
  await exited;
  clearTimeout(timer);
}

function spread(values: number[]): string {
  return `${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)}`;
}

/**
 * The zero-code entry against upstream's register on an instrumented Express service, the way a user switching
 * from one to the other meets it: same instrumentations, same OTLP/HTTP protobuf exporter to an in-process sink,
 * ESM (upstream with its loader hook) and CommonJS. A round measures every configuration for one window, one after
 * the other in an order rotating from round to round; a configuration's CPU per request is what its server process
 * used (/proc) in its window ÷ the requests it served. Ratios are taken per round, then their median and spread.
 */
async function benchThroughput(
  repoRoot: string,
  sink: Awaited<ReturnType<typeof startOtlpSink>>,
  rounds: number,
  seconds: number,
): Promise<void> {
  const setups = serverSetups(repoRoot);
  const rates = new Map<string, number[]>(setups.map((setup) => [setup.sender, []]));
  const cpu = new Map<string, number[]>(setups.map((setup) => [setup.sender, []]));
  const served = new Map<string, number>(setups.map((setup) => [setup.sender, 0]));
  for (let first = 0; first < rounds; first += ROUNDS_PER_GENERATION) {
    // A generation of fresh processes serves a few rounds: start-up and JIT luck are sampled too.
    const children = setups.map((setup) =>
      spawn(process.execPath, setup.args, {
        cwd: repoRoot,
        env: environment(`${sink.url}/${setup.sender}`, setup.env),
        stdio: ['ignore', 'pipe', 'inherit'],
      }),
    );
    const agents = setups.map(() => new Agent({ keepAlive: true, maxSockets: CONCURRENCY }));
    try {
      const ports = await Promise.all(children.map(waitForPort));
      for (let index = 0; index < setups.length; index++) {
        // JIT, connections, the first batches
        const warm = await load(agents[index] as Agent, ports[index] as number, ROUTE, CONCURRENCY, 1.5);
        const sender = setups[index]?.sender ?? '';
        served.set(sender, (served.get(sender) ?? 0) + warm.done);
      }
      // A round: one window per configuration, taken in turn (the order rotating from round to round), so that
      // what else runs on the machine falls on every configuration alike; ratios are taken within a round.
      for (let round = first; round < Math.min(rounds, first + ROUNDS_PER_GENERATION); round++) {
        for (let step = 0; step < setups.length; step++) {
          // Rotating, and backwards every other round: each configuration follows each other one from both sides
          // (what one leaves behind — its last export, a GC once its load stops — falls on whoever comes next).
          const turn = (step + round) % setups.length;
          const index = round % 2 === 0 ? turn : setups.length - 1 - turn;
          await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
          const setup = setups[index] as ServerSetup;
          const pid = children[index]?.pid as number;
          const cpuBefore = processCpuMs(pid);
          const measured = await load(
            agents[index] as Agent,
            ports[index] as number,
            ROUTE,
            CONCURRENCY,
            seconds,
          );
          const cpuMs = processCpuMs(pid) - cpuBefore;
          rates.get(setup.sender)?.push(measured.perSecond);
          cpu.get(setup.sender)?.push((cpuMs * 1000) / measured.done);
          served.set(setup.sender, (served.get(setup.sender) ?? 0) + measured.done);
        }
      }
    } finally {
      for (const agent of agents) agent.destroy();
      await Promise.all(children.map(stop));
    }
  }
  // Spans still on their way after a flush-and-exit: give the sink a moment.
  await new Promise((resolve) => setTimeout(resolve, 500));

  console.log(
    `\nInstrumented Express service (http + express spans over OTLP/HTTP protobuf to an in-process sink), GET ${ROUTE},` +
      ` ${CONCURRENCY} keep-alive clients, ${rounds} rounds of one ${seconds} s window per configuration in turn (fresh processes every ${ROUNDS_PER_GENERATION} rounds)`,
  );
  console.log(
    '(server CPU per request from /proc/PID/task/*/schedstat; the load generator and the sink share the cores)',
  );
  console.log(
    `${'configuration'.padEnd(78)} ${'req/s'.padStart(6)} ${'CPU µs/req'.padStart(10)} ${'spans/req'.padStart(9)} ${'B/SERVER span'.padStart(13)} ${'attrs'.padStart(5)}`,
  );
  const tallies = new Map<string, SinkTally>(setups.map((setup) => [setup.sender, sink.tally(setup.sender)]));
  for (const setup of setups) {
    const tally = tallies.get(setup.sender) as SinkTally;
    const perServer = (value: number) => (tally.serverSpans > 0 ? value / tally.serverSpans : 0);
    console.log(
      `${setup.name.padEnd(78)} ${median(rates.get(setup.sender) ?? [])
        .toFixed(0)
        .padStart(6)} ${median(cpu.get(setup.sender) ?? [])
        .toFixed(0)
        .padStart(
          10,
        )} ${(setup.instrumented ? perServer(tally.spans).toFixed(2) : '-').padStart(9)} ${(setup.instrumented ? perServer(tally.serverSpanBytes).toFixed(0) : '-').padStart(13)} ${(setup.instrumented ? perServer(tally.serverSpanAttributes).toFixed(1) : '-').padStart(5)}`,
    );
    if (setup.instrumented) {
      const exported = tally.serverSpans / (served.get(setup.sender) ?? 1);
      if (exported < 0.99 || exported > 1.01) {
        console.log(
          `  !! ${tally.serverSpans} SERVER spans exported for ${served.get(setup.sender)} requests: not one per request`,
        );
      }
    }
  }
  console.log(
    '\nOurs ÷ upstream, per round, then the median [min–max] (goal: CPU/request ≤ 1.02, req/s ≥ 0.98; both need the',
  );
  console.log(' same spans per request)');
  console.log(
    `${'configuration'.padEnd(60)} ${'CPU/req'.padStart(7)} ${'[spread]'.padStart(11)} ${'req/s'.padStart(6)} ${'[spread]'.padStart(11)}  same spans`,
  );
  for (const { ours, upstream } of COMPARISONS) {
    const cpuRatios = (cpu.get(ours) ?? []).map(
      (value, index) => value / (cpu.get(upstream)?.[index] ?? NaN),
    );
    const rateRatios = (rates.get(ours) ?? []).map(
      (value, index) => value / (rates.get(upstream)?.[index] ?? NaN),
    );
    const oursTally = tallies.get(ours) as SinkTally;
    const upstreamTally = tallies.get(upstream) as SinkTally;
    const spansPerRequest = (tally: SinkTally) => tally.spans / Math.max(1, tally.serverSpans);
    const same = Math.abs(spansPerRequest(oursTally) / spansPerRequest(upstreamTally) - 1) < 0.01;
    const name = setups.find((setup) => setup.sender === ours)?.name ?? ours;
    console.log(
      `${name.padEnd(60)} ${median(cpuRatios).toFixed(2).padStart(7)} ${`[${spread(cpuRatios)}]`.padStart(11)} ${median(rateRatios).toFixed(2).padStart(6)} ${`[${spread(rateRatios)}]`.padStart(11)}  ${same ? 'yes' : `NO (${spansPerRequest(oursTally).toFixed(2)} vs ${spansPerRequest(upstreamTally).toFixed(2)}): not comparable`}`,
    );
  }
  const bare = median(cpu.get('bare') ?? []);
  console.log(`(no OpenTelemetry at all: ${bare.toFixed(0)} µs CPU a request)`);
}

/**
 * Where the time of a server under our register goes: a CPU profile (node --cpu-prof) of the ESM service over a
 * fixed number of requests, summed per package and file. The server closes itself after them (EXIT_AFTER), so the
 * profile is written at a normal exit.
 */
async function benchProfile(repoRoot: string, sinkUrl: string): Promise<void> {
  const directory = mkdtempSync(join(tmpdir(), 'bench-prof-'));
  const esm = join(repoRoot, 'test', 'fixtures', 'apps', 'express-app.mjs');
  const requests = 12_000;
  const child = spawn(
    process.execPath,
    ['--cpu-prof', '--cpu-prof-interval=250', `--cpu-prof-dir=${directory}`, '--import', ENTRY, esm],
    {
      cwd: repoRoot,
      env: environment(`${sinkUrl}/profile`, { EXIT_AFTER: String(requests) }),
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  try {
    const port = await waitForPort(child);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    await load(agent, port, ROUTE, CONCURRENCY, 120, requests);
    agent.destroy();
    await exited;
    // The main thread's profile (an ESM loader thread writes one too): the largest.
    const profile = readdirSync(directory)
      .filter((file) => file.endsWith('.cpuprofile'))
      .sort((a, b) => statSync(join(directory, b)).size - statSync(join(directory, a)).size)[0];
    console.log(
      `\nWhere the server's CPU goes under --import ${ENTRY} (node --cpu-prof, ${requests} requests of GET ${ROUTE}, self time, idle and nothing else left out: start-up included)`,
    );
    if (profile === undefined) console.log('  (no profile was written)');
    else printProfileSummary(join(directory, profile), repoRoot);
  } finally {
    child.kill('SIGKILL');
    // BENCH_KEEP_PROFILE=1: leave the profile for a closer look (DevTools, or a script).
    if (process.env.BENCH_KEEP_PROFILE === '1') console.log(`  (profile kept in ${directory})`);
    else rmSync(directory, { recursive: true, force: true });
  }
}

/**
 * Start-up and request cost of the zero-code entry against upstream's register, in one run. BENCH_ROUNDS and
 * BENCH_SECONDS (a window) shorten it while working on it (defaults 9 rounds of 3 s windows); BENCH_STARTUP=0
 * leaves start-up out.
 */
export async function benchZeroCode(repoRoot: string): Promise<void> {
  const sink = await startOtlpSink();
  const rounds = Number(process.env.BENCH_ROUNDS ?? 9);
  const seconds = Number(process.env.BENCH_SECONDS ?? 3);
  try {
    if (process.env.BENCH_STARTUP !== '0') benchStartup(repoRoot, sink.url);
    await benchThroughput(repoRoot, sink, rounds, seconds);
    await benchProfile(repoRoot, sink.url);
  } finally {
    sink.server.close();
  }
}
